//! What a channel serves in place of its snapshot's bytes.
//!
//! A channel is a movable name for a snapshot. It serves the snapshot's
//! files, except those that say when the repository was published: apt
//! keeps the lists it has when a newly fetched `InRelease` is dated before
//! them, so a channel moved back to an older snapshot would never reach the
//! clients that read the newer one. A provider names such paths
//! ([`crate::Provider::channel_source`]) and makes their bodies dated when
//! the channel last moved ([`crate::Provider::channel_file`]).

use crate::Signer;

/// Everything [`crate::Provider::channel_file`] may look at.
pub struct ChannelInput<'a> {
    /// The path asked for, relative to `/repo/<provider>/<repo>@<channel>/`.
    pub path: &'a str,
    /// The snapshot's body at [`crate::Provider::channel_source`]`(path)`.
    pub source: &'a [u8],
    /// When the channel last moved, in milliseconds since the Unix epoch.
    /// Never earlier than the snapshot it points at, and the same on every
    /// instance, so every instance makes the same text to sign.
    pub moved_at: i64,
    /// The repository's current key(s), for formats that sign: a channel is
    /// signed like the live repository, not like the snapshot.
    pub signer: Option<&'a dyn Signer>,
}

/// A body made for a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFile {
    pub content_type: String,
    pub body: Vec<u8>,
}
