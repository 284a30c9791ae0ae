//! `solobase db reset`: deletes the local database and rebuilds it from the migrations and the
//! seed, printing each migration as it is applied. Asks first on a terminal; without one it
//! needs `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Delete the local database and rebuild it from the migrations and seed.sql.
    Reset {
        /// Reset without asking for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
}

pub fn run(command: DbCommand) -> anyhow::Result<()> {
    let DbCommand::Reset { yes, workdir } = command;
    reset(&workdir, yes)
}

fn reset(workdir: &Path, yes: bool) -> anyhow::Result<()> {
    let project = super::existing_project(workdir)?;
    let database = project.database_path();
    let port = project.config.api.port;
    if TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
    {
        anyhow::bail!(
            "something is listening on the project's port {port}, probably `solobase start`: \
             stop it before resetting the database"
        );
    }
    if !yes && !confirm(&database)? {
        anyhow::bail!("reset cancelled; the database was not changed");
    }
    let migrations = crate::migrate::discover(&project.migrations_dir())?;
    // Translate everything first, so a broken migration leaves the old database in place.
    crate::migrate::build_schema(&migrations)?;
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", database.display()));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("deleting {}", path.display()));
            }
        }
    }
    std::fs::create_dir_all(project.data_dir())
        .with_context(|| format!("creating {}", project.data_dir().display()))?;
    eprintln!("Resetting local database {}...", database.display());
    let mut connection = rusqlite::Connection::open(&database)
        .with_context(|| format!("creating {}", database.display()))?;
    crate::store::functions::register(&connection, Default::default())?;
    let mut warnings = Vec::new();
    for (index, migration) in migrations.iter().enumerate() {
        eprintln!(
            "Applying migration {}...",
            migration
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        );
        warnings =
            crate::migrate::apply_pending(&mut connection, &migrations[..=index], None)?.warnings;
    }
    for warning in &warnings {
        eprintln!("WARNING: {warning}");
    }
    let seed = project.seed_path();
    if seed.exists() {
        eprintln!("Seeding data from {}...", seed.display());
        crate::migrate::apply_pending(&mut connection, &migrations, Some(&seed))?;
    }
    eprintln!("Finished solobase db reset.");
    Ok(())
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm(database: &Path) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to reset {} without confirmation: stdin is not a terminal, pass --yes to reset anyway",
            database.display()
        );
    }
    eprint!(
        "This deletes every row in {} and rebuilds it from the migrations and seed. Continue? [y/N] ",
        database.display()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}
