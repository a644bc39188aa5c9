//! Queries on snapshots and channels: the named roots a repository's
//! history keeps. A snapshot row is a pointer to a manifest-tree root, so
//! creating one writes one row whatever the repository's size; a channel
//! moves by a compare-and-swap on its `snapshot_id`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
    TransactionTrait,
};

use super::entities::{channel, channel_move, index_set, repo, snapshot};
use super::{Db, now_ms};
use crate::error::{Error, Result};

/// What a channel move expects the channel to point at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Move whatever it points at.
    Any,
    /// The channel must not exist yet.
    Absent,
    /// It must point at this snapshot.
    Snapshot(i64),
}

/// A snapshot or a channel, as a `R@name` URL names it.
#[derive(Debug, Clone)]
pub struct Ref {
    pub snapshot: snapshot::Model,
    /// Set when `name` is a channel.
    pub channel: Option<channel::Model>,
    /// For a channel, the other snapshots it pointed at within the grace
    /// period, the most recently left first.
    pub recent: Vec<snapshot::Model>,
}

impl Db {
    /// The repository's current index set, if it published one.
    pub async fn current_index_set(&self, repo_id: i64) -> Result<Option<index_set::Model>> {
        let Some(row) = repo::Entity::find_by_id(repo_id).one(&self.conn).await? else {
            return Ok(None);
        };
        let Some(set) = row.current_set else {
            return Ok(None);
        };
        Ok(index_set::Entity::find_by_id(set).one(&self.conn).await?)
    }

