//! Copy and move packages between sections (apt dists/components, rpm
//! dists) and repositories of one format, or promote what a snapshot held.
//! No blob is copied (files are content-addressed); the rows are written in
//! one transaction, then each touched repository is published once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use artifactd_provider_api::{NewFile, NewPackage, PackageRecord, Provider, UploadedFile};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::history::PackageId;
use crate::publish::{Publisher, WaitOutcome};
use crate::state::{ManifestEntry, RepoState, Repos};

/// One package version to pick (all its variants unless `variant` is set).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pick {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
}

/// Packages matching every given field exactly.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub name: Option<String>,
    pub version: Option<String>,
    pub section: Option<String>,
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Only packages of this section.
    pub section: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct To {
    /// Another repository of the same format; default: the same one.
    pub repo: Option<String>,
    /// Default: each package's own section.
    pub section: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyRequest {
    #[serde(default)]
    pub packages: Vec<Pick>,
    #[serde(default)]
    pub query: Option<Query>,
    #[serde(default)]
    pub from: Source,
    /// Copy what this snapshot held instead of the live packages.
    #[serde(default)]
    pub from_snapshot: Option<String>,
    #[serde(default)]
    pub to: To,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Copy,
    Move,
}

#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub repo: String,
    /// `None`: committed, but the publish failed or took too long; the
    /// sweep publishes it.
    pub generation: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyOutcome {
    pub mode: Mode,
    pub dry_run: bool,
    pub to: To,
    /// Packages the destination gets (or would get).
    pub copied: Vec<PackageId>,
    /// Packages the destination already held with the same files.
    pub unchanged: Vec<PackageId>,
    /// For a move: packages taken out of the source.
    pub removed: Vec<PackageId>,
    pub publications: Vec<Publication>,
}

pub struct Copier<'a> {
    pub db: &'a Db,
    pub repos: &'a Arc<Repos>,
    pub publisher: &'a Arc<Publisher>,
    pub provider: &'a dyn Provider,
}

fn id_of(p: &PackageRecord) -> PackageId {
    PackageId {
        name: p.name.clone(),
        version: p.version.clone(),
        section: p.section.clone(),
        variant: p.variant.clone(),
    }
}

