//! The PostgreSQL store: the project's database is a PostgreSQL server (`start --db-url`,
//! `SOLOBASE_DB_URL` or `[db] url`) reached through a pool of connections. Nothing is
//! translated there: `bootstrap` gives the database what Supabase's Postgres has, `migrate`
//! applies the project's migrations natively with the Supabase CLI's history, `catalog` reads
//! the `SchemaCache` REST plans against from `pg_catalog`.

mod bootstrap;
pub mod catalog;
mod migrate;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

pub use migrate::{Applied, apply_pending};

/// A pool of connections to one PostgreSQL database; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("{0}")]
    Database(String),
    #[error("{file}:{line}: {message}\n  statement: {statement}")]
    Statement {
        file: String,
        line: usize,
        statement: String,
        message: String,
    },
}

impl From<tokio_postgres::Error> for PgError {
    fn from(error: tokio_postgres::Error) -> Self {
        PgError::Database(describe(&error))
    }
}

/// A Postgres error as psql prints it: severity, message, SQLSTATE, then detail and hint.
pub fn describe(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return error.to_string();
    };
    let mut text = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let Some(detail) = db.detail() {
        text.push_str(&format!("\n  detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("\n  hint: {hint}"));
    }
    text
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// `?host=/run/postgresql` for a Unix socket) with at most `size` connections, and checks
    /// that it answers. TLS is not offered yet: `sslmode=require` is refused here.
    pub async fn connect(url: &str, size: usize) -> Result<Self, PgError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|error: tokio_postgres::Error| PgError::Url(error.to_string()))?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(PgError::Url(
                "sslmode=require: TLS connections to the database are not supported yet".to_owned(),
            ));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .build()
            .map_err(|error| PgError::Connect(error.to_string()))?;
        let store = Self { pool };
        store.client().await?.batch_execute("select 1").await?;
        Ok(store)
    }

    /// A connection from the pool, back in it when dropped.
    pub async fn client(&self) -> Result<Object, PgError> {
        self.pool.get().await.map_err(|error| match error {
            deadpool_postgres::PoolError::Backend(error) => PgError::Connect(describe(&error)),
            other => PgError::Connect(other.to_string()),
        })
    }
}

/// `url` with its password masked, for printing.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((user_info, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn printed_urls_hide_the_password_only() {
        assert_eq!(
            super::redacted("postgres://app:s3cr@t@db.example.com:5432/app"),
            "postgres://app:****@db.example.com:5432/app"
        );
        assert_eq!(
            super::redacted("postgres://postgres@/postgres?host=/tmp/pg"),
            "postgres://postgres@/postgres?host=/tmp/pg"
        );
    }
}
