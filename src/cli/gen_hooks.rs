//! `solobase gen hooks`: writes `hookgen`'s modules for the project's tables into a folder.

use std::path::Path;

use anyhow::Context;

pub fn run(workdir: &Path, schema: &str, tables: &[String], out: &Path) -> anyhow::Result<()> {
    let project = super::existing_project(workdir)?;
    let migrations = crate::migrate::discover(&project.migrations_dir())?;
    let cache = crate::migrate::build_schema(&migrations)?;
    let files = crate::hookgen::generate(&cache, schema, tables).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for file in files {
        let path = out.join(&file.name);
        std::fs::write(&path, file.text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
