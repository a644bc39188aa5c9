//! Where package files and rendered index files live: a local directory or an
//! S3-compatible bucket, behind one small trait.
//!
//! Keys are typed ([`StorageKey`]) so no handler builds object paths by hand.
//! Every write is atomic: a reader sees either no object or the whole object.
//! Objects are content-addressed and therefore never overwritten with other
//! bytes, which is what lets several server instances share a bucket without
//! coordination.

use std::path::Path;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

mod local;
mod s3;

pub use local::{LocalStorage, probe_write};
pub use s3::{S3Location, S3Storage};

/// A stream of object bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("storage I/O on {key}: {source}")]
    Io { key: String, source: std::io::Error },
    #[error("object store on {key}: {message}")]
    Remote { key: String, message: String },
    #[error("storage configuration: {0}")]
    Config(String),
}

/// The name of every object artifactd stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StorageKey {
    /// Package file bytes, shared by every repository holding the same file.
    Blob { sha256: String },
    /// A rendered index file of one repository.
    Index { repo_id: i64, sha256: String },
}

impl StorageKey {
    pub fn blob(sha256: &str) -> Self {
        StorageKey::Blob {
            sha256: sha256.to_owned(),
        }
    }

    /// The object path relative to the store's root.
    pub fn path(&self) -> String {
        match self {
            StorageKey::Blob { sha256 } => format!("blobs/sha256/{}/{sha256}", &sha256[..2]),
            StorageKey::Index { repo_id, sha256 } => format!("index/{repo_id}/{sha256}"),
        }
    }

    /// The prefix under which [`StorageKey::Index`] keys of a repository live.
    pub fn index_prefix(repo_id: i64) -> String {
        format!("index/{repo_id}/")
    }
}

/// A byte range: first byte and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub len: u64,
}

/// An object for [`Storage::put_many`].
#[derive(Debug, Clone)]
pub struct NewObject {
    pub key: StorageKey,
    pub bytes: Bytes,
    pub content_type: &'static str,
}

#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Moves a finished local file into the store under `key`. The source is
    /// consumed (renamed or uploaded then removed by the caller's temp dir).
    async fn put_file(
        &self,
        key: &StorageKey,
        src: &Path,
        content_type: &str,
    ) -> Result<(), StorageError>;
    /// Stores a small object held in memory.
    async fn put_bytes(
        &self,
        key: &StorageKey,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError>;
    /// Stores several small objects, all durable when it returns; on error
    /// some may be stored and others not (each one whole or absent). The
    /// default runs up to 16 [`Storage::put_bytes`] at once.
    async fn put_many(&self, objects: Vec<NewObject>) -> Result<(), StorageError> {
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(objects)
            .map(|o| async move { self.put_bytes(&o.key, o.bytes, o.content_type).await })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }
    /// Streams an object, or one range of it.
    async fn get(
        &self,
        key: &StorageKey,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StorageError>;
    /// The object's size, or `None` if it does not exist.
    async fn head(&self, key: &StorageKey) -> Result<Option<u64>, StorageError>;
    /// Removes an object; removing a missing object is not an error.
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError>;
    /// Object paths (as [`StorageKey::path`] gives them) starting with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Cheap liveness check for `/healthz`.
    async fn check(&self) -> Result<(), StorageError>;
}

/// Reads a whole object into memory; for small index files only.
pub async fn read_all(storage: &dyn Storage, key: &StorageKey) -> Result<Bytes, StorageError> {
    use futures_util::TryStreamExt;
    let chunks: Vec<Bytes> =
        storage
            .get(key, None)
            .await?
            .try_collect()
            .await
            .map_err(|source| StorageError::Io {
                key: key.path(),
                source,
            })?;
    Ok(chunks.concat().into())
}
