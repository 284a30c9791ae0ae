//! Query: plans an `ApiRequest` against the `SchemaCache` and renders SQLite SQL with bound
//! parameters. Response JSON is built in SQL (`json_object` per row, `json_group_array` per set,
//! correlated subqueries for embeds), so values leave typed as Postgres would send them.
//! Rejects unknown tables (PGRST205), columns (42703), relationships (PGRST200/201), payload
//! keys (PGRST204). Every relation read or written takes its policy predicate from `authorize`.

use axum::http::StatusCode;
use rusqlite::types::Value as SqlValue;

use super::authorize::{self, Clause};
use super::error::RestError;
use super::request::*;
use super::values;
use crate::auth::Caller;
use crate::schema::{
    ForeignKey, PgType, PolicyCommand, QualifiedName, SchemaCache, Table, TableKind,
};
use crate::store::naming::{quote_ident, quote_literal, table_ident};

/// SQL text and its positional parameters.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

pub struct Planner<'a> {
    pub schema: &'a SchemaCache,
    pub caller: &'a Caller,
    pub request: &'a ApiRequest,
    params: Vec<SqlValue>,
    aliases: usize,
    /// SQL whose rows stand in for the table's (a function body for RPC); the table otherwise.
    source: Option<String>,
}

impl<'a> Planner<'a> {
    pub fn new(schema: &'a SchemaCache, caller: &'a Caller, request: &'a ApiRequest) -> Self {
        Self {
            schema,
            caller,
            request,
            params: Vec::new(),
            aliases: 0,
            source: None,
        }
    }

    /// Reads rows from `sql` (e.g. a set-returning function's body) instead of the table.
    pub fn with_source(mut self, sql: String) -> Self {
        self.source = Some(sql);
        self
    }

    pub fn finish(&mut self, text: String) -> Sql {
        Sql {
            text,
            params: std::mem::take(&mut self.params),
        }
    }

