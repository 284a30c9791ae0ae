//! `solobase gen types typescript` and `gen hooks`: the project's migrations translated into a
//! schema (no server, no database), printed as the TypeScript `supabase gen types typescript
//! --local` prints, or written as the data layer of `gen_hooks`.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// Print types for the schema the migrations declare.
    Types {
        /// The language to generate.
        #[arg(value_enum)]
        language: Language,
        /// Schemas to include; repeat or comma-separate for several (default: public).
        #[arg(long, value_delimiter = ',', default_value = "public")]
        schema: Vec<String>,
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
        /// Accepted for compatibility with `supabase gen types --local`; Solobase always
        /// generates from the local migrations.
        #[arg(long)]
        local: bool,
    },
    /// Write a typed data layer per table: the `Database` types, a data-access service and
    /// React hooks (optimistic, pending, rollback, realtime-synced), with input validation.
    Hooks {
        /// Tables to generate for; repeat or comma-separate (default: every table with a
        /// primary key).
        #[arg(long, value_delimiter = ',')]
        table: Vec<String>,
        /// The folder to write the modules to (created if missing).
        #[arg(long, default_value = "hooks")]
        out: PathBuf,
        /// The schema the tables are in.
        #[arg(long, default_value = "public")]
        schema: String,
        /// The folder that holds `supabase/` (default: the current directory).
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Language {
    /// The `Database` type for `createClient<Database>()`.
    Typescript,
}

pub fn run(command: GenCommand) -> anyhow::Result<()> {
    let (schema, workdir) = match command {
        GenCommand::Types {
            language: Language::Typescript,
            schema,
            workdir,
            local: _,
        } => (schema, workdir),
        GenCommand::Hooks {
            table,
            out,
            schema,
            workdir,
        } => return super::gen_hooks::run(&workdir, &schema, &table, &out),
    };
    let project = super::existing_project(&workdir)?;
    let migrations = crate::migrate::discover(&project.migrations_dir())?;
    let cache = crate::migrate::build_schema(&migrations)?;
    print!("{}", crate::typegen::typescript(&cache, &schema));
    Ok(())
}
