//! Queries on packages and their files: the upload transaction, the
//! change feed a publish renders from, listing, and the deletions and yanks
//! that bump a package's `seq`. `write_packages` is shared with the copy
//! transaction in `copy.rs`.

use artifactd_provider_api::{FileRecord, Metadata, NewPackage, PackageRecord, UploadedFile};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, SqlErr, TransactionTrait,
};

use super::entities::{file, package};
use super::{Db, FileOutcome, bump_change_seq, now_ms};
use crate::error::{Error, Result};

/// Result of [`Db::commit_upload`].
#[derive(Debug)]
pub struct Committed {
    /// The repository's `change_seq` that includes this upload.
    pub seq: i64,
    /// One outcome per (package, file) in the order given.
    pub outcomes: Vec<Vec<FileOutcome>>,
    pub package_ids: Vec<i64>,
    /// Whether the transaction also ended the upload's blob claims.
    pub released: bool,
}

impl Db {
    /// Paths in `paths` already stored in the repository with other bytes.
    pub async fn conflicting_paths(
        &self,
        repo_id: i64,
        wanted: &[(String, String)],
    ) -> Result<Vec<String>> {
        let mut conflicts = Vec::new();
        for chunk in wanted.chunks(200) {
            let rows = file::Entity::find()
                .filter(file::Column::RepoId.eq(repo_id))
                .filter(file::Column::Path.is_in(chunk.iter().map(|(p, _)| p.clone())))
                .all(&self.conn)
                .await?;
            for row in rows {
                if chunk
                    .iter()
                    .any(|(p, sha)| *p == row.path && *sha != row.sha256)
                {
                    conflicts.push(row.path);
                }
            }
        }
        Ok(conflicts)
    }

    /// Records an upload in one transaction: all rows or none.
    ///
    /// Fails with 409 if a file of the same package and name, or the same path
    /// in the repository, holds other bytes. If every file was already there,
    /// nothing is written and `seq` is the repository's current `change_seq`.
    ///
    /// `claims` (blobs, holder): the upload's blob claims, ended in the same
    /// transaction when it commits (one durable write fewer per upload).
    pub async fn commit_upload(
        &self,
        repo_id: i64,
        uploader: &str,
        packages: &[NewPackage],
        uploads: &[UploadedFile],
        claims: Option<(&[String], &str)>,
    ) -> Result<Committed> {
        let txn = self.conn.begin().await?;
        // First statement is a write: it takes the repository row lock (and
        // SQLite's write lock) before anything is read.
        let seq = bump_change_seq(&txn, repo_id).await?;
        let (changed, outcomes, package_ids) =
            write_packages(&txn, repo_id, seq, uploader, packages, uploads).await?;
        if changed {
            if let Some((blobs, holder)) = claims {
                super::blobs::release_pins(&txn, blobs, holder).await?;
            }
            txn.commit().await?;
            Ok(Committed {
                seq,
                outcomes,
                package_ids,
                released: claims.is_some(),
            })
        } else {
            txn.rollback().await?;
            Ok(Committed {
                seq: seq - 1,
                outcomes,
                package_ids,
                released: false,
            })
        }
    }

    /// Packages (live and deleted) whose `seq` lies in `(after, upto]`, with files.
    /// Rows are streamed into models (a collected query would hold every
    /// row twice, as raw rows and as models), the stream ends before any
    /// file query (so a call never holds one pooled connection while it
    /// waits for another), and models become records 500 at a time, their
    /// strings moved.
    pub async fn package_changes(
        &self,
        repo_id: i64,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(PackageRecord, bool)>> {
        use futures_util::TryStreamExt;
        let rows: Vec<package::Model> = package::Entity::find()
            .filter(package::Column::RepoId.eq(repo_id))
            .filter(package::Column::Seq.gt(after))
            .filter(package::Column::Seq.lte(upto))
            .stream(&self.conn)
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<package::Model> = rows.by_ref().take(500).collect();
            self.with_files(batch, &mut out).await?;
        }
        Ok(out)
    }

