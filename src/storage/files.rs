//! Files: object contents on the local file system, one file per object version under
//! `supabase/.solobase/storage`. A body is streamed into `tmp/`, fsynced, then renamed into
//! place, and only then is its row committed; so a crash leaves at worst a file no row names,
//! which `remove_orphans` deletes on the next start. Rows never name a missing file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::error::StorageError;

/// Where object files live.
#[derive(Debug, Clone)]
pub struct Files {
    root: PathBuf,
}

/// A body written to a temporary file, not yet visible.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    pub size: u64,
    /// A strong validator of the content (`"…"`, quoted as HTTP wants it).
    pub etag: String,
}

impl Files {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The file of one object version: `objects/ab/abcdef…` (versions are UUIDs).
    pub fn path(&self, version: &str) -> PathBuf {
        let fan_out = version.get(..2).unwrap_or("00");
        self.root.join("objects").join(fan_out).join(version)
    }

    /// Streams `body` into a temporary file, refusing more than `limit` bytes, then fsyncs it.
    pub async fn stage<S, E>(&self, body: &mut S, limit: u64) -> Result<Staged, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<StorageError>,
    {
        let directory = self.temp_dir();
        tokio::fs::create_dir_all(&directory).await?;
        let path = directory.join(uuid::Uuid::new_v4().to_string());
        let mut staged = Staged {
            path,
            size: 0,
            etag: String::new(),
        };
        let mut file = tokio::fs::File::create(&staged.path).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    staged.discard().await;
                    return Err(error.into());
                }
            };
            staged.size += chunk.len() as u64;
            if staged.size > limit {
                staged.discard().await;
                return Err(StorageError::entity_too_large());
            }
            hasher.update(&chunk);
            if let Err(error) = file.write_all(&chunk).await {
                staged.discard().await;
                return Err(error.into());
            }
        }
        if let Err(error) = file.sync_all().await {
            staged.discard().await;
            return Err(error.into());
        }
        let digest = hasher.finalize();
        staged.etag = format!("\"{}\"", hex(&digest[..16]));
        Ok(staged)
    }

    /// Moves a staged file to its version's place, durably.
    pub async fn publish(&self, staged: Staged, version: &str) -> Result<(), StorageError> {
        let target = self.path(version);
        let directory = target.parent().expect("object paths have a parent");
        tokio::fs::create_dir_all(directory).await?;
        if let Err(error) = tokio::fs::rename(&staged.path, &target).await {
            staged.discard().await;
            return Err(error.into());
        }
        sync_directory(directory).await;
        Ok(())
    }

    /// Copies one version's file to a new version, durably.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let target = self.path(to);
        let directory = target.parent().expect("object paths have a parent");
        tokio::fs::create_dir_all(directory).await?;
        tokio::fs::copy(self.path(from), &target).await?;
        tokio::fs::File::open(&target).await?.sync_all().await?;
        sync_directory(directory).await;
        Ok(())
    }

    /// Deletes the files of versions no row names any more; a missing file is no error.
    pub async fn remove(&self, versions: impl IntoIterator<Item = String>) {
        for version in versions {
            match tokio::fs::remove_file(self.path(&version)).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => tracing::warn!("storage: cannot remove version {version}: {error}"),
            }
        }
    }

    /// On start: deletes unfinished uploads and every file whose version no row names.
    /// Returns how many files were removed.
    pub fn remove_orphans(&self, live: &HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        match std::fs::remove_dir_all(self.temp_dir()) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let objects = self.root.join("objects");
        let fan_outs = match std::fs::read_dir(&objects) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(error),
        };
        for fan_out in fan_outs {
            for file in std::fs::read_dir(fan_out?.path())? {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                if !live.contains(&name) {
                    std::fs::remove_file(file.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

impl Staged {
    /// Deletes the temporary file (an upload that failed or was refused).
    pub async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// Makes a rename durable (best effort where directories cannot be opened).
async fn sync_directory(directory: &Path) {
    if let Ok(handle) = tokio::fs::File::open(directory).await {
        let _ = handle.sync_all().await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, StorageError>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|part| Ok(Bytes::from_static(part.as_bytes())))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn staged_files_become_visible_only_when_published_and_orphans_are_removed() {
        let root = std::env::temp_dir().join(format!("solobase-files-{}", uuid::Uuid::new_v4()));
        let files = Files::new(root.clone());
        let staged = files
            .stage(&mut chunks(&["hello ", "world"]), 100)
            .await
            .unwrap();
        assert_eq!(staged.size, 11);
        let version = uuid::Uuid::new_v4().to_string();
        assert!(!files.path(&version).exists());
        files.publish(staged, &version).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(files.path(&version)).unwrap(),
            "hello world"
        );

        let orphan = uuid::Uuid::new_v4().to_string();
        files.copy(&version, &orphan).await.unwrap();
        let unfinished = files.stage(&mut chunks(&["half"]), 100).await.unwrap();
        let live = HashSet::from([version.clone()]);
        assert_eq!(files.remove_orphans(&live).unwrap(), 1);
        assert!(files.path(&version).exists());
        assert!(!files.path(&orphan).exists());
        assert!(!unfinished.path.exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_and_leaves_nothing() {
        let root = std::env::temp_dir().join(format!("solobase-files-{}", uuid::Uuid::new_v4()));
        let files = Files::new(root.clone());
        let error = files
            .stage(&mut chunks(&["12345", "678"]), 6)
            .await
            .unwrap_err();
        assert_eq!(error.status, 413);
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        std::fs::remove_dir_all(root).unwrap();
    }
}
