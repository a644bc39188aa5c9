//! Queries on published index sets: the compare-and-swap that makes a new
//! set current, the sets still live within the grace period, and the expiry
//! of older ones.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::entities::{index_set, repo};
use super::{Db, now_ms};
use crate::error::Result;

/// What a publish records about the set it makes current.
#[derive(Debug)]
pub struct NewSet {
    /// The `change_seq` it was rendered from.
    pub covers_seq: i64,
    /// Its manifest-tree root.
    pub root: String,
    pub packages: usize,
    /// Its dropped list (`gc::Dropped`), `""` if it dropped nothing.
    pub dropped: String,
}

impl Db {
    /// Records a new index set and makes it current, if `owner` still holds
    /// the lease and nobody published since generation `from_generation`;
    /// releases the lease on success.
    /// Returns the new set's row, or `None` if the swap lost.
    pub async fn flip_index_set(
        &self,
        repo_id: i64,
        owner: &str,
        from_generation: i64,
        set: NewSet,
    ) -> Result<Option<index_set::Model>> {
        let NewSet {
            covers_seq,
            root,
            packages,
            dropped,
        } = set;
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
            dropped: Set(Some(dropped)),
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
}
