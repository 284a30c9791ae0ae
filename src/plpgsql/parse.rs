//! Parse: a plpgsql body → `Block`, once, at migration time. Statements are recognized by their
//! leading keywords; every expression and embedded query is parsed by sqlparser, its variable
//! references replaced by numbered parameters (`?1`, bound from `Ref`s at run time) and
//! translated to SQLite. Anything the interpreter cannot run as Postgres would is refused here.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use sqlparser::ast::{Expr, Ident, ObjectName, Statement, Visit, VisitMut, VisitorMut};
use sqlparser::dialect::PostgreSqlDialect;

use super::lexer::{Kind, Token, tokenize};
use crate::migrate::catalog;
use crate::migrate::expression::{self, Resolver, Unsupported};
use crate::schema::{Function, PgType, QualifiedName, SchemaCache};
use crate::store::naming::quote_literal;
use crate::store::range::RangeType;

/// A variable reference bound into a compiled expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Ref {
    Var(String),
    Field(String, String),
    /// A whole record, bound as its JSON (`to_jsonb(new)`, `realtime.broadcast_changes(…, new, old)`).
    Record(String),
}

/// SQLite text with `?n` parameters bound from `refs` (n = index + 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sql {
    pub text: String,
    pub refs: Vec<Ref>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VarType {
    Scalar(PgType),
    /// `record`, `table%rowtype`, a loop's row.
    Record,
    /// A composite type's value (`extensions.http_response`): its fields, NULL to start with.
    Composite(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Declaration {
    pub name: String,
    pub var_type: VarType,
    pub default: Option<Sql>,
    pub not_null: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handler {
    /// SQLSTATEs caught; `OTHERS` is `*`.
    pub codes: Vec<String>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Block {
    pub label: Option<String>,
    pub declarations: Vec<Declaration>,
    pub body: Vec<Stmt>,
    pub handlers: Vec<Handler>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Target {
    Var(String),
    Field(String, String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Stmt {
    Assign(Target, Sql),
    If {
        branches: Vec<(Sql, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    Loop {
        label: Option<String>,
        kind: LoopKind,
        body: Vec<Stmt>,
    },
    Exit {
        label: Option<String>,
        when: Option<Sql>,
        /// `continue` rather than `exit`.
        next: bool,
    },
    Return(Option<Returned>),
    ReturnNext(Option<Returned>),
    ReturnQuery(Sql),
    Raise {
        level: String,
        format: Option<String>,
        args: Vec<Sql>,
        /// `using message|detail|hint|errcode = …`.
        options: Vec<(String, Sql)>,
    },
    /// A query or data-changing statement, its first row stored `into` the targets.
    Query {
        sql: Sql,
        into: Vec<Target>,
        strict: bool,
    },
    GetDiagnostics(Vec<Target>),
    Block(Block),
    /// A statement only a DO block may run: handed to the migration translator as written.
    Utility(String),
    Null,
}

/// What RETURN / RETURN NEXT hands back: a value or a whole record (`return new`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Returned {
    Value(Sql),
    Record(String),
}

/// A parsed body and the relations its statements read or write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Program {
    pub block: Block,
    pub relations: Vec<QualifiedName>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LoopKind {
    Plain,
    While(Sql),
    Range {
        var: String,
        low: Sql,
        high: Sql,
        step: Option<Sql>,
        reverse: bool,
    },
    Query {
        targets: Vec<String>,
        query: Sql,
    },
    /// `foreach target in array expr`: each element of the array (JSON text) in turn.
    ForEach {
        target: Target,
        array: Sql,
    },
}

/// What the body may see besides its own declarations.
pub struct Context<'a> {
    pub cache: &'a SchemaCache,
    /// The function's name (qualifies its arguments: `fn.arg`); `None` for DO blocks.
    pub function: Option<&'a QualifiedName>,
    /// Arguments and other predeclared scalars (`found`, `tg_op`, …).
    pub scalars: Vec<String>,
    /// Those of `scalars` that are arrays.
    pub arrays: Vec<String>,
    /// Those of `scalars` of a range type, with it.
    pub ranges: Vec<(String, RangeType)>,
    /// Predeclared records (`new`, `old`).
    pub records: Vec<String>,
    /// DO blocks may run DDL through the migration translator.
    pub utility: bool,
    /// Translates the body's queries and expressions as one caller runs them (an invoker
    /// body under a role's policies); `None` translates them as written.
    pub secure: Option<&'a dyn Secure>,
}

/// Translation of a body's SQL under a caller's policies and privileges. `calls` resolves the
/// project's functions as a body calls them.
pub trait Secure {
    fn statement(
        &self,
        statement: &mut Statement,
        calls: &dyn Resolver,
    ) -> Result<String, Unsupported>;
    fn expression(&self, expr: &mut Expr, calls: &dyn Resolver) -> Result<String, Unsupported>;
}

/// Parses a whole body: one block, optionally labelled, optionally ending in `;`.
pub fn parse_body(text: &str, context: &Context) -> Result<Program, String> {
    let mut parser = Parser::new(text, tokenize(text)?, context);
    if parser.eat("#") {
        let option = format!("{} {}", parser.word(), parser.word_at(parser.position + 1));
        parser.prefer_columns = match option.as_str() {
            "variable_conflict use_column" => true,
            // A name that is both a variable and a column reads the variable (as Solobase does
            // by default, where Postgres would report the reference as ambiguous).
            "variable_conflict use_variable" => false,
            _ => {
                return Err(format!(
                    "the plpgsql compiler option `{}` is not supported",
                    text.trim_start().lines().next().unwrap_or_default()
                ));
            }
        };
        parser.position += 2;
    }
    let block = parser.block(None)?;
    parser.eat(";");
    if parser.position < parser.tokens.len() {
        return Err(format!(
            "unexpected `{}` after the body's final END",
            parser.current_text()
        ));
    }
    Ok(Program {
        block,
        relations: parser.relations.into_inner(),
    })
}

#[derive(Default)]
struct Scope {
    scalars: HashSet<String>,
    /// Scalars of an array type (arrays are JSON text on SQLite).
    arrays: HashSet<String>,
    /// Scalars of a range type.
    ranges: HashMap<String, RangeType>,
    records: HashSet<String>,
    labels: HashSet<String>,
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    position: usize,
    context: &'a Context<'a>,
    scopes: Vec<Scope>,
    relations: std::cell::RefCell<Vec<QualifiedName>>,
    /// `#variable_conflict use_column`: a name that is a column of a table the statement reads
    /// or writes is that column, not the variable.
    prefer_columns: bool,
}

const DIALECT: PostgreSqlDialect = PostgreSqlDialect {};

impl<'a> Parser<'a> {
    fn new(text: &'a str, tokens: Vec<Token>, context: &'a Context<'a>) -> Self {
        Self {
            text,
            tokens,
            position: 0,
            context,
            scopes: vec![Scope {
                scalars: context.scalars.iter().cloned().collect(),
                arrays: context.arrays.iter().cloned().collect(),
                ranges: context.ranges.iter().cloned().collect(),
                records: context.records.iter().cloned().collect(),
                labels: HashSet::new(),
            }],
            relations: std::cell::RefCell::new(Vec::new()),
            prefer_columns: false,
        }
    }

    fn token_text(&self, index: usize) -> &'a str {
        self.tokens
            .get(index)
            .map_or("", |token| &self.text[token.start..token.end])
    }

    fn current_text(&self) -> &'a str {
        self.token_text(self.position)
    }

    /// The lowercased word at `index`, or "" when it is not an unquoted word.
    fn word_at(&self, index: usize) -> String {
        match self.tokens.get(index) {
            Some(token) if token.kind == Kind::Word => self.token_text(index).to_ascii_lowercase(),
            Some(token) if token.kind == Kind::Symbol => self.token_text(index).to_owned(),
            _ => String::new(),
        }
    }

    fn word(&self) -> String {
        self.word_at(self.position)
    }

    fn is(&self, word: &str) -> bool {
        self.word() == word
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.is(word) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        if self.eat(word) {
            Ok(())
        } else {
            Err(format!(
                "expected {} but found `{}`",
                word.to_ascii_uppercase(),
                if self.position < self.tokens.len() {
                    self.current_text()
                } else {
                    "the end of the body"
                }
            ))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let token = self
            .tokens
            .get(self.position)
            .ok_or("expected a name at the end of the body")?;
        let name = match token.kind {
            Kind::Word => self.current_text().to_ascii_lowercase(),
            Kind::Quoted => {
                let text = self.current_text();
                text[1..text.len() - 1].replace("\"\"", "\"")
            }
            _ => return Err(format!("expected a name, found `{}`", self.current_text())),
        };
        self.position += 1;
        Ok(name)
    }

    /// Index of the first token from here at parenthesis depth 0 satisfying `stop`; the end of
    /// the tokens when none does.
    fn find(&self, stop: impl Fn(&Self, usize) -> bool) -> usize {
        let mut depth = 0i32;
        let mut index = self.position;
        while index < self.tokens.len() {
            match self.token_text(index) {
                "(" | "[" => depth += 1,
                ")" | "]" => depth -= 1,
                _ if depth == 0 && stop(self, index) => return index,
                _ => {}
            }
            index += 1;
        }
        index
    }

    /// The source text from the current token up to (not including) token `end`; moves there.
    fn take_until(&mut self, end: usize) -> Result<&'a str, String> {
        if end <= self.position {
            return Err(format!(
                "expected an expression before `{}`",
                self.token_text(end)
            ));
        }
        let start = self.tokens[self.position].start;
        let stop = self.tokens[end - 1].end;
        self.position = end;
        Ok(&self.text[start..stop])
    }

    fn until_word(&mut self, words: &[&str]) -> Result<&'a str, String> {
        let end = self.find(|parser, index| words.contains(&parser.word_at(index).as_str()));
        self.take_until(end)
    }

    fn label(&mut self) -> Result<Option<String>, String> {
        if !self.eat("<<") {
            return Ok(None);
        }
        let label = self.name()?;
        self.expect(">>")?;
        Ok(Some(label))
    }

    fn block(&mut self, label: Option<String>) -> Result<Block, String> {
        let label = match label {
            Some(label) => Some(label),
            None => self.label()?,
        };
        let mut scope = Scope::default();
        scope.labels.extend(label.clone());
        self.scopes.push(scope);
        let mut declarations = Vec::new();
        if self.eat("declare") {
            while !self.is("begin") {
                if self.position >= self.tokens.len() {
                    return Err("expected BEGIN after the declarations".into());
                }
                if self.eat("declare") {
                    continue;
                }
                declarations.push(self.declaration()?);
            }
        }
        self.expect("begin")?;
        let body = self.statements(&["end", "exception"])?;
        let mut handlers = Vec::new();
        if self.eat("exception") {
            while self.eat("when") {
                let mut codes = Vec::new();
                loop {
                    codes.push(self.condition()?);
                    if !self.eat("or") {
                        break;
                    }
                }
                self.expect("then")?;
                self.scopes.push(Scope {
                    scalars: ["sqlerrm", "sqlstate"].map(str::to_owned).into(),
                    ..Scope::default()
                });
                let body = self.statements(&["when", "end"]);
                self.scopes.pop();
                let body = body?;
                handlers.push(Handler { codes, body });
            }
        }
        self.expect("end")?;
        if label.is_some() && !self.is(";") {
            self.name()?;
        }
        self.scopes.pop();
        Ok(Block {
            label,
            declarations,
            body,
            handlers,
        })
    }

    fn condition(&mut self) -> Result<String, String> {
        if self.eat("sqlstate") {
            let text = self.current_text();
            self.position += 1;
            return Ok(text.trim_matches('\'').to_owned());
        }
        let name = self.name()?;
        condition_code(&name)
            .map(str::to_owned)
            .ok_or_else(|| format!("the exception condition {name} is not supported"))
    }

    fn declaration(&mut self) -> Result<Declaration, String> {
        let name = self.name()?;
        let constant = self.eat("constant");
        let end = self.find(|parser, index| {
            matches!(
                parser.word_at(index).as_str(),
                ";" | ":=" | "=" | "default" | "not" | "collate"
            )
        });
        let type_text = self.take_until(end)?;
        let var_type = self.var_type(type_text)?;
        let not_null = if self.eat("not") {
            self.expect("null")?;
            true
        } else {
            false
        };
        let default = if self.eat(":=") || self.eat("=") || self.eat("default") {
            let text = self.until_word(&[";"])?;
            Some(self.expression(text)?)
        } else {
            None
        };
        self.expect(";")?;
        let _ = constant;
        let scope = self.scopes.last_mut().expect("a block scope");
        match &var_type {
            VarType::Record | VarType::Composite(_) => scope.records.insert(name.clone()),
            VarType::Scalar(pg_type) => {
                if matches!(pg_type, PgType::Array(_)) {
                    scope.arrays.insert(name.clone());
                }
                if let Some(kind) = pg_type.range() {
                    scope.ranges.insert(name.clone(), kind);
                }
                scope.scalars.insert(name.clone())
            }
        };
        Ok(Declaration {
            name,
            var_type,
            default,
            not_null,
        })
    }

    fn var_type(&self, text: &str) -> Result<VarType, String> {
        let lowered = text.trim().to_ascii_lowercase();
        if lowered == "record" || lowered.ends_with("%rowtype") {
            return Ok(VarType::Record);
        }
        if let Some(column) = lowered.strip_suffix("%type") {
            let parts: Vec<&str> = column
                .split('.')
                .map(|part| part.trim_matches('"'))
                .collect();
            let (table, column) = match parts.as_slice() {
                [schema, table, column] => (QualifiedName::new(*schema, *table), *column),
                [table, column] => (QualifiedName::public(*table), *column),
                _ => return Err(format!("cannot resolve the type `{text}`")),
            };
            let found = self
                .context
                .cache
                .table(&table)
                .and_then(|table| table.column(column))
                .ok_or_else(|| format!("column {table}.{column} in `{text}` does not exist"))?;
            return Ok(VarType::Scalar(found.pg_type.clone()));
        }
        let data_type = sqlparser::parser::Parser::new(&DIALECT)
            .try_with_sql(text)
            .and_then(|mut parser| parser.parse_data_type())
            .map_err(|error| format!("cannot read the type `{text}`: {error}"))?;
        if let Some(composite) = crate::migrate::http::composite(self.context.cache, &data_type) {
            let fields = composite
                .fields
                .iter()
                .map(|(field, _)| (*field).to_owned());
            return Ok(VarType::Composite(fields.collect()));
        }
        crate::migrate::pg_type(self.context.cache, &data_type)
            .map(|(pg_type, _)| VarType::Scalar(pg_type))
            .map_err(|refusal| refusal.reason)
    }

    /// Statements until one of `terminators` (not consumed).
    fn statements(&mut self, terminators: &[&str]) -> Result<Vec<Stmt>, String> {
        let mut statements = Vec::new();
        loop {
            if self.position >= self.tokens.len() {
                return Err(format!(
                    "expected {} before the end of the body",
                    terminators[0].to_ascii_uppercase()
                ));
            }
            let word = self.word();
            if terminators.contains(&word.as_str()) {
                // `end if` / `end loop` close only their own construct.
                return Ok(statements);
            }
            statements.push(self.statement()?);
        }
    }

    fn statement(&mut self) -> Result<Stmt, String> {
        let label = self.label()?;
        let word = self.word();
        let statement = match word.as_str() {
            "declare" | "begin" => {
                let block = self.block(label)?;
                self.expect(";")?;
                return Ok(Stmt::Block(block));
            }
            "if" => self.if_statement()?,
            "loop" | "while" | "for" | "foreach" => return self.loop_statement(label),
            "case" => self.case_statement()?,
            "exit" | "continue" => {
                self.position += 1;
                let label = if !self.is(";") && !self.is("when") {
                    Some(self.name()?)
                } else {
                    None
                };
                let when = if self.eat("when") {
                    let text = self.until_word(&[";"])?;
                    Some(self.expression(text)?)
                } else {
                    None
                };
                Stmt::Exit {
                    label,
                    when,
                    next: word == "continue",
                }
            }
            "return" => self.return_statement()?,
            "raise" => self.raise()?,
            "perform" => {
                self.position += 1;
                let text = self.until_word(&[";"])?;
                let query = self.query(&format!("SELECT {text}"))?;
                Stmt::Query {
                    sql: query,
                    into: Vec::new(),
                    strict: false,
                }
            }
            "get" => {
                self.position += 1;
                self.eat("current");
                self.expect("diagnostics")?;
                let mut targets = Vec::new();
                loop {
                    let target = self.target()?;
                    if !(self.eat("=") || self.eat(":=")) {
                        return Err("expected = in GET DIAGNOSTICS".into());
                    }
                    let item = self.name()?;
                    if item != "row_count" {
                        return Err(format!("GET DIAGNOSTICS {item} is not supported"));
                    }
                    targets.push(target);
                    if !self.eat(",") {
                        break;
                    }
                }
                Stmt::GetDiagnostics(targets)
            }
            "null" => {
                self.position += 1;
                Stmt::Null
            }
            "execute" => {
                return Err(
                    "EXECUTE of dynamic SQL cannot be translated to SQLite ahead of time".into(),
                );
            }
            "open" | "fetch" | "close" | "move" | "commit" | "rollback" | "call" | "assert" => {
                return Err(format!(
                    "the plpgsql statement {} is not supported",
                    word.to_ascii_uppercase()
                ));
            }
            _ if self.is_assignment() => {
                let target = self.target()?;
                if !(self.eat(":=") || self.eat("=")) {
                    return Err("expected := in the assignment".into());
                }
                let text = self.until_word(&[";"])?;
                Stmt::Assign(target, self.expression(text)?)
            }
            _ => self.sql_statement()?,
        };
        if label.is_some() {
            return Err("only blocks and loops may carry a <<label>>".into());
        }
        self.expect(";")?;
        Ok(statement)
    }

    fn is_assignment(&self) -> bool {
        let mut index = self.position;
        if !matches!(
            self.tokens.get(index).map(|t| t.kind),
            Some(Kind::Word | Kind::Quoted)
        ) {
            return false;
        }
        index += 1;
        if self.token_text(index) == "." {
            index += 2;
        }
        matches!(self.token_text(index), ":=" | "=")
    }

    fn target(&mut self) -> Result<Target, String> {
        let first = self.name()?;
        if self.eat(".") {
            let second = self.name()?;
            if self.is_record(&first) {
                return Ok(Target::Field(first, second));
            }
            if self.is_qualifier(&first) && self.is_scalar(&second) {
                return Ok(Target::Var(second));
            }
            return Err(format!("\"{first}.{second}\" is not a known variable"));
        }
        if self.is_scalar(&first) || self.is_record(&first) {
            Ok(Target::Var(first))
        } else {
            Err(format!("\"{first}\" is not a known variable"))
        }
    }

    fn is_scalar(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.scalars.contains(name))
    }

    /// The range type of the scalar `name`, as the innermost scope declaring it has it.
    fn range_of(&self, name: &str) -> Option<RangeType> {
        let scope = self
            .scopes
            .iter()
            .rev()
            .find(|scope| scope.scalars.contains(name))?;
        scope.ranges.get(name).copied()
    }

    fn is_record(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.records.contains(name))
    }

    /// A block label or the function's name, which may qualify a variable.
    fn is_qualifier(&self, name: &str) -> bool {
        self.context
            .function
            .is_some_and(|function| function.name == name)
            || self.scopes.iter().any(|scope| scope.labels.contains(name))
    }

    fn if_statement(&mut self) -> Result<Stmt, String> {
        self.expect("if")?;
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        loop {
            let text = self.until_word(&["then"])?;
            let condition = self.expression(text)?;
            self.expect("then")?;
            let body = self.statements(&["elsif", "elseif", "else", "end"])?;
            branches.push((condition, body));
            if self.eat("elsif") || self.eat("elseif") {
                continue;
            }
            if self.eat("else") {
                otherwise = self.statements(&["end"])?;
            }
            break;
        }
        self.expect("end")?;
        self.expect("if")?;
        Ok(Stmt::If {
            branches,
            otherwise,
        })
    }

    /// `case [subject] when … then … [else …] end case` as IF branches; a simple CASE
    /// compares with `=`, evaluating the subject once per WHEN. Without ELSE, no match raises
    /// CASE_NOT_FOUND (20000) as Postgres does.
    fn case_statement(&mut self) -> Result<Stmt, String> {
        self.expect("case")?;
        let subject = if self.is("when") {
            None
        } else {
            Some(self.until_word(&["when"])?.to_owned())
        };
        let mut branches = Vec::new();
        while self.eat("when") {
            let condition = match &subject {
                None => self.until_word(&["then"])?.to_owned(),
                Some(subject) => {
                    let end = self.find(|parser, index| parser.word_at(index) == "then");
                    let mut values = Vec::new();
                    while self.position < end {
                        let stop =
                            self.find(|parser, index| index >= end || parser.word_at(index) == ",");
                        values.push(format!("({subject}) = ({})", self.take_until(stop)?));
                        self.eat(",");
                    }
                    values.join(" OR ")
                }
            };
            let condition = self.expression(&condition)?;
            self.expect("then")?;
            let body = self.statements(&["when", "else", "end"])?;
            branches.push((condition, body));
        }
        if branches.is_empty() {
            return Err("CASE needs at least one WHEN".into());
        }
        let otherwise = if self.eat("else") {
            self.statements(&["end"])?
        } else {
            vec![Stmt::Raise {
                level: "exception".into(),
                format: Some("case not found".into()),
                args: Vec::new(),
                options: vec![
                    ("errcode".into(), self.expression("'20000'")?),
                    (
                        "hint".into(),
                        self.expression("'CASE statement is missing ELSE part.'")?,
                    ),
                ],
            }]
        };
        self.expect("end")?;
        self.expect("case")?;
        Ok(Stmt::If {
            branches,
            otherwise,
        })
    }

    fn loop_statement(&mut self, label: Option<String>) -> Result<Stmt, String> {
        let mut scope = Scope::default();
        scope.labels.extend(label.clone());
        let kind = if self.eat("foreach") {
            let target = self.target()?;
            if self.is("slice") {
                return Err("FOREACH … SLICE is not supported".into());
            }
            self.expect("in")?;
            self.expect("array")?;
            let text = self.until_word(&["loop"])?;
            LoopKind::ForEach {
                target,
                array: self.expression(text)?,
            }
        } else if self.eat("while") {
            let text = self.until_word(&["loop"])?;
            LoopKind::While(self.expression(text)?)
        } else if self.eat("for") {
            let mut targets = vec![self.name()?];
            while self.eat(",") {
                targets.push(self.name()?);
            }
            self.expect("in")?;
            let reverse = self.eat("reverse");
            let end = self.find(|parser, index| parser.word_at(index) == "loop");
            let is_range = (self.position..end).any(|index| self.token_text(index) == "..");
            if is_range {
                let [var] = targets.as_slice() else {
                    return Err("a FOR … IN a..b loop takes one variable".into());
                };
                let low = self.until_word(&[".."])?;
                let low = self.expression(low)?;
                self.expect("..")?;
                let high = self.until_word(&["by", "loop"])?;
                let high = self.expression(high)?;
                let step = if self.eat("by") {
                    let text = self.until_word(&["loop"])?;
                    Some(self.expression(text)?)
                } else {
                    None
                };
                scope.scalars.insert(var.clone());
                LoopKind::Range {
                    var: var.clone(),
                    low,
                    high,
                    step,
                    reverse,
                }
            } else {
                if reverse {
                    return Err("REVERSE applies only to integer FOR loops".into());
                }
                if self.is("execute") {
                    return Err(
                        "FOR … IN EXECUTE (dynamic SQL) cannot be translated to SQLite".into(),
                    );
                }
                let text = self.until_word(&["loop"])?;
                let query = self.query(text)?;
                // A single undeclared target is the loop's own record.
                if targets.len() == 1 && !self.is_scalar(&targets[0]) {
                    scope.records.insert(targets[0].clone());
                } else if let Some(unknown) = targets.iter().find(|target| !self.is_scalar(target))
                {
                    return Err(format!("loop variable \"{unknown}\" is not declared"));
                }
                LoopKind::Query { targets, query }
            }
        } else {
            LoopKind::Plain
        };
        self.scopes.push(scope);
        self.expect("loop")?;
        let body = self.statements(&["end"])?;
        self.scopes.pop();
        self.expect("end")?;
        self.expect("loop")?;
        if !self.is(";") {
            self.name()?;
        }
        self.expect(";")?;
        Ok(Stmt::Loop { label, kind, body })
    }

    fn return_statement(&mut self) -> Result<Stmt, String> {
        self.expect("return")?;
        if self.eat("next") {
            return Ok(Stmt::ReturnNext(self.returned()?));
        }
        if self.eat("query") {
            if self.is("execute") {
                return Err("RETURN QUERY EXECUTE (dynamic SQL) cannot be translated".into());
            }
            let text = self.until_word(&[";"])?;
            return Ok(Stmt::ReturnQuery(self.query(text)?));
        }
        Ok(Stmt::Return(self.returned()?))
    }

    fn returned(&mut self) -> Result<Option<Returned>, String> {
        if self.is(";") {
            return Ok(None);
        }
        if self.token_text(self.position + 1) == ";" {
            let word = self.word();
            if self.is_record(&word) {
                self.position += 1;
                return Ok(Some(Returned::Record(word)));
            }
        }
        let text = self.until_word(&[";"])?;
        Ok(Some(Returned::Value(self.expression(text)?)))
    }

    fn raise(&mut self) -> Result<Stmt, String> {
        self.expect("raise")?;
        let level = match self.word().as_str() {
            level @ ("exception" | "notice" | "warning" | "info" | "log" | "debug") => {
                self.position += 1;
                level.to_owned()
            }
            _ => "exception".to_owned(),
        };
        if self.is(";") {
            return Err("RAISE without a message (re-raise) is not supported".into());
        }
        let mut format = None;
        let mut args = Vec::new();
        if self.tokens.get(self.position).map(|t| t.kind) == Some(Kind::String) {
            let literal = self.current_text();
            self.position += 1;
            format = Some(string_literal(literal)?);
            while self.eat(",") {
                let text = self.until_word(&[",", ";", "using"])?;
                args.push(self.expression(text)?);
            }
        } else if !self.is("using") {
            return Err(format!(
                "RAISE {} (a condition name instead of a message) is not supported",
                self.current_text()
            ));
        }
        let mut options = Vec::new();
        if self.eat("using") {
            loop {
                let option = self.name()?;
                if !matches!(option.as_str(), "message" | "detail" | "hint" | "errcode") {
                    return Err(format!("RAISE … USING {option} is not supported"));
                }
                if !(self.eat("=") || self.eat(":=")) {
                    return Err("expected = after the RAISE option".into());
                }
                let text = self.until_word(&[",", ";"])?;
                options.push((option, self.expression(text)?));
                if !self.eat(",") {
                    break;
                }
            }
        }
        Ok(Stmt::Raise {
            level,
            format,
            args,
            options,
        })
    }

    fn sql_statement(&mut self) -> Result<Stmt, String> {
        let end = self.find(|parser, index| parser.token_text(index) == ";");
        let first = self.word();
        if !matches!(
            first.as_str(),
            "select" | "insert" | "update" | "delete" | "with" | "values" | "("
        ) {
            let text = self.take_until(end)?;
            if self.context.utility {
                return Ok(Stmt::Utility(text.to_owned()));
            }
            return Err(format!(
                "`{}` is not supported inside a function body",
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        // INTO targets: after SELECT's list, or after RETURNING; never INSERT INTO.
        let mut into = Vec::new();
        let mut strict = false;
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let mut index = self.position;
        let mut depth = 0;
        let mut piece_start = self.tokens[self.position].start;
        while index < end {
            let word = self.word_at(index);
            match word.as_str() {
                "(" => depth += 1,
                ")" => depth -= 1,
                "into" if depth == 0 && into.is_empty() && !self.sql_keeps_into(index) => {
                    pieces.push((piece_start, self.tokens[index].start));
                    index += 1;
                    if self.word_at(index) == "strict" {
                        strict = true;
                        index += 1;
                    }
                    let saved = self.position;
                    self.position = index;
                    loop {
                        into.push(self.target()?);
                        if !self.eat(",") {
                            break;
                        }
                    }
                    index = self.position;
                    self.position = saved;
                    piece_start = self.tokens.get(index).map_or(self.text.len(), |t| t.start);
                    continue;
                }
                _ => {}
            }
            index += 1;
        }
        let stop = if end > self.position {
            self.tokens[end - 1].end
        } else {
            piece_start
        };
        pieces.push((piece_start, stop.max(piece_start)));
        self.position = end;
        let text: Vec<&str> = pieces.iter().map(|(a, b)| &self.text[*a..*b]).collect();
        let sql = self.query(&text.join(" "))?;
        Ok(Stmt::Query { sql, into, strict })
    }

    /// Whether the INTO at `index` belongs to SQL itself (`INSERT INTO`, `MERGE INTO`).
    fn sql_keeps_into(&self, index: usize) -> bool {
        index > 0 && matches!(self.word_at(index - 1).as_str(), "insert" | "merge")
    }

    fn expression(&self, text: &str) -> Result<Sql, String> {
        let mut expr = sqlparser::parser::Parser::new(&DIALECT)
            .try_with_sql(text)
            .and_then(|mut parser| parser.parse_expr())
            .map_err(|error| format!("cannot parse the expression `{text}`: {error}"))?;
        let refs = self.bind(&mut expr)?;
        let calls = self.calls();
        let translated = match self.context.secure {
            Some(secure) => secure.expression(&mut expr, &calls),
            None => expression::translate_with(&mut expr, &[], &calls),
        }
        .map_err(|Unsupported(reason)| named(&reason, &refs))?;
        Ok(Sql {
            text: format!("SELECT {translated}"),
            refs,
        })
    }

    fn query(&self, text: &str) -> Result<Sql, String> {
        let mut statements = sqlparser::parser::Parser::parse_sql(&DIALECT, text)
            .map_err(|error| format!("cannot parse `{}`: {error}", text.trim()))?;
        let [statement] = statements.as_mut_slice() else {
            return Err(format!("expected one statement in `{}`", text.trim()));
        };
        if let Statement::Insert(insert) = statement
            && let sqlparser::ast::TableObject::TableName(table) = &insert.table
            && self
                .context
                .cache
                .table(&expression::qualified_name(table))
                .is_some()
        {
            crate::migrate::normalize_insert_values(self.context.cache, insert)
                .map_err(|refusal| refusal.reason)?;
        }
        let refs = self.bind(statement)?;
        let calls = self.calls();
        let translated = match self.context.secure {
            Some(secure) => secure.statement(statement, &calls),
            None => expression::translate_with(statement, &[], &calls),
        }
        .map_err(|Unsupported(reason)| named(&reason, &refs))?;
        Ok(Sql {
            text: translated,
            refs,
        })
    }

    fn calls(&self) -> Calls<'_> {
        Calls {
            cache: self.context.cache,
            catalog: self.context.utility,
        }
    }

    /// Replaces variable references in `node` by `?n` parameters; returns what they stand for.
    fn bind<N: VisitMut + Visit>(&self, node: &mut N) -> Result<Vec<Ref>, String> {
        let mut columns = HashSet::new();
        if self.prefer_columns {
            let _ = sqlparser::ast::visit_relations(node, |relation| {
                let table = self
                    .context
                    .cache
                    .table(&expression::qualified_name(relation));
                columns.extend(
                    table
                        .into_iter()
                        .flat_map(|table| table.columns.iter().map(|column| column.name.clone())),
                );
                ControlFlow::<()>::Continue(())
            });
        }
        let mut binder = Binder {
            parser: self,
            refs: Vec::new(),
            columns,
        };
        match node.visit(&mut binder) {
            ControlFlow::Break(error) => Err(error),
            ControlFlow::Continue(()) => Ok(binder.refs),
        }
    }
}

/// A translation error with each bound slot (`?2`) named again as the body wrote it (`new.r`).
fn named(reason: &str, refs: &[Ref]) -> String {
    let mut named = reason.to_owned();
    // The highest slots first, so that `?1` does not take the start of `?12`.
    for (index, reference) in refs.iter().enumerate().rev() {
        let name = match reference {
            Ref::Var(name) | Ref::Record(name) => name.clone(),
            Ref::Field(record, field) => format!("{record}.{field}"),
        };
        named = named.replace(&format!("?{}", index + 1), &name);
    }
    named
}

struct Binder<'p, 'a> {
    parser: &'p Parser<'a>,
    refs: Vec<Ref>,
    /// Names that stay columns (`#variable_conflict use_column`).
    columns: HashSet<String>,
}

impl Binder<'_, '_> {
    /// The slot of the scalar `name`, cast to its type when that is a range (which the
    /// translator then knows).
    fn scalar(&mut self, name: String) -> Expr {
        let kind = self.parser.range_of(&name);
        let slot = self.slot(Ref::Var(name));
        match kind {
            Some(kind) => crate::migrate::ranges::typed(slot, kind),
            None => slot,
        }
    }

    fn slot(&mut self, reference: Ref) -> Expr {
        let index = match self.refs.iter().position(|known| *known == reference) {
            Some(index) => index,
            None => {
                self.refs.push(reference);
                self.refs.len() - 1
            }
        };
        expression::raw(format!("?{}", index + 1))
    }
}

/// The variable an identifier known to name an array variable refers to.
fn reference(expr: &Expr) -> Ref {
    match expr {
        Expr::Identifier(ident) => Ref::Var(ident_name(ident)),
        _ => unreachable!("checked to be an identifier"),
    }
}

fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

impl VisitorMut for Binder<'_, '_> {
    type Break = String;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        let parser = self.parser;
        if let Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::StringConcat,
            right,
        } = expr
            && [&*left, &*right].iter().all(|side| {
                matches!(side.as_ref(), Expr::Identifier(ident)
                    if parser.scopes.iter().any(|scope| scope.arrays.contains(&ident_name(ident))))
            })
        {
            // Arrays are JSON text: `a || b` of two array variables joins their elements.
            let (left, right) = (left.as_ref().clone(), right.as_ref().clone());
            *expr = expression::raw(format!(
                "pg_array_cat({}, {})",
                self.slot(reference(&left)),
                self.slot(reference(&right))
            ));
            return ControlFlow::Continue(());
        }
        if let Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::StringConcat,
            right,
        } = expr
            && [left, right].iter().any(|side| {
                matches!(side.as_ref(), Expr::Identifier(ident)
                    if parser.scopes.iter().any(|scope| scope.arrays.contains(&ident_name(ident))))
            })
        {
            return ControlFlow::Break(format!(
                "`{expr}` concatenates an array with a value, which SQLite (arrays as JSON text) cannot do with ||"
            ));
        }
        let replacement = match expr {
            Expr::Identifier(ident) => {
                let name = ident_name(ident);
                if self.columns.contains(&name) {
                    None
                } else if parser.is_scalar(&name) {
                    Some(self.scalar(name))
                } else if parser.is_record(&name) {
                    let slot = self.slot(Ref::Record(name));
                    Some(expression::raw(format!("json({slot})")))
                } else {
                    None
                }
            }
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let first = ident_name(&parts[0]);
                let second = ident_name(&parts[1]);
                if parser.is_record(&first) {
                    Some(self.slot(Ref::Field(first, second)))
                } else if parser.is_qualifier(&first) && parser.is_scalar(&second) {
                    Some(self.scalar(second))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<Self::Break> {
        let name = expression::qualified_name(relation);
        if catalog::is_catalog(&name) {
            let known = catalog::relation(self.parser.context.cache, &name).is_some();
            return match (self.parser.context.utility, known) {
                (true, true) => ControlFlow::Continue(()),
                (true, false) => ControlFlow::Break(format!(
                    "the Postgres catalog {relation} does not exist on SQLite"
                )),
                (false, _) => ControlFlow::Break(format!(
                    "a function body cannot read the Postgres catalog {relation} on SQLite"
                )),
            };
        }
        self.parser.relations.borrow_mut().push(name);
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<Self::Break> {
        if let Statement::Query(query) = statement
            && let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref()
            && select.into.is_some()
        {
            return ControlFlow::Break("SELECT … INTO a table is not supported".into());
        }
        ControlFlow::Continue(())
    }
}

/// Calls of the project's own functions become `pg_call('schema.name(types)', args…)`; with
/// `catalog`, the Postgres catalog relations read the schema as it is now.
pub struct Calls<'a> {
    pub cache: &'a SchemaCache,
    pub catalog: bool,
}

impl Resolver for Calls<'_> {
    fn schema(&self) -> Option<&SchemaCache> {
        Some(self.cache)
    }

    fn relation(&self, name: &QualifiedName) -> Result<Option<String>, Unsupported> {
        Ok(self
            .catalog
            .then(|| catalog::relation(self.cache, name))
            .flatten())
    }

    fn function(&self, name: &str, args: &[String]) -> Result<Option<String>, Unsupported> {
        Ok(self
            .cache
            .called(name, args.len())
            .map(|function| call_sql(function, args)))
    }

    fn table_function(
        &self,
        name: &QualifiedName,
        args: &[String],
    ) -> Result<Option<String>, Unsupported> {
        let Some(function) = self.cache.called(&name.to_string(), args.len()) else {
            return Ok(None);
        };
        super::rows_sql(self.cache, function, &call_sql(function, args))
            .map(Some)
            .ok_or_else(|| {
                Unsupported(format!(
                    "{name}() returns no rows to select from; call it in the select list"
                ))
            })
    }
}

/// The SQLite call of a project function (the overload, by its signature) with translated
/// arguments.
pub fn call_sql(function: &Function, args: &[String]) -> String {
    let mut parts = vec![quote_literal(&function.signature())];
    parts.extend(args.iter().cloned());
    format!("pg_call({})", parts.join(", "))
}

/// The text of a string literal token (`'…'`, `E'…'`, `$$…$$`).
fn string_literal(token: &str) -> Result<String, String> {
    if let Some(rest) = token.strip_prefix('\'') {
        return Ok(rest[..rest.len() - 1].replace("''", "'"));
    }
    if let Some(rest) = token.strip_prefix(['e', 'E']) {
        let inner = &rest[1..rest.len() - 1];
        return Ok(inner
            .replace("''", "'")
            .replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace("\\'", "'")
            .replace("\\\\", "\\"));
    }
    let tag_end = token[1..].find('$').map(|at| at + 2).ok_or("bad string")?;
    Ok(token[tag_end..token.len() - tag_end].to_owned())
}

/// The SQLSTATE of a plpgsql condition name.
pub fn condition_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "others" => "*",
        "raise_exception" => "P0001",
        "case_not_found" => "20000",
        "no_data_found" => "P0002",
        "too_many_rows" => "P0003",
        "unique_violation" => "23505",
        "foreign_key_violation" => "23503",
        "not_null_violation" => "23502",
        "check_violation" => "23514",
        "integrity_constraint_violation" => "23000",
        "division_by_zero" => "22012",
        "invalid_text_representation" => "22P02",
        "numeric_value_out_of_range" => "22003",
        "duplicate_object" => "42710",
        "duplicate_table" => "42P07",
        "duplicate_column" => "42701",
        "undefined_table" => "42P01",
        "undefined_column" => "42703",
        "undefined_object" => "42704",
        "undefined_function" => "42883",
        "insufficient_privilege" => "42501",
        _ => return None,
    })
}

/// Compiles one standalone expression (a trigger's `when`) in `context`.
pub fn expression_in(context: &Context, text: &str) -> Result<Sql, String> {
    Parser::new(text, Vec::new(), context).expression(text)
}
