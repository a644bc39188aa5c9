//! Queries on repositories' signing keys: which keys sign now, rotation
//! (adding a key and retiring the others), and the repositories whose
//! indices still carry a key that has retired.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
    TransactionTrait,
};

use super::entities::{index_set, repo, signing_key};
use super::{Db, now_ms};
use crate::error::{Error, Result};

impl Db {
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
}
