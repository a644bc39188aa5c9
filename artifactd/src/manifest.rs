//! What an index set records, path by path: index files, redirects,
//! package files, packages and sections, as the entries of a persistent
//! tree ([`crate::tree`]), and how trees are read from and written to
//! storage. Shared by publishing, serving, history and copies.

use artifactd_provider_api::PackageRecord;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{Storage, StorageKey};
use crate::tree::{NewNode, NodeCache, NodeHash};

/// One path of a published index set, as stored in `index_sets.manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ManifestEntry {
    File {
        sha256: String,
        size: u64,
        content_type: String,
        /// The body holds `@BASE_URL@` placeholders to fill in when serving.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        template: bool,
        /// When not empty, the body is these index objects in order, and
        /// `sha256` only identifies the whole (it is the ETag, not a key).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parts: Vec<String>,
    },
    Redirect {
        redirect: String,
    },
    /// A package file: its blob. A set thus answers for everything it
    /// published, so a snapshot (a root) serves its package files too.
    Blob {
        blob: String,
        size: u64,
        content_type: String,
    },
    /// A package the set holds; never served. Snapshot diffs and copies
    /// read these.
    Package {
        package: PackageRef,
    },
    /// Every section the repository has published (at [`SECTIONS_KEY`]):
    /// a section whose last package left is still rendered, empty.
    Sections {
        sections: Vec<String>,
    },
}

/// Where a set records the sections it has published.
pub const SECTIONS_KEY: &str = "@sections";

/// A package as an index set records it: its identity, and the `seq` of its
/// last change (a new seq under one identity means changed content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRef {
    pub id: i64,
    pub seq: i64,
    pub name: String,
    pub version: String,
    pub section: String,
    pub variant: String,
}

impl PackageRef {
    /// The manifest key of a package: `@pkg/` cannot be a rendered path
    /// (lookups skip package entries anyway).
    pub fn key(&self) -> String {
        format!(
            "@pkg/{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.section, self.name, self.version, self.variant
        )
    }
}

/// The entries a set holds for the packages themselves: their files and
/// their identities.
pub fn package_entries(packages: &[PackageRecord]) -> Vec<(String, ManifestEntry)> {
    let mut out = Vec::with_capacity(packages.len() * 2);
    for p in packages {
        let r = PackageRef {
            id: p.id,
            seq: p.seq,
            name: p.name.clone(),
            version: p.version.clone(),
            section: p.section.clone(),
            variant: p.variant.clone(),
        };
        out.push((r.key(), ManifestEntry::Package { package: r }));
        for f in &p.files {
            out.push((
                f.path.clone(),
                ManifestEntry::Blob {
                    blob: f.sha256.clone(),
                    size: f.size,
                    content_type: f.content_type.clone(),
                },
            ));
        }
    }
    out
}

pub type Manifest = std::collections::BTreeMap<String, ManifestEntry>;

/// A manifest as a persistent tree: what a published index set serves.
pub type ManifestTree = crate::tree::Tree<ManifestEntry>;

/// Reads a manifest tree from the repository's index objects.
pub async fn load_tree(
    storage: &dyn Storage,
    repo_id: i64,
    root: NodeHash,
    cache: &NodeCache<ManifestEntry>,
) -> Result<ManifestTree> {
    ManifestTree::load(root, cache, |h| async move {
        let key = StorageKey::Index {
            repo_id,
            sha256: h.hex(),
        };
        Ok::<_, Error>(crate::storage::read_all(storage, &key).await?.to_vec())
    })
    .await
}

/// The whole body of an index file: its one object, or (`parts` not
/// empty) its parts in order, several read at a time.
pub async fn read_index_body(
    storage: &dyn Storage,
    repo_id: i64,
    sha256: &str,
    parts: &[String],
) -> Result<Bytes> {
    use futures_util::{StreamExt, TryStreamExt};
    let key = |sha256: &str| StorageKey::Index {
        repo_id,
        sha256: sha256.to_owned(),
    };
    if parts.is_empty() {
        return Ok(crate::storage::read_all(storage, &key(sha256)).await?);
    }
    let pieces: Vec<Bytes> = futures_util::stream::iter(parts)
        .map(|sha256| {
            let key = key(sha256);
            async move { crate::storage::read_all(storage, &key).await }
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(Bytes::from(pieces.concat()))
}

/// Stores manifest-tree nodes as index objects (named by their hash, like
/// every index object), several at a time.
pub async fn store_nodes(storage: &dyn Storage, repo_id: i64, nodes: Vec<NewNode>) -> Result<()> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(nodes)
        .map(|n| async move {
            let key = StorageKey::Index {
                repo_id,
                sha256: n.hash.hex(),
            };
            storage
                .put_bytes(&key, Bytes::from(n.bytes), crate::tree::NODE_CONTENT_TYPE)
                .await
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}
