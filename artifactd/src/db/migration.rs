//! Schema migrations, applied at start-up. They run unchanged on SQLite and
//! MariaDB/MySQL: indexed text columns stay under 768 characters, and large
//! text uses LONGTEXT (a TEXT affinity name for SQLite).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

// Names are explicit: `DeriveMigrationName` names a migration after its
// module, which would give all of these one name. Every CREATE is
// IF NOT EXISTS, so a database that recorded them under the old shared name
// replays them harmlessly.

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Initial),
            Box::new(M0002SigningKeys),
            Box::new(M0003Yanked),
            Box::new(M0004HealthProbes),
            Box::new(M0005IndexSetRoots),
            Box::new(M0006SnapshotsChannels),
            Box::new(M0007BlobPins),
            Box::new(M0008ChannelMoves),
            Box::new(M0009DroppedLists),
        ]
    }
}

struct M0001Initial;

impl MigrationName for M0001Initial {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

#[derive(DeriveIden)]
enum Repos {
    Table,
    Id,
    Provider,
    Name,
    Settings,
    CreatedAt,
    ChangeSeq,
    PublishedSeq,
    Generation,
    CurrentSet,
    LeaseOwner,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum Packages {
    Table,
    Id,
    RepoId,
    Name,
    Version,
    Section,
    Variant,
    Metadata,
    UploadedAt,
    Uploader,
    Seq,
    Deleted,
    Yanked,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    PackageId,
    RepoId,
    Filename,
    Path,
    Sha256,
    Size,
    ContentType,
    Metadata,
    UploadedAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Id,
    Name,
    Hash,
    Scopes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IndexSets {
    Table,
    Id,
    RepoId,
    Generation,
    CoversSeq,
    CreatedAt,
    SupersededAt,
    Manifest,
    Root,
    Packages,
    Dropped,
}

/// A CREATE TABLE with byte-exact (case-sensitive) text comparison on MySQL,
/// where the default collation would treat `Foo.tar` and `foo.tar` as one.
fn table(m: &SchemaManager) -> TableCreateStatement {
    let mut t = Table::create();
    if m.get_database_backend() == sea_orm::DatabaseBackend::MySql {
        t.character_set("utf8mb4").collate("utf8mb4_bin");
    }
    t.if_not_exists();
    t
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    RepoId,
    Fingerprint,
    Algorithm,
    Secret,
    CreatedAt,
    RetireAt,
}

struct M0002SigningKeys;

impl MigrationName for M0002SigningKeys {
    fn name(&self) -> &str {
        "m0002_signing_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002SigningKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m)
                .table(SigningKeys::Table)
                .col(id(SigningKeys::Id))
                .col(big_integer(SigningKeys::RepoId))
                .col(string_len(SigningKeys::Fingerprint, 64))
                .col(string_len(SigningKeys::Algorithm, 32))
                .col(long_text(SigningKeys::Secret))
                .col(big_integer(SigningKeys::CreatedAt))
                .col(big_integer_null(SigningKeys::RetireAt))
                .index(
                    Index::create()
                        .name("uq_signing_keys_repo_fpr")
                        .col(SigningKeys::RepoId)
                        .col(SigningKeys::Fingerprint)
                        .unique(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}

/// PEP 592-style yanking: a yanked package stays installable when pinned
/// but is skipped by resolvers. NULL: not yanked; otherwise the reason
/// (possibly empty).
struct M0003Yanked;

impl MigrationName for M0003Yanked {
    fn name(&self) -> &str {
        "m0003_yanked"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Yanked {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.has_column("packages", "yanked").await? {
            return Ok(());
        }
        m.alter_table(
            Table::alter()
                .table(Packages::Table)
                .add_column(ColumnDef::new(Packages::Yanked).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Packages::Table)
                .drop_column(Packages::Yanked)
                .to_owned(),
        )
        .await
    }
}

/// One row per instance that `/healthz` rewrites: a real durable write, so a
/// database that can no longer write (full disk, read-only node) shows as
/// unhealthy, not only as failing uploads.
struct M0004HealthProbes;

impl MigrationName for M0004HealthProbes {
    fn name(&self) -> &str {
        "m0004_health_probes"
    }
}

#[derive(DeriveIden)]
enum HealthProbes {
    Table,
    Instance,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for M0004HealthProbes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m)
                .table(HealthProbes::Table)
                .col(string_len(HealthProbes::Instance, 64).primary_key())
                .col(big_integer(HealthProbes::At))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(HealthProbes::Table).to_owned())
            .await
    }
}

/// CREATE INDEX unless it exists. MySQL has no IF NOT EXISTS for indexes
/// and its DDL is not transactional, so a migration that stopped half-way
/// (a crash, a full disk) is run again from its start and must skip what it
/// already made.
async fn create_index_once(
    m: &SchemaManager<'_>,
    table: &str,
    name: &str,
    stmt: IndexCreateStatement,
) -> Result<(), DbErr> {
    if m.has_index(table, name).await? {
        return Ok(());
    }
    m.create_index(stmt).await
}

/// Index sets name the root of a manifest tree instead of holding a whole
/// manifest: a publish stores only the nodes it changed.
struct M0005IndexSetRoots;

impl MigrationName for M0005IndexSetRoots {
    fn name(&self) -> &str {
        "m0005_index_set_roots"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005IndexSetRoots {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("index_sets", "root").await? {
            m.alter_table(
                Table::alter()
                    .table(IndexSets::Table)
                    .add_column(ColumnDef::new(IndexSets::Root).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        }
        if !m.has_column("index_sets", "packages").await? {
            m.alter_table(
                Table::alter()
                    .table(IndexSets::Table)
                    .add_column(
                        ColumnDef::new(IndexSets::Packages)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(IndexSets::Table)
                .drop_column(IndexSets::Root)
                .drop_column(IndexSets::Packages)
                .to_owned(),
        )
        .await
    }
}

/// Snapshots (a named, frozen index-set root) and channels (a movable name
/// for a snapshot). Snapshots and channels of a repository share one
/// namespace; the service layer checks that.
struct M0006SnapshotsChannels;

impl MigrationName for M0006SnapshotsChannels {
    fn name(&self) -> &str {
        "m0006_snapshots_channels"
    }
}

#[derive(DeriveIden)]
enum Snapshots {
    Table,
    Id,
    RepoId,
    Name,
    Description,
    Root,
    Generation,
    CoversSeq,
    Packages,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    RepoId,
    Name,
    SnapshotId,
    PreviousId,
    UpdatedAt,
    UpdatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for M0006SnapshotsChannels {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m)
                .table(Snapshots::Table)
                .col(id(Snapshots::Id))
                .col(big_integer(Snapshots::RepoId))
                .col(string_len(Snapshots::Name, 128))
                .col(long_text(Snapshots::Description))
                .col(string_len(Snapshots::Root, 64))
                .col(big_integer(Snapshots::Generation))
                .col(big_integer(Snapshots::CoversSeq))
                .col(big_integer(Snapshots::Packages))
                .col(big_integer(Snapshots::CreatedAt))
                .col(string_len(Snapshots::CreatedBy, 128))
                .index(
                    Index::create()
                        .name("uq_snapshots_repo_name")
                        .col(Snapshots::RepoId)
                        .col(Snapshots::Name)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            table(m)
                .table(Channels::Table)
                .col(id(Channels::Id))
                .col(big_integer(Channels::RepoId))
                .col(string_len(Channels::Name, 128))
                .col(big_integer(Channels::SnapshotId))
                .col(big_integer_null(Channels::PreviousId))
                .col(big_integer(Channels::UpdatedAt))
                .col(string_len(Channels::UpdatedBy, 128))
                .index(
                    Index::create()
                        .name("uq_channels_repo_name")
                        .col(Channels::RepoId)
                        .col(Channels::Name)
                        .unique(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Channels::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Snapshots::Table).to_owned())
            .await
    }
}

/// Pins on package blobs (see `gc`): an upload claims the blobs it is
/// about to reference, and the collector marks a blob doomed before it
/// deletes it. Both write the blob's one row, so the database orders them.
struct M0007BlobPins;

impl MigrationName for M0007BlobPins {
    fn name(&self) -> &str {
        "m0007_blob_pins"
    }
}

#[derive(DeriveIden)]
enum BlobPins {
    Table,
    Sha256,
    Doomed,
    Holder,
    Until,
}

#[async_trait::async_trait]
impl MigrationTrait for M0007BlobPins {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m)
                .table(BlobPins::Table)
                .col(
                    ColumnDef::new(BlobPins::Sha256)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(boolean(BlobPins::Doomed))
                .col(string_len(BlobPins::Holder, 64))
                .col(big_integer(BlobPins::Until))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BlobPins::Table).to_owned())
            .await
    }
}

/// The snapshots a channel left, and when: `R@channel` keeps serving their
/// files for the grace period, so a client mid-update during a promotion
/// finds what the index it read names.
struct M0008ChannelMoves;

impl MigrationName for M0008ChannelMoves {
    fn name(&self) -> &str {
        "m0008_channel_moves"
    }
}

#[derive(DeriveIden)]
enum ChannelMoves {
    Table,
    Id,
    ChannelId,
    SnapshotId,
    LeftAt,
}

#[async_trait::async_trait]
impl MigrationTrait for M0008ChannelMoves {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m)
                .table(ChannelMoves::Table)
                .col(id(ChannelMoves::Id))
                .col(big_integer(ChannelMoves::ChannelId))
                .col(big_integer(ChannelMoves::SnapshotId))
                .col(big_integer(ChannelMoves::LeftAt))
                .to_owned(),
        )
        .await?;
        create_index_once(
            m,
            "channel_moves",
            "ix_channel_moves_channel",
            Index::create()
                .name("ix_channel_moves_channel")
                .table(ChannelMoves::Table)
                .col(ChannelMoves::ChannelId)
                .col(ChannelMoves::LeftAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChannelMoves::Table).to_owned())
            .await
    }
}

/// Each index set names the list of objects its publish dropped from the
/// set before it (`gc::Dropped`), so garbage collection marks superseded
/// sets without reading their trees.
struct M0009DroppedLists;

impl MigrationName for M0009DroppedLists {
    fn name(&self) -> &str {
        "m0009_dropped_lists"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009DroppedLists {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("index_sets", "dropped").await? {
            m.alter_table(
                Table::alter()
                    .table(IndexSets::Table)
                    .add_column(ColumnDef::new(IndexSets::Dropped).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(IndexSets::Table)
                .drop_column(IndexSets::Dropped)
                .to_owned(),
        )
        .await
    }
}

fn long_text<T: IntoIden>(col: T) -> ColumnDef {
    custom(col, Alias::new("LONGTEXT"))
}

fn id(col: impl IntoIden) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    c.big_integer().not_null().auto_increment().primary_key();
    c
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Initial {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            table(m)
                .table(Repos::Table)
                .col(id(Repos::Id))
                .col(string_len(Repos::Provider, 32))
                .col(string_len(Repos::Name, 128))
                .col(long_text(Repos::Settings))
                .col(big_integer(Repos::CreatedAt))
                .col(big_integer(Repos::ChangeSeq).default(0))
                .col(big_integer(Repos::PublishedSeq).default(0))
                .col(big_integer(Repos::Generation).default(0))
                .col(big_integer_null(Repos::CurrentSet))
                .col(string_len_null(Repos::LeaseOwner, 64))
                .col(big_integer(Repos::LeaseUntil).default(0))
                .index(
                    Index::create()
                        .name("uq_repos_provider_name")
                        .col(Repos::Provider)
                        .col(Repos::Name)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            table(m)
                .table(Packages::Table)
                .col(id(Packages::Id))
                .col(big_integer(Packages::RepoId))
                .col(string_len(Packages::Name, 255))
                .col(string_len(Packages::Version, 255))
                .col(string_len(Packages::Section, 128))
                .col(string_len(Packages::Variant, 64))
                .col(long_text(Packages::Metadata))
                .col(big_integer(Packages::UploadedAt))
                .col(string_len(Packages::Uploader, 128))
                .col(big_integer(Packages::Seq))
                .col(boolean(Packages::Deleted).default(false))
                .index(
                    Index::create()
                        .name("uq_packages_identity")
                        .col(Packages::RepoId)
                        .col(Packages::Section)
                        .col(Packages::Name)
                        .col(Packages::Version)
                        .col(Packages::Variant)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        create_index_once(
            m,
            "packages",
            "ix_packages_repo_seq",
            Index::create()
                .name("ix_packages_repo_seq")
                .table(Packages::Table)
                .col(Packages::RepoId)
                .col(Packages::Seq)
                .to_owned(),
        )
        .await?;
        m.create_table(
            table(m)
                .table(Files::Table)
                .col(id(Files::Id))
                .col(big_integer(Files::PackageId))
                .col(big_integer(Files::RepoId))
                .col(string_len(Files::Filename, 255))
                .col(string_len(Files::Path, 512))
                .col(string_len(Files::Sha256, 64))
                .col(big_integer(Files::Size))
                .col(string_len(Files::ContentType, 128))
                .col(long_text(Files::Metadata))
                .col(big_integer(Files::UploadedAt))
                .index(
                    Index::create()
                        .name("uq_files_package_filename")
                        .col(Files::PackageId)
                        .col(Files::Filename)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        create_index_once(
            m,
            "files",
            "ix_files_repo_path",
            Index::create()
                .name("ix_files_repo_path")
                .table(Files::Table)
                .col(Files::RepoId)
                .col(Files::Path)
                .to_owned(),
        )
        .await?;
        create_index_once(
            m,
            "files",
            "ix_files_sha256",
            Index::create()
                .name("ix_files_sha256")
                .table(Files::Table)
                .col(Files::Sha256)
                .to_owned(),
        )
        .await?;
        m.create_table(
            table(m)
                .table(Tokens::Table)
                .col(id(Tokens::Id))
                .col(string_len(Tokens::Name, 128))
                .col(string_len(Tokens::Hash, 64))
                .col(long_text(Tokens::Scopes))
                .col(big_integer(Tokens::CreatedAt))
                .index(
                    Index::create()
                        .name("uq_tokens_hash")
                        .col(Tokens::Hash)
                        .unique(),
                )
                .index(
                    Index::create()
                        .name("uq_tokens_name")
                        .col(Tokens::Name)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            table(m)
                .table(IndexSets::Table)
                .col(id(IndexSets::Id))
                .col(big_integer(IndexSets::RepoId))
                .col(big_integer(IndexSets::Generation))
                .col(big_integer(IndexSets::CoversSeq))
                .col(big_integer(IndexSets::CreatedAt))
                .col(big_integer_null(IndexSets::SupersededAt))
                .col(long_text(IndexSets::Manifest))
                .index(
                    Index::create()
                        .name("uq_index_sets_generation")
                        .col(IndexSets::RepoId)
                        .col(IndexSets::Generation)
                        .unique(),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            IndexSets::Table.into_iden(),
            Tokens::Table.into_iden(),
            Files::Table.into_iden(),
            Packages::Table.into_iden(),
            Repos::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
