//! The four digests Debian indices carry, computed in one pass.

use std::io::Read;
use std::path::Path;

use artifactd_provider_api::ProviderError;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

/// The four hashers at some point of a stream; cloning one gives a resumable
/// prefix state (how chunked indices avoid rehashing unchanged chunks).
#[derive(Default, Clone)]
pub struct Hashers {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
    sha512: Sha512,
}

impl Hashers {
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.sha512.update(data);
    }

    pub fn finish(self) -> Digests {
        Digests {
            md5: hex::encode(self.md5.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
        }
    }
}

impl Digests {
    /// The digest a Release section is named after (`MD5Sum`, `SHA1`, ...).
    pub fn named(&self, field: &str) -> &str {
        match field {
            "MD5Sum" => &self.md5,
            "SHA1" => &self.sha1,
            "SHA256" => &self.sha256,
            _ => &self.sha512,
        }
    }

    pub fn of_bytes(data: &[u8]) -> Digests {
        let mut h = Hashers::default();
        h.update(data);
        h.finish()
    }

    pub fn of_file(path: &Path) -> Result<Digests, ProviderError> {
        let mut f = std::fs::File::open(path)?;
        let mut h = Hashers::default();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(h.finish());
            }
            h.update(&buf[..n]);
        }
    }
}