    /// Turns package rows into records with their files, onto `out`.
    async fn with_files(
        &self,
        rows: Vec<package::Model>,
        out: &mut Vec<(PackageRecord, bool)>,
    ) -> Result<()> {
        let mut files: std::collections::HashMap<i64, Vec<FileRecord>> = Default::default();
        let ids: Vec<i64> = rows.iter().filter(|r| !r.deleted).map(|r| r.id).collect();
        if !ids.is_empty() {
            for f in file::Entity::find()
                .filter(file::Column::PackageId.is_in(ids))
                .all(&self.conn)
                .await?
            {
                files.entry(f.package_id).or_default().push(FileRecord {
                    filename: f.filename,
                    path: f.path,
                    sha256: f.sha256,
                    size: f.size as u64,
                    content_type: f.content_type,
                    metadata: Metadata::from_json(f.metadata),
                    uploaded_at: f.uploaded_at,
                });
            }
        }
        out.extend(rows.into_iter().map(|r| {
            let deleted = r.deleted;
            let record = PackageRecord {
                files: files.remove(&r.id).unwrap_or_default(),
                id: r.id,
                seq: r.seq,
                name: r.name,
                version: r.version,
                section: r.section,
                variant: r.variant,
                metadata: Metadata::from_json(r.metadata),
                uploaded_at: r.uploaded_at,
                uploader: r.uploader,
                yanked: r.yanked,
            };
            (record, deleted)
        }));
        Ok(())
    }

    /// Live packages of a repository, with files, ordered by name then id.
    pub async fn list_packages(&self, repo_id: i64) -> Result<Vec<PackageRecord>> {
        let mut packages: Vec<PackageRecord> = self
            .package_changes(repo_id, i64::MIN, i64::MAX)
            .await?
            .into_iter()
            .filter_map(|(p, deleted)| (!deleted).then_some(p))
            .collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(packages)
    }

    /// Marks deleted every live package `name` of a repository that `pick`
    /// selects. `None` (and nothing changed) if it selects none.
    pub async fn delete_packages(
        &self,
        repo_id: i64,
        name: &str,
        pick: &(dyn Fn(&package::Model) -> bool + Sync),
    ) -> Result<Option<(i64, Vec<package::Model>)>> {
        self.update_packages(repo_id, name, pick, |q| {
            q.col_expr(package::Column::Deleted, Expr::value(true))
        })
        .await
    }

    /// Yanks (`reason` is `Some`) or unyanks every live package `name` of a
    /// repository that `pick` selects. `None` if it selects none.
    pub async fn set_yanked(
        &self,
        repo_id: i64,
        name: &str,
        pick: &(dyn Fn(&package::Model) -> bool + Sync),
        reason: Option<&str>,
    ) -> Result<Option<(i64, Vec<package::Model>)>> {
        let reason = reason.map(str::to_owned);
        self.update_packages(repo_id, name, pick, move |q| {
            q.col_expr(package::Column::Yanked, Expr::value(reason))
        })
        .await
    }

    /// One transaction: selects live packages `name` by `pick`, applies
    /// `set` to them and bumps their `seq`.
    async fn update_packages(
        &self,
        repo_id: i64,
        name: &str,
        pick: &(dyn Fn(&package::Model) -> bool + Sync),
        set: impl FnOnce(sea_orm::UpdateMany<package::Entity>) -> sea_orm::UpdateMany<package::Entity>,
    ) -> Result<Option<(i64, Vec<package::Model>)>> {
        let txn = self.conn.begin().await?;
        let seq = bump_change_seq(&txn, repo_id).await?;
        let rows: Vec<package::Model> = package::Entity::find()
            .filter(package::Column::RepoId.eq(repo_id))
            .filter(package::Column::Name.eq(name))
            .filter(package::Column::Deleted.eq(false))
            .all(&txn)
            .await?
            .into_iter()
            .filter(|r| pick(r))
            .collect();
        if rows.is_empty() {
            txn.rollback().await?;
            return Ok(None);
        }
        set(package::Entity::update_many())
            .col_expr(package::Column::Seq, Expr::value(seq))
            .filter(package::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some((seq, rows)))
    }
}

