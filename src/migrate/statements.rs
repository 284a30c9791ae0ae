//! Statements: splits a migration file into statements with the line each starts on,
//! respecting comments, quotes and dollar quotes (`$$`, `$body$`).

/// One statement of a migration file, without its trailing semicolon.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatement {
    pub text: String,
    /// 1-based line of the statement's first non-blank character.
    pub line: usize,
}

/// Splits SQL text on top-level semicolons.
pub fn split(sql: &str) -> Vec<SourceStatement> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = find_from(sql, index, "\n").map_or(bytes.len(), |end| end + 1);
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = find_from(sql, index + 2, "*/").map_or(bytes.len(), |end| end + 2);
            }
            quote @ (b'\'' | b'"') => index = skip_quoted(bytes, index, quote),
            b'$' => match dollar_tag(sql, index) {
                Some(tag) => {
                    let body = index + tag.len();
                    index = find_from(sql, body, tag).map_or(bytes.len(), |end| end + tag.len());
                }
                None => index += 1,
            },
            b';' => {
                push_statement(sql, start, index, &mut statements);
                index += 1;
                start = index;
            }
            _ => index += 1,
        }
    }
    push_statement(sql, start, bytes.len(), &mut statements);
    statements
}

fn find_from(sql: &str, from: usize, needle: &str) -> Option<usize> {
    sql[from..].find(needle).map(|offset| from + offset)
}

/// Index just past a quoted string or identifier starting at `start` (doubled quotes escape).
pub fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut index = start + 1;
    while index < bytes.len() {
        if bytes[index] == quote {
            if bytes.get(index + 1) == Some(&quote) {
                index += 2;
                continue;
            }
            return index + 1;
        }
        index += 1;
    }
    bytes.len()
}

/// The dollar-quote tag (`$$` or `$name$`) starting at `start`, if one does.
pub fn dollar_tag(sql: &str, start: usize) -> Option<&str> {
    let rest = &sql[start + 1..];
    let end = rest.find('$')?;
    let name = &rest[..end];
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| &sql[start..start + end + 2])
}

fn push_statement(sql: &str, start: usize, end: usize, statements: &mut Vec<SourceStatement>) {
    let text = &sql[start..end];
    let Some(offset) = first_code(text) else {
        return;
    };
    let line = sql[..start + offset].matches('\n').count() + 1;
    statements.push(SourceStatement {
        text: text[offset..].trim_end().to_owned(),
        line,
    });
}

/// Offset of the first character that is neither whitespace nor inside a comment.
fn first_code(text: &str) -> Option<usize> {
    let mut index = 0;
    let bytes = text.as_bytes();
    while index < bytes.len() {
        if bytes[index].is_ascii_whitespace() {
            index += 1;
        } else if text[index..].starts_with("--") {
            index = find_from(text, index, "\n")? + 1;
        } else if text[index..].starts_with("/*") {
            index = find_from(text, index, "*/")? + 2;
        } else {
            return Some(index);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(sql: &str, expected: &[(&str, usize)]) {
        let statements = split(sql);
        let actual: Vec<(&str, usize)> = statements
            .iter()
            .map(|statement| (statement.text.as_str(), statement.line))
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn statements_split_on_semicolons_with_their_lines() {
        check(
            "create table a (x int);\n\n-- note; here\ncreate table b (y int);",
            &[("create table a (x int)", 1), ("create table b (y int)", 4)],
        );
    }

    #[test]
    fn quotes_comments_and_dollar_bodies_hide_semicolons() {
        check(
            "insert into t values ('a;b', \"c;d\");\n/* x; */ create function f() returns int as $$ select 1; $$ language sql;\nselect $tag$ ; $tag$",
            &[
                ("insert into t values ('a;b', \"c;d\")", 1),
                (
                    "create function f() returns int as $$ select 1; $$ language sql",
                    2,
                ),
                ("select $tag$ ; $tag$", 3),
            ],
        );
    }

    #[test]
    fn blank_and_comment_only_pieces_are_dropped() {
        check("  ;\n-- only a comment\n;", &[]);
        check("select 1 -- trailing", &[("select 1 -- trailing", 1)]);
    }
}
