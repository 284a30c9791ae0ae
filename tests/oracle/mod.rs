//! The two sides of the oracle tests: Solobase's (an in-memory SQLite migrated by the
//! translator, with the store's functions) and a throwaway PostgreSQL 15 cluster, each running
//! the same migrations and answering the same queries as text.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::Value;
use solobase::migrate::{Migration, apply_pending, load_schema};
use solobase::store::Session;

/// Solobase's side: an in-memory SQLite with the store's functions, one file per write.
pub struct Solobase {
    connection: Connection,
    session: Arc<Session>,
    migrations: Vec<Migration>,
}

impl Solobase {
    pub fn new() -> Self {
        let connection = Connection::open_in_memory().unwrap();
        let session = Arc::new(Session::default());
        solobase::store::functions::register(&connection, session.clone()).unwrap();
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .unwrap();
        Self {
            connection,
            session,
            migrations: Vec::new(),
        }
    }

    fn migration(index: usize, sql: &str) -> Migration {
        Migration {
            version: format!("{index:04}"),
            name: "step".into(),
            path: PathBuf::from(format!("supabase/migrations/{index:04}_step.sql")),
            sql: sql.into(),
        }
    }

    /// Applies `sql` as the next migration, in its own transaction with its own `now()`.
    pub fn migrate(&mut self, index: usize, sql: &str) {
        self.migrations.push(Self::migration(index, sql));
        self.session.begin(None);
        let applied = apply_pending(&mut self.connection, &self.migrations, None);
        self.session.end();
        applied.unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    pub fn refused(&mut self, sql: &str) -> String {
        let mut migrations = self.migrations.clone();
        migrations.push(Self::migration(migrations.len(), sql));
        apply_pending(&mut self.connection, &migrations, None)
            .unwrap_err()
            .to_string()
    }

    pub fn query(&self, sql: &str, user: Option<&str>) -> Vec<String> {
        self.outcome(sql, user)
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// The rows of `sql` as `user`, or the SQLSTATE it fails with.
    pub fn outcome(&self, sql: &str, user: Option<&str>) -> Result<Vec<String>, String> {
        let cache = load_schema(&self.connection).unwrap();
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql)
            .unwrap()
            .remove(0);
        let sqlite = solobase::migrate::expression::translate_with(
            &mut statement,
            &[],
            &solobase::plpgsql::Calls {
                cache: &cache,
                catalog: false,
            },
        )
        .unwrap();
        self.session
            .begin(user.map(|user| Arc::new(serde_json::json!({ "sub": user }))));
        let rows = self.rows(&sqlite);
        self.session.end();
        rows.map_err(|error| solobase::plpgsql::PgError::from_sqlite(&error).code)
    }

    fn rows(&self, sqlite: &str) -> rusqlite::Result<Vec<String>> {
        let mut prepared = self.connection.prepare(sqlite)?;
        let width = prepared.column_count();
        prepared
            .query_map([], |row| {
                let mut columns = Vec::new();
                for index in 0..width {
                    columns.push(match row.get::<_, Value>(index)? {
                        Value::Null => String::new(),
                        Value::Integer(number) => number.to_string(),
                        Value::Real(number) => number.to_string(),
                        Value::Text(text) => text,
                        Value::Blob(_) => "<blob>".into(),
                    });
                }
                Ok(columns.join("|"))
            })?
            .collect()
    }
}

/// A throwaway PostgreSQL 15 cluster on a Unix socket in a temporary folder, stopped on drop.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    server: Child,
}

impl Postgres {
    pub fn start() -> Self {
        let bin = std::env::var_os("PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        assert!(
            bin.join("initdb").exists(),
            "PostgreSQL 15's server binaries are needed at {} (or set PG_BIN)",
            bin.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "solobase-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            // Postgres refuses to run as root: the cluster belongs to `postgres`.
            let status = Command::new("chown")
                .args(["postgres:"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.join("data");
        let output = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "initdb: {output:?}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = as_postgres(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .args(["-c", "listen_addresses=", "-c", "fsync=off", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let postgres = Self {
            dir,
            bin,
            port,
            server,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while postgres.run("select 1").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "Postgres did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        postgres
    }

    fn psql(&self) -> Command {
        let mut command = Command::new("psql");
        command
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                "VERBOSITY=verbose",
            ]);
        command
    }

    /// Runs `sql` in one transaction; the error text on failure.
    pub fn run(&self, sql: &str) -> Result<String, String> {
        let output = self
            .psql()
            .arg("-1")
            .arg("-c")
            .arg(sql)
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    pub fn query(&self, sql: &str, user: Option<&str>) -> Vec<String> {
        self.outcome(sql, user)
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// The rows of `sql` as `user`, or the SQLSTATE it fails with.
    pub fn outcome(&self, sql: &str, user: Option<&str>) -> Result<Vec<String>, String> {
        let setting = user
            .map(|user| format!("set request.jwt.claim.sub = '{user}';"))
            .unwrap_or_default();
        let output = self
            .psql()
            .arg("-c")
            .arg(format!("{setting} {sql}"))
            .output()
            .unwrap();
        if !output.status.success() {
            let error = String::from_utf8_lossy(&output.stderr);
            return Err(error
                .split_once("ERROR:  ")
                .and_then(|(_, rest)| rest.split_once(':'))
                .map_or_else(|| error.to_string(), |(code, _)| code.to_owned()));
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Fast shutdown by the postmaster's PID (pg_ctl signals the PID in postmaster.pid).
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "fast", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

/// `program`, run as the `postgres` user when this test runs as root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}
