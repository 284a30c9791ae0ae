//! Doc: a small layout printer with Prettier's semantics (groups that fit on one line within 80
//! columns print flat, otherwise break; hard breaks force every enclosing group to break; trailing
//! spaces are trimmed at line ends), so the generated TypeScript is laid out byte for byte as the
//! Supabase CLI's Prettier-formatted output.

/// The line width Prettier formats the generated types with.
pub const PRINT_WIDTH: usize = 80;

#[derive(Debug, Clone)]
pub enum Doc {
    Text(String),
    Concat(Vec<Doc>),
    /// Printed flat when it fits, broken otherwise; `broken` forces the break (an object that had
    /// a newline after its `{` in the template Prettier formatted).
    Group {
        contents: Box<Doc>,
        broken: bool,
    },
    /// Indents the lines inside by two spaces.
    Indent(Box<Doc>),
    /// A space when flat, a newline when broken.
    Line,
    /// Nothing when flat, a newline when broken.
    SoftLine,
    /// Always a newline.
    HardLine,
    /// `broken` when the enclosing group breaks, `flat` otherwise.
    IfBreak {
        broken: Box<Doc>,
        flat: Box<Doc>,
    },
}

pub fn text(value: impl Into<String>) -> Doc {
    Doc::Text(value.into())
}

pub fn concat(parts: impl IntoIterator<Item = Doc>) -> Doc {
    Doc::Concat(parts.into_iter().collect())
}

pub fn group(contents: Doc) -> Doc {
    Doc::Group {
        contents: Box::new(contents),
        broken: false,
    }
}

pub fn broken_group(contents: Doc) -> Doc {
    Doc::Group {
        contents: Box::new(contents),
        broken: true,
    }
}

pub fn indent(contents: Doc) -> Doc {
    Doc::Indent(Box::new(contents))
}

pub fn if_break(broken: Doc, flat: Doc) -> Doc {
    Doc::IfBreak {
        broken: Box::new(broken),
        flat: Box::new(flat),
    }
}

/// `items` with `separator` between them.
pub fn join(separator: &Doc, items: impl IntoIterator<Item = Doc>) -> Doc {
    let mut parts = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            parts.push(separator.clone());
        }
        parts.push(item);
    }
    Doc::Concat(parts)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Flat,
    Break,
}

/// Whether a hard line or a forced group inside makes `doc`'s group break regardless of width.
fn must_break(doc: &Doc) -> bool {
    match doc {
        Doc::HardLine => true,
        Doc::Group { contents, broken } => *broken || must_break(contents),
        Doc::Concat(parts) => parts.iter().any(must_break),
        Doc::Indent(contents) => must_break(contents),
        Doc::IfBreak { broken, .. } => must_break(broken),
        Doc::Text(_) | Doc::Line | Doc::SoftLine => false,
    }
}

/// Lays `doc` out as Prettier would at `PRINT_WIDTH` columns.
pub fn print(doc: &Doc) -> String {
    let mut out = String::new();
    let mut column = 0;
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((level, mode, doc)) = stack.pop() {
        match doc {
            Doc::Text(value) => {
                out.push_str(value);
                column += value.chars().count();
            }
            Doc::Concat(parts) => {
                stack.extend(parts.iter().rev().map(|part| (level, mode, part)));
            }
            Doc::Indent(contents) => stack.push((level + 2, mode, contents)),
            Doc::Group { contents, .. } => {
                let flat = mode == Mode::Flat
                    || (!must_break(doc)
                        && fits(contents, &stack, PRINT_WIDTH as isize - column as isize));
                let mode = if flat { Mode::Flat } else { Mode::Break };
                stack.push((level, mode, contents));
            }
            Doc::IfBreak { broken, flat } => {
                stack.push((level, mode, if mode == Mode::Break { broken } else { flat }));
            }
            Doc::Line if mode == Mode::Flat => {
                out.push(' ');
                column += 1;
            }
            Doc::SoftLine if mode == Mode::Flat => {}
            Doc::Line | Doc::SoftLine | Doc::HardLine => {
                let trimmed = out.trim_end_matches([' ', '\t']).len();
                out.truncate(trimmed);
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', level));
                column = level;
            }
        }
    }
    out
}

/// Whether `next`, printed flat, and whatever follows it up to the next line break fit in `width`.
fn fits(next: &Doc, rest: &[(usize, Mode, &Doc)], mut width: isize) -> bool {
    let mut pending: Vec<(Mode, &Doc)> = vec![(Mode::Flat, next)];
    let mut rest_index = rest.len();
    loop {
        if width < 0 {
            return false;
        }
        let (mode, doc) = match pending.pop() {
            Some(item) => item,
            None => {
                if rest_index == 0 {
                    return true;
                }
                rest_index -= 1;
                let (_, mode, doc) = rest[rest_index];
                (mode, doc)
            }
        };
        match doc {
            Doc::Text(value) => width -= value.chars().count() as isize,
            Doc::Concat(parts) => pending.extend(parts.iter().rev().map(|part| (mode, part))),
            Doc::Indent(contents) => pending.push((mode, contents)),
            Doc::Group { contents, broken } => {
                pending.push((if *broken { Mode::Break } else { mode }, contents));
            }
            Doc::IfBreak { broken, flat } => {
                pending.push((mode, if mode == Mode::Break { broken } else { flat }));
            }
            Doc::Line if mode == Mode::Flat => width -= 1,
            Doc::SoftLine if mode == Mode::Flat => {}
            Doc::Line | Doc::SoftLine | Doc::HardLine => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(members: Vec<Doc>) -> Doc {
        group(concat([
            text("{"),
            indent(concat([
                Doc::Line,
                join(&concat([if_break(text(""), text(";")), Doc::Line]), members),
            ])),
            Doc::Line,
            text("}"),
        ]))
    }

    #[test]
    fn a_group_that_fits_prints_on_one_line() {
        let doc = concat([
            text("f: "),
            object(vec![text("a: string"), text("b: number")]),
        ]);
        assert_eq!(print(&doc), "f: { a: string; b: number }");
    }

    #[test]
    fn a_group_too_wide_for_the_line_breaks_and_indents() {
        let long = "x".repeat(70);
        let doc = concat([
            text("f: "),
            object(vec![text(long.clone()), text("b: number")]),
        ]);
        assert_eq!(print(&doc), format!("f: {{\n  {long}\n  b: number\n}}"));
    }

    #[test]
    fn a_hard_line_inside_breaks_every_enclosing_group() {
        let inner = broken_group(concat([
            text("{"),
            indent(concat([Doc::Line, text("a")])),
            Doc::Line,
            text("}"),
        ]));
        let doc = object(vec![inner, text("b")]);
        assert_eq!(print(&doc), "{\n  {\n    a\n  }\n  b\n}");
    }

    #[test]
    fn trailing_spaces_are_trimmed_at_line_ends() {
        let doc = concat([
            text("key: "),
            group(indent(concat([
                Doc::SoftLine,
                text("| "),
                text("y".repeat(80)),
            ]))),
        ]);
        assert_eq!(print(&doc), format!("key:\n  | {}", "y".repeat(80)));
    }
}
