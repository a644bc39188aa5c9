//! The local-directory backend: objects are files under one root, written to
//! a temporary name in the same directory and renamed into place.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{ByteRange, ByteStream, NewObject, Storage, StorageError, StorageKey};

/// Files under `root`, laid out as [`StorageKey::path`] says.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

const CHUNK: usize = 256 * 1024;

impl LocalStorage {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|source| StorageError::Io {
                key: root.display().to_string(),
                source,
            })?;
        Ok(LocalStorage { root })
    }

    fn file(&self, key: &StorageKey) -> PathBuf {
        self.root.join(key.path())
    }

    fn tmp_name(dest: &Path) -> PathBuf {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!(".tmp-{:016x}", rand::random::<u64>()));
        PathBuf::from(name)
    }
}

fn io_err(key: &StorageKey) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| match source.kind() {
        ErrorKind::NotFound => StorageError::NotFound(key.path()),
        _ => StorageError::Io {
            key: key.path(),
            source,
        },
    }
}

/// Writes `tmp` with `write`, then renames it to `dest`; on any failure
/// (a full disk, most often) the partial temporary file is removed, so a
/// failed write leaves nothing behind.
fn write_then_rename(
    tmp: &Path,
    dest: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let result = write(tmp).and_then(|()| std::fs::rename(tmp, dest));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Writes every file of `batch` to a temporary name, syncs them all, then
/// renames them into place; on failure removes the temporary files.
fn put_batch(
    batch: &[(PathBuf, Bytes)],
    dirs: &mut std::collections::HashSet<PathBuf>,
) -> std::io::Result<()> {
    let mut written: Vec<(PathBuf, std::fs::File, &Path)> = Vec::with_capacity(batch.len());
    let mut run = || {
        for (dest, bytes) in batch {
            if let Some(dir) = dest.parent()
                && !dirs.contains(dir)
            {
                ensure_parent(dest)?;
                dirs.insert(dir.to_owned());
            }
            let tmp = LocalStorage::tmp_name(dest);
            let mut f = std::fs::File::create(&tmp)?;
            written.push((tmp, f.try_clone()?, dest));
            std::io::Write::write_all(&mut f, bytes)?;
        }
        sync_all(written.iter().map(|(_, f, _)| f))?;
        for (tmp, _, dest) in &written {
            std::fs::rename(tmp, dest)?;
        }
        Ok(())
    };
    let result = run();
    if result.is_err() {
        for (tmp, _, _) in &written {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result
}

/// Makes `files` durable. On Linux one `syncfs` does it for a batch: a
/// publish stores a dozen small objects, and a dozen fsyncs cost the
/// device a dozen flushes, where one filesystem sync flushes once.
fn sync_all<'a>(files: impl ExactSizeIterator<Item = &'a std::fs::File>) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if files.len() > 2 {
        let mut files = files;
        return match files.next() {
            Some(f) => rustix::fs::syncfs(f).map_err(std::io::Error::from),
            None => Ok(()),
        };
    }
    for f in files {
        f.sync_all()?;
    }
    Ok(())
}

fn ensure_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.is_dir() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// Runs file-system work on the blocking pool in one go.
async fn blocking(
    key: &StorageKey,
    work: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> Result<(), StorageError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r.map_err(io_err(key)),
        Err(e) => Err(StorageError::Config(format!("storage task failed: {e}"))),
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put_file(
        &self,
        key: &StorageKey,
        src: &Path,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let dest = self.file(key);
        let src = src.to_owned();
        // One blocking task for the whole sequence: each tokio::fs call
        // would be a round trip to the blocking pool.
        blocking(key, move || {
            ensure_parent(&dest)?;
            std::fs::File::open(&src)?.sync_all()?;
            if let Err(e) = std::fs::rename(&src, &dest) {
                // Another filesystem: copy beside the destination, then rename.
                if e.kind() != ErrorKind::CrossesDevices {
                    return Err(e);
                }
                let tmp = Self::tmp_name(&dest);
                write_then_rename(&tmp, &dest, |tmp| {
                    std::fs::copy(&src, tmp)?;
                    std::fs::File::open(tmp)?.sync_all()
                })?;
            }
            Ok(())
        })
        .await
    }

    async fn put_bytes(
        &self,
        key: &StorageKey,
        bytes: Bytes,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let dest = self.file(key);
        blocking(key, move || {
            ensure_parent(&dest)?;
            let tmp = Self::tmp_name(&dest);
            write_then_rename(&tmp, &dest, |tmp| {
                let mut f = std::fs::File::create(tmp)?;
                std::io::Write::write_all(&mut f, &bytes)?;
                f.sync_all()
            })
        })
        .await
    }

    /// One blocking task for the batch, writing every file before syncing
    /// any (a task per object would cost a thread hand-off each).
    async fn put_many(&self, objects: Vec<NewObject>) -> Result<(), StorageError> {
        let Some(first) = objects.first().map(|o| o.key.clone()) else {
            return Ok(());
        };
        let files: Vec<(PathBuf, Bytes)> = objects
            .into_iter()
            .map(|o| (self.file(&o.key), o.bytes))
            .collect();
        blocking(&first, move || {
            let mut dirs = std::collections::HashSet::new();
            // Batches bound the open files (a first publish stores thousands).
            for batch in files.chunks(64) {
                put_batch(batch, &mut dirs)?;
            }
            Ok(())
        })
        .await
    }

    async fn get(
        &self,
        key: &StorageKey,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StorageError> {
        let mut f = tokio::fs::File::open(self.file(key))
            .await
            .map_err(io_err(key))?;
        Ok(match range {
            None => Box::pin(ReaderStream::with_capacity(f, CHUNK)),
            Some(r) => {
                f.seek(std::io::SeekFrom::Start(r.start))
                    .await
                    .map_err(io_err(key))?;
                Box::pin(ReaderStream::with_capacity(f.take(r.len), CHUNK))
            }
        })
    }

    async fn head(&self, key: &StorageKey) -> Result<Option<u64>, StorageError> {
        match tokio::fs::metadata(self.file(key)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.file(key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err(key)(e)),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        let walk = move || {
            let dir = match prefix.rfind('/') {
                Some(i) => root.join(&prefix[..i]),
                None => root.clone(),
            };
            let mut out = Vec::new();
            let mut stack = vec![dir];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let Ok(rel) = path.strip_prefix(&root) else {
                        continue;
                    };
                    let rel = rel.to_string_lossy().replace('\\', "/");
                    if rel.starts_with(&prefix) && !rel.contains(".tmp-") {
                        out.push(rel);
                    }
                }
            }
            out.sort();
            Ok(out)
        };
        tokio::task::spawn_blocking(walk)
            .await
            .map_err(|e| StorageError::Config(e.to_string()))?
            .map_err(|source| StorageError::Io {
                key: self.root.display().to_string(),
                source,
            })
    }

    /// The directory must take a small durable write, so a full disk shows
    /// as unhealthy rather than as failing uploads only.
    async fn check(&self) -> Result<(), StorageError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || probe_write(&root))
            .await
            .map_err(|e| StorageError::Config(e.to_string()))?
            .map_err(|source| StorageError::Io {
                key: self.root.display().to_string(),
                source,
            })
    }
}

/// Writes, syncs and removes a small file in `dir` (blocking).
pub fn probe_write(dir: &Path) -> std::io::Result<()> {
    let path = LocalStorage::tmp_name(&dir.join("health"));
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        std::io::Write::write_all(&mut f, &[0u8; 4096])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}
