//! The files a channel makes rather than serves from its snapshot.
//!
//! A channel serves its snapshot byte for byte except where the provider
//! says a file dates the repository (`Provider::channel_source`: apt's
//! Release files and the key that signs them). Those are made from the
//! snapshot's, dated when the channel last moved and signed with the
//! repository's current keys, so a rollback to an older snapshot reaches
//! clients that refuse indices older than theirs. The text depends only on
//! the snapshot and the move time (a database value), so every instance
//! makes the same `Release`, and any instance's signature verifies it.
//! Each view makes a path once; the next move is a new view.

use std::collections::HashMap;
use std::sync::Arc;

use artifactd_provider_api::{ChannelInput, Provider};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{FrozenView, History};
use crate::error::{Error, Result};
use crate::manifest::read_index_body;
use crate::signing::RepoSigner;
use crate::state::{Lookup, ManifestEntry, RepoState};

/// What a channel's view has made, by path.
#[derive(Debug)]
pub(super) struct Dating {
    pub(super) moved_at: i64,
    made: tokio::sync::Mutex<HashMap<String, Arc<Made>>>,
}

impl Dating {
    pub(super) fn new(moved_at: i64) -> Self {
        Dating {
            moved_at,
            made: Default::default(),
        }
    }
}

/// A body a channel serves in place of its snapshot's.
#[derive(Debug)]
pub struct Made {
    pub bytes: Bytes,
    /// Of `bytes`: the ETag.
    pub sha256: String,
    pub content_type: String,
}

impl History {
    /// The body channel view `view` serves at `path` in place of its
    /// snapshot's, or `None` when it serves the snapshot's (any snapshot
    /// view, and paths the provider does not date).
    pub async fn channel_file(
        &self,
        state: &RepoState,
        provider: &Arc<dyn Provider>,
        view: &FrozenView,
        path: &str,
    ) -> Result<Option<Arc<Made>>> {
        let Some(dating) = &view.dating else {
            return Ok(None);
        };
        let Some(source) = provider.channel_source(path) else {
            return Ok(None);
        };
        let mut made = dating.made.lock().await;
        if let Some(m) = made.get(path) {
            return Ok(Some(m.clone()));
        }
        // A path the snapshot lacks is not remembered: any name can be asked.
        let Some(body) = self.body_of(state, view, &source).await? else {
            return Ok(None);
        };
        let signer = match provider.signed() {
            true => Some(self.current_signer(state).await?),
            false => None,
        };
        let (provider, owned_path, moved_at) = (provider.clone(), path.to_owned(), dating.moved_at);
        let file = tokio::task::spawn_blocking(move || {
            provider.channel_file(&ChannelInput {
                path: &owned_path,
                source: &body,
                moved_at,
                signer: signer.as_ref().map(|s| s as _),
            })
        })
        .await??;
        let m = Arc::new(Made {
            sha256: hex::encode(Sha256::digest(&file.body)),
            bytes: Bytes::from(file.body),
            content_type: file.content_type,
        });
        made.insert(path.to_owned(), m.clone());
        Ok(Some(m))
    }

    /// The whole body of an index file of the view's current snapshot.
    async fn body_of(
        &self,
        state: &RepoState,
        view: &FrozenView,
        path: &str,
    ) -> Result<Option<Bytes>> {
        let Lookup::Index { set, path } = view.current().lookup_frozen(path) else {
            return Ok(None);
        };
        let Some(ManifestEntry::File { sha256, parts, .. }) = set.entry(&path) else {
            return Ok(None);
        };
        if let Some(b) = set.body(sha256).and_then(|b| b.cached.get().cloned()) {
            return Ok(Some(b));
        }
        Ok(Some(
            read_index_body(self.storage.as_ref(), state.info.id, sha256, parts).await?,
        ))
    }

    /// Signs with the keys the live repository signs with now.
    async fn current_signer(&self, state: &RepoState) -> Result<RepoSigner> {
        let keys = self.db.active_signing_keys(state.info.id).await?;
        if keys.is_empty() {
            return Err(Error::Internal(format!(
                "{}/{} has no signing key",
                state.info.provider, state.info.name
            )));
        }
        RepoSigner::new(keys.iter().map(|k| k.secret.as_str()))
    }
}
