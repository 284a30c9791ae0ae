//! Access: whether a subscriber may see a changed row, as its token may SELECT it under the
//! table's privileges and policies. An `AccessRule` turns (table, caller) into "all rows", "no
//! rows" or an SQL predicate over the row, once per channel and table when the channel joins;
//! predicates are evaluated against the changed row in memory when simple, else on a read
//! connection batched per distinct caller, so one bad predicate fails only its own subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::evaluate::Compiled;
use crate::auth::{Caller, Role};
use crate::rest::authorize::{self, Clause};
use crate::schema::{PgType, PolicyCommand, QualifiedName, SchemaCache, Table};
use crate::store::Store;
use crate::store::naming::{quote_ident, quote_literal, table_name};

/// What a caller may see of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum RowAccess {
    All,
    Denied,
    /// A SQLite boolean expression over the row's unqualified columns (the row is also aliased
    /// as its table); it may call the session functions (`auth_uid()`), which see the
    /// subscriber's claims.
    Predicate(String),
    /// A predicate simple enough to decide in memory (see `evaluate`), with its SQL to fall
    /// back on when the values need SQLite's coercions.
    InMemory(Arc<Compiled>, String),
}

/// Decides a caller's access to a table; an error is reported on that subscriber's channel.
pub type AccessRule = Arc<dyn Fn(&Table, &Caller) -> Result<RowAccess, String> + Send + Sync>;

/// The table's SELECT policies for the caller, from `rest::authorize` — the same predicate REST
/// reads with: no RLS or service_role sees every row, no applicable policy sees none.
///
/// The answer depends only on the table and the caller's role, so it is computed once per pair
/// and cached: fan-out to thousands of subscribers does not re-translate policies.
pub fn default_rule(schema: Arc<SchemaCache>) -> AccessRule {
    let cache: Mutex<HashMap<(QualifiedName, Role), Result<RowAccess, String>>> = Mutex::default();
    Arc::new(move |table: &Table, caller: &Caller| {
        let key = (table.name.clone(), caller.role);
        if let Some(found) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return found.clone();
        }
        let access = policy_access(&schema, table, caller).map(|access| match access {
            RowAccess::Predicate(sql) => match Compiled::new(&sql) {
                Some(compiled) => RowAccess::InMemory(Arc::new(compiled), sql),
                None => RowAccess::Predicate(sql),
            },
            other => other,
        });
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, access.clone());
        access
    })
}

fn policy_access(
    schema: &SchemaCache,
    table: &Table,
    caller: &Caller,
) -> Result<RowAccess, String> {
    // Supabase Realtime delivers a table's changes only to a role holding SELECT on the table
    // (`has_table_privilege`): column privileges alone are not enough.
    let select = crate::schema::privileges::Privilege::Select;
    if !schema
        .privileges
        .relation_allows_all(&table.name, caller.role.as_str(), select)
    {
        return Ok(RowAccess::Denied);
    }
    match authorize::row_filter(schema, table, PolicyCommand::Select, Clause::Using, caller) {
        Ok(None) => Ok(RowAccess::All),
        Ok(Some(predicate)) if predicate == "0" => Ok(RowAccess::Denied),
        Ok(Some(predicate)) => Ok(RowAccess::Predicate(predicate)),
        Err(error) => Err(error.message),
    }
}

/// Callers sharing one set of claims: the claims, and each caller's index and predicate.
type ClaimsGroup = (Arc<Value>, Vec<(usize, String)>);

