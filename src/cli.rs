//! CLI: `solobase start` and friends, parsed with clap.

use std::path::PathBuf;

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
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start { workdir, port } => start(workdir, port),
    }
}

fn start(workdir: PathBuf, port: Option<u16>) -> anyhow::Result<()> {
    let project = Project::load(&workdir)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let data_dir = project.data_dir();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
        let store = Store::open(&project.database_path(), reader_count())?;
        let schema = Default::default();
        let port = port.unwrap_or(project.config.api.port);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
        let address = listener.local_addr()?;
        let app = App::new(project, store.clone(), schema);
        print_status(&app, &format!("http://{address}"));
        crate::server::serve(listener, app, crate::server::shutdown_signal()).await?;
        store.close();
        Ok(())
    })
}

/// One read connection per core, at least two.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2))
}

/// Prints what `supabase status` prints: where the API is and its keys.
fn print_status(app: &App, api_url: &str) {
    let keys = app.keys();
    println!("Solobase started.\n");
    println!("         API URL: {api_url}");
    println!("        Database: {}", app.store().path().display());
    println!("        anon key: {}", keys.anon_key);
    println!("service_role key: {}", keys.service_role_key);
    if let (Some(publishable), Some(secret)) = (keys.publishable_key(), keys.secret_key()) {
        println!(" Publishable key: {publishable}");
        println!("      Secret key: {secret}");
    }
}
