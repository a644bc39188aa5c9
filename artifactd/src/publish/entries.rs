//! What a publish adds to its manifest: the provider's rendered files as
//! entries (with the bodies to store and a composite's parts to serve from
//! memory), and the package entries, whole or from the change set.

use std::collections::{HashMap, HashSet};

use artifactd_provider_api::{IndexBody, IndexFile, RenderDelta};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::state::{ManifestEntry, ManifestTree, PackageDelta, Snapshot};

/// What a provider rendered for a publish.
pub(super) enum Rendering {
    /// Every index file.
    Full(Vec<IndexFile>),
    /// What changed since the current set's render.
    Delta {
        delta: RenderDelta,
        /// The same render in full, to check the delta against.
        #[cfg(debug_assertions)]
        full: Vec<IndexFile>,
    },
}

/// Whether `tree`, built from an incremental render, holds exactly the
/// index entries of the full render `full`.
#[cfg(debug_assertions)]
pub(super) fn check_delta(tree: &ManifestTree, full: Vec<IndexFile>) -> Result<()> {
    let mut expected = HashMap::new();
    add_rendered(&mut expected, full, None)?;
    let index_entries = tree
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                ManifestEntry::File { .. } | ManifestEntry::Redirect { .. }
            )
        })
        .count();
    let wrong = expected.iter().find(|(p, e)| tree.get(p) != Some(*e));
    match (wrong, index_entries == expected.len()) {
        (None, true) => Ok(()),
        (Some((path, _)), _) => Err(Error::Internal(format!(
            "incremental render diverged from a full one at {path}"
        ))),
        (None, false) => Err(Error::Internal(format!(
            "incremental render left {index_entries} index entries, a full one {}",
            expected.len()
        ))),
    }
}

/// The bytes a render produced, by hash.
pub(super) struct Rendered {
    pub bodies: HashMap<String, Bytes>,
    /// Composite files' parts, to serve from memory without reading them back.
    pub composite: HashMap<String, Vec<Bytes>>,
}

/// Adds an entry per rendered file to `manifest`. An alias whose target
/// was not rendered (an incremental render's unchanged file) takes the
/// target's entry from `unchanged`.
pub(super) fn add_rendered(
    manifest: &mut HashMap<String, ManifestEntry>,
    files: Vec<IndexFile>,
    unchanged: Option<&ManifestTree>,
) -> Result<Rendered> {
    let mut bodies: HashMap<String, Bytes> = HashMap::new();
    let mut composite: HashMap<String, Vec<Bytes>> = HashMap::new();
    let mut aliases: Vec<(String, String, String)> = Vec::new();
    for f in files {
        artifactd_provider_api::validate_relative_path(&f.path)
            .map_err(|e| Error::Internal(format!("provider rendered a bad path: {e}")))?;
        let (bytes, sha256, template) = match f.body {
            IndexBody::Bytes(bytes) => {
                let sha = hex::encode(Sha256::digest(&bytes));
                (bytes, sha, false)
            }
            IndexBody::Hashed { bytes, sha256 } => {
                debug_assert_eq!(sha256, hex::encode(Sha256::digest(&bytes)), "{}", f.path);
                (bytes, sha256, false)
            }
            IndexBody::Template(bytes) => {
                let sha = hex::encode(Sha256::digest(&bytes));
                (bytes, sha, true)
            }
            IndexBody::Alias(target) => {
                aliases.push((f.path, target, f.content_type));
                continue;
            }
            IndexBody::Redirect(target) => {
                manifest.insert(f.path, ManifestEntry::Redirect { redirect: target });
                continue;
            }
            IndexBody::Parts(parts) => {
                let mut id = Sha256::new();
                let mut size = 0u64;
                for p in &parts {
                    debug_assert_eq!(p.sha256, hex::encode(Sha256::digest(&p.bytes)));
                    id.update(p.sha256.as_bytes());
                    size += p.bytes.len() as u64;
                }
                let hashes = parts.iter().map(|p| p.sha256.clone()).collect();
                let mut pieces = Vec::with_capacity(parts.len());
                for p in parts {
                    let b = bodies
                        .entry(p.sha256)
                        .or_insert_with(|| Bytes::from_owner(p.bytes));
                    pieces.push(b.clone());
                }
                let sha256 = format!("parts-{}", hex::encode(id.finalize()));
                composite.insert(sha256.clone(), pieces);
                manifest.insert(
                    f.path,
                    ManifestEntry::File {
                        sha256,
                        size,
                        content_type: f.content_type,
                        template: false,
                        parts: hashes,
                    },
                );
                continue;
            }
        };
        let entry = ManifestEntry::File {
            sha256: sha256.clone(),
            size: bytes.len() as u64,
            content_type: f.content_type,
            template,
            parts: Vec::new(),
        };
        bodies.entry(sha256).or_insert_with(|| Bytes::from(bytes));
        manifest.insert(f.path, entry);
    }
    for (path, target, alias_type) in aliases {
        let found = manifest
            .get(&target)
            .or_else(|| unchanged.and_then(|t| t.get(&target)));
        let mut entry = found.cloned().ok_or_else(|| {
            Error::Internal(format!("{path} aliases {target}, which was not rendered"))
        })?;
        // Same bytes, possibly served as another media type.
        if let ManifestEntry::File { content_type, .. } = &mut entry {
            *content_type = alias_type;
        }
        manifest.insert(path, entry);
    }
    Ok(Rendered { bodies, composite })
}

