//! sea-orm entities. Timestamps are milliseconds since the Unix epoch (BIGINT)
//! and JSON is stored as text, so the schema means the same on SQLite and
//! MariaDB/MySQL.

pub mod repo {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "repos")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub provider: String,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub settings: String,
        pub created_at: i64,
        /// Bumped by every transaction that changes the repository's packages.
        pub change_seq: i64,
        /// The `change_seq` the current index set was rendered from.
        pub published_seq: i64,
        /// Number of the current index set; 0 before the first publish.
        pub generation: i64,
        pub current_set: Option<i64>,
        pub lease_owner: Option<String>,
        pub lease_until: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod package {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "packages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub repo_id: i64,
        pub name: String,
        pub version: String,
        pub section: String,
        pub variant: String,
        #[sea_orm(column_type = "Text")]
        pub metadata: String,
        pub uploaded_at: i64,
        pub uploader: String,
        /// The repository `change_seq` of the last change to this row or its files.
        pub seq: i64,
        pub deleted: bool,
        /// Why the package was yanked (possibly empty); `None` if it is not.
        #[sea_orm(column_type = "Text", nullable)]
        pub yanked: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod file {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "files")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub package_id: i64,
        pub repo_id: i64,
        pub filename: String,
        pub path: String,
        pub sha256: String,
        pub size: i64,
        pub content_type: String,
        #[sea_orm(column_type = "Text")]
        pub metadata: String,
        pub uploaded_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::package::Entity",
            from = "Column::PackageId",
            to = "super::package::Column::Id"
        )]
        Package,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        /// Hex SHA-256 of the secret; the secret itself is never stored.
        pub hash: String,
        /// JSON array of scope strings.
        #[sea_orm(column_type = "Text")]
        pub scopes: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod index_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "index_sets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub repo_id: i64,
        pub generation: i64,
        pub covers_seq: i64,
        pub created_at: i64,
        pub superseded_at: Option<i64>,
        /// Sets published before manifest trees: JSON path -> entry (see
        /// `state::Manifest`). Empty for sets that have a `root`.
        #[sea_orm(column_type = "Text")]
        pub manifest: String,
        /// The hash of the set's manifest tree (`tree::Tree`), whose nodes
        /// are index objects in storage.
        pub root: Option<String>,
        /// How many packages the set holds.
        pub packages: i64,
        /// The index object listing what this set's publish dropped from the
        /// set before it (`gc::Dropped`); `""` when nothing was dropped,
        /// NULL for sets published before the lists existed.
        pub dropped: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod signing_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub repo_id: i64,
        pub fingerprint: String,
        pub algorithm: String,
        /// Armored secret key; never served, never logged.
        #[sea_orm(column_type = "Text")]
        pub secret: String,
        pub created_at: i64,
        /// The key stops signing at this time (end of a rotation).
        pub retire_at: Option<i64>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("signing_key::Model")
                .field("id", &self.id)
                .field("repo_id", &self.repo_id)
                .field("fingerprint", &self.fingerprint)
                .field("retire_at", &self.retire_at)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod snapshot {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "snapshots")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub repo_id: i64,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        /// The manifest-tree root of the index set it froze.
        pub root: String,
        pub generation: i64,
        pub covers_seq: i64,
        pub packages: i64,
        pub created_at: i64,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod channel {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channels")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub repo_id: i64,
        pub name: String,
        pub snapshot_id: i64,
        /// The snapshot it pointed at before the last move.
        pub previous_id: Option<i64>,
        pub updated_at: i64,
        pub updated_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod blob_pin {
    use sea_orm::entity::prelude::*;

    /// One package blob's pin: claimed by uploads until `until`, or doomed
    /// (being deleted by the collector since `until`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blob_pins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub doomed: bool,
        pub holder: String,
        pub until: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod channel_move {
    use sea_orm::entity::prelude::*;

    /// A snapshot a channel pointed at until `left_at`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channel_moves")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub channel_id: i64,
        pub snapshot_id: i64,
        pub left_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
