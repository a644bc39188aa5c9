//! The metadata store: repositories, packages, files, tokens and published
//! index sets, through sea-orm on SQLite or MariaDB/MySQL.
//!
//! Concurrency rests on two row-level rules, valid on both databases:
//! - every transaction that changes a repository's packages starts by bumping
//!   `repos.change_seq`, which takes the repository row's write lock, so such
//!   transactions are serialised per repository and each gets its own `seq`;
//! - the current index set is switched by a compare-and-swap on
//!   `repos.generation` by the holder of the publish lease.

use std::time::Duration;

use artifactd_provider_api::{FileRecord, NewPackage, PackageRecord, UploadedFile};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::error::{Error, Result};

mod blobs;
mod conn;
mod copy;
pub mod entities;
mod history;
mod migration;

pub use blobs::Claim;
pub use conn::{Failure, classify};
pub use copy::Copied;
pub use history::{Expect, Ref};

use entities::{file, index_set, package, repo, signing_key, token};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Bumps a repository's `change_seq` inside `txn` and returns the new value.
/// Being a write, it takes the repository row's lock first thing, which is
/// what serialises package changes per repository.
async fn bump_change_seq(txn: &sea_orm::DatabaseTransaction, repo_id: i64) -> Result<i64> {
    repo::Entity::update_many()
        .col_expr(
            repo::Column::ChangeSeq,
            Expr::col(repo::Column::ChangeSeq).add(1),
        )
        .filter(repo::Column::Id.eq(repo_id))
        .exec(txn)
        .await?;
    Ok(repo::Entity::find_by_id(repo_id)
        .one(txn)
        .await?
        .ok_or_else(|| Error::not_found("repo_not_found", "repository vanished"))?
        .change_seq)
}

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
}

/// What one upload transaction did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    Created,
    /// The identical file was already there.
    Exists,
}

/// Result of [`Db::commit_upload`].
#[derive(Debug)]
pub struct Committed {
    /// The repository's `change_seq` that includes this upload.
    pub seq: i64,
    /// One outcome per (package, file) in the order given.
    pub outcomes: Vec<Vec<FileOutcome>>,
    pub package_ids: Vec<i64>,
}

impl Db {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        let opts = conn::options(url);
        let conn = Database::connect(opts).await?;
        if conn.get_database_backend() == DatabaseBackend::Sqlite {
            // WAL lets readers proceed while one writer commits; the setting
            // is stored in the file, so once per start is enough.
            conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        // Two instances starting together may race on the migration table;
        // the loser retries once the winner is done.
        let mut attempt = 0;
        loop {
            match migration::Migrator::up(&conn, None).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, "migration failed, retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Db { conn })
    }

    /// The connection itself, for tests that set up odd states.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    pub async fn ping(&self) -> Result<()> {
        self.conn.ping().await.map_err(Error::from)
    }

    /// A real, durable write: rewrites this instance's row in
    /// `health_probes`, which fails when the database cannot write.
    pub async fn probe_write(&self, instance: &str) -> Result<()> {
        use sea_orm::sea_query::{Alias, OnConflict, Query};
        let (instance_col, at_col) = (Alias::new("instance"), Alias::new("at"));
        let stmt = Query::insert()
            .into_table(Alias::new("health_probes"))
            .columns([instance_col.clone(), at_col.clone()])
            .values_panic([instance.into(), now_ms().into()])
            .on_conflict(
                OnConflict::column(instance_col)
                    .update_column(at_col)
                    .to_owned(),
            )
            .to_owned();
        self.conn.execute(&stmt).await?;
        Ok(())
    }

    // ---- repositories ----

    pub async fn find_repo(&self, provider: &str, name: &str) -> Result<Option<repo::Model>> {
        Ok(repo::Entity::find()
            .filter(repo::Column::Provider.eq(provider))
            .filter(repo::Column::Name.eq(name))
            .one(&self.conn)
            .await?)
    }

    pub async fn repo_by_id(&self, id: i64) -> Result<repo::Model> {
        repo::Entity::find_by_id(id)
            .one(&self.conn)
            .await?
            .ok_or_else(|| Error::not_found("repo_not_found", format!("repository {id} vanished")))
    }

    pub async fn list_repos(&self) -> Result<Vec<repo::Model>> {
        Ok(repo::Entity::find()
            .order_by_asc(repo::Column::Provider)
            .order_by_asc(repo::Column::Name)
            .all(&self.conn)
            .await?)
    }

