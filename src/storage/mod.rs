//! Storage: Supabase Storage — the `storage` schema (`schema.sql`, translated at bootstrap) and
//! its SQL helpers (`functions`), and `/storage/v1` (`api`): bucket and object rows under the
//! caller's policies (`objects`), file contents on disk (`files`), upload bodies (`upload`),
//! listings (`list`), download ranges (`range`), signed URLs (`sign`), Storage's error shape (`error`).

pub mod api;
pub mod error;
pub mod files;
pub mod functions;
pub mod list;
pub mod objects;
pub mod range;
pub mod sign;
pub mod upload;

use crate::config::Project;
use crate::store::Store;

/// On start: checks `[storage] file_size_limit` and removes the files of uploads a crash
/// interrupted (and of versions no row names).
pub async fn recover(store: &Store, project: &Project) -> anyhow::Result<()> {
    let limit = &project.config.storage.file_size_limit;
    if upload::parse_size(limit).is_none() {
        anyhow::bail!(
            "supabase/config.toml: [storage] file_size_limit = \"{limit}\" is not a size (use e.g. \"50MiB\")"
        );
    }
    let live = store.read(None, objects::live_versions).await??;
    let files = files::Files::new(project.storage_dir());
    let removed = tokio::task::spawn_blocking(move || files.remove_orphans(&live)).await??;
    if removed > 0 {
        eprintln!("Removed {removed} storage file(s) left by interrupted writes");
    }
    Ok(())
}