    pub fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// The requested table or view.
    pub fn table(&self, name: &str) -> Result<&'a Table, RestError> {
        let qualified = QualifiedName::new(self.request.schema.as_str(), name);
        self.schema.table(&qualified).ok_or_else(|| {
            let mut error = RestError::new(
                StatusCode::NOT_FOUND,
                "PGRST205",
                format!("Could not find the table '{qualified}' in the schema cache"),
            );
            if let Some(close) = self
                .schema
                .tables
                .keys()
                .filter(|candidate| candidate.schema == qualified.schema)
                .min_by_key(|candidate| distance(&candidate.name, name))
                && distance(&close.name, name) <= 3
            {
                error = error.hint(format!("Perhaps you meant the table '{close}'"));
            }
            error
        })
    }

    /// The JSON object expression of one row of `table` as `alias`, per `select`.
    fn row_object(
        &mut self,
        table: &Table,
        alias: &str,
        select: &[SelectItem],
        path: &EmbedPath,
    ) -> Result<String, RestError> {
        let mut pairs = Vec::new();
        for item in select {
            match item {
                SelectItem::Star => {
                    for column in &table.columns {
                        pairs.push(format!(
                            "{}, {}",
                            quote_literal(&column.name),
                            render_column(alias, &column.name, &column.pg_type)
                        ));
                    }
                }
                SelectItem::Field {
                    alias: key,
                    field,
                    cast,
                } => {
                    let (expression, pg_type) = self.field(table, alias, field)?;
                    let value = match cast.as_deref().map(str::to_ascii_lowercase).as_deref() {
                        Some("text" | "varchar") => format!(
                            "CAST({} AS TEXT)",
                            render_value(&expression, &pg_type, true)
                        ),
                        Some("int" | "integer" | "bigint" | "int4" | "int8" | "smallint") => {
                            format!("CAST({expression} AS INTEGER)")
                        }
                        Some("numeric" | "float" | "float8" | "real" | "double precision") => {
                            format!("CAST({expression} AS REAL)")
                        }
                        Some("json" | "jsonb") | None => render_value(&expression, &pg_type, false),
                        Some(other) => {
                            return Err(RestError::new(
                                StatusCode::BAD_REQUEST,
                                "42846",
                                format!("cannot cast to type {other}"),
                            ));
                        }
                    };
                    let key = key.clone().unwrap_or_else(|| output_key(field));
                    pairs.push(format!("{}, {value}", quote_literal(&key)));
                }
                SelectItem::Count { alias: key } => {
                    let _ = key;
                    return Err(RestError::new(
                        StatusCode::BAD_REQUEST,
                        "PGRST123",
                        "Use of aggregate functions is not allowed",
                    ));
                }
                SelectItem::Embed {
                    alias: key,
                    relation,
                    hints,
                    spread,
                    select,
                    ..
                } => {
                    let name = key.clone().unwrap_or_else(|| relation.clone());
                    let mut embed_path = path.clone();
                    embed_path.push(name.clone());
                    let relationship = self.relationship(table, relation, hints)?;
                    if *spread {
                        let child_alias = self.alias();
                        for inner in select {
                            let SelectItem::Field {
                                alias: inner_key,
                                field,
                                ..
                            } = inner
                            else {
                                return Err(RestError::new(
                                    StatusCode::BAD_REQUEST,
                                    "PGRST100",
                                    "spread embeds take plain columns",
                                ));
                            };
                            let (expression, pg_type) =
                                self.field(relationship.target, &child_alias, field)?;
                            let from =
                                self.embed_from(&relationship, alias, &child_alias, &embed_path)?;
                            pairs.push(format!(
                                "{}, (SELECT {} {from})",
                                quote_literal(
                                    &inner_key.clone().unwrap_or_else(|| output_key(field))
                                ),
                                render_value(&expression, &pg_type, false)
                            ));
                        }
                        continue;
                    }
                    let value = self.embed(&relationship, alias, select, &embed_path)?;
                    pairs.push(format!("{}, json({value})", quote_literal(&name)));
                }
            }
        }
        Ok(format!("json_object({})", pairs.join(", ")))
    }

    /// A column (with its JSON path) of `table` as `alias`, and its type.
    fn field(
        &self,
        table: &Table,
        alias: &str,
        field: &Field,
    ) -> Result<(String, PgType), RestError> {
        let column = table
            .column(&field.column)
            .ok_or_else(|| unknown_column(table, &field.column))?;
        let mut expression = format!("{alias}.{}", quote_ident(&column.name));
        let mut pg_type = column.pg_type.clone();
        for step in &field.json_path {
            let key = match &step.key {
                JsonKey::Name(name) => quote_literal(name),
                JsonKey::Index(index) => index.to_string(),
            };
            expression = format!(
                "({expression} {} {key})",
                if step.as_text { "->>" } else { "->" }
            );
            pg_type = if step.as_text {
                PgType::Text
            } else {
                PgType::Jsonb
            };
        }
        Ok((expression, pg_type))
    }

    fn relationship(
        &self,
        parent: &'a Table,
        relation: &str,
        hints: &[String],
    ) -> Result<Relationship<'a>, RestError> {
        let mut candidates = Vec::new();
        for target in self
            .schema
            .tables
            .values()
            .filter(|table| table.name.schema == self.request.schema)
        {
            // Many-to-one: the parent's foreign key points at the target.
            for foreign in &parent.foreign_keys {
                if foreign.referenced_table == target.name
                    && (target.name.name == relation || foreign.columns == [relation.to_owned()])
                {
                    candidates.push(Relationship {
                        target,
                        foreign,
                        to_one: true,
                    });
                }
            }
            // One-to-many: the target's foreign key points at the parent.
            if target.name.name == relation {
                for foreign in &target.foreign_keys {
                    if foreign.referenced_table == parent.name {
                        candidates.push(Relationship {
                            target,
                            foreign,
                            to_one: false,
                        });
                    }
                }
            }
        }
        candidates.retain(|candidate| {
            hints.iter().all(|hint| {
                candidate.foreign.name == *hint
                    || candidate.foreign.columns == [hint.clone()]
                    || candidate.target.name.name == *hint
            })
        });
        match candidates.len() {
            0 => Err(RestError::new(StatusCode::BAD_REQUEST, "PGRST200", format!("Could not find a relationship between '{}' and '{relation}' in the schema cache", parent.name.name))
                .hint("Verify that the foreign key exists and that the names in the select parameter are right")),
            1 => Ok(candidates.remove(0)),
            _ => Err(RestError::new(StatusCode::MULTIPLE_CHOICES, "PGRST201", format!("Could not embed because more than one relationship was found for '{}' and '{relation}'", parent.name.name))
                .details(candidates.iter().map(|candidate| candidate.foreign.name.clone()).collect::<Vec<_>>().join(", "))
                .hint(format!("Try changing '{relation}' to one of: {}", candidates.iter().map(|candidate| format!("'{relation}!{}'", candidate.foreign.name)).collect::<Vec<_>>().join(", ")))),
        }
    }

    /// `FROM target AS child WHERE join AND filters AND policy` for an embed.
    fn embed_from(
        &mut self,
        relationship: &Relationship,
        parent_alias: &str,
        child_alias: &str,
        path: &EmbedPath,
    ) -> Result<String, RestError> {
        let foreign = relationship.foreign;
        let join: Vec<String> = foreign
            .columns
            .iter()
            .zip(&foreign.referenced_columns)
            .map(|(column, referenced)| {
                if relationship.to_one {
                    format!(
                        "{child_alias}.{} = {parent_alias}.{}",
                        quote_ident(referenced),
                        quote_ident(column)
                    )
                } else {
                    format!(
                        "{child_alias}.{} = {parent_alias}.{}",
                        quote_ident(column),
                        quote_ident(referenced)
                    )
                }
            })
            .collect();
        let mut conditions = join;
        conditions.extend(self.conditions(
            relationship.target,
            child_alias,
            path,
            PolicyCommand::Select,
        )?);
        Ok(format!(
            "FROM {} AS {child_alias} WHERE {}",
            table_ident(&relationship.target.name),
            conditions.join(" AND ")
        ))
    }

    fn embed(
        &mut self,
        relationship: &Relationship,
        parent_alias: &str,
        select: &[SelectItem],
        path: &EmbedPath,
    ) -> Result<String, RestError> {
        let child_alias = self.alias();
        if let [SelectItem::Count { .. }] = select {
            let from = self.embed_from(relationship, parent_alias, &child_alias, path)?;
            return Ok(format!(
                "(SELECT json_array(json_object('count', count(*))) {from})"
            ));
        }
        let object = self.row_object(relationship.target, &child_alias, select, path)?;
        let from = self.embed_from(relationship, parent_alias, &child_alias, path)?;
        if relationship.to_one {
            return Ok(format!("(SELECT {object} {from} LIMIT 1)"));
        }
        let order = self.order_by(relationship.target, &child_alias, path)?;
        let range = self.limit(path);
        Ok(format!(
            "(SELECT coalesce(json_group_array(json(_row)), json('[]')) FROM (SELECT {object} AS _row {from}{order}{range}))"
        ))
    }

    /// Filters on `path` plus the policy predicate, for rows of `table` as `alias`.
    fn conditions(
        &mut self,
        table: &Table,
        alias: &str,
        path: &EmbedPath,
        command: PolicyCommand,
    ) -> Result<Vec<String>, RestError> {
        let mut conditions = Vec::new();
        let filters: Vec<LogicTree> = self
            .request
            .filters
            .iter()
            .filter(|(filter_path, _)| filter_path == path)
            .map(|(_, tree)| tree.clone())
            .collect();
        for tree in &filters {
            conditions.push(self.logic(table, alias, tree)?);
        }
        // `!inner` embeds drop parents without a matching child.
        if let Some(select) = self.select_at(path) {
            for item in select {
                if let SelectItem::Embed {
                    alias: key,
                    relation,
                    hints,
                    inner: true,
                    ..
                } = item
                {
                    let relationship = self.relationship(table, relation, hints)?;
                    let mut child_path = path.clone();
                    child_path.push(key.clone().unwrap_or_else(|| relation.clone()));
                    let child_alias = self.alias();
                    let from = self.embed_from(&relationship, alias, &child_alias, &child_path)?;
                    conditions.push(format!("EXISTS (SELECT 1 {from})"));
                }
            }
        }
        if let Some(policy) =
            authorize::row_filter(self.schema, table, command, Clause::Using, self.caller)?
        {
            conditions.push(qualify_policy(&policy, alias, table));
        }
        if conditions.is_empty() {
            conditions.push("1".into());
        }
        Ok(conditions)
    }

    fn select_at(&self, path: &EmbedPath) -> Option<&'a [SelectItem]> {
        let mut select: &'a [SelectItem] = &self.request.select;
        for name in path {
            select = select.iter().find_map(|item| match item {
                SelectItem::Embed {
                    alias,
                    relation,
                    select,
                    ..
                } if alias.as_ref().unwrap_or(relation) == name => Some(select.as_slice()),
                _ => None,
            })?;
        }
        Some(select)
    }

    fn logic(&mut self, table: &Table, alias: &str, tree: &LogicTree) -> Result<String, RestError> {
        let (sql, negated) = match tree {
            LogicTree::Filter(filter) => (self.filter(table, alias, filter)?, filter.negated),
            LogicTree::And { negated, children } | LogicTree::Or { negated, children } => {
                let joiner = if matches!(tree, LogicTree::And { .. }) {
                    " AND "
                } else {
                    " OR "
                };
                let parts = children
                    .iter()
                    .map(|child| self.logic(table, alias, child))
                    .collect::<Result<Vec<_>, _>>()?;
                (format!("({})", parts.join(joiner)), *negated)
            }
        };
        Ok(if negated { format!("NOT {sql}") } else { sql })
    }

    fn filter(&mut self, table: &Table, alias: &str, filter: &Filter) -> Result<String, RestError> {
        let (expression, pg_type) = self.field(table, alias, &filter.field)?;
        let schema = self.schema;
        let operand = |planner: &mut Self, text: &str| -> Result<String, RestError> {
            let value = match (&pg_type, text) {
                (PgType::Jsonb, _) => SqlValue::Text(text.to_owned()),
                _ => values::from_text(schema, &pg_type, text)?,
            };
            Ok(planner.bind(value))
        };
        Ok(match &filter.operation {
            Operation::Compare { operator, value } => {
                let sql_operator = match operator {
                    Operator::Eq => "=",
                    Operator::Neq => "<>",
                    Operator::Gt => ">",
                    Operator::Gte => ">=",
                    Operator::Lt => "<",
                    Operator::Lte => "<=",
                    Operator::IsDistinct => "IS NOT",
                    Operator::Like => {
                        return Ok(format!(
                            "({expression} GLOB {})",
                            self.bind(SqlValue::Text(like_to_glob(value)))
                        ));
                    }
                    Operator::Ilike => {
                        return Ok(format!(
                            "({expression} LIKE {})",
                            self.bind(SqlValue::Text(value.clone()))
                        ));
                    }
                    Operator::Match => {
                        return Ok(format!(
                            "regexp({}, {expression})",
                            self.bind(SqlValue::Text(value.clone()))
                        ));
                    }
                    Operator::Imatch => {
                        return Ok(format!(
                            "regexp({}, {expression})",
                            self.bind(SqlValue::Text(format!("(?i){value}")))
                        ));
                    }
                };
                format!("({expression} {sql_operator} {})", operand(self, value)?)
            }
            Operation::Quantified {
                operator,
                quantifier,
                values,
            } => {
                let parts: Vec<String> = values
                    .iter()
                    .map(|value| match operator {
                        Operator::Ilike => format!(
                            "{expression} LIKE {}",
                            self.bind(SqlValue::Text(value.clone()))
                        ),
                        _ => format!(
                            "{expression} GLOB {}",
                            self.bind(SqlValue::Text(like_to_glob(value)))
                        ),
                    })
                    .collect();
                let joiner = if *quantifier == Quantifier::Any {
                    " OR "
                } else {
                    " AND "
                };
                format!(
                    "({})",
                    if parts.is_empty() {
                        "0".into()
                    } else {
                        parts.join(joiner)
                    }
                )
            }
            Operation::In(items) => {
                let mut placeholders = Vec::new();
                for item in items {
                    placeholders.push(operand(self, item)?);
                }
                format!("({expression} IN ({}))", placeholders.join(", "))
            }
            Operation::Is(is) => match is {
                IsValue::Null | IsValue::Unknown => format!("({expression} IS NULL)"),
                IsValue::NotNull => format!("({expression} IS NOT NULL)"),
                IsValue::True => format!("({expression} IS TRUE)"),
                IsValue::False => format!("({expression} IS FALSE)"),
            },
            Operation::Contain { operator, value } => {
                let json = match &pg_type {
                    PgType::Array(_) => crate::migrate::values::array_literal_to_json(value)
                        .ok_or_else(|| {
                            RestError::new(
                                StatusCode::BAD_REQUEST,
                                "22P02",
                                format!("malformed array literal: \"{value}\""),
                            )
                        })?,
                    _ => value.clone(),
                };
                let bound = self.bind(SqlValue::Text(json));
                match operator {
                    ContainOperator::Contains => format!("pg_json_contains({expression}, {bound})"),
                    ContainOperator::ContainedBy => {
                        format!("pg_json_contains({bound}, {expression})")
                    }
                    ContainOperator::Overlaps => format!(
                        "EXISTS (SELECT 1 FROM json_each({expression}) AS l JOIN json_each({bound}) AS r ON l.value = r.value)"
                    ),
                }
            }
            Operation::TextSearch { query, .. } => {
                // Approximation of Postgres full-text search: every word must appear (case-insensitive).
                let words: Vec<String> = query
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|word| !word.is_empty())
                    .map(str::to_owned)
                    .collect();
                let parts: Vec<String> = words
                    .iter()
                    .map(|word| {
                        format!(
                            "{expression} LIKE {}",
                            self.bind(SqlValue::Text(format!("%{word}%")))
                        )
                    })
                    .collect();
                format!(
                    "({})",
                    if parts.is_empty() {
                        "1".into()
                    } else {
                        parts.join(" AND ")
                    }
                )
            }
        })
    }

    fn order_by(
        &mut self,
        table: &Table,
        alias: &str,
        path: &EmbedPath,
    ) -> Result<String, RestError> {
        let terms: Vec<OrderTerm> = self
            .request
            .orders
            .iter()
            .filter(|(order_path, _)| order_path == path)
            .flat_map(|(_, terms)| terms.clone())
            .collect();
        if terms.is_empty() {
            return Ok(String::new());
        }
        let mut parts = Vec::new();
        for term in &terms {
            let (expression, _) = self.field(table, alias, &term.field)?;
            let direction = if term.descending { "DESC" } else { "ASC" };
            // Postgres puts nulls last ascending and first descending unless told otherwise.
            let nulls_first = term.nulls_first.unwrap_or(term.descending);
            parts.push(format!(
                "{expression} {direction} NULLS {}",
                if nulls_first { "FIRST" } else { "LAST" }
            ));
        }
        Ok(format!(" ORDER BY {}", parts.join(", ")))
    }

    fn range(&self, path: &EmbedPath) -> Range {
        self.request
            .ranges
            .iter()
            .find(|(range_path, _)| range_path == path)
            .map(|(_, range)| *range)
            .unwrap_or_default()
    }

    fn limit(&self, path: &EmbedPath) -> String {
        let range = self.range(path);
        match range.limit {
            Some(limit) => format!(" LIMIT {limit} OFFSET {}", range.offset),
            None if range.offset > 0 => format!(" LIMIT -1 OFFSET {}", range.offset),
            None => String::new(),
        }
    }

    /// The read: `(json array of rows, rows returned)` plus, when asked, the total count query.
    pub fn read(
        &mut self,
        table: &Table,
        max_rows: u64,
    ) -> Result<(String, Option<String>), RestError> {
        let alias = self.alias();
        let path = Vec::new();
        let object = self.row_object(table, &alias, &self.request.select.clone(), &path)?;
        let conditions = self
            .conditions(table, &alias, &path, PolicyCommand::Select)?
            .join(" AND ");
        let order = self.order_by(table, &alias, &path)?;
        let range = self.range(&path);
        let limit = range.limit.map_or(max_rows, |limit| limit.min(max_rows));
        let source = match &self.source {
            Some(sql) => format!("({sql})"),
            None => table_ident(&table.name),
        };
        let from = format!("FROM {source} AS {alias} WHERE {conditions}");
        let rows = format!(
            "SELECT coalesce(json_group_array(json(_row)), json('[]')), count(*) FROM (SELECT {object} AS _row {from}{order} LIMIT {limit} OFFSET {})",
            range.offset
        );
        let count = self
            .request
            .prefer
            .count
            .map(|_| format!("SELECT count(*) {from}"));
        Ok((rows, count))
    }

    /// The rows of `table` whose rowids are in the JSON array parameter, shaped by `select`.
    pub fn representation(&mut self, table: &Table, rowids: &str) -> Result<String, RestError> {
        let alias = self.alias();
        let object = self.row_object(table, &alias, &self.request.select.clone(), &Vec::new())?;
        let bound = self.bind(SqlValue::Text(rowids.to_owned()));
        Ok(format!(
            "SELECT coalesce(json_group_array(json(_row)), json('[]')) FROM (SELECT {object} AS _row FROM {} AS {alias} JOIN json_each({bound}) AS ids ON {alias}.rowid = ids.value ORDER BY ids.key)",
            table_ident(&table.name)
        ))
    }

    /// `rowid`s of rows the filters and the policy select for `command`.
    pub fn matching_rowids(
        &mut self,
        table: &Table,
        command: PolicyCommand,
    ) -> Result<String, RestError> {
        let alias = self.alias();
        let conditions = self
            .conditions(table, &alias, &Vec::new(), command)?
            .join(" AND ");
        let order = self.order_by(table, &alias, &Vec::new())?;
        let limit = self.limit(&Vec::new());
        Ok(format!(
            "SELECT {alias}.rowid FROM {} AS {alias} WHERE {conditions}{order}{limit}",
            table_ident(&table.name)
        ))
    }

    /// A count of the rowids (JSON array parameter) that violate the write check, if any applies.
    pub fn check_violations(
        &mut self,
        table: &Table,
        command: PolicyCommand,
        rowids: &str,
    ) -> Result<Option<String>, RestError> {
        let Some(check) =
            authorize::row_filter(self.schema, table, command, Clause::WithCheck, self.caller)?
        else {
            return Ok(None);
        };
        let bound = self.bind(SqlValue::Text(rowids.to_owned()));
        Ok(Some(format!(
            "SELECT count(*) FROM {} AS t0 WHERE t0.rowid IN (SELECT value FROM json_each({bound})) AND NOT coalesce({}, 0)",
            table_ident(&table.name),
            qualify_policy(&check, "t0", table)
        )))
    }

    /// One `INSERT … RETURNING rowid` per payload row (so omitted columns take their defaults).
    pub fn inserts(&mut self, table: &Table) -> Result<Vec<Sql>, RestError> {
        if table.kind != TableKind::Table {
            return Err(RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST117",
                format!("cannot insert into view \"{}\"", table.name.name),
            ));
        }
        let rows: Vec<&serde_json::Map<String, serde_json::Value>> =
            match self.request.payload.as_ref() {
                Some(serde_json::Value::Object(object)) => vec![object],
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|item| item.as_object().ok_or_else(invalid_payload))
                    .collect::<Result<_, _>>()?,
                _ => return Err(invalid_payload()),
            };
        let listed: Option<Vec<String>> = self.request.columns.clone();
        let bulk = matches!(self.request.payload, Some(serde_json::Value::Array(_)));
        let union: Vec<String> = match &listed {
            Some(columns) => columns.clone(),
            None => {
                let mut keys: Vec<String> = Vec::new();
                for row in &rows {
                    for key in row.keys() {
                        if !keys.contains(key) {
                            keys.push(key.clone());
                        }
                    }
                }
                keys
            }
        };
        for key in &union {
            if table.column(key).is_none() {
                return Err(RestError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST204",
                    format!(
                        "Could not find the '{key}' column of '{}' in the schema cache",
                        table.name.name
                    ),
                ));
            }
        }
        let conflict = self.conflict_clause(table, &union)?;
        let mut statements = Vec::new();
        for row in rows {
            let columns: Vec<&String> = union
                .iter()
                .filter(|key| {
                    row.contains_key(*key) || (bulk && !self.request.prefer.missing_default)
                })
                .collect();
            let mut values = Vec::new();
            for key in &columns {
                let column = table.column(key).expect("checked above");
                let value = row.get(*key).cloned().unwrap_or(serde_json::Value::Null);
                let bound = values::from_json(self.schema, &column.pg_type, &value)?;
                values.push(self.bind(bound));
            }
            let text = if columns.is_empty() {
                format!(
                    "INSERT INTO {} DEFAULT VALUES RETURNING rowid",
                    table_ident(&table.name)
                )
            } else {
                format!(
                    "INSERT INTO {} ({}) VALUES ({}){conflict} RETURNING rowid",
                    table_ident(&table.name),
                    columns
                        .iter()
                        .map(|c| quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    values.join(", ")
                )
            };
            statements.push(self.finish(text));
        }
        Ok(statements)
    }

    fn conflict_clause(&self, table: &Table, columns: &[String]) -> Result<String, RestError> {
        let Some(resolution) = self.request.prefer.resolution else {
            return Ok(String::new());
        };
        let target = self
            .request
            .on_conflict
            .clone()
            .unwrap_or_else(|| table.primary_key.clone());
        if target.is_empty() {
            return Ok(String::new());
        }
        for column in &target {
            if table.column(column).is_none() {
                return Err(unknown_column(table, column));
            }
        }
        let target_sql = target
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let updates: Vec<String> = columns
            .iter()
            .filter(|column| !target.contains(column))
            .map(|column| format!("{0} = excluded.{0}", quote_ident(column)))
            .collect();
        Ok(match resolution {
            Resolution::IgnoreDuplicates => format!(" ON CONFLICT ({target_sql}) DO NOTHING"),
            Resolution::MergeDuplicates if updates.is_empty() => {
                format!(" ON CONFLICT ({target_sql}) DO NOTHING")
            }
            Resolution::MergeDuplicates => {
                // Upserts may only overwrite rows the caller could update.
                let guard = match authorize::row_filter(
                    self.schema,
                    table,
                    PolicyCommand::Update,
                    Clause::Using,
                    self.caller,
                )? {
                    Some(policy) => format!(
                        " WHERE {}",
                        qualify_policy(&policy, &table_ident(&table.name), table)
                    ),
                    None => String::new(),
                };
                format!(
                    " ON CONFLICT ({target_sql}) DO UPDATE SET {}{guard}",
                    updates.join(", ")
                )
            }
        })
    }

    /// `UPDATE … WHERE rowid IN (matching) RETURNING rowid`.
    pub fn update(&mut self, table: &Table) -> Result<Sql, RestError> {
        let Some(serde_json::Value::Object(object)) = self.request.payload.as_ref() else {
            return Err(invalid_payload());
        };
        let mut assignments = Vec::new();
        for (key, value) in object {
            let column = table.column(key).ok_or_else(|| {
                RestError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST204",
                    format!(
                        "Could not find the '{key}' column of '{}' in the schema cache",
                        table.name.name
                    ),
                )
            })?;
            let bound = values::from_json(self.schema, &column.pg_type, value)?;
            assignments.push(format!("{} = {}", quote_ident(key), self.bind(bound)));
        }
        if assignments.is_empty() {
            return Err(invalid_payload());
        }
        let matching = self.matching_rowids(table, PolicyCommand::Update)?;
        let text = format!(
            "UPDATE {} SET {} WHERE rowid IN ({matching}) RETURNING rowid",
            table_ident(&table.name),
            assignments.join(", ")
        );
        Ok(self.finish(text))
    }
}