impl Copier<'_> {
    /// The packages `req` selects from `source` (live, or as a snapshot
    /// held them).
    async fn select(&self, source: &RepoState, req: &CopyRequest) -> Result<Vec<PackageRecord>> {
        let candidates: Vec<PackageRecord> = match &req.from_snapshot {
            None => self.db.list_packages(source.info.id).await?,
            Some(name) => {
                let snap = self
                    .db
                    .snapshot_named(source.info.id, name)
                    .await?
                    .ok_or_else(|| {
                        Error::not_found("no_such_snapshot", format!("no snapshot {name:?}"))
                    })?;
                let tree = self.repos.load_root(source, &snap.root).await?;
                let held: HashMap<i64, i64> = tree
                    .iter()
                    .filter_map(|(_, e)| match e {
                        ManifestEntry::Package { package } => Some((package.id, package.seq)),
                        _ => None,
                    })
                    .collect();
                let mut out = Vec::new();
                for (record, _) in self
                    .db
                    .package_changes(source.info.id, i64::MIN, i64::MAX)
                    .await?
                {
                    match held.get(&record.id) {
                        Some(seq) if *seq == record.seq => out.push(record),
                        Some(_) => {
                            return Err(Error::conflict(
                                "changed_since_snapshot",
                                format!(
                                    "{} {} changed after snapshot {name:?}; copy it from the live repository",
                                    record.name, record.version
                                ),
                            ));
                        }
                        None => {}
                    }
                }
                out
            }
        };
        let in_section =
            |p: &PackageRecord| req.from.section.as_deref().is_none_or(|s| s == p.section);
        let candidates: Vec<PackageRecord> = candidates.into_iter().filter(in_section).collect();
        let chosen: Vec<PackageRecord> = match (&req.query, req.packages.is_empty()) {
            (Some(_), false) => {
                return Err(Error::bad_request(
                    "invalid_selection",
                    "give packages or query, not both",
                ));
            }
            (None, true) => {
                if req.from_snapshot.is_none() {
                    return Err(Error::bad_request(
                        "invalid_selection",
                        "name the packages to copy (packages or query), or a from_snapshot",
                    ));
                }
                candidates
            }
            (Some(q), true) => {
                if q.name.is_none()
                    && q.version.is_none()
                    && q.section.is_none()
                    && q.variant.is_none()
                {
                    return Err(Error::bad_request(
                        "invalid_selection",
                        "the query names no field",
                    ));
                }
                let name = q.name.as_deref().map(|n| self.provider.canonical_name(n));
                candidates
                    .into_iter()
                    .filter(|p| {
                        name.as_deref().is_none_or(|n| n == p.name)
                            && q.version
                                .as_deref()
                                .is_none_or(|v| self.provider.same_version(v, &p.version))
                            && q.section.as_deref().is_none_or(|s| s == p.section)
                            && q.variant.as_deref().is_none_or(|v| v == p.variant)
                    })
                    .collect()
            }
            (None, false) => {
                let mut out = Vec::new();
                for pick in &req.packages {
                    let name = self.provider.canonical_name(&pick.name);
                    let before = out.len();
                    out.extend(
                        candidates
                            .iter()
                            .filter(|p| {
                                p.name == name
                                    && pick
                                        .version
                                        .as_deref()
                                        .is_none_or(|v| self.provider.same_version(v, &p.version))
                                    && pick.variant.as_deref().is_none_or(|v| v == p.variant)
                            })
                            .cloned(),
                    );
                    if out.len() == before {
                        return Err(Error::not_found(
                            "no_such_package",
                            format!(
                                "{}/{} has no {}{}{}",
                                source.info.provider,
                                source.info.name,
                                pick.name,
                                pick.version
                                    .as_deref()
                                    .map(|v| format!(" {v}"))
                                    .unwrap_or_default(),
                                req.from
                                    .section
                                    .as_deref()
                                    .map(|s| format!(" in {s}"))
                                    .unwrap_or_default(),
                            ),
                        ));
                    }
                }
                out.sort_by_key(|p| p.id);
                out.dedup_by_key(|p| p.id);
                out
            }
        };
        if chosen.is_empty() {
            return Err(Error::not_found(
                "no_such_package",
                "nothing matches the selection",
            ));
        }
        Ok(chosen)
    }

    /// The destination rows for `chosen`, and the blobs their files are.
    fn plan(
        &self,
        chosen: &[PackageRecord],
        to_section: Option<&str>,
    ) -> Result<(Vec<NewPackage>, Vec<UploadedFile>)> {
        let mut packages = Vec::with_capacity(chosen.len());
        let mut blobs = Vec::new();
        for p in chosen {
            let section = to_section.unwrap_or(&p.section).to_owned();
            let mut files = Vec::with_capacity(p.files.len());
            for f in &p.files {
                let path = self.provider.relocate(&f.path, &p.section, &section)?;
                artifactd_provider_api::validate_relative_path(&path)
                    .map_err(|e| Error::Internal(format!("relocated to a bad path: {e}")))?;
                files.push(NewFile {
                    upload: blobs.len(),
                    filename: f.filename.clone(),
                    path,
                    content_type: f.content_type.clone(),
                    metadata: f.metadata.value(),
                });
                blobs.push(UploadedFile {
                    filename: f.filename.clone(),
                    path: PathBuf::new(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                });
            }
            packages.push(NewPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                section,
                variant: p.variant.clone(),
                metadata: p.metadata.value(),
                files,
                derived: Vec::new(),
            });
        }
        Ok((packages, blobs))
    }

    /// Copies (or moves) what `req` selects from `source`. Conflicts are
    /// 409 and change nothing; `dry_run` says what would happen.
    pub async fn run(
        &self,
        source: &Arc<RepoState>,
        req: &CopyRequest,
        mode: Mode,
        by: &str,
    ) -> Result<CopyOutcome> {
        if mode == Mode::Move && req.from_snapshot.is_some() {
            return Err(Error::bad_request(
                "invalid_selection",
                "a snapshot cannot be moved out of; copy from it",
            ));
        }
        let dest_name = req
            .to
            .repo
            .clone()
            .unwrap_or_else(|| source.info.name.clone());
        crate::upload::validate_repo_name(&dest_name)?;
        let same_repo = dest_name == source.info.name;
        let chosen = self.select(source, req).await?;
        if same_repo
            && chosen
                .iter()
                .any(|p| req.to.section.as_deref().is_none_or(|s| s == p.section))
        {
            return Err(Error::bad_request(
                "same_place",
                "the destination is where the packages already are; give another section or repo",
            ));
        }
        let (packages, blobs) = self.plan(&chosen, req.to.section.as_deref())?;
        let dest_row = self.db.find_repo(&source.info.provider, &dest_name).await?;
        let mut outcome = CopyOutcome {
            mode,
            dry_run: req.dry_run,
            to: To {
                repo: Some(dest_name.clone()),
                section: req.to.section.clone(),
            },
            copied: Vec::new(),
            unchanged: Vec::new(),
            removed: if mode == Mode::Move {
                chosen.iter().map(id_of).collect()
            } else {
                Vec::new()
            },
            publications: Vec::new(),
        };
        let ids_of = |pkgs: &[NewPackage], pick: &dyn Fn(usize) -> bool| -> Vec<PackageId> {
            pkgs.iter()
                .enumerate()
                .filter(|(i, _)| pick(*i))
                .map(|(_, p)| PackageId {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    section: p.section.clone(),
                    variant: p.variant.clone(),
                })
                .collect()
        };
        if req.dry_run {
            let existing = match &dest_row {
                Some(row) => self.db.list_packages(row.id).await?,
                None => Vec::new(),
            };
            let mut same = vec![false; packages.len()];
            for (i, p) in packages.iter().enumerate() {
                let Some(old) = existing.iter().find(|e| {
                    e.name == p.name
                        && e.version == p.version
                        && e.section == p.section
                        && e.variant == p.variant
                }) else {
                    continue;
                };
                let mut all_there = true;
                for f in &p.files {
                    match old.files.iter().find(|o| o.filename == f.filename) {
                        Some(o) if o.sha256 != blobs[f.upload].sha256 => {
                            return Err(Error::conflict(
                                "file_exists",
                                format!(
                                    "{dest_name} already has {} {} with other {}",
                                    p.name, p.version, f.filename
                                ),
                            ));
                        }
                        Some(_) => {}
                        None => all_there = false,
                    }
                }
                same[i] = all_there;
            }
            if let Some(row) = &dest_row {
                let wanted: Vec<(String, String)> = packages
                    .iter()
                    .flat_map(|p| {
                        p.files
                            .iter()
                            .map(|f| (f.path.clone(), blobs[f.upload].sha256.clone()))
                    })
                    .collect();
                if let Some(path) = self.db.conflicting_paths(row.id, &wanted).await?.first() {
                    return Err(Error::conflict(
                        "file_exists",
                        format!("{dest_name} already stores {path} with other content"),
                    ));
                }
            }
            outcome.copied = ids_of(&packages, &|i| !same[i]);
            outcome.unchanged = ids_of(&packages, &|i| same[i]);
            return Ok(outcome);
        }

        let dest_row = match dest_row {
            Some(row) => row,
            None => {
                self.db
                    .create_repo(&source.info.provider, &dest_name)
                    .await?
            }
        };
        let removal: Vec<i64> = chosen.iter().map(|p| p.id).collect();
        let copied = self
            .db
            .copy_packages(
                dest_row.id,
                by,
                &packages,
                &blobs,
                (mode == Mode::Move).then_some((source.info.id, removal.as_slice())),
            )
            .await?;
        outcome.copied = ids_of(&packages, &|i| copied.created[i]);
        outcome.unchanged = ids_of(&packages, &|i| !copied.created[i]);
        tracing::info!(
            from = %format!("{}/{}", source.info.provider, source.info.name),
            to = %format!("{}/{dest_name}", source.info.provider),
            ?mode,
            copied = outcome.copied.len(),
            by,
            "packages copied"
        );
        let dest_state = self.repos.insert(&dest_row);
        let mut to_publish = vec![(dest_state, copied.dest_seq)];
        if let Some(seq) = copied.source_seq {
            to_publish.push((source.clone(), Some(seq)));
        }
        for (state, seq) in to_publish {
            let Some(seq) = seq else { continue };
            let generation = match self.publisher.publish_and_wait(state.clone(), seq).await? {
                WaitOutcome::Published(p) => Some(p.generation),
                WaitOutcome::Failed(_) | WaitOutcome::TimedOut => None,
            };
            outcome.publications.push(Publication {
                repo: state.info.name.clone(),
                generation,
            });
        }
        Ok(outcome)
    }
}
