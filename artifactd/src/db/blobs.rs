//! Queries on package blobs for garbage collection: which blobs live
//! packages reference, and the pins that order uploads against the
//! collector.
//!
//! Pins are coordination state, written through the quick pool (see
//! [`super::conn::quick_options`]). Every pin change is one single-row statement (an update with its
//! condition, or an insert that the primary key makes exclusive), so both
//! databases order a claim and a doom of the same blob without
//! transactions: whichever lands first wins, and the other sees it.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait,
    Set, SqlErr,
};

use super::entities::{blob_pin, file, package};
use super::{Db, now_ms};
use crate::error::Result;

/// What claiming a blob found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Claimed until the given time: the collector leaves it alone.
    Held,
    /// The collector is deleting it; wait and claim again.
    Doomed,
}

/// The key of the row that serves as the collector's cluster-wide lease.
const SWEEP_ROW: &str = "@sweep";

impl Db {
    /// Distinct blobs that some live (not deleted) package's files name.
    pub async fn live_blobs(&self) -> Result<Vec<String>> {
        Ok(file::Entity::find()
            .select_only()
            .column(file::Column::Sha256)
            .distinct()
            .join(JoinType::InnerJoin, file::Relation::Package.def())
            .filter(package::Column::Deleted.eq(false))
            .into_tuple::<String>()
            .all(&self.conn)
            .await?)
    }

    /// Whether a live package's file names `sha256` now.
    pub async fn blob_is_live(&self, sha256: &str) -> Result<bool> {
        Ok(file::Entity::find()
            .select_only()
            .column(file::Column::Id)
            .join(JoinType::InnerJoin, file::Relation::Package.def())
            .filter(file::Column::Sha256.eq(sha256))
            .filter(package::Column::Deleted.eq(false))
            .into_tuple::<i64>()
            .one(&self.conn)
            .await?
            .is_some())
    }

    /// Claims `sha256` for `holder` until `until` (ms), unless the collector
    /// doomed it. A later claim by another upload replaces the holder, so
    /// only the last claimer's release ends the claim early.
    pub async fn claim_blob(&self, sha256: &str, holder: &str, until: i64) -> Result<Claim> {
        loop {
            let updated = blob_pin::Entity::update_many()
                .col_expr(blob_pin::Column::Holder, Expr::value(holder))
                .col_expr(blob_pin::Column::Until, Expr::value(until))
                .filter(blob_pin::Column::Sha256.eq(sha256))
                .filter(blob_pin::Column::Doomed.eq(false))
                .exec(&self.quick)
                .await?;
            if updated.rows_affected == 1 {
                return Ok(Claim::Held);
            }
            if self.insert_pin(sha256, false, holder, until).await? {
                return Ok(Claim::Held);
            }
            // A row appeared or was there: doomed, or claimed by another
            // upload since the update (then update again).
            match blob_pin::Entity::find_by_id(sha256)
                .one(&self.quick)
                .await?
            {
                Some(r) if r.doomed => return Ok(Claim::Doomed),
                _ => continue,
            }
        }
    }

    /// Ends `holder`'s claims on `blobs` (their rows now reference them).
    pub async fn release_blobs(&self, blobs: &[String], holder: &str) -> Result<()> {
        release_pins(&self.quick, blobs, holder).await
    }

    /// Marks `sha256` doomed for `holder` unless an upload's claim on it is
    /// still running. Whoever dooms a blob must delete it, then [`Db::forget_blob`] it.
    pub async fn doom_blob(&self, sha256: &str, holder: &str) -> Result<bool> {
        let now = now_ms();
        let updated = blob_pin::Entity::update_many()
            .col_expr(blob_pin::Column::Doomed, Expr::value(true))
            .col_expr(blob_pin::Column::Holder, Expr::value(holder))
            .col_expr(blob_pin::Column::Until, Expr::value(now))
            .filter(blob_pin::Column::Sha256.eq(sha256))
            .filter(blob_pin::Column::Doomed.eq(false))
            .filter(blob_pin::Column::Until.lt(now))
            .exec(&self.quick)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(true);
        }
        // Refused if claimed (or doomed by another collector) meanwhile.
        self.insert_pin(sha256, true, holder, now).await
    }

    /// Drops a doomed blob's row once its object is gone (or once it turned
    /// out to be referenced), letting uploads claim it again.
    pub async fn forget_blob(&self, sha256: &str) -> Result<()> {
        blob_pin::Entity::delete_many()
            .filter(blob_pin::Column::Sha256.eq(sha256))
            .filter(blob_pin::Column::Doomed.eq(true))
            .exec(&self.quick)
            .await?;
        Ok(())
    }

    /// Blobs doomed before `before` (ms) whose collector never finished.
    pub async fn stale_doomed_blobs(&self, before: i64) -> Result<Vec<String>> {
        Ok(blob_pin::Entity::find()
            .select_only()
            .column(blob_pin::Column::Sha256)
            .filter(blob_pin::Column::Doomed.eq(true))
            .filter(blob_pin::Column::Until.lt(before))
            .filter(blob_pin::Column::Sha256.ne(SWEEP_ROW))
            .into_tuple::<String>()
            .all(&self.conn)
            .await?)
    }

    /// Removes claims that ended (released or expired): a blob with no row
    /// is as free as one with an ended claim.
    pub async fn prune_blob_claims(&self) -> Result<u64> {
        Ok(blob_pin::Entity::delete_many()
            .filter(blob_pin::Column::Doomed.eq(false))
            .filter(blob_pin::Column::Until.lt(now_ms()))
            .filter(blob_pin::Column::Sha256.ne(SWEEP_ROW))
            .exec(&self.quick)
            .await?
            .rows_affected)
    }

    /// Takes the cluster-wide lease to sweep blobs for `secs`, if no
    /// instance holds it: at most one sweep per interval across instances.
    pub async fn try_sweep_lease(&self, owner: &str, secs: u64) -> Result<bool> {
        let now = now_ms();
        let until = now + (secs as i64) * 1000;
        let updated = blob_pin::Entity::update_many()
            .col_expr(blob_pin::Column::Holder, Expr::value(owner))
            .col_expr(blob_pin::Column::Until, Expr::value(until))
            .filter(blob_pin::Column::Sha256.eq(SWEEP_ROW))
            .filter(blob_pin::Column::Until.lt(now))
            .exec(&self.quick)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(true);
        }
        self.insert_pin(SWEEP_ROW, false, owner, until).await
    }

    /// Inserts a pin row; `false` if one exists already (the primary key
    /// makes the insert exclusive).
    async fn insert_pin(
        &self,
        sha256: &str,
        doomed: bool,
        holder: &str,
        until: i64,
    ) -> Result<bool> {
        let row = blob_pin::ActiveModel {
            sha256: Set(sha256.to_owned()),
            doomed: Set(doomed),
            holder: Set(holder.to_owned()),
            until: Set(until),
        };
        match blob_pin::Entity::insert(row).exec(&self.quick).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Ends `holder`'s claims on `blobs`, on a connection or in a transaction
/// (the upload's own, so its rows and the release land together).
pub(super) async fn release_pins(
    conn: &impl ConnectionTrait,
    blobs: &[String],
    holder: &str,
) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    blob_pin::Entity::update_many()
        .col_expr(blob_pin::Column::Until, Expr::value(0i64))
        .filter(blob_pin::Column::Sha256.is_in(blobs.iter().map(String::as_str)))
        .filter(blob_pin::Column::Holder.eq(holder))
        .filter(blob_pin::Column::Doomed.eq(false))
        .exec(conn)
        .await?;
    Ok(())
}
