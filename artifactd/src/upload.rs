//! The upload pipeline, independent of HTTP: given files already spooled to
//! local temporary files and hashed, validate them with the provider, store
//! the blobs, record the rows in one transaction and (optionally) wait for the
//! publish that makes them visible.
//!
//! Order matters for the "bad input changes nothing" rule: everything that can
//! reject the upload (provider validation, path checks, conflicts) happens
//! before any blob is written, and the rows are committed only after every
//! blob is durable, so no row ever names a missing blob.

use std::collections::BTreeMap;

use artifactd_provider_api::{
    NewPackage, UploadContext, UploadedFile, is_safe_segment, validate_relative_path,
};
use serde::Serialize;
use sha2::Digest;

use crate::app::App;
use crate::auth::Principal;
use crate::db::FileOutcome;
use crate::error::{Error, Result};
use crate::publish::{PublishFailure, WaitOutcome};
use crate::storage::StorageKey;

/// What `/addpkg` asked for, minus the files.
#[derive(Debug)]
pub struct UploadRequest {
    pub provider: String,
    pub repo: String,
    pub name: Option<String>,
    pub version: Option<String>,
    /// Provider-specific parameters.
    pub params: BTreeMap<String, String>,
    /// Answer only once the upload is published.
    pub wait: bool,
}

#[derive(Debug, Serialize)]
pub struct UploadResult {
    pub provider: String,
    pub repository: String,
    /// False when every file was already stored with the same content.
    pub created: bool,
    pub packages: Vec<StoredPackage>,
    pub publication: Publication,
}

#[derive(Debug, Serialize)]
pub struct StoredPackage {
    pub name: String,
    pub version: String,
    pub section: String,
    pub variant: String,
    pub files: Vec<StoredFile>,
}

#[derive(Debug, Serialize)]
pub struct StoredFile {
    pub filename: String,
    pub path: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub status: FileOutcome,
}

/// Which publication the upload landed in (or will land in).
#[derive(Debug, Serialize)]
pub struct Publication {
    /// The upload is in every index set whose `covers_seq` is at least this.
    pub seq: i64,
    /// The generation that contains it, once published.
    pub generation: Option<i64>,
    pub published: bool,
    /// Why the publish this upload waited for failed (the upload itself is
    /// committed and will be published once the cause is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<PublishFailure>,
}

impl Publication {
    fn waited(seq: i64, outcome: WaitOutcome) -> Self {
        let generation = outcome.generation();
        let publish_error = match outcome {
            WaitOutcome::Failed(f) => Some(f),
            _ => None,
        };
        Publication {
            seq,
            generation,
            published: generation.is_some(),
            publish_error,
        }
    }
}

/// The rule for repository, snapshot and channel names: letters, digits,
/// `.`, `_`, `-`, starting with a letter or digit; 1..=128 long (so `@` and
/// `/` never appear in one).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Checks a repository name ([`is_valid_name`]).
pub fn validate_repo_name(name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_repo_name",
            format!(
                "repository name {name:?} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

/// Checks a client file name before anything is written under it.
pub fn validate_filename(name: &str) -> Result<()> {
    if is_safe_segment(name) {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_filename",
            format!(
                "file name {name:?} must be one path segment without '/', '\\', control characters, '.' or '..'"
            ),
        ))
    }
}

/// Turns the files a provider derived from an upload into spooled files like
/// the uploaded ones (next to them), so they are stored, checked for
/// conflicts and committed by the same code.
async fn materialize_derived(
    mut packages: Vec<NewPackage>,
    mut files: Vec<UploadedFile>,
) -> Result<(Vec<NewPackage>, Vec<UploadedFile>)> {
    let Some(dir) = files
        .first()
        .and_then(|f| f.path.parent())
        .map(std::path::Path::to_path_buf)
    else {
        return Ok((packages, files));
    };
    for p in &mut packages {
        for d in std::mem::take(&mut p.derived) {
            validate_filename(&d.filename)?;
            let path = dir.join(format!("derived-{}", files.len()));
            tokio::fs::write(&path, &d.bytes).await?;
            p.files.push(artifactd_provider_api::NewFile {
                upload: files.len(),
                filename: d.filename.clone(),
                path: d.path,
                content_type: d.content_type,
                metadata: d.metadata,
            });
            files.push(UploadedFile {
                filename: d.filename,
                path,
                size: d.bytes.len() as u64,
                sha256: hex::encode(sha2::Sha256::digest(&d.bytes)),
            });
        }
    }
    Ok((packages, files))
}

