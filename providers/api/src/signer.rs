//! Signing as providers see it: the server owns keys and the OpenPGP
//! implementation; providers only ask for signatures over bytes they rendered.

/// Signs index files with a repository's key(s).
pub trait Signer: Send + Sync {
    /// A cleartext-signed document (apt `InRelease`).
    fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>, SignError>;
    /// An ASCII-armored detached signature (`Release.gpg`, `repomd.xml.asc`).
    fn detached(&self, data: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The ASCII-armored public key(s) clients should trust.
    fn public_keys_armored(&self) -> Result<Vec<u8>, SignError>;
}

#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);
