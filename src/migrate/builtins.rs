//! Built-ins: Postgres string (`format`, `quote_ident`, …), aggregate, array and setting functions that app schemas call,
//! as SQLite expressions over the stored forms (booleans 0/1, arrays as JSON text).

/// The SQLite expression for a call of `name` with translated `args`, if it is one of these.
pub fn call(name: &str, args: &[String]) -> Option<String> {
    Some(match (name, args) {
        // Aggregates: booleans are 0/1, so `or` is the maximum and `and` the minimum.
        ("bool_or", [value]) => format!("max({value})"),
        ("bool_and" | "every", [value]) => format!("min({value})"),
        ("array_agg" | "json_agg" | "jsonb_agg", [value]) => format!("json_group_array({value})"),
        ("string_agg", [value, separator]) => format!("group_concat({value}, {separator})"),
        // Numbers (SQLite's math functions compute these as Postgres does on doubles).
        ("ln" | "exp" | "sqrt" | "floor" | "ceil" | "ceiling" | "sign" | "trunc" | "mod", _) => {
            format!("{name}({})", args.join(", "))
        }
        ("power" | "pow", [base, exponent]) => format!("power({base}, {exponent})"),
        ("log", [value]) => format!("log10({value})"),
        ("log", [base, value]) => format!("log({base}, {value})"),
        ("pi", []) => "pi()".into(),
        // pgvector (`store::vector`).
        (
            "l2_distance"
            | "inner_product"
            | "vector_negative_inner_product"
            | "cosine_distance"
            | "l1_distance",
            [_, _],
        )
        | ("vector_dims" | "vector_norm", [_]) => format!("{name}({})", args.join(", ")),
        // Strings.
        ("split_part", [text, delimiter, field]) => {
            format!("split_part({text}, {delimiter}, {field})")
        }
        ("strpos", [text, part]) => format!("instr({text}, {part})"),
        ("left", [text, count]) => format!("pg_left({text}, {count})"),
        ("right", [text, count]) => format!("pg_right({text}, {count})"),
        ("starts_with", [text, prefix]) => {
            format!("(substr({text}, 1, length({prefix})) = {prefix})")
        }
        ("concat_ws", [_, ..]) => format!("concat_ws({})", args.join(", ")),
        // `store::text` (SQLite's own `format` is printf).
        ("format", [_, ..]) => format!("pg_format({})", args.join(", ")),
        ("quote_ident" | "quote_literal" | "quote_nullable", [value]) => format!("{name}({value})"),
        // Arrays (JSON text).
        ("array_to_string", [array, separator]) => format!(
            "(SELECT group_concat(value, {separator}) FROM json_each({array}) WHERE value IS NOT NULL)"
        ),
        ("array_append", [array, value]) => format!("json_insert({array}, '$[#]', {value})"),
        ("array_prepend", [value, array]) => {
            format!(
                "(SELECT json_group_array(value) FROM (SELECT {value} AS value UNION ALL SELECT value FROM json_each({array})))"
            )
        }
        // Run-time parameters (`store::settings`); the caller's claims are read through the
        // claim stand-ins, which REST binds as parameters of its statements.
        ("current_setting", [setting, ..]) => claim_setting(setting)
            .unwrap_or_else(|| format!("current_setting({})", args.join(", "))),
        ("current_setting", _) | ("set_config", [_, _, _]) => {
            format!("{name}({})", args.join(", "))
        }
        _ => return None,
    })
}

/// `current_setting('request.jwt.claims' | 'request.jwt.claim.<name>' | 'role', …)` as the
/// claim stand-in that answers it.
fn claim_setting(setting: &str) -> Option<String> {
    let name = setting.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(match name {
        "request.jwt.claims" => "auth_jwt()".into(),
        "role" | "request.jwt.claim.role" => "auth_role()".into(),
        _ => {
            let claim = name.strip_prefix("request.jwt.claim.")?;
            if !claim.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            format!("json_extract(auth_jwt(), '$.{claim}')")
        }
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::migrate::expression::translate_expr_text;

    /// Expressions with the value PostgreSQL 15 answers (booleans as 0/1, arrays as JSON).
    const POSTGRES: &[(&str, &str)] = &[
        ("floor(2.7)", "2"),
        ("ceil(2.1)", "3"),
        ("power(2, 10)", "1024"),
        ("log(1000)", "3"),
        ("mod(7, 3)", "1"),
        ("split_part('a,b,c', ',', 2)", "b"),
        ("split_part('a,b,c', ',', -1)", "c"),
        ("split_part('a,b,c', ',', 4)", ""),
        ("split_part('abc', '', 1)", "abc"),
        ("strpos('high', 'ig')", "2"),
        ("left('abcde', 2)", "ab"),
        ("left('abcde', -2)", "abc"),
        ("right('abcde', 2)", "de"),
        ("right('abcde', -2)", "cde"),
        ("starts_with('alphabet', 'alph')", "1"),
        ("concat_ws(', ', 'a', null, 'b')", "a, b"),
        ("format('%s|%-4s|%3s|', 'a', 'b', 7)", "a|b   |  7|"),
        (
            "format('insert into %I.%I values (%L)', 'public', 'My Notes', 'it''s')",
            "insert into public.\"My Notes\" values ('it''s')",
        ),
        ("format('[%s][%L]', null, null)", "[][NULL]"),
        ("quote_ident('select')", "\"select\""),
        ("quote_literal(42)", "'42'"),
        ("quote_nullable(null)", "NULL"),
        ("array_to_string(array['a', null, 'c'], '-')", "a-c"),
        ("array_append(array['a'], 'b')", r#"["a","b"]"#),
        ("array_prepend('z', array['a'])", r#"["z","a"]"#),
        (
            "(select bool_or(x > 1) from (select 1 as x union all select 2) as t)",
            "1",
        ),
        (
            "(select bool_and(x > 1) from (select 1 as x union all select 2) as t)",
            "0",
        ),
        (
            "(select string_agg(x, '+') from (select 'a' as x union all select 'b') as t)",
            "a+b",
        ),
        (
            "(select array_agg(x) from (select 1 as x union all select 2) as t)",
            "[1,2]",
        ),
    ];

    #[test]
    fn built_ins_answer_what_postgres_answers() {
        let connection = Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        for (postgres, expected) in POSTGRES {
            let sql =
                translate_expr_text(postgres).unwrap_or_else(|error| panic!("{postgres}: {error}"));
            let value: rusqlite::types::Value = connection
                .query_row(&format!("select {sql}"), [], |row| row.get(0))
                .unwrap_or_else(|error| panic!("{postgres} → {sql}: {error}"));
            let actual = match value {
                rusqlite::types::Value::Integer(number) => number.to_string(),
                rusqlite::types::Value::Real(number) => number.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            };
            assert_eq!(actual, *expected, "{postgres} → {sql}");
        }
    }

    #[test]
    fn request_settings_read_the_callers_claims() {
        assert_eq!(
            translate_expr_text("current_setting('request.jwt.claims', true)::json->>'sub'")
                .unwrap(),
            "auth_jwt() ->> 'sub'"
        );
        assert_eq!(
            translate_expr_text("current_setting('request.jwt.claim.sub', true)").unwrap(),
            "json_extract(auth_jwt(), '$.sub')"
        );
        assert_eq!(
            translate_expr_text("current_setting('request.headers', true)::json ->> 'traceparent'")
                .unwrap(),
            "json(current_setting('request.headers', true)) ->> 'traceparent'"
        );
    }
}