impl App {
    /// Runs an upload end to end. `files` are the spooled request files.
    pub async fn upload(
        &self,
        who: &Principal,
        req: UploadRequest,
        files: Vec<UploadedFile>,
    ) -> Result<UploadResult> {
        let provider = self.provider(&req.provider)?.clone();
        validate_repo_name(&req.repo)?;
        who.require_upload(&req.provider, &req.repo)?;
        for (what, value) in [("name", &req.name), ("version", &req.version)] {
            if let Some(v) = value
                && !is_safe_segment(v)
            {
                return Err(Error::bad_request(
                    "invalid_name",
                    format!(
                        "{what} {v:?} must be one path segment without '/', '\\' or control characters"
                    ),
                ));
            }
        }
        if files.is_empty() {
            return Err(Error::bad_request(
                "missing_file",
                "no file: send the package as multipart field \"f\"",
            ));
        }

        // A repository is created only once the upload has proved valid, so
        // a refused first upload leaves nothing behind.
        let existing = self.db.find_repo(&req.provider, &req.repo).await?;
        if existing.is_none() && !who.can_create() {
            return Err(Error::Forbidden(format!(
                "repository {}/{} does not exist and token {:?} may not create repositories",
                req.provider, req.repo, who.name
            )));
        }
        let info = match &existing {
            Some(row) => self.repos.insert(row).info.clone(),
            None => artifactd_provider_api::RepoInfo {
                id: 0,
                provider: req.provider.clone(),
                name: req.repo.clone(),
                settings: serde_json::json!({}),
            },
        };

        // Validate and extract metadata on a blocking thread.
        let packages: Vec<NewPackage> = {
            let provider = provider.clone();
            let files = files.clone();
            let (name, version, params) =
                (req.name.clone(), req.version.clone(), req.params.clone());
            tokio::task::spawn_blocking(move || {
                let ctx = UploadContext {
                    repo: &info,
                    name: name.as_deref(),
                    version: version.as_deref(),
                    params: &params,
                };
                provider.ingest(&ctx, &files)
            })
            .await??
        };
        let (packages, files) = materialize_derived(packages, files).await?;
        self.check_ingested(&req, provider.as_ref(), &packages, &files)?;

        // Refuse conflicts before touching storage.
        if let Some(row) = &existing {
            let wanted: Vec<(String, String)> = packages
                .iter()
                .flat_map(|p| &p.files)
                .map(|f| (f.path.clone(), files[f.upload].sha256.clone()))
                .collect();
            if let Some(path) = self.db.conflicting_paths(row.id, &wanted).await?.first() {
                return Err(Error::conflict(
                    "file_exists",
                    format!("{path} is already stored with other content"),
                ));
            }
        }
        let repo_row = match existing {
            Some(row) => row,
            None => self.db.create_repo(&req.provider, &req.repo).await?,
        };
        let state = self.repos.insert(&repo_row);

        // Blobs are content-addressed: store each distinct one unless present,
        // all at once, under claims that keep the collector off them until
        // the rows naming them are committed.
        let mut distinct: Vec<String> = files.iter().map(|f| f.sha256.clone()).collect();
        distinct.sort();
        distinct.dedup();
        let claims = crate::gc::Claims::take(&self.db, distinct).await?;
        let stored = async {
            let puts = files.iter().enumerate().filter_map(|(i, f)| {
                if files[..i].iter().any(|o| o.sha256 == f.sha256) {
                    return None;
                }
                let ct = packages
                    .iter()
                    .flat_map(|p| &p.files)
                    .find(|nf| nf.upload == i)
                    .map_or("application/octet-stream", |nf| nf.content_type.as_str());
                Some(async move {
                    let key = StorageKey::blob(&f.sha256);
                    if self.storage.head(&key).await? != Some(f.size) {
                        self.storage.put_file(&key, &f.path, ct).await?;
                    }
                    Ok::<(), Error>(())
                })
            });
            futures_util::future::try_join_all(puts).await?;

            self.db
                .commit_upload(
                    repo_row.id,
                    &who.name,
                    &packages,
                    &files,
                    Some(claims.pins()),
                )
                .await
        }
        .await;
        if !matches!(&stored, Ok(c) if c.released)
            && let Err(e) = claims.release(&self.db).await
        {
            // The claims lapse after `gc::CLAIM_TTL`; the upload stands.
            tracing::warn!(error = %e, "cannot release blob claims");
        }
        let committed = stored?;
        let created = committed
            .outcomes
            .iter()
            .flatten()
            .any(|o| *o == FileOutcome::Created);
        crate::health::wrote();
        if created {
            tracing::info!(
                repo = %format!("{}/{}", req.provider, req.repo),
                uploader = %who.name,
                seq = committed.seq,
                files = files.len(),
                "upload committed"
            );
        }

        let publication = if req.wait {
            let outcome = self
                .publisher
                .publish_and_wait(state.clone(), committed.seq)
                .await?;
            Publication::waited(committed.seq, outcome)
        } else {
            self.publisher.request(state.clone(), committed.seq);
            Publication::waited(committed.seq, WaitOutcome::TimedOut)
        };

        let stored = packages
            .into_iter()
            .zip(committed.outcomes)
            .map(|(p, outcomes)| StoredPackage {
                files: p
                    .files
                    .iter()
                    .zip(outcomes)
                    .map(|(nf, status)| StoredFile {
                        filename: nf.filename.clone(),
                        url: format!("/repo/{}/{}/{}", req.provider, req.repo, nf.path),
                        path: nf.path.clone(),
                        sha256: files[nf.upload].sha256.clone(),
                        size: files[nf.upload].size,
                        status,
                    })
                    .collect(),
                name: p.name,
                version: p.version,
                section: p.section,
                variant: p.variant,
            })
            .collect();
        Ok(UploadResult {
            provider: req.provider,
            repository: req.repo,
            created,
            packages: stored,
            publication,
        })
    }