    /// Creates a repository, or returns the one another request created first.
    pub async fn create_repo(&self, provider: &str, name: &str) -> Result<repo::Model> {
        let row = repo::ActiveModel {
            provider: Set(provider.to_owned()),
            name: Set(name.to_owned()),
            settings: Set("{}".into()),
            created_at: Set(now_ms()),
            change_seq: Set(0),
            published_seq: Set(0),
            generation: Set(0),
            current_set: Set(None),
            lease_owner: Set(None),
            lease_until: Set(0),
            ..Default::default()
        };
        let inserted = repo::Entity::insert(row).exec(&self.conn).await;
        match inserted {
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
            Err(e) => return Err(e.into()),
        }
        self.find_repo(provider, name)
            .await?
            .ok_or_else(|| Error::Internal("repository vanished after creation".into()))
    }

    // ---- packages ----

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
    pub async fn commit_upload(
        &self,
        repo_id: i64,
        uploader: &str,
        packages: &[NewPackage],
        uploads: &[UploadedFile],
    ) -> Result<Committed> {
        let txn = self.conn.begin().await?;
        // First statement is a write: it takes the repository row lock (and
        // SQLite's write lock) before anything is read.
        let seq = bump_change_seq(&txn, repo_id).await?;
        let (changed, outcomes, package_ids) =
            write_packages(&txn, repo_id, seq, uploader, packages, uploads).await?;
        if changed {
            txn.commit().await?;
            Ok(Committed {
                seq,
                outcomes,
                package_ids,
            })
        } else {
            txn.rollback().await?;
            Ok(Committed {
                seq: seq - 1,
                outcomes,
                package_ids,
            })
        }
    }

    /// Packages (live and deleted) whose `seq` lies in `(after, upto]`, with files.
    pub async fn package_changes(
        &self,
        repo_id: i64,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(PackageRecord, bool)>> {
        let rows = package::Entity::find()
            .filter(package::Column::RepoId.eq(repo_id))
            .filter(package::Column::Seq.gt(after))
            .filter(package::Column::Seq.lte(upto))
            .all(&self.conn)
            .await?;
        let mut files: std::collections::HashMap<i64, Vec<FileRecord>> = Default::default();
        let ids: Vec<i64> = rows.iter().filter(|r| !r.deleted).map(|r| r.id).collect();
        for chunk in ids.chunks(500) {
            for f in file::Entity::find()
                .filter(file::Column::PackageId.is_in(chunk.iter().copied()))
                .all(&self.conn)
                .await?
            {
                files.entry(f.package_id).or_default().push(FileRecord {
                    filename: f.filename,
                    path: f.path,
                    sha256: f.sha256,
                    size: f.size as u64,
                    content_type: f.content_type,
                    metadata: serde_json::from_str(&f.metadata).unwrap_or_default(),
                    uploaded_at: f.uploaded_at,
                });
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let deleted = r.deleted;
                let record = PackageRecord {
                    files: files.remove(&r.id).unwrap_or_default(),
                    id: r.id,
                    seq: r.seq,
                    name: r.name,
                    version: r.version,
                    section: r.section,
                    variant: r.variant,
                    metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
                    uploaded_at: r.uploaded_at,
                    uploader: r.uploader,
                    yanked: r.yanked,
                };
                (record, deleted)
            })
            .collect())
    }

    // ---- publishing ----

