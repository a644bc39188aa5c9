//! The write of a copy or move between repositories (or sections of one):
//! every destination row, and for a move every source deletion, in one
//! transaction.

use artifactd_provider_api::{NewPackage, UploadedFile};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::entities::package;
use super::packages::write_packages;
use super::{Db, bump_change_seq};
use crate::error::Result;

/// What a copy committed: the `change_seq` each touched repository got
/// (`None`: nothing changed there).
#[derive(Debug, Clone)]
pub struct Copied {
    pub dest_seq: Option<i64>,
    pub source_seq: Option<i64>,
    /// Per package: whether the destination got anything new.
    pub created: Vec<bool>,
}

impl Db {
    /// Writes `packages` (whose files are already-stored blobs, described
    /// by `blobs`) into `dest`; with `remove`, deletes those package ids of
    /// `source` in the same transaction. All or nothing; 409 on a conflict.
    pub async fn copy_packages(
        &self,
        dest: i64,
        by: &str,
        packages: &[NewPackage],
        blobs: &[UploadedFile],
        remove: Option<(i64, &[i64])>,
    ) -> Result<Copied> {
        let txn = self.conn.begin().await?;
        // Row locks in id order, so two moves in opposite directions cannot
        // deadlock.
        let mut repos = vec![dest];
        if let Some((source, _)) = remove
            && source != dest
        {
            repos.push(source);
        }
        repos.sort_unstable();
        let mut seqs = Vec::new();
        for id in &repos {
            seqs.push((*id, bump_change_seq(&txn, *id).await?));
        }
        let seq_of = |id: i64| seqs.iter().find(|(r, _)| *r == id).map(|(_, s)| *s);
        let dest_seq = seq_of(dest).expect("bumped");
        let (mut changed_dest, outcomes, _) =
            write_packages(&txn, dest, dest_seq, by, packages, blobs).await?;
        let created: Vec<bool> = outcomes
            .iter()
            .map(|o| o.contains(&super::FileOutcome::Created))
            .collect();
        let mut source_seq = None;
        if let Some((source, ids)) = remove
            && !ids.is_empty()
        {
            let seq = seq_of(source).expect("bumped");
            let res = package::Entity::update_many()
                .col_expr(package::Column::Deleted, Expr::value(true))
                .col_expr(package::Column::Seq, Expr::value(seq))
                .filter(package::Column::RepoId.eq(source))
                .filter(package::Column::Id.is_in(ids.iter().copied()))
                .filter(package::Column::Deleted.eq(false))
                .exec(&txn)
                .await?;
            if res.rows_affected > 0 {
                if source == dest {
                    changed_dest = true;
                } else {
                    source_seq = Some(seq);
                }
            }
        }
        if !changed_dest && source_seq.is_none() {
            txn.rollback().await?;
            return Ok(Copied {
                dest_seq: None,
                source_seq: None,
                created,
            });
        }
        txn.commit().await?;
        Ok(Copied {
            dest_seq: changed_dest.then_some(dest_seq),
            source_seq,
            created,
        })
    }
}