/// Writes `packages` into a repository inside `txn`, whose `seq` the caller
/// bumped: new rows, or files added to existing ones; 409 if a file of the
/// same package and name, or the same path in the repository, holds other
/// bytes. Returns whether anything changed, and per package its file
/// outcomes and id.
pub(crate) async fn write_packages(
    txn: &sea_orm::DatabaseTransaction,
    repo_id: i64,
    seq: i64,
    uploader: &str,
    packages: &[NewPackage],
    uploads: &[UploadedFile],
) -> Result<(bool, Vec<Vec<FileOutcome>>, Vec<i64>)> {
    let now = now_ms();
    let mut changed = false;
    let mut outcomes = Vec::with_capacity(packages.len());
    let mut package_ids = Vec::with_capacity(packages.len());

    for pkg in packages {
        let existing = package::Entity::find()
            .filter(package::Column::RepoId.eq(repo_id))
            .filter(package::Column::Section.eq(&pkg.section))
            .filter(package::Column::Name.eq(&pkg.name))
            .filter(package::Column::Version.eq(&pkg.version))
            .filter(package::Column::Variant.eq(&pkg.variant))
            .one(txn)
            .await?;
        let metadata = pkg.metadata.to_string();
        let (package_id, old_files) = match existing {
            Some(row) if !row.deleted => {
                let files = file::Entity::find()
                    .filter(file::Column::PackageId.eq(row.id))
                    .all(txn)
                    .await?;
                (row.id, files)
            }
            Some(row) => {
                // Re-upload of a deleted version: start it afresh.
                file::Entity::delete_many()
                    .filter(file::Column::PackageId.eq(row.id))
                    .exec(txn)
                    .await?;
                let id = row.id;
                let mut active: package::ActiveModel = row.into();
                active.metadata = Set(metadata.clone());
                active.uploaded_at = Set(now);
                active.uploader = Set(uploader.to_owned());
                active.deleted = Set(false);
                active.yanked = Set(None);
                active.seq = Set(seq);
                active.update(txn).await?;
                changed = true;
                (id, Vec::new())
            }
            None => {
                let row = package::ActiveModel {
                    repo_id: Set(repo_id),
                    name: Set(pkg.name.clone()),
                    version: Set(pkg.version.clone()),
                    section: Set(pkg.section.clone()),
                    variant: Set(pkg.variant.clone()),
                    metadata: Set(metadata.clone()),
                    uploaded_at: Set(now),
                    uploader: Set(uploader.to_owned()),
                    seq: Set(seq),
                    deleted: Set(false),
                    ..Default::default()
                };
                let id = package::Entity::insert(row).exec(txn).await?.last_insert_id;
                changed = true;
                (id, Vec::new())
            }
        };
        package_ids.push(package_id);

        let mut pkg_outcomes = Vec::with_capacity(pkg.files.len());
        let mut added_file = false;
        for nf in &pkg.files {
            let up = &uploads[nf.upload];
            if let Some(old) = old_files.iter().find(|f| f.filename == nf.filename) {
                if old.sha256 != up.sha256 {
                    return Err(Error::conflict(
                        "file_exists",
                        format!(
                            "{} {} already has {} with other content (sha256 {})",
                            pkg.name, pkg.version, nf.filename, old.sha256
                        ),
                    ));
                }
                pkg_outcomes.push(FileOutcome::Exists);
                continue;
            }
            let same_path = file::Entity::find()
                .filter(file::Column::RepoId.eq(repo_id))
                .filter(file::Column::Path.eq(&nf.path))
                .one(txn)
                .await?;
            if let Some(other) = same_path
                && other.sha256 != up.sha256
            {
                return Err(Error::conflict(
                    "file_exists",
                    format!(
                        "{} is already stored with other content (sha256 {})",
                        nf.path, other.sha256
                    ),
                ));
            }
            file::ActiveModel {
                package_id: Set(package_id),
                repo_id: Set(repo_id),
                filename: Set(nf.filename.clone()),
                path: Set(nf.path.clone()),
                sha256: Set(up.sha256.clone()),
                size: Set(up.size as i64),
                content_type: Set(nf.content_type.clone()),
                metadata: Set(nf.metadata.to_string()),
                uploaded_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
                    "file_exists",
                    format!("{} {} already has {}", pkg.name, pkg.version, nf.filename),
                ),
                _ => e.into(),
            })?;
            pkg_outcomes.push(FileOutcome::Created);
            added_file = true;
        }
        if added_file {
            package::Entity::update_many()
                .col_expr(package::Column::Seq, Expr::value(seq))
                .filter(package::Column::Id.eq(package_id))
                .exec(txn)
                .await?;
            changed = true;
        }
        outcomes.push(pkg_outcomes);
    }

    Ok((changed, outcomes, package_ids))
}