    /// Records a snapshot of `set`. 409 if the name is taken by a snapshot
    /// or a channel.
    pub async fn insert_snapshot(
        &self,
        repo_id: i64,
        name: &str,
        description: &str,
        set: &index_set::Model,
        root: &str,
        by: &str,
    ) -> Result<snapshot::Model> {
        // The write comes first: on SQLite a transaction that reads and
        // then writes fails when another wrote in between.
        let txn = self.conn.begin().await?;
        let row = snapshot::ActiveModel {
            repo_id: Set(repo_id),
            name: Set(name.to_owned()),
            description: Set(description.to_owned()),
            root: Set(root.to_owned()),
            generation: Set(set.generation),
            covers_seq: Set(set.covers_seq),
            packages: Set(set.packages),
            created_at: Set(now_ms()),
            created_by: Set(by.to_owned()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
                "snapshot_exists",
                format!("a snapshot {name:?} already exists"),
            ),
            _ => e.into(),
        })?;
        if channel_named(&txn, repo_id, name).await?.is_some() {
            return Err(Error::conflict(
                "name_taken",
                format!("{name:?} is a channel of this repository"),
            ));
        }
        txn.commit().await?;
        Ok(row)
    }

    /// Snapshots of a repository, newest first.
    pub async fn list_snapshots(&self, repo_id: i64) -> Result<Vec<snapshot::Model>> {
        Ok(snapshot::Entity::find()
            .filter(snapshot::Column::RepoId.eq(repo_id))
            .order_by_desc(snapshot::Column::Id)
            .all(&self.conn)
            .await?)
    }

    pub async fn snapshot_named(
        &self,
        repo_id: i64,
        name: &str,
    ) -> Result<Option<snapshot::Model>> {
        Ok(snapshot::Entity::find()
            .filter(snapshot::Column::RepoId.eq(repo_id))
            .filter(snapshot::Column::Name.eq(name))
            .one(&self.conn)
            .await?)
    }

    pub async fn snapshot_by_id(&self, id: i64) -> Result<Option<snapshot::Model>> {
        Ok(snapshot::Entity::find_by_id(id).one(&self.conn).await?)
    }

    /// Deletes a snapshot no channel points at. `Ok(false)` if there is
    /// none of that name; 409 naming the channels otherwise.
    pub async fn delete_snapshot(&self, repo_id: i64, name: &str) -> Result<bool> {
        // The write comes first (SQLite: a transaction that reads and then
        // writes fails at once if another connection wrote in between). A
        // channel's `previous` may still name the snapshot: forget that; if
        // a channel points at it, the error below rolls this back.
        let txn = self.conn.begin().await?;
        channel::Entity::update_many()
            .col_expr(
                channel::Column::PreviousId,
                Expr::value(Option::<i64>::None),
            )
            .filter(channel::Column::RepoId.eq(repo_id))
            .filter(
                channel::Column::PreviousId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(snapshot::Column::Id)
                        .from(snapshot::Entity)
                        .and_where(snapshot::Column::RepoId.eq(repo_id))
                        .and_where(snapshot::Column::Name.eq(name))
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await?;
        let Some(snap) = snapshot::Entity::find()
            .filter(snapshot::Column::RepoId.eq(repo_id))
            .filter(snapshot::Column::Name.eq(name))
            .one(&txn)
            .await?
        else {
            return Ok(false);
        };
        let users: Vec<String> = channel::Entity::find()
            .filter(channel::Column::RepoId.eq(repo_id))
            .filter(channel::Column::SnapshotId.eq(snap.id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect();
        if !users.is_empty() {
            return Err(Error::conflict(
                "snapshot_in_use",
                format!(
                    "snapshot {name:?} is what channel(s) {} point at; move them first",
                    users.join(", ")
                ),
            ));
        }
        snapshot::Entity::delete_by_id(snap.id).exec(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Points channel `name` at `to` if it points where `expect` says:
    /// exactly one of two concurrent moves with the same expectation wins,
    /// on any number of instances. 409 otherwise.
    pub async fn move_channel(
        &self,
        repo_id: i64,
        name: &str,
        to: &snapshot::Model,
        expect: Expect,
        by: &str,
        grace: std::time::Duration,
    ) -> Result<channel::Model> {
        let moved = |exists: bool| {
            Error::conflict(
                "channel_moved",
                format!(
                    "channel {name:?} {}; nothing was changed",
                    if exists {
                        "points elsewhere than expected"
                    } else {
                        "does not exist"
                    }
                ),
            )
        };
        let now = now_ms();
        // Each transaction starts with its write (the swap or the insert),
        // so it holds the write lock before it reads anything.
        let txn = self.conn.begin().await?;
        if expect != Expect::Absent {
            // `previous_id` is set first: MySQL assigns left to right.
            let mut swap = channel::Entity::update_many()
                .col_expr(
                    channel::Column::PreviousId,
                    Expr::col(channel::Column::SnapshotId),
                )
                .col_expr(channel::Column::SnapshotId, Expr::value(to.id))
                .col_expr(channel::Column::UpdatedAt, Expr::value(now))
                .col_expr(channel::Column::UpdatedBy, Expr::value(by))
                .filter(channel::Column::RepoId.eq(repo_id))
                .filter(channel::Column::Name.eq(name));
            if let Expect::Snapshot(id) = expect {
                swap = swap.filter(channel::Column::SnapshotId.eq(id));
            }
            if swap.exec(&txn).await?.rows_affected == 1 {
                let row = channel_named(&txn, repo_id, name)
                    .await?
                    .ok_or_else(|| Error::Internal(format!("channel {name:?} vanished")))?;
                if let Some(left) = row.previous_id {
                    channel_move::ActiveModel {
                        channel_id: Set(row.id),
                        snapshot_id: Set(left),
                        left_at: Set(now),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await?;
                }
                // Moves older than the grace period serve nothing.
                channel_move::Entity::delete_many()
                    .filter(channel_move::Column::ChannelId.eq(row.id))
                    .filter(channel_move::Column::LeftAt.lt(now - grace.as_millis() as i64))
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                return Ok(row);
            }
            let exists = channel_named(&txn, repo_id, name).await?.is_some();
            if exists || expect != Expect::Any {
                return Err(moved(exists));
            }
        }
        // A new channel.
        let row = channel::ActiveModel {
            repo_id: Set(repo_id),
            name: Set(name.to_owned()),
            snapshot_id: Set(to.id),
            previous_id: Set(None),
            updated_at: Set(now),
            updated_by: Set(by.to_owned()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            // Another instance created it first.
            Some(SqlErr::UniqueConstraintViolation(_)) => moved(true),
            _ => e.into(),
        })?;
        if snapshot::Entity::find()
            .filter(snapshot::Column::RepoId.eq(repo_id))
            .filter(snapshot::Column::Name.eq(name))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(Error::conflict(
                "name_taken",
                format!("{name:?} is a snapshot of this repository"),
            ));
        }
        txn.commit().await?;
        Ok(row)
    }

    pub async fn list_channels(&self, repo_id: i64) -> Result<Vec<channel::Model>> {
        Ok(channel::Entity::find()
            .filter(channel::Column::RepoId.eq(repo_id))
            .order_by_asc(channel::Column::Name)
            .all(&self.conn)
            .await?)
    }

    pub async fn channel_named(&self, repo_id: i64, name: &str) -> Result<Option<channel::Model>> {
        channel_named(&self.conn, repo_id, name).await
    }

    pub async fn delete_channel(&self, repo_id: i64, name: &str) -> Result<bool> {
        // Writes only, so SQLite takes the write lock first.
        let txn = self.conn.begin().await?;
        channel_move::Entity::delete_many()
            .filter(
                channel_move::Column::ChannelId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(channel::Column::Id)
                        .from(channel::Entity)
                        .and_where(channel::Column::RepoId.eq(repo_id))
                        .and_where(channel::Column::Name.eq(name))
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await?;
        let res = channel::Entity::delete_many()
            .filter(channel::Column::RepoId.eq(repo_id))
            .filter(channel::Column::Name.eq(name))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected > 0)
    }

    /// The snapshot a `R@name` URL means: a channel's target (and the
    /// snapshots it left within `grace`), or the snapshot of that name.
    pub async fn resolve_ref(
        &self,
        repo_id: i64,
        name: &str,
        grace: std::time::Duration,
    ) -> Result<Option<Ref>> {
        if let Some(c) = channel_named(&self.conn, repo_id, name).await? {
            let Some(snap) = self.snapshot_by_id(c.snapshot_id).await? else {
                return Ok(None);
            };
            let moves = channel_move::Entity::find()
                .filter(channel_move::Column::ChannelId.eq(c.id))
                .filter(channel_move::Column::LeftAt.gt(now_ms() - grace.as_millis() as i64))
                .order_by_desc(channel_move::Column::LeftAt)
                .order_by_desc(channel_move::Column::Id)
                .all(&self.conn)
                .await?;
            let mut ids: Vec<i64> = Vec::new();
            for m in moves {
                if m.snapshot_id != snap.id && !ids.contains(&m.snapshot_id) {
                    ids.push(m.snapshot_id);
                }
            }
            let found = snapshot::Entity::find()
                .filter(snapshot::Column::Id.is_in(ids.clone()))
                .all(&self.conn)
                .await?;
            // Deleted snapshots serve nothing any more.
            let recent = ids
                .iter()
                .filter_map(|id| found.iter().find(|s| s.id == *id).cloned())
                .collect();
            return Ok(Some(Ref {
                snapshot: snap,
                channel: Some(c),
                recent,
            }));
        }
        Ok(self.snapshot_named(repo_id, name).await?.map(|s| Ref {
            snapshot: s,
            channel: None,
            recent: Vec::new(),
        }))
    }

    /// Every snapshot root of a repository (garbage collection keeps what
    /// they reference).
    pub async fn snapshot_roots(&self, repo_id: i64) -> Result<Vec<String>> {
        Ok(self
            .list_snapshots(repo_id)
            .await?
            .into_iter()
            .map(|s| s.root)
            .collect())
    }
}

async fn channel_named(
    conn: &impl sea_orm::ConnectionTrait,
    repo_id: i64,
    name: &str,
) -> Result<Option<channel::Model>> {
    Ok(channel::Entity::find()
        .filter(channel::Column::RepoId.eq(repo_id))
        .filter(channel::Column::Name.eq(name))
        .one(conn)
        .await?)
}

#[cfg(test)]
mod tests;