/// Whether each caller, with its access to `table`, may see `row`, in the order given.
pub async fn check(
    store: &Store,
    table: &Arc<Table>,
    row: &Arc<Map<String, Value>>,
    subjects: &[(&Caller, &Result<RowAccess, String>)],
) -> Vec<Result<bool, String>> {
    let mut results: Vec<Result<bool, String>> = Vec::with_capacity(subjects.len());
    // Claims text → (claims, [(caller index, predicate)]).
    let mut groups: HashMap<String, ClaimsGroup> = HashMap::new();
    for (index, (caller, access)) in subjects.iter().enumerate() {
        match access {
            Ok(RowAccess::All) => results.push(Ok(true)),
            Ok(RowAccess::Denied) => results.push(Ok(false)),
            Ok(RowAccess::InMemory(compiled, predicate)) => {
                match compiled.passes(row, &caller.claims) {
                    Some(passes) => results.push(Ok(passes)),
                    None => {
                        results.push(Ok(false));
                        groups
                            .entry(caller.claims.to_string())
                            .or_insert_with(|| (caller.claims.clone(), Vec::new()))
                            .1
                            .push((index, predicate.clone()));
                    }
                }
            }
            Ok(RowAccess::Predicate(predicate)) => {
                results.push(Ok(false));
                groups
                    .entry(caller.claims.to_string())
                    .or_insert_with(|| (caller.claims.clone(), Vec::new()))
                    .1
                    .push((index, predicate.clone()));
            }
            Err(error) => results.push(Err(error.clone())),
        }
    }
    for (_, (claims, members)) in groups {
        let table = table.clone();
        let row = row.clone();
        let predicates: Vec<String> = members.iter().map(|(_, p)| p.clone()).collect();
        let evaluated = store
            .read(Some(claims), move |connection| {
                evaluate(connection, &table, &row, &predicates)
            })
            .await;
        for (position, (index, _)) in members.into_iter().enumerate() {
            results[index] = match &evaluated {
                Ok(values) => values[position].clone(),
                Err(error) => Err(error.to_string()),
            };
        }
    }
    results
}

/// Evaluates predicates against one row: all in one query, or one by one if that fails so
/// that an error belongs only to the predicate that caused it.
fn evaluate(
    connection: &Connection,
    table: &Table,
    row: &Map<String, Value>,
    predicates: &[String],
) -> Vec<Result<bool, String>> {
    let mut distinct: Vec<&str> = Vec::new();
    for predicate in predicates {
        if !distinct.contains(&predicate.as_str()) {
            distinct.push(predicate);
        }
    }
    let row_json = Value::Object(row.clone()).to_string();
    let source = row_source(table);
    let run = |list: &[&str]| -> rusqlite::Result<Vec<bool>> {
        let columns: Vec<String> = list
            .iter()
            .map(|predicate| format!("coalesce(({predicate}), 0) <> 0"))
            .collect();
        let sql = format!("SELECT {} FROM {source}", columns.join(", "));
        connection.query_row(&sql, [&row_json], |result| {
            (0..list.len()).map(|i| result.get::<_, bool>(i)).collect()
        })
    };
    let answers: HashMap<&str, Result<bool, String>> = match run(&distinct) {
        Ok(values) => distinct
            .iter()
            .copied()
            .zip(values.into_iter().map(Ok))
            .collect(),
        Err(_) => distinct
            .iter()
            .map(|predicate| {
                let answer = run(&[predicate])
                    .map(|values| values[0])
                    .map_err(|error| format!("policy check failed: {error}"));
                (*predicate, answer)
            })
            .collect(),
    };
    predicates
        .iter()
        .map(|predicate| answers[predicate.as_str()].clone())
        .collect()
}

/// `(SELECT ?1 ->> '$."id"' AS "id", …) AS "todos"`: the row as stored values again
/// (booleans 1/0, json as text), from the JSON the capture produced.
fn row_source(table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|column| {
            let path = quote_literal(&format!("$.{}", quote_ident(&column.name)));
            let operator = match column.pg_type {
                PgType::Json | PgType::Jsonb | PgType::Array(_) => "->",
                _ => "->>",
            };
            format!("?1 {operator} {path} AS {}", quote_ident(&column.name))
        })
        .collect();
    format!(
        "(SELECT {}) AS {}",
        columns.join(", "),
        quote_ident(&table_name(&table.name))
    )
}
