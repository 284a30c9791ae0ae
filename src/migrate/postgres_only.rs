//! Postgres-only statements: session settings, privileges, ownership, roles, extensions,
//! transaction control and maintenance change nothing Solobase models, so each is accepted with
//! a one-line notice — unless its meaning would differ on SQLite (a session time zone other
//! than UTC, a search_path naming another schema), which is refused.

use super::translate::Refusal;

/// Why a statement was accepted without effect; one of the named rules below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub why: &'static str,
}

pub const SESSION_SETTING: Rule = Rule {
    name: "session setting",
    why: "session settings such as search_path and timeouts are Postgres's own; Solobase runs in UTC with qualified names",
};
pub const PRIVILEGES: Rule = Rule {
    name: "privileges",
    why: "privileges on types, databases and grant options are not modeled (those on tables, views, columns, sequences, functions and schemas are)",
};
pub const OWNERSHIP: Rule = Rule {
    name: "ownership",
    why: "object owners are not modeled",
};
pub const ROLES: Rule = Rule {
    name: "roles",
    why: "database roles and their settings are not modeled; anon, authenticated and service_role come from the JWT",
};
pub const DATABASE_SETTING: Rule = Rule {
    name: "database setting",
    why: "database-level settings are Postgres's own",
};
pub const EXTENSIONS: Rule = Rule {
    name: "extensions",
    why: "the functions Solobase supports are built in; extensions need no installing",
};
pub const SCHEMAS: Rule = Rule {
    name: "schemas",
    why: "schemas exist as soon as a table names them",
};
pub const COMMENTS: Rule = Rule {
    name: "comment",
    why: "comments are kept on tables, views and columns only",
};
pub const TRANSACTION: Rule = Rule {
    name: "transaction control",
    why: "each migration file already runs in one transaction",
};
pub const MAINTENANCE: Rule = Rule {
    name: "maintenance",
    why: "storage maintenance is Postgres's own",
};
pub const NOTIFY: Rule = Rule {
    name: "notification",
    why: "Solobase reads its schema at start; nothing listens on these channels",
};
pub const FUNCTION_SETTING: Rule = Rule {
    name: "function setting",
    why: "per-function settings such as search_path do not change what a translated function does",
};

pub const SEARCH_INDEX: Rule = Rule {
    name: "search index",
    why: "an index over an expression SQLite cannot compute (full-text search, trigram, …) only changes the speed of Postgres's queries; it is not built",
};

/// An index that is not unique, whose translation failed on its expression (not on a missing
/// table or column): it cannot change what any statement means, only how fast it runs.
pub fn speed_only_index(text: &str, refusal: &Refusal) -> bool {
    let lowered = text.trim_start().to_ascii_lowercase();
    lowered.starts_with("create index")
        && !refusal.reason.contains("does not exist")
        && !refusal.reason.starts_with("cannot parse")
}

/// The rule that accepts `text` without effect, a refusal where its meaning would differ, or
/// `None` when the statement is the translator's to handle.
pub fn classify(text: &str) -> Option<Result<Rule, Refusal>> {
    let lowered = text.to_ascii_lowercase();
    let words: Vec<&str> = lowered
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|word| !word.is_empty())
        .collect();
    let word = |index: usize| words.get(index).copied().unwrap_or("");
    let accept = |rule: Rule| Some(Ok(rule));
    match (word(0), word(1)) {
        ("set", "role" | "session" | "local")
            if word(2) == "authorization" || word(1) == "role" =>
        {
            accept(ROLES)
        }
        ("set", _) => Some(session_setting(&words[1..]).map(|()| SESSION_SETTING)),
        ("reset", _) => accept(SESSION_SETTING),
        ("select", _) if is_set_config(&lowered) => Some(set_config(&lowered)),
        ("alter", _) if owner_to(&words) => accept(OWNERSHIP),
        ("alter", "database") => Some(database_setting(&words)),
        ("create" | "alter" | "drop", "role" | "user" | "group") => accept(ROLES),
        ("create" | "alter" | "drop", "extension") => accept(EXTENSIONS),
        ("comment", "on") if word(2) == "extension" => accept(EXTENSIONS),
        ("comment", "on") if !matches!(word(2), "table" | "column" | "view") => accept(COMMENTS),
        ("begin" | "commit" | "end" | "start", _) => accept(TRANSACTION),
        ("analyze" | "analyse" | "vacuum" | "checkpoint" | "cluster" | "reindex", _) => {
            accept(MAINTENANCE)
        }
        ("notify" | "listen" | "unlisten", _) => accept(NOTIFY),
        ("alter", "function" | "procedure") if function_setting(&words) => accept(FUNCTION_SETTING),
        ("alter", "table" | "index") if storage_clause(&lowered) => accept(MAINTENANCE),
        _ => None,
    }
}

