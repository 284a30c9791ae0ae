//! Lexer: plpgsql body text as tokens with their byte spans — words, quoted names, strings
//! (including dollar quotes), numbers and symbols — so the parser can find statement
//! boundaries and keywords and hand the SQL between them to sqlparser verbatim.

use crate::migrate::statements::{dollar_tag, skip_quoted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unquoted word (keyword or name).
    Word,
    /// `"Quoted"` name.
    Quoted,
    /// `'text'`, `E'text'` or `$tag$text$tag$`.
    String,
    Number,
    Symbol,
}

#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into tokens; comments and whitespace are dropped. An unterminated comment or
/// dollar quote is an error (an unterminated quote runs to the end, and sqlparser refuses it).
pub fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let start = index;
        let kind = match byte {
            b if b.is_ascii_whitespace() => {
                index += 1;
                continue;
            }
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = text[index..]
                    .find('\n')
                    .map_or(bytes.len(), |at| index + at + 1);
                continue;
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                let end = text[index + 2..]
                    .find("*/")
                    .ok_or("unterminated /* comment")?;
                index += end + 4;
                continue;
            }
            b'\'' => {
                index = skip_quoted(bytes, index, b'\'');
                Kind::String
            }
            b'"' => {
                index = skip_quoted(bytes, index, b'"');
                Kind::Quoted
            }
            b'$' if dollar_tag(text, index).is_some() => {
                let tag = dollar_tag(text, index).expect("checked");
                let body = index + tag.len();
                let end = text[body..]
                    .find(tag)
                    .ok_or("unterminated dollar-quoted string")?;
                index = body + end + tag.len();
                Kind::String
            }
            b'0'..=b'9' => {
                while index < bytes.len()
                    && (bytes[index].is_ascii_digit()
                        || (bytes[index] == b'.' && bytes.get(index + 1) != Some(&b'.')))
                {
                    index += 1;
                }
                Kind::Number
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                if (b == b'e' || b == b'E') && bytes.get(index + 1) == Some(&b'\'') {
                    index = skip_quoted(bytes, index + 1, b'\'');
                    Kind::String
                } else {
                    while index < bytes.len()
                        && (bytes[index].is_ascii_alphanumeric()
                            || bytes[index] == b'_'
                            || bytes[index] == b'$'
                            || bytes[index] >= 0x80)
                    {
                        index += 1;
                    }
                    Kind::Word
                }
            }
            _ => {
                let two = text.get(index..index + 2).unwrap_or("");
                index += if matches!(
                    two,
                    ":=" | ".." | "<<" | ">>" | "<>" | "!=" | "<=" | ">=" | "::" | "||" | "->"
                ) {
                    2
                } else {
                    text[index..].chars().next().map_or(1, char::len_utf8)
                };
                Kind::Symbol
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: index,
        });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_skip_comments_and_keep_strings_whole() {
        let text = "x := 'a;b' || $q$c$q$; -- note\n/* c */ new.y := 1..3;";
        let tokens = tokenize(text).unwrap();
        let pieces: Vec<&str> = tokens.iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(
            pieces,
            [
                "x", ":=", "'a;b'", "||", "$q$c$q$", ";", "new", ".", "y", ":=", "1", "..", "3",
                ";"
            ]
        );
    }
}
