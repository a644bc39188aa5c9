//! What the HTML pages show of a repository's history: its snapshots and
//! channels (the repository page), and the directories of a frozen set
//! (the file browser at `/repos/<provider>/<repo>@<name>/files/...`).

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{Value, context};
use serde::Serialize;

use crate::app::App;
use crate::error::{Error, Result};
use crate::history::{ChannelInfo, SnapshotInfo};
use crate::state::{DirEntry, EntryKind, IndexSetView, ManifestEntry, RepoState};

/// The repository page's "Snapshots" and "Channels" sections.
#[derive(Serialize)]
pub struct Sections {
    /// Newest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// By name.
    pub channels: Vec<ChannelInfo>,
}

pub async fn sections(app: &App, state: &RepoState) -> Result<Sections> {
    Ok(Sections {
        snapshots: app.history.list(state).await?,
        channels: app.history.channels(state).await?,
    })
}

/// What `R@name` is, for the heading of its file browser: a channel (and
/// the snapshot it points at now) or a snapshot.
pub async fn describe(app: &App, state: &RepoState, name: &str) -> Result<Value> {
    match app.history.channel(state, name).await {
        Ok(c) => {
            return Ok(context! {
                kind => "channel",
                snapshot => c.snapshot,
                at => c.updated_at,
            });
        }
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let s = app.history.show(state, name).await?;
    Ok(context! {
        kind => "snapshot",
        snapshot => s.name,
        at => s.created_at,
        description => s.description,
    })
}

/// One directory of a frozen set, as [`RepoState::list_dir`] lists the live
/// one: subdirectories, then files, each by name. `dir` is `""` or ends in
/// `/`. The set's records of packages and sections are not paths and are
/// left out.
pub fn list_frozen(view: &IndexSetView, dir: &str) -> Vec<DirEntry> {
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    let mut files: BTreeMap<&str, (EntryKind, u64)> = BTreeMap::new();
    for (path, e) in view.tree.iter() {
        let (kind, size) = match e {
            ManifestEntry::File { size, .. } => (EntryKind::Index, *size),
            ManifestEntry::Redirect { .. } => (EntryKind::Redirect, 0),
            ManifestEntry::Blob { size, .. } => (EntryKind::Package, *size),
            // Not paths: what the set holds, for diffs and rendering.
            ManifestEntry::Package { .. } | ManifestEntry::Sections { .. } => continue,
        };
        let Some(rest) = path.strip_prefix(dir) else {
            continue;
        };
        match rest.split_once('/') {
            Some((sub, _)) if !sub.is_empty() => {
                dirs.insert(sub);
            }
            None if !rest.is_empty() => {
                // As in the live listing, a package file wins over an index
                // file of the same path.
                let slot = files.entry(rest).or_insert((kind, size));
                if kind == EntryKind::Package {
                    *slot = (kind, size);
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<DirEntry> = dirs
        .into_iter()
        .map(|name| DirEntry {
            name: name.to_owned(),
            kind: EntryKind::Dir,
            size: 0,
        })
        .collect();
    out.extend(files.into_iter().map(|(name, (kind, size))| DirEntry {
        name: name.to_owned(),
        kind,
        size,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ManifestTree, PackageRef};

    fn file(size: u64) -> ManifestEntry {
        ManifestEntry::File {
            sha256: "0".repeat(64),
            size,
            content_type: "application/json".into(),
            template: false,
            parts: Vec::new(),
        }
    }

    #[test]
    fn a_frozen_directory_lists_like_the_live_one() {
        let blob = |size| ManifestEntry::Blob {
            blob: "1".repeat(64),
            size,
            content_type: "application/x-tar".into(),
        };
        let mut changes = vec![
            ("index.json".to_owned(), Some(file(10))),
            ("b/1.0/b-1.0.tar".to_owned(), Some(blob(7))),
            (
                "a/latest".to_owned(),
                Some(ManifestEntry::Redirect {
                    redirect: "a/1.0/a-1.0.tar".into(),
                }),
            ),
            ("a/1.0/a-1.0.tar".to_owned(), Some(blob(5))),
            ("a/index.json".to_owned(), Some(file(3))),
        ];
        let package = PackageRef {
            id: 1,
            seq: 1,
            name: "a".into(),
            version: "1.0".into(),
            section: String::new(),
            variant: String::new(),
        };
        changes.push((package.key(), Some(ManifestEntry::Package { package })));
        changes.push((
            crate::state::SECTIONS_KEY.to_owned(),
            Some(ManifestEntry::Sections {
                sections: vec![String::new()],
            }),
        ));
        let (tree, _) = ManifestTree::empty().0.apply(changes);
        let view = IndexSetView::new(1, tree);
        let shown = |dir: &str| {
            list_frozen(&view, dir)
                .into_iter()
                .map(|e| (e.name, e.kind, e.size))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown(""),
            [
                ("a".to_owned(), EntryKind::Dir, 0),
                ("b".to_owned(), EntryKind::Dir, 0),
                ("index.json".to_owned(), EntryKind::Index, 10),
            ]
        );
        assert_eq!(
            shown("a/"),
            [
                ("1.0".to_owned(), EntryKind::Dir, 0),
                ("index.json".to_owned(), EntryKind::Index, 3),
                ("latest".to_owned(), EntryKind::Redirect, 0),
            ]
        );
        assert_eq!(
            shown("a/1.0/"),
            [("a-1.0.tar".to_owned(), EntryKind::Package, 5)]
        );
        assert!(shown("c/").is_empty());
    }
}