    /// Takes (or renews) the publish lease of a repository.
    pub async fn try_lease(&self, repo_id: i64, owner: &str, lease: Duration) -> Result<bool> {
        let now = now_ms();
        let res = repo::Entity::update_many()
            .col_expr(repo::Column::LeaseOwner, Expr::value(owner))
            .col_expr(
                repo::Column::LeaseUntil,
                Expr::value(now + lease.as_millis() as i64),
            )
            .filter(repo::Column::Id.eq(repo_id))
            .filter(
                repo::Column::LeaseOwner
                    .is_null()
                    .or(repo::Column::LeaseUntil.lt(now))
                    .or(repo::Column::LeaseOwner.eq(owner)),
            )
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    pub async fn release_lease(&self, repo_id: i64, owner: &str) -> Result<()> {
        repo::Entity::update_many()
            .col_expr(
                repo::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(repo::Column::LeaseUntil, Expr::value(0i64))
            .filter(repo::Column::Id.eq(repo_id))
            .filter(repo::Column::LeaseOwner.eq(owner))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Records a new index set and makes it current, if `owner` still holds
    /// the lease and nobody published since generation `from_generation`;
    /// releases the lease on success.
    /// Returns the new set's row, or `None` if the swap lost.
    pub async fn flip_index_set(
        &self,
        repo_id: i64,
        owner: &str,
        from_generation: i64,
        covers_seq: i64,
        root: String,
        packages: usize,
    ) -> Result<Option<index_set::Model>> {
        let txn = self.conn.begin().await?;
        let now = now_ms();
        let generation = from_generation + 1;
        let swapped = repo::Entity::update_many()
            .col_expr(repo::Column::Generation, Expr::value(generation))
            .col_expr(repo::Column::PublishedSeq, Expr::value(covers_seq))
            // The flip releases the lease in the same statement, so an
            // instance that dies right after publishing blocks nobody.
            .col_expr(
                repo::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(repo::Column::LeaseUntil, Expr::value(0i64))
            .filter(repo::Column::Id.eq(repo_id))
            .filter(repo::Column::Generation.eq(from_generation))
            .filter(repo::Column::LeaseOwner.eq(owner))
            .exec(&txn)
            .await?;
        if swapped.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        let set = index_set::ActiveModel {
            repo_id: Set(repo_id),
            generation: Set(generation),
            covers_seq: Set(covers_seq),
            created_at: Set(now),
            superseded_at: Set(None),
            manifest: Set(String::new()),
            root: Set(Some(root)),
            packages: Set(packages as i64),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        repo::Entity::update_many()
            .col_expr(repo::Column::CurrentSet, Expr::value(set.id))
            .filter(repo::Column::Id.eq(repo_id))
            .exec(&txn)
            .await?;
        // Only the set this one replaces can be unsuperseded: a point update.
        index_set::Entity::update_many()
            .col_expr(index_set::Column::SupersededAt, Expr::value(now))
            .filter(index_set::Column::RepoId.eq(repo_id))
            .filter(index_set::Column::Generation.eq(from_generation))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(set))
    }

    fn live_sets_query(repo_id: i64, grace: Duration) -> sea_orm::Select<index_set::Entity> {
        let cutoff = now_ms() - grace.as_millis() as i64;
        index_set::Entity::find()
            .filter(index_set::Column::RepoId.eq(repo_id))
            .filter(
                index_set::Column::SupersededAt
                    .is_null()
                    .or(index_set::Column::SupersededAt.gt(cutoff)),
            )
            .order_by_desc(index_set::Column::Generation)
    }

    /// The current index set and those superseded less than `grace` ago
    /// whose generation is above `after`, newest first.
    pub async fn live_index_sets(
        &self,
        repo_id: i64,
        grace: Duration,
        after: i64,
    ) -> Result<Vec<index_set::Model>> {
        Ok(Self::live_sets_query(repo_id, grace)
            .filter(index_set::Column::Generation.gt(after))
            .all(&self.conn)
            .await?)
    }

    /// The generations of the live index sets, newest first, without their
    /// (possibly large) manifests.
    pub async fn live_generations(&self, repo_id: i64, grace: Duration) -> Result<Vec<i64>> {
        Ok(Self::live_sets_query(repo_id, grace)
            .select_only()
            .column(index_set::Column::Generation)
            .into_tuple::<i64>()
            .all(&self.conn)
            .await?)
    }

    /// Deletes index sets superseded more than `grace` ago; returns how many.
    pub async fn expire_index_sets(&self, repo_id: i64, grace: Duration) -> Result<u64> {
        let cutoff = now_ms() - grace.as_millis() as i64;
        let res = index_set::Entity::delete_many()
            .filter(index_set::Column::RepoId.eq(repo_id))
            .filter(index_set::Column::SupersededAt.lte(cutoff))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected)
    }

    /// Repositories with committed changes not yet in their current index set.
    pub async fn unpublished_repos(&self) -> Result<Vec<repo::Model>> {
        Ok(repo::Entity::find()
            .filter(Expr::col(repo::Column::PublishedSeq).lt(Expr::col(repo::Column::ChangeSeq)))
            .all(&self.conn)
            .await?)
    }

    // ---- listing ----

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

    pub async fn set_repo_settings(
        &self,
        repo_id: i64,
        settings: &serde_json::Value,
    ) -> Result<()> {
        repo::Entity::update_many()
            .col_expr(repo::Column::Settings, Expr::value(settings.to_string()))
            .filter(repo::Column::Id.eq(repo_id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Bumps the repository's `change_seq` without changing packages, so the
    /// next publish re-renders (new keys, new settings). Returns the new seq.
    pub async fn touch_repo(&self, repo_id: i64) -> Result<i64> {
        let txn = self.conn.begin().await?;
        let seq = bump_change_seq(&txn, repo_id).await?;
        txn.commit().await?;
        Ok(seq)
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

    // ---- signing keys ----

    /// Keys that sign now (not retired), oldest first.
    pub async fn active_signing_keys(&self, repo_id: i64) -> Result<Vec<signing_key::Model>> {
        let now = now_ms();
        Ok(signing_key::Entity::find()
            .filter(signing_key::Column::RepoId.eq(repo_id))
            .filter(
                signing_key::Column::RetireAt
                    .is_null()
                    .or(signing_key::Column::RetireAt.gt(now)),
            )
            .order_by_asc(signing_key::Column::Id)
            .all(&self.conn)
            .await?)
    }

    pub async fn list_signing_keys(&self, repo_id: i64) -> Result<Vec<signing_key::Model>> {
        Ok(signing_key::Entity::find()
            .filter(signing_key::Column::RepoId.eq(repo_id))
            .order_by_asc(signing_key::Column::Id)
            .all(&self.conn)
            .await?)
    }

    /// Repositories with a key that retired after their current index set
    /// was built (within the last day): their indices still carry it.
    pub async fn repos_with_retired_keys(&self) -> Result<Vec<repo::Model>> {
        let now = now_ms();
        let keys = signing_key::Entity::find()
            .filter(signing_key::Column::RetireAt.lte(now))
            .filter(signing_key::Column::RetireAt.gt(now - 24 * 3600 * 1000))
            .all(&self.conn)
            .await?;
        let mut out: Vec<repo::Model> = Vec::new();
        for key in keys {
            if out.iter().any(|r| r.id == key.repo_id) {
                continue;
            }
            let Some(repo) = repo::Entity::find_by_id(key.repo_id)
                .one(&self.conn)
                .await?
            else {
                continue;
            };
            let built = match repo.current_set {
                Some(id) => index_set::Entity::find_by_id(id)
                    .one(&self.conn)
                    .await?
                    .map_or(0, |s| s.created_at),
                None => 0,
            };
            if built < key.retire_at.unwrap_or(0) {
                out.push(repo);
            }
        }
        Ok(out)
    }

    /// Adds a key; the keys active until now keep signing until `retire_at`
    /// (a rotation's transition period). 409 if the repository has the key.
    pub async fn add_signing_key(
        &self,
        repo_id: i64,
        key: &crate::signing::NewKey,
        retire_others_at: Option<i64>,
    ) -> Result<signing_key::Model> {
        let txn = self.conn.begin().await?;
        if let Some(at) = retire_others_at {
            signing_key::Entity::update_many()
                .col_expr(signing_key::Column::RetireAt, Expr::value(at))
                .filter(signing_key::Column::RepoId.eq(repo_id))
                .filter(
                    signing_key::Column::RetireAt
                        .is_null()
                        .or(signing_key::Column::RetireAt.gt(at)),
                )
                .exec(&txn)
                .await?;
        }
        let row = signing_key::ActiveModel {
            repo_id: Set(repo_id),
            fingerprint: Set(key.fingerprint.clone()),
            algorithm: Set(key.algorithm.clone()),
            secret: Set(key.secret_armored.clone()),
            created_at: Set(now_ms()),
            retire_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
                "key_exists",
                format!("the repository already has key {}", key.fingerprint),
            ),
            _ => e.into(),
        })?;
        txn.commit().await?;
        Ok(row)
    }

    // ---- tokens ----

    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<token::Model>> {
        Ok(token::Entity::find()
            .filter(token::Column::Hash.eq(hash))
            .one(&self.conn)
            .await?)
    }

    /// Inserts a token; `Ok(None)` if the name is taken.
    pub async fn insert_token(
        &self,
        name: &str,
        hash: &str,
        scopes: &[String],
    ) -> Result<Option<token::Model>> {
        let row = token::ActiveModel {
            name: Set(name.to_owned()),
            hash: Set(hash.to_owned()),
            scopes: Set(serde_json::to_string(scopes).expect("strings serialise")),
            created_at: Set(now_ms()),
            ..Default::default()
        };
        match row.insert(&self.conn).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_tokens(&self) -> Result<Vec<token::Model>> {
        Ok(token::Entity::find()
            .order_by_asc(token::Column::Id)
            .all(&self.conn)
            .await?)
    }

    pub async fn delete_token(&self, id: i64) -> Result<bool> {
        Ok(token::Entity::delete_by_id(id)
            .exec(&self.conn)
            .await?
            .rows_affected
            == 1)
    }

    pub async fn token_named(&self, name: &str) -> Result<Option<token::Model>> {
        Ok(token::Entity::find()
            .filter(token::Column::Name.eq(name))
            .one(&self.conn)
            .await?)
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
