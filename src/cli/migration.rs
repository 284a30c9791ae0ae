//! `solobase migration new NAME` (an empty `{UTC timestamp}_{name}.sql` in
//! `supabase/migrations/`) and `solobase migration list` (local files against the versions the
//! local database has applied, as `supabase migration list` tabulates them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use rusqlite::OpenFlags;

#[derive(Debug, Subcommand)]
pub enum MigrationCommand {
    /// Create an empty migration file named `{UTC timestamp}_{NAME}.sql`.
    New {
        /// What the migration does, e.g. `create_todos` (letters, digits, `_` and `-`).
        name: String,
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
    /// Show the local migrations and which of them the local database has applied.
    List {
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
}

pub fn run(command: MigrationCommand) -> anyhow::Result<()> {
    match command {
        MigrationCommand::New { name, workdir } => new(&workdir, &name),
        MigrationCommand::List { workdir } => list(&workdir),
    }
}

fn new(workdir: &Path, name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !valid {
        anyhow::bail!(
            "invalid migration name {name:?}: use letters, digits, `_` and `-`, e.g. create_todos"
        );
    }
    let project = super::existing_project(workdir)?;
    let dir = project.migrations_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let version = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
    let path = dir.join(format!("{version}_{name}.sql"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    println!("Created new migration at {}", path.display());
    Ok(())
}

/// A migration file: `{version}_{name}.sql`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalMigration {
    pub version: String,
    pub name: String,
    pub path: PathBuf,
}

/// The `.sql` files of `dir` whose names start with a numeric version, in version order.
pub fn local_migrations(dir: &Path) -> anyhow::Result<Vec<LocalMigration>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    };
    let mut migrations = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(stem) = path
            .extension()
            .filter(|extension| *extension == "sql")
            .and_then(|_| path.file_stem())
            .and_then(|stem| stem.to_str())
        else {
            continue;
        };
        let (version, name) = stem.split_once('_').unwrap_or((stem, ""));
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        migrations.push(LocalMigration {
            version: version.into(),
            name: name.into(),
            path: path.clone(),
        });
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(migrations)
}

/// `version → applied_at` from the local database's `_solobase_migrations`; empty when the
/// database or the table does not exist yet.
pub fn applied_migrations(database: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    if !database.exists() {
        return Ok(BTreeMap::new());
    }
    let connection = rusqlite::Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", database.display()))?;
    let exists: bool = connection.query_row(
        "select exists (select 1 from sqlite_master where name = '_solobase_migrations')",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(BTreeMap::new());
    }
    let mut statement = connection.prepare(
        "select version, coalesce(cast(applied_at as text), '') from _solobase_migrations",
    )?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn list(workdir: &Path) -> anyhow::Result<()> {
    let project = super::existing_project(workdir)?;
    let local = local_migrations(&project.migrations_dir())?;
    let applied = applied_migrations(&project.database_path())?;
    print!("{}", table(&local, &applied));
    Ok(())
}

/// The `Local | Applied | Time (UTC)` table, one row per version known to either side.
pub fn table(local: &[LocalMigration], applied: &BTreeMap<String, String>) -> String {
    let mut versions: Vec<&str> = local
        .iter()
        .map(|migration| migration.version.as_str())
        .chain(applied.keys().map(String::as_str))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    let rows: Vec<[String; 4]> = versions
        .iter()
        .map(|version| {
            let file = local.iter().find(|migration| migration.version == *version);
            let applied_at = applied.get(*version);
            [
                file.map_or_else(String::new, |_| version.to_string()),
                applied_at.map_or_else(String::new, |_| version.to_string()),
                time_of(version),
                file.map_or_else(String::new, |migration| migration.name.clone()),
            ]
        })
        .collect();
    let header = ["Local", "Applied", "Time (UTC)", "Name"];
    let widths: Vec<usize> = (0..4)
        .map(|index| {
            rows.iter()
                .map(|row| row[index].chars().count())
                .chain([header[index].len(), if index < 3 { 14 } else { 0 }])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!(" {cell:<width$} "))
            .collect();
        format!("  {}\n", padded.join("|").trim_end())
    };
    let mut out = String::from("\n");
    out.push_str(&line(header));
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(width + 2)).collect();
    out.push_str(&format!("  {}\n", rule.join("|")));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    if rows.is_empty() {
        out.push_str("\n  No migrations yet: create one with `solobase migration new NAME`.\n");
    }
    out.push('\n');
    out
}

/// `20240102030405` as `2024-01-02 03:04:05`; other versions as they are.
fn time_of(version: &str) -> String {
    if version.len() != 14 {
        return version.into();
    }
    format!(
        "{}-{}-{} {}:{}:{}",
        &version[0..4],
        &version[4..6],
        &version[6..8],
        &version[8..10],
        &version[10..12],
        &version[12..14]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_local_and_applied_versions_side_by_side() {
        let local = vec![
            LocalMigration {
                version: "20240101000000".into(),
                name: "init".into(),
                path: "a".into(),
            },
            LocalMigration {
                version: "20240202000000".into(),
                name: "add_orders".into(),
                path: "b".into(),
            },
        ];
        let applied = BTreeMap::from([
            (
                "20240101000000".to_string(),
                "2024-01-01 10:00:00".to_string(),
            ),
            (
                "20231231000000".to_string(),
                "2023-12-31 10:00:00".to_string(),
            ),
        ]);
        let expected = [
            "",
            "   Local          | Applied        | Time (UTC)          | Name",
            "  ----------------|----------------|---------------------|------------",
            "                  | 20231231000000 | 2023-12-31 00:00:00 |",
            "   20240101000000 | 20240101000000 | 2024-01-01 00:00:00 | init",
            "   20240202000000 |                | 2024-02-02 00:00:00 | add_orders",
            "",
            "",
        ];
        assert_eq!(table(&local, &applied), expected.join("\n"));
    }
}
