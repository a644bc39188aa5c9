//! Queries on repository rows: lookup and creation, settings, the
//! `change_seq` a publish waits for, and the publish lease that lets one
//! instance at a time build a repository's index set.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait};

use super::entities::repo;
use super::{Db, bump_change_seq, now_ms};
use crate::error::{Error, Result};

impl Db {
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
            .exec(&self.quick)
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
            .exec(&self.quick)
            .await?;
        Ok(())
    }

    /// Repositories with committed changes not yet in their current index set.
    pub async fn unpublished_repos(&self) -> Result<Vec<repo::Model>> {
        Ok(repo::Entity::find()
            .filter(Expr::col(repo::Column::PublishedSeq).lt(Expr::col(repo::Column::ChangeSeq)))
            .all(&self.conn)
            .await?)
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
}
