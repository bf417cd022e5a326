//! Where ticket photos' bytes are kept: the [`PhotoStore`] trait and its local-directory
//! implementation. Rows that point at the bytes are the tickets' business.

use std::path::{Path as FsPath, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use courtyard_domain::{new_id, photos::PhotoKey};
use tokio::io::AsyncWriteExt;

/// Keeps photo bytes under [`PhotoKey`]s.
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// Stores `bytes` under `key`, whole or not at all.
    async fn put(&self, key: &PhotoKey, bytes: Vec<u8>) -> anyhow::Result<()>;
    /// The bytes stored under `key`, or `None` when nothing is.
    async fn get(&self, key: &PhotoKey) -> anyhow::Result<Option<Vec<u8>>>;
    /// Removes what is stored under `key`; nothing stored there is not an error.
    async fn delete(&self, key: &PhotoKey) -> anyhow::Result<()>;
}

/// A [`PhotoStore`] in a local directory (`storage.photo_dir`): one file per key.
pub struct LocalDiskStore {
    root: PathBuf,
}

impl LocalDiskStore {
    /// A store rooted at `root`; directories are created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file of `key`: below the root, since a key's segments are plain names.
    fn path_of(&self, key: &PhotoKey) -> PathBuf {
        key.segments()
            .fold(self.root.clone(), |path, segment| path.join(segment))
    }
}

#[async_trait]
impl PhotoStore for LocalDiskStore {
    async fn put(&self, key: &PhotoKey, bytes: Vec<u8>) -> anyhow::Result<()> {
        let path = self.path_of(key);
        let dir = path.parent().context("a photo key names a file")?;
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        // Written under a temporary name and renamed when complete: a crash or a full disk
        // mid-write never leaves a half photo under the key.
        let file_name = path
            .file_name()
            .context("a photo key names a file")?
            .to_string_lossy();
        let temp = dir.join(format!(".{file_name}.{}.tmp", new_id().simple()));
        let written = write_then_rename(&temp, &path, &bytes).await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        written.with_context(|| format!("storing photo {key} in {}", self.root.display()))
    }

    async fn get(&self, key: &PhotoKey) -> anyhow::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path_of(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading photo {key}")),
        }
    }

    async fn delete(&self, key: &PhotoKey) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting photo {key}")),
        }
    }
}

async fn write_then_rename(temp: &FsPath, path: &FsPath, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await?;
    file.write_all(bytes).await?;
    // On disk before the name points at it; otherwise a power cut could leave the final
    // name on an empty file.
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(temp, path).await?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        // The rename itself survives a power cut only once the directory is synced.
        tokio::fs::File::open(dir).await?.sync_all().await?;
    }
    Ok(())
}
