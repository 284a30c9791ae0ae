//! Apply: finds `supabase/migrations/*.sql`, applies those not yet recorded — each file in one
//! transaction together with the updated SchemaCache and its record — then the seed, once.
//! A failure names the file, line and statement, and leaves nothing of that file applied.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::postgres_only;
use super::statements;
use super::translate::{self, Refusal};
use crate::schema::{QualifiedName, SchemaCache};

const BOOTSTRAP: &str = include_str!("bootstrap.sql");
const STORAGE_SCHEMA: &str = include_str!("../storage/schema.sql");
const REALTIME_SCHEMA: &str = include_str!("../realtime/schema.sql");
const AUTH_MFA_SCHEMA: &str = include_str!("../auth/mfa.sql");
const AUTH_FLOW_STATE_SCHEMA: &str = include_str!("../auth/flow_state.sql");

#[derive(Debug, Clone)]
pub struct Migration {
    /// The leading digits of the file name (`20240101120000`).
    pub version: String,
    /// The rest of the file name without `.sql`.
    pub name: String,
    pub path: PathBuf,
    pub sql: String,
}

/// What `apply_pending` did.
#[derive(Debug, Default)]
pub struct Applied {
    /// File names applied now, in order.
    pub migrations: Vec<String>,
    pub seeded: bool,
    /// When migrations were applied: what the schema they leave does that a reviewer should
    /// know (views reading row-level-secured tables with their owner's rights).
    pub warnings: Vec<String>,
    /// One line per file and kind of statement accepted without effect (grants, settings, …).
    pub notices: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {reason}\n  statement: {statement}{}", hint.as_ref().map(|hint| format!("\n  hint: {hint}")).unwrap_or_default())]
    Statement {
        file: String,
        line: usize,
        statement: String,
        reason: String,
        hint: Option<String>,
    },
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
}

/// The migration files in `dir`, sorted by file name; none when the folder is missing.
pub fn discover(dir: &Path) -> Result<Vec<Migration>, MigrationError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(MigrationError::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut migrations = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| MigrationError::Read {
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().and_then(|extension| extension.to_str()) != Some("sql") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        let (version, name) = match stem.split_once('_') {
            Some((version, name)) => (version.to_owned(), name.to_owned()),
            None => (stem.clone(), String::new()),
        };
        let sql = std::fs::read_to_string(&path).map_err(|source| MigrationError::Read {
            path: path.clone(),
            source,
        })?;
        migrations.push(Migration {
            version,
            name,
            path,
            sql,
        });
    }
    migrations.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
    Ok(migrations)
}

/// Applies what is pending, then the seed if one is given and none ran before.
pub fn apply_pending(
    connection: &mut Connection,
    migrations: &[Migration],
    seed: Option<&Path>,
) -> Result<Applied, MigrationError> {
    let mut cache = bootstrap(connection)?;
    let mut applied = Applied::default();
    for migration in migrations {
        let recorded: Option<String> = connection
            .query_row(
                "SELECT version FROM _solobase_migrations WHERE version = ?1",
                [&migration.version],
                |row| row.get(0),
            )
            .optional()?;
        if recorded.is_some() {
            continue;
        }
        let file = display_path(&migration.path);
        run_file(
            connection,
            &mut cache,
            &mut applied.notices,
            &file,
            &migration.sql,
            |transaction, cache| {
                transaction.execute(
                "INSERT INTO _solobase_migrations (version, name, applied_at) VALUES (?1, ?2, pg_now())",
                [&migration.version, &migration.name],
            )?;
                save_schema(transaction, cache)
            },
        )?;
        applied.migrations.push(file);
    }
    if !applied.migrations.is_empty() {
        applied.warnings = owner_views_over_rls(&cache);
    }
    if !applied.migrations.is_empty() || unprepared(&cache) {
        prepare_functions(connection, &mut cache)?;
    }
    if let Some(seed) = seed {
        let seeded: Option<String> = connection
            .query_row(
                "SELECT value FROM _solobase_state WHERE key = 'seeded'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if seeded.is_none() {
            let sql = match std::fs::read_to_string(seed) {
                Ok(sql) => Some(sql),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(MigrationError::Read {
                        path: seed.to_owned(),
                        source,
                    });
                }
            };
            let file = display_path(seed);
            run_file(
                connection,
                &mut cache,
                &mut applied.notices,
                &file,
                sql.as_deref().unwrap_or(""),
                |transaction, cache| {
                    transaction.execute(
                        "INSERT INTO _solobase_state (key, value) VALUES ('seeded', pg_now())",
                        [],
                    )?;
                    save_schema(transaction, cache)
                },
            )?;
            applied.seeded = sql.is_some();
        }
    }
    Ok(applied)
}