    /// What the server insists on whatever the provider said.
    fn check_ingested(
        &self,
        req: &UploadRequest,
        provider: &dyn artifactd_provider_api::Provider,
        packages: &[NewPackage],
        files: &[UploadedFile],
    ) -> Result<()> {
        let mut used = vec![false; files.len()];
        for p in packages {
            if let Some(name) = &req.name
                && provider.canonical_name(name) != p.name
            {
                return Err(Error::bad_request(
                    "name_mismatch",
                    format!("name={name:?} but the package says {:?}", p.name),
                ));
            }
            if let Some(version) = &req.version
                && !provider.same_version(version, &p.version)
            {
                return Err(Error::bad_request(
                    "version_mismatch",
                    format!("version={version:?} but the package says {:?}", p.version),
                ));
            }
            for f in &p.files {
                let slot = used.get_mut(f.upload).ok_or_else(|| {
                    Error::Internal(format!(
                        "provider named upload #{} of {}",
                        f.upload,
                        files.len()
                    ))
                })?;
                *slot = true;
                validate_relative_path(&f.path)
                    .map_err(|e| Error::bad_request("invalid_path", e))?;
            }
        }
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(Error::bad_request(
                "unused_file",
                format!(
                    "{} does not belong to any package in this upload",
                    files[i].filename
                ),
            ));
        }
        Ok(())
    }
}
