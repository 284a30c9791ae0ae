//! `solobase gen types typescript`: the project's migrations translated into a schema (no
//! server, no database) and printed as the TypeScript `supabase gen types typescript --local`
//! prints.

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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Language {
    /// The `Database` type for `createClient<Database>()`.
    Typescript,
}

pub fn run(command: GenCommand) -> anyhow::Result<()> {
    let GenCommand::Types {
        language: Language::Typescript,
        schema,
        workdir,
        local: _,
    } = command;
    let project = super::existing_project(&workdir)?;
    let migrations = crate::migrate::discover(&project.migrations_dir())?;
    let cache = crate::migrate::build_schema(&migrations)?;
    print!("{}", crate::typegen::typescript(&cache, &schema));
    Ok(())
}