/// Views without `security_invoker` that read a table under row-level security: as in
/// Postgres they read it with their owner's rights, so every caller sees all its rows
/// (Supabase's security advisor flags the same views).
fn owner_views_over_rls(cache: &SchemaCache) -> Vec<String> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut warnings = Vec::new();
    for view in cache.tables.values() {
        let crate::schema::TableKind::View {
            definition,
            security_invoker: false,
        } = &view.kind
        else {
            continue;
        };
        let statements =
            sqlparser::parser::Parser::parse_sql(&dialect, definition).unwrap_or_default();
        let mut secured = Vec::new();
        let _ = sqlparser::ast::visit_relations(&statements, |relation| {
            let name = super::expression::qualified_name(relation);
            if cache.table(&name).is_some_and(|table| table.rls_enabled) && !secured.contains(&name)
            {
                secured.push(name);
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if !secured.is_empty() {
            let names: Vec<String> = secured.iter().map(ToString::to_string).collect();
            warnings.push(format!(
                "view {} reads {} (row-level security on) with its owner's rights, so every caller sees all of its rows; create it `with (security_invoker = true)` to apply the caller's policies",
                view.name,
                names.join(", ")
            ));
        }
    }
    warnings
}

/// The SchemaCache as the last applied migration left it.
pub fn load_schema(connection: &Connection) -> Result<SchemaCache, MigrationError> {
    let json: Option<String> = connection
        .query_row("SELECT schema FROM _solobase_schema", [], |row| row.get(0))
        .optional()?;
    match json {
        Some(json) => serde_json::from_str(&json).map_err(|error| MigrationError::File {
            file: "_solobase_schema".into(),
            reason: error.to_string(),
        }),
        None => Ok(SchemaCache::default()),
    }
}

/// The SchemaCache the migrations describe, built on a scratch in-memory database.
pub fn build_schema(migrations: &[Migration]) -> Result<SchemaCache, MigrationError> {
    let mut connection = Connection::open_in_memory()?;
    crate::store::functions::register(&connection, Default::default())?;
    apply_pending(&mut connection, migrations, None)?;
    load_schema(&connection)
}

/// A file as messages name it: its last three path components (`supabase/migrations/x.sql`).
pub fn display_path(path: &Path) -> String {
    let parts: Vec<_> = path.components().rev().take(3).collect();
    let short: PathBuf = parts.into_iter().rev().collect();
    short.display().to_string()
}

/// Creates the internal tables and Supabase's `auth` schema on a new database, and the
/// `storage` schema on any database that has none yet (one made by an older version included).
fn bootstrap(connection: &mut Connection) -> Result<SchemaCache, MigrationError> {
    let mut cache = bootstrap_auth(connection)?;
    // Schemas added since a database was created are added to it on its next start.
    for (table, file, sql) in [
        (("auth", "mfa_factors"), "auth/mfa.sql", AUTH_MFA_SCHEMA),
        (
            ("auth", "flow_state"),
            "auth/flow_state.sql",
            AUTH_FLOW_STATE_SCHEMA,
        ),
        (("storage", "objects"), "storage/schema.sql", STORAGE_SCHEMA),
        (
            ("realtime", "messages"),
            "realtime/schema.sql",
            REALTIME_SCHEMA,
        ),
    ] {
        if cache.table(&QualifiedName::new(table.0, table.1)).is_none() {
            run_file(
                connection,
                &mut cache,
                &mut Vec::new(),
                file,
                sql,
                save_schema,
            )?;
        }
    }
    // Columns added since.
    let flow_state = QualifiedName::new("auth", "flow_state");
    for column in ["referrer", "linking_target_id"] {
        let kind = if column == "referrer" { "text" } else { "uuid" };
        if cache
            .table(&flow_state)
            .is_some_and(|table| table.column(column).is_none())
        {
            run_file(
                connection,
                &mut cache,
                &mut Vec::new(),
                "auth/flow_state.sql",
                &format!("alter table auth.flow_state add column {column} {kind};"),
                save_schema,
            )?;
        }
    }
    Ok(cache)
}

fn bootstrap_auth(connection: &mut Connection) -> Result<SchemaCache, MigrationError> {
    let exists: Option<String> = connection
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_solobase_schema'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if exists.is_some() {
        return load_schema(connection);
    }
    let mut cache = SchemaCache::default();
    run_file(
        connection,
        &mut cache,
        &mut Vec::new(),
        "bootstrap.sql",
        BOOTSTRAP,
        |transaction, cache| {
            transaction.execute_batch(
            "CREATE TABLE _solobase_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
             CREATE TABLE _solobase_state (key TEXT PRIMARY KEY, value TEXT);
             CREATE TABLE _solobase_schema (schema TEXT NOT NULL);
             INSERT INTO _solobase_schema VALUES ('{}');",
        )?;
            save_schema(transaction, cache)
        },
    )?;
    Ok(cache)
}

/// Whether an invoker function lacks its bodies per role (a database from before they were
/// kept).
fn unprepared(cache: &SchemaCache) -> bool {
    cache
        .all_functions()
        .any(|function| !function.security_definer && function.invoked.is_empty())
}

/// Rewrites every invoker function's body for each API role under the schema as it now is
/// (`rest::invoker::prepare`), where the runtime and the next start find it: policies and
/// grants a later migration adds apply inside functions created before.
fn prepare_functions(connection: &mut Connection, cache: &mut SchemaCache) -> rusqlite::Result<()> {
    let functions: Vec<crate::schema::Function> = cache
        .all_functions()
        .filter(|function| !function.security_definer)
        .map(|function| crate::schema::Function {
            invoked: crate::rest::invoker::prepare(cache, function),
            ..function.clone()
        })
        .collect();
    let transaction = connection.transaction()?;
    for function in &functions {
        crate::plpgsql::store_function(&transaction, function)?;
    }
    for function in functions {
        cache.put_function(function);
    }
    save_schema(&transaction, cache)?;
    transaction.commit()
}

fn save_schema(connection: &Connection, cache: &SchemaCache) -> rusqlite::Result<()> {
    let json = serde_json::to_string(cache).expect("the schema cache serializes");
    connection.execute("UPDATE _solobase_schema SET schema = ?1", [json])?;
    Ok(())
}

/// Runs one file's statements in one transaction with `finish`; all or nothing.
fn run_file(
    connection: &mut Connection,
    cache: &mut SchemaCache,
    notices: &mut Vec<String>,
    file: &str,
    sql: &str,
    finish: impl FnOnce(&Connection, &SchemaCache) -> rusqlite::Result<()>,
) -> Result<(), MigrationError> {
    // Foreign keys are checked once at the end, as SQLite's table-rebuild procedure requires.
    connection.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON;")?;
    let result = (|| {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut working = cache.clone();
        let mut ignored = Ignored::default();
        for statement in statements::split(sql) {
            let outcome = match super::grants::apply(&mut working, &statement.text)
                .or_else(|| {
                    super::extensions::apply(&mut working, &statement.text)
                        .map(|outcome| outcome.map(|()| None))
                })
                .or_else(|| postgres_only::classify(&statement.text).map(|rule| rule.map(Some)))
            {
                Some(Ok(rule)) => {
                    if let Some(rule) = rule {
                        ignored.record(rule, statement.line, &statement.text);
                    }
                    Ok(())
                }
                Some(Err(refusal)) => Err(refusal),
                None => match translate::apply(&transaction, &mut working, &statement.text) {
                    Err(refusal) if postgres_only::speed_only_index(&statement.text, &refusal) => {
                        ignored.record(
                            postgres_only::SEARCH_INDEX,
                            statement.line,
                            &statement.text,
                        );
                        Ok(())
                    }
                    outcome => outcome,
                },
            };
            outcome.map_err(|Refusal { reason, hint }| MigrationError::Statement {
                file: file.to_owned(),
                line: statement.line,
                statement: statement.text.clone(),
                reason,
                hint,
            })?;
            working.follow_privileges();
        }
        let violation: Option<(String, String)> = transaction
            .query_row(
                "SELECT \"table\", parent FROM pragma_foreign_key_check",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((table, parent)) = violation {
            return Err(MigrationError::File {
                file: file.to_owned(),
                reason: format!(
                    "a row of \"{table}\" references a missing row of \"{parent}\" (foreign key violation)"
                ),
            });
        }
        finish(&transaction, &working)?;
        transaction.commit()?;
        *cache = working;
        notices.extend(ignored.notices(file));
        Ok(())
    })();
    connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA legacy_alter_table = OFF;")?;
    result
}

/// Statements of one file accepted without effect, grouped by rule in order of appearance.
#[derive(Default)]
struct Ignored(Vec<(postgres_only::Rule, usize, String, usize)>);

impl Ignored {
    fn record(&mut self, rule: postgres_only::Rule, line: usize, text: &str) {
        match self.0.iter_mut().find(|(seen, ..)| *seen == rule) {
            Some((_, _, _, count)) => *count += 1,
            None => {
                let words: Vec<&str> = text.split_whitespace().take(4).collect();
                self.0.push((rule, line, words.join(" "), 1));
            }
        }
    }

    fn notices(self, file: &str) -> impl Iterator<Item = String> {
        self.0.into_iter().map(move |(rule, line, words, count)| {
            let more = match count {
                1 => String::new(),
                n => format!(" (and {} more like it)", n - 1),
            };
            format!(
                "{file}:{line}: `{words} …`{more} has no effect: {}",
                rule.why
            )
        })
    }
}

#[cfg(test)]
mod tests;
