//! Queries on API tokens: lookup by hash or name, creation, listing and
//! deletion.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr};

use super::entities::token;
use super::{Db, now_ms};
use crate::error::Result;

impl Db {
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