/// `alter table|index … cluster on i | set without cluster | set tablespace t | set logged`.
fn storage_clause(lowered: &str) -> bool {
    let pattern = regex::Regex::new(
        r"(?s)^alter\s+(table|index)\s+(if\s+exists\s+)?(only\s+)?\S+\s+(cluster\s+on\s|set\s+without\s+cluster|set\s+tablespace\s|set\s+(logged|unlogged)$)",
    )
    .expect("valid pattern");
    pattern.is_match(lowered.trim())
}

/// `alter <anything> … owner to <role>`.
fn owner_to(words: &[&str]) -> bool {
    words.windows(2).any(|pair| pair == ["owner", "to"])
}

/// `alter function f(…) set|reset …` (not `security definer`, which changes meaning).
fn function_setting(words: &[&str]) -> bool {
    let after = words.iter().rposition(|word| word.ends_with(')'));
    after.is_some_and(|index| matches!(words.get(index + 1), Some(&"set" | &"reset")))
}

/// `select [pg_catalog.]set_config('name', 'value', is_local)`, as pg_dump writes it.
fn is_set_config(lowered: &str) -> bool {
    let rest = lowered.trim_start_matches("select").trim_start();
    let rest = rest.strip_prefix("pg_catalog.").unwrap_or(rest);
    rest.starts_with("set_config(") && rest.trim_end().ends_with(')') && !rest.contains(" from ")
}

fn set_config(lowered: &str) -> Result<Rule, Refusal> {
    let open = lowered.find('(').unwrap_or(0);
    let arguments: Vec<&str> = lowered[open + 1..lowered.len() - 1]
        .split(',')
        .map(|argument| argument.trim().trim_matches('\''))
        .collect();
    match arguments.as_slice() {
        [name, value, _] => session_setting(&[name, "=", value]).map(|()| SESSION_SETTING),
        _ => Err(Refusal::new("cannot read this set_config call")),
    }
}

/// `set [session|local] name {to|=} value`, `set time zone value`: accepted unless the value
/// would change what statements mean here.
fn session_setting(words: &[&str]) -> Result<(), Refusal> {
    let words = match words.first() {
        Some(&"session" | &"local") => &words[1..],
        _ => words,
    };
    let (name, value) = match words {
        ["time", "zone", value @ ..] => ("timezone", value.join(" ")),
        [name, "to" | "=", value @ ..] => (*name, value.join(" ")),
        [name, value @ ..] => (*name, value.join(" ")),
        [] => return Ok(()),
    };
    let name = name.split('=').next().unwrap_or(name);
    match name {
        "timezone" => time_zone(&value),
        "search_path" => search_path(&value),
        _ => Ok(()),
    }
}

/// Solobase's sessions are UTC, as Supabase's are; another zone would change timestamptz text.
fn time_zone(value: &str) -> Result<(), Refusal> {
    let zone = value.trim().trim_matches(|c| c == '\'' || c == '"');
    if matches!(
        zone,
        "utc" | "etc/utc" | "gmt" | "etc/gmt" | "zulu" | "z" | "default" | "local" | "+00" | "0"
    ) {
        return Ok(());
    }
    Err(Refusal::new(format!(
        "the time zone {zone} is not supported: Solobase's sessions run in UTC"
    ))
    .hint("leave the session time zone at UTC (Supabase's default) and convert with AT TIME ZONE where a local time is needed"))
}

