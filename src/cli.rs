//! CLI: `solobase start` and the daily-loop commands (`init`, `status`, `migration new|list`,
//! `db reset`, `gen types typescript`, `gen hooks`), parsed with clap.

mod db;
mod gen_hooks;
mod gen_types;
mod init;
mod migration;
mod status;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::Project;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "solobase",
    version,
    about = "The Supabase API in one binary, on embedded SQLite"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Supabase project in the working directory (Auth, REST, Realtime).
    Start {
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
        /// The port to listen on (default: `[api] port` from config.toml, else 54321; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// The local inbox's port (default: `[inbucket] port` from config.toml, else 54324; 0
        /// picks a free one).
        #[arg(long)]
        inbucket_port: Option<u16>,
        /// Store the project in this PostgreSQL database (`postgres://user:password@host/db`)
        /// instead of the embedded SQLite one (default: `[db] url` from config.toml).
        #[arg(long, env = "SOLOBASE_DB_URL")]
        db_url: Option<String>,
    },
    /// Print the API URL and keys of the project, as `solobase start` prints them.
    Status {
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
    /// Write a starter `supabase/` folder (config.toml, migrations/, seed.sql).
    Init {
        /// The folder to create `supabase/` in (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
    /// Create and list migrations in `supabase/migrations/`.
    #[command(subcommand)]
    Migration(migration::MigrationCommand),
    /// Manage the local database.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Generate code from the schema the migrations declare.
    #[command(subcommand)]
    Gen(gen_types::GenCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start {
            workdir,
            port,
            inbucket_port,
            db_url,
        } => start(workdir, port, inbucket_port, db_url),
        Command::Status { workdir } => status::status(&workdir),
        Command::Init { workdir } => init::init(&workdir),
        Command::Migration(command) => migration::run(command),
        Command::Db(command) => db::run(command),
        Command::Gen(command) => gen_types::run(command),
    }
}

/// Loads the project in `workdir`, which must hold a `supabase/` folder.
fn existing_project(workdir: &Path) -> anyhow::Result<Project> {
    let supabase = workdir.join("supabase");
    if !supabase.is_dir() {
        anyhow::bail!(
            "no supabase/ folder in {}: run `solobase init` there to create one, \
             or pass --workdir with the folder that holds it",
            display_dir(workdir)
        );
    }
    Ok(Project::load(workdir)?)
}

/// A folder as the user would recognise it (`.` as the current directory's path).
fn display_dir(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .display()
        .to_string()
}

fn start(
    workdir: PathBuf,
    port: Option<u16>,
    inbucket_port: Option<u16>,
    db_url: Option<String>,
) -> anyhow::Result<()> {
    let project = existing_project(&workdir)?;
    for warning in &project.config.warnings {
        eprintln!("warning: {warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if let Some(url) = db_url.or_else(|| project.config.db.url.clone()) {
        return runtime.block_on(start_postgres(project, port, &url));
    }
    runtime.block_on(async move {
        let data_dir = project.data_dir();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
        let store = Store::open(&project.database_path(), reader_count())?;
        let schema = migrate(&store, &project).await?;
        store.set_statement_timeouts(project.config.db.statement_timeout.by_role());
        crate::storage::recover(&store, &project).await?;
        let port = port.unwrap_or(project.config.api.port);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
        let address = listener.local_addr()?;
        let inbox = std::sync::Arc::new(crate::auth::inbox::Inbox::default());
        let mailer = crate::auth::mail::Mailer::new(&project, inbox.clone())?;
        let inbucket = &project.config.inbucket;
        let inbox_address = if inbucket.enabled {
            serve_inbox(inbox, inbucket_port.unwrap_or(inbucket.port)).await
        } else {
            None
        };
        let app = App::new(project, store.clone(), schema, mailer);
        println!("Solobase started.\n");
        let database = app.store().path().display().to_string();
        status::print_endpoints(app.keys(), &format!("http://{address}"), &database);
        if let Some(inbox_address) = inbox_address {
            println!("    Inbucket URL: http://{inbox_address}");
        }
        crate::server::serve(listener, app, crate::server::shutdown_signal()).await?;
        store.close();
        Ok(())
    })
}

/// `start` on the PostgreSQL store at `url`: bootstraps the database, applies the pending
/// migrations and the seed natively, and serves what that store offers so far.
async fn start_postgres(project: Project, port: Option<u16>, url: &str) -> anyhow::Result<()> {
    use crate::store::postgres::{self, PgStore};
    let store = PgStore::connect(url, reader_count()).await?;
    let migrations = crate::migrate::discover(&project.migrations_dir())?;
    let applied = postgres::apply_pending(&store, &migrations, Some(&project.seed_path())).await?;
    report(&applied);
    let client = store.client().await?;
    let schema = postgres::catalog::load(&client, &project.config.api.schemas).await?;
    drop(client);
    let port = port.unwrap_or(project.config.api.port);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let address = listener.local_addr()?;
    println!(
        "Solobase started on PostgreSQL: only REST (reads, writes, RPC) and /auth/v1/health are served there so far.\n"
    );
    let keys = crate::auth::Keys::new(&project.config.auth);
    status::print_endpoints(
        &keys,
        &format!("http://{address}"),
        &postgres::redacted(url),
    );
    let router = crate::server::postgres_router(crate::rest::postgres::PgRest {
        store,
        schema: std::sync::Arc::new(schema),
        keys: std::sync::Arc::new(keys),
        api: std::sync::Arc::new(project.config.api.clone()),
    });
    crate::server::serve_router(listener, router, crate::server::shutdown_signal()).await?;
    Ok(())
}

/// Prints what applying the migrations did.
fn report(applied: &crate::migrate::Applied) {
    for notice in &applied.notices {
        eprintln!("notice: {notice}");
    }
    for file in &applied.migrations {
        eprintln!("Applied migration {file}");
    }
    for warning in &applied.warnings {
        eprintln!("WARNING: {warning}");
    }
    if applied.seeded {
        eprintln!("Seeded data from supabase/seed.sql");
    }
}

/// Serves the local inbox on `port` until the process ends. A busy port is not fatal (mail is
/// still kept, as for a disabled inbox): another local stack may own it.
async fn serve_inbox(
    inbox: std::sync::Arc<crate::auth::inbox::Inbox>,
    port: u16,
) -> Option<std::net::SocketAddr> {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "warning: the local inbox cannot listen on 127.0.0.1:{port} ({error}); it is not served"
            );
            return None;
        }
    };
    let address = listener.local_addr().ok()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, crate::auth::inbox::routes(inbox)).await {
            tracing::error!(%error, "the local inbox stopped");
        }
    });
    Some(address)
}

/// Applies pending migrations and, on a fresh database, the seed; returns the schema.
async fn migrate(store: &Store, project: &Project) -> anyhow::Result<crate::schema::SchemaCache> {
    let migrations = crate::migrate::discover(&project.migrations_dir())?;
    let seed = project.seed_path();
    let (applied, schema) = store
        .write(None, move |connection| {
            let applied = crate::migrate::apply_pending(connection, &migrations, Some(&seed))?;
            Ok::<_, crate::migrate::MigrationError>((
                applied,
                crate::migrate::load_schema(connection)?,
            ))
        })
        .await??;
    report(&applied);
    Ok(schema)
}

/// One read connection per core, at least two.
/// Read connections: several per core, so a fast read still finds one while slow reads run
/// (they share the cores; each is bounded by its statement timeout).
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get()) * 4
}
