//! Migrate: applies `supabase/migrations/*.sql` natively, in file order, each file in one
//! transaction with its row in `supabase_migrations.schema_migrations` (the Supabase CLI's
//! history: version, name, statements), then `supabase/seed.sql` once, recorded in
//! `supabase_migrations.seed_files` as the CLI records it. A failing statement is named by
//! file and line, and nothing of its file stays applied.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{PgError, PgStore, bootstrap, describe};
use crate::migrate::statements;
use crate::migrate::{Migration, display_path};

pub use crate::migrate::Applied;

/// The seed's key in `seed_files`, relative to the project folder as the CLI writes it.
const SEED_KEY: &str = "supabase/seed.sql";

/// Bootstraps the database, applies the migrations not yet in its history, then the seed if
/// `seed` is given, exists and was never run.
pub async fn apply_pending(
    store: &PgStore,
    migrations: &[Migration],
    seed: Option<&Path>,
) -> Result<Applied, PgError> {
    let mut client = store.client().await?;
    {
        let transaction = client.transaction().await?;
        bootstrap::lock(&transaction).await?;
        bootstrap::run(&transaction).await?;
        transaction.commit().await?;
    }
    let mut applied = Applied::default();
    for migration in migrations {
        let transaction = client.transaction().await?;
        bootstrap::lock(&transaction).await?;
        let recorded = transaction
            .query_opt(
                "select 1 from supabase_migrations.schema_migrations where version = $1",
                &[&migration.version],
            )
            .await?
            .is_some();
        if recorded {
            continue;
        }
        let file = display_path(&migration.path);
        let statements = run_file(&transaction, &file, &migration.sql).await?;
        transaction
            .execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements) \
                 values ($1, $2, $3)",
                &[&migration.version, &migration.name, &statements],
            )
            .await?;
        transaction.commit().await?;
        applied.migrations.push(file);
    }
    let Some(seed) = seed else {
        return Ok(applied);
    };
    let sql = match std::fs::read_to_string(seed) {
        Ok(sql) => sql,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(applied),
        Err(error) => {
            return Err(PgError::Database(format!(
                "cannot read {}: {error}",
                seed.display()
            )));
        }
    };
    let transaction = client.transaction().await?;
    bootstrap::lock(&transaction).await?;
    let seeded = transaction
        .query_opt(
            "select 1 from supabase_migrations.seed_files where path = $1",
            &[&SEED_KEY],
        )
        .await?
        .is_some();
    if !seeded {
        run_file(&transaction, &display_path(seed), &sql).await?;
        let hash = format!("{:x}", Sha256::digest(sql.as_bytes()));
        transaction
            .execute(
                "insert into supabase_migrations.seed_files (path, hash) values ($1, $2)",
                &[&SEED_KEY, &hash],
            )
            .await?;
        transaction.commit().await?;
        applied.seeded = true;
    }
    Ok(applied)
}

/// Runs each statement of `sql` in `transaction`; answers their texts.
async fn run_file(
    transaction: &deadpool_postgres::Transaction<'_>,
    file: &str,
    sql: &str,
) -> Result<Vec<String>, PgError> {
    let statements = statements::split(sql);
    for statement in &statements {
        transaction
            .batch_execute(&statement.text)
            .await
            .map_err(|error| PgError::Statement {
                file: file.to_owned(),
                line: statement.line,
                statement: statement.text.clone(),
                message: describe(&error),
            })?;
    }
    Ok(statements
        .into_iter()
        .map(|statement| statement.text)
        .collect())
}