struct Relationship<'a> {
    target: &'a Table,
    foreign: &'a ForeignKey,
    to_one: bool,
}

fn invalid_payload() -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json")
}

fn unknown_column(table: &Table, column: &str) -> RestError {
    RestError::new(
        StatusCode::BAD_REQUEST,
        "42703",
        format!("column {}.{column} does not exist", table.name.name),
    )
}

/// The output key of a field: the last JSON key, else the column.
fn output_key(field: &Field) -> String {
    match field.json_path.last() {
        Some(JsonStep {
            key: JsonKey::Name(name),
            ..
        }) => name.clone(),
        Some(JsonStep {
            key: JsonKey::Index(index),
            ..
        }) => index.to_string(),
        None => field.column.clone(),
    }
}

/// A stored column as the JSON value Postgres would send.
fn render_column(alias: &str, column: &str, pg_type: &PgType) -> String {
    render_value(&format!("{alias}.{}", quote_ident(column)), pg_type, false)
}

fn render_value(expression: &str, pg_type: &PgType, as_text: bool) -> String {
    match pg_type {
        PgType::Boolean if as_text => format!(
            "CASE WHEN {expression} IS NULL THEN NULL WHEN {expression} THEN 'true' ELSE 'false' END"
        ),
        PgType::Boolean => format!(
            "CASE WHEN {expression} IS NULL THEN NULL WHEN {expression} THEN json('true') ELSE json('false') END"
        ),
        PgType::Json | PgType::Jsonb | PgType::Array(_) if !as_text => {
            format!("json({expression})")
        }
        _ => expression.to_owned(),
    }
}

/// Policy predicates name bare columns; in a correlated subquery they must name this alias.
fn qualify_policy(policy: &str, alias: &str, table: &Table) -> String {
    let columns = table
        .columns
        .iter()
        .map(|column| {
            format!(
                "{alias}.{} AS {}",
                quote_ident(&column.name),
                quote_ident(&column.name)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Named as the table, so policies may also say `todos.user_id`.
    format!(
        "EXISTS (SELECT 1 FROM (SELECT {columns}) AS {} WHERE {policy})",
        quote_ident(&table.name.name)
    )
}

/// PostgREST's `like` is case-sensitive: `%`/`_` become GLOB's `*`/`?`.
fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::new();
    for c in pattern.chars() {
        match c {
            '%' => glob.push('*'),
            '_' => glob.push('?'),
            '*' | '?' | '[' => glob.push_str(&format!("[{c}]")),
            other => glob.push(other),
        }
    }
    glob
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            current.push(
                (previous[j] + usize::from(ca != *cb))
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}
