//! Bootstrap: gives a PostgreSQL database what Supabase's has before the project's first
//! migration (`bootstrap.sql`), then GoTrue's, Storage's and Realtime's tables — the same
//! Postgres DDL the SQLite store translates — where they are missing, with Supabase's grants.

use deadpool_postgres::Transaction;

use super::PgError;

const BOOTSTRAP: &str = include_str!("bootstrap.sql");

/// Each service's tables, created when the table named is missing, then its grants.
const TABLES: [(&str, &str, &str); 4] = [
    (
        "auth.users",
        include_str!("../../migrate/bootstrap.sql"),
        // GoTrue's tables grant nothing to the API roles.
        "",
    ),
    ("auth.mfa_factors", include_str!("../../auth/mfa.sql"), ""),
    (
        "storage.objects",
        include_str!("../../storage/schema.sql"),
        "grant all on storage.buckets, storage.objects to anon, authenticated, service_role;",
    ),
    (
        "realtime.messages",
        include_str!("../../realtime/schema.sql"),
        "grant select, insert, update on realtime.messages to anon, authenticated;
         grant all on realtime.messages to service_role;",
    ),
];

/// Holds the lock every instance takes before it changes the schema, so that two instances
/// starting together bootstrap and migrate one after the other.
pub async fn lock(transaction: &Transaction<'_>) -> Result<(), PgError> {
    transaction
        .batch_execute(
            "select pg_advisory_xact_lock(hashtext('solobase schema'));
             set local search_path to \"$user\", public, extensions;",
        )
        .await?;
    Ok(())
}

/// Runs the bootstrap inside `transaction` (which holds `lock`).
pub async fn run(transaction: &Transaction<'_>) -> Result<(), PgError> {
    transaction.batch_execute(BOOTSTRAP).await?;
    for (table, sql, grants) in TABLES {
        let exists: bool = transaction
            .query_one("select to_regclass($1) is not null", &[&table])
            .await?
            .get(0);
        if !exists {
            transaction.batch_execute(sql).await?;
            transaction.batch_execute(grants).await?;
        }
    }
    Ok(())
}