/// The package entries of a publish: all of them, or only the changed ones.
pub(super) enum PackageEntries {
    All(Vec<(String, ManifestEntry)>),
    Changed {
        changes: HashMap<String, Option<ManifestEntry>>,
        #[cfg(debug_assertions)]
        all: Vec<(String, ManifestEntry)>,
    },
}

/// The manifest changes `deltas` make to package entries: every entry of a
/// package's old state goes, unless a package of `snap` (the state after
/// them) still holds that file path, then every entry of its new state
/// comes (a path one package left and another took stays).
pub(super) fn package_changes(
    deltas: Vec<PackageDelta>,
    snap: &Snapshot,
) -> HashMap<String, Option<ManifestEntry>> {
    let mut out = HashMap::new();
    for d in &deltas {
        for (path, entry) in crate::state::package_entries(d.before.as_slice()) {
            // Same path, same bytes: a package that still holds it keeps it.
            if matches!(entry, ManifestEntry::Blob { .. }) && snap.holds(&path) {
                continue;
            }
            out.insert(path, None);
        }
    }
    for d in deltas {
        for (path, entry) in crate::state::package_entries(d.after.as_slice()) {
            out.insert(path, Some(entry));
        }
    }
    out
}

/// What a publish changes in the manifest tree, and the index objects the
/// entries it replaces already stored (those need not be stored again).
pub(super) struct TreeChanges {
    pub changes: Vec<(String, Option<ManifestEntry>)>,
    pub known: HashSet<String>,
}

/// The changes from `previous` to a publish's entries: `manifest`, its
/// rendered files (and sections); `removed`, for an incremental render,
/// the paths it dropped (else every index entry `manifest` lacks goes);
/// `packages`, the package entries' changes when known (else package
/// entries are in `manifest`, and those it lacks go).
pub(super) fn tree_changes(
    previous: &ManifestTree,
    manifest: &HashMap<String, ManifestEntry>,
    removed: Option<Vec<String>>,
    packages: Option<HashMap<String, Option<ManifestEntry>>>,
) -> TreeChanges {
    let mut changes: Vec<(String, Option<ManifestEntry>)> = Vec::new();
    let mut known = HashSet::new();
    let mut replaced = |old: Option<&ManifestEntry>| {
        if let Some(ManifestEntry::File { sha256, parts, .. }) = old {
            known.insert(sha256.clone());
            known.extend(parts.iter().cloned());
        }
    };
    for (path, entry) in manifest {
        match previous.get(path) {
            Some(old) if old == entry => {}
            old => {
                replaced(old);
                changes.push((path.clone(), Some(entry.clone())));
            }
        }
    }
    let is_package = |e: &ManifestEntry| {
        matches!(
            e,
            ManifestEntry::Blob { .. } | ManifestEntry::Package { .. }
        )
    };
    match removed {
        Some(removed) => {
            for path in removed {
                let old = previous.get(&path);
                if !manifest.contains_key(&path) && old.is_some_and(|e| !is_package(e)) {
                    replaced(old);
                    changes.push((path, None));
                }
            }
        }
        None => {
            for (path, entry) in previous.iter() {
                // With the package changes at hand, package entries are theirs.
                if (!is_package(entry) || packages.is_none()) && !manifest.contains_key(path) {
                    // A file renamed (rpm metadata is named by its checksum)
                    // keeps the parts it shares with its new name stored.
                    replaced(Some(entry));
                    changes.push((path.to_owned(), None));
                }
            }
        }
    }
    for (path, entry) in packages.into_iter().flatten() {
        if previous.get(&path) != entry.as_ref() {
            changes.push((path, entry));
        }
    }
    TreeChanges { changes, known }
}