/// A search_path naming only `public`, `extensions`, `pg_catalog`, `"$user"` (or nothing) keeps
/// the unqualified names where Solobase puts them; any other schema would not.
fn search_path(value: &str) -> Result<(), Refusal> {
    for schema in value.split(',') {
        let schema = schema.trim().trim_matches(|c| c == '\'' || c == '"').trim();
        if !matches!(
            schema,
            "" | "public" | "extensions" | "pg_catalog" | "pg_temp" | "$user" | "default"
        ) {
            return Err(Refusal::new(format!(
                "search_path {schema} is not supported: unqualified names always mean public here"
            ))
            .hint("qualify the names with their schema instead of setting search_path"));
        }
    }
    Ok(())
}

/// `alter database name set timezone …` is checked like a session setting; other database
/// options (connection limits, `set search_path`, …) only matter to Postgres.
fn database_setting(words: &[&str]) -> Result<Rule, Refusal> {
    match words.iter().position(|word| *word == "set") {
        Some(index) => session_setting(&words[index + 1..]).map(|()| DATABASE_SETTING),
        None => Ok(DATABASE_SETTING),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn accepted(text: &str, rule: Rule) {
        assert_eq!(classify(text), Some(Ok(rule)), "{text}");
    }

    #[track_caller]
    fn refused(text: &str, reason: &str) {
        match classify(text) {
            Some(Err(refusal)) => assert!(refusal.reason.contains(reason), "{}", refusal.reason),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn pg_dump_preamble_is_accepted() {
        accepted("SET statement_timeout = 0", SESSION_SETTING);
        accepted("SET client_encoding = 'UTF8'", SESSION_SETTING);
        accepted(
            "SELECT pg_catalog.set_config('search_path', '', false)",
            SESSION_SETTING,
        );
        accepted("SET default_tablespace = ''", SESSION_SETTING);
        accepted("RESET ALL", SESSION_SETTING);
        accepted("set search_path = public, extensions", SESSION_SETTING);
        accepted("SET TIME ZONE 'UTC'", SESSION_SETTING);
    }

    #[test]
    fn ownership_and_roles_are_accepted() {
        accepted("ALTER TABLE public.t OWNER TO \"postgres\"", OWNERSHIP);
        accepted("ALTER FUNCTION public.f(uuid) OWNER TO postgres", OWNERSHIP);
        accepted(
            "alter role authenticator set statement_timeout = '8s'",
            ROLES,
        );
        accepted("create role app_user nologin", ROLES);
        accepted(
            "ALTER FUNCTION public.f() SET search_path = ''",
            FUNCTION_SETTING,
        );
    }

    #[test]
    fn other_postgres_only_statements_are_accepted() {
        accepted(
            "alter database postgres set timezone to 'UTC'",
            DATABASE_SETTING,
        );
        accepted("comment on function public.f(integer) is 'x'", COMMENTS);
        accepted(
            "COMMENT ON SCHEMA public IS 'standard public schema'",
            COMMENTS,
        );
        accepted("create extension if not exists pg_trgm", EXTENSIONS);
        accepted("notify pgrst, 'reload schema'", NOTIFY);
        accepted("begin", TRANSACTION);
        accepted("analyze public.t", MAINTENANCE);
        accepted("alter table public.t cluster on t_pkey", MAINTENANCE);
        accepted("ALTER TABLE ONLY public.t SET TABLESPACE fast", MAINTENANCE);
    }

    #[test]
    fn statements_for_the_translator_are_left_to_it() {
        for text in [
            "select 1",
            "create table t (id int)",
            "comment on table t is 'x'",
            "comment on column t.a is 'x'",
            "alter table t add column a int",
            "alter function f() security definer",
        ] {
            assert_eq!(classify(text), None, "{text}");
        }
    }

    #[test]
    fn settings_that_change_meaning_are_refused() {
        refused(
            "alter database postgres set timezone to 'Asia/Tokyo'",
            "Asia/Tokyo".to_ascii_lowercase().as_str(),
        );
        refused("set time zone 'Europe/Paris'", "not supported");
        refused("set search_path to app, public", "search_path app");
        refused(
            "select set_config('search_path', 'app', false)",
            "search_path app",
        );
    }
}
