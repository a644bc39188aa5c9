//! Repository signing keys (OpenPGP, via sequoia): generating and importing
//! them, and signing index files with every key that is currently active.
//!
//! Providers never see keys: the publisher hands them a [`RepoSigner`] through
//! the provider API's `Signer` trait. Secret keys are never served or logged;
//! `Debug` output shows fingerprints only.

use std::io::Write;

use artifactd_provider_api::{SignError, Signer};
use openpgp::cert::prelude::*;
use openpgp::crypto::KeyPair;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::serialize::stream::{Armorer, Message};
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};

/// Algorithms a generated repository key can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    Ed25519,
    Rsa4096,
}

impl KeyAlgorithm {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "rsa4096" => Ok(KeyAlgorithm::Rsa4096),
            other => Err(Error::bad_request(
                "invalid_algorithm",
                format!("unknown key algorithm {other:?}: use ed25519 or rsa4096"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa4096 => "rsa4096",
        }
    }
}

/// A key ready to be stored: its fingerprint and armored secret key.
pub struct NewKey {
    pub fingerprint: String,
    pub algorithm: String,
    pub secret_armored: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn sign_err(e: impl std::fmt::Display) -> SignError {
    SignError(e.to_string())
}

/// Generates a signing key for a repository. No expiry: rotation replaces keys.
pub fn generate(userid: &str, algorithm: KeyAlgorithm) -> Result<NewKey> {
    let suite = match algorithm {
        KeyAlgorithm::Ed25519 => CipherSuite::Cv25519,
        KeyAlgorithm::Rsa4096 => CipherSuite::RSA4k,
    };
    let (cert, _revocation) = CertBuilder::new()
        .add_userid(userid)
        .set_cipher_suite(suite)
        .set_validity_period(None)
        .add_signing_subkey()
        .generate()
        .map_err(|e| Error::Internal(format!("generating a key: {e}")))?;
    to_new_key(&cert, algorithm.as_str())
}

/// Checks and normalises an armored secret key given by an administrator.
pub fn import(armored: &str) -> Result<NewKey> {
    let invalid = |m: String| Error::bad_request("invalid_key", m);
    let cert = Cert::from_bytes(armored.as_bytes())
        .map_err(|e| invalid(format!("not an OpenPGP key: {e}")))?;
    if signing_keypairs(&cert)
        .map_err(|e| invalid(e.0))?
        .is_empty()
    {
        return Err(invalid(
            "the key has no usable secret signing key (unencrypted, valid, not revoked)".into(),
        ));
    }
    let algorithm = format!("{}", cert.primary_key().key().pk_algo()).to_lowercase();
    to_new_key(&cert, &algorithm)
}

fn to_new_key(cert: &Cert, algorithm: &str) -> Result<NewKey> {
    let secret = cert
        .as_tsk()
        .armored()
        .to_vec()
        .map_err(|e| Error::Internal(format!("serialising a key: {e}")))?;
    Ok(NewKey {
        fingerprint: cert.fingerprint().to_hex(),
        algorithm: algorithm.to_owned(),
        secret_armored: String::from_utf8(secret).expect("armor is ASCII"),
    })
}

fn signing_keypairs(cert: &Cert) -> std::result::Result<Vec<KeyPair>, SignError> {
    let policy = StandardPolicy::new();
    cert.keys()
        .with_policy(&policy, None)
        .supported()
        .alive()
        .revoked(false)
        .for_signing()
        .secret()
        .map(|ka| ka.key().clone().into_keypair().map_err(sign_err))
        .collect()
}

/// Signs with every active key of one repository.
pub struct RepoSigner {
    keys: Vec<KeyPair>,
    public: Vec<u8>,
    fingerprints: Vec<String>,
}

impl std::fmt::Debug for RepoSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoSigner")
            .field("fingerprints", &self.fingerprints)
            .finish_non_exhaustive()
    }
}

impl RepoSigner {
    /// Builds a signer from armored secret keys (oldest first).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut keys = Vec::new();
        let mut public = Vec::new();
        let mut fingerprints = Vec::new();
        for armored in secrets {
            let cert = Cert::from_bytes(armored.as_bytes())
                .map_err(|e| Error::Internal(format!("stored key unreadable: {e}")))?;
            keys.extend(signing_keypairs(&cert).map_err(|e| Error::Internal(e.0))?);
            public.extend(
                cert.armored()
                    .to_vec()
                    .map_err(|e| Error::Internal(format!("serialising a public key: {e}")))?,
            );
            fingerprints.push(cert.fingerprint().to_hex());
        }
        if keys.is_empty() {
            return Err(Error::Internal("no usable signing key".into()));
        }
        Ok(RepoSigner {
            keys,
            public,
            fingerprints,
        })
    }

    fn sign(&self, data: &[u8], cleartext: bool) -> std::result::Result<Vec<u8>, SignError> {
        let mut sink = Vec::new();
        {
            let message = Message::new(&mut sink);
            let message = if cleartext {
                message
            } else {
                Armorer::new(message)
                    .kind(openpgp::armor::Kind::Signature)
                    .build()
                    .map_err(sign_err)?
            };
            let mut keys = self.keys.iter().cloned();
            let first = keys
                .next()
                .ok_or_else(|| SignError("no signing key".into()))?;
            let mut signer =
                openpgp::serialize::stream::Signer::new(message, first).map_err(sign_err)?;
            for k in keys {
                signer = signer.add_signer(k).map_err(sign_err)?;
            }
            signer = if cleartext {
                signer.cleartext()
            } else {
                signer.detached()
            };
            let mut w = signer.build().map_err(sign_err)?;
            w.write_all(data).map_err(sign_err)?;
            w.finalize().map_err(sign_err)?;
        }
        Ok(sink)
    }
}

impl Signer for RepoSigner {
    fn clearsign(&self, text: &[u8]) -> std::result::Result<Vec<u8>, SignError> {
        self.sign(text, true)
    }

    fn detached(&self, data: &[u8]) -> std::result::Result<Vec<u8>, SignError> {
        self.sign(data, false)
    }

    fn public_keys_armored(&self) -> std::result::Result<Vec<u8>, SignError> {
        Ok(self.public.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_never_show_secrets() {
        let key = generate("test <t@example.invalid>", KeyAlgorithm::Ed25519).unwrap();
        assert!(
            key.secret_armored
                .starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----")
        );
        assert!(!format!("{key:?}").contains("PRIVATE"));
        let other = generate("second <s@example.invalid>", KeyAlgorithm::Ed25519).unwrap();
        let signer =
            RepoSigner::new([key.secret_armored.as_str(), other.secret_armored.as_str()]).unwrap();
        let shown = format!("{signer:?}");
        assert!(
            shown.contains(&key.fingerprint) && shown.contains(&other.fingerprint),
            "{shown}"
        );
        let signed =
            String::from_utf8(signer.clearsign(b"Origin: x\nSuite: y\n").unwrap()).unwrap();
        assert!(
            signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
            "{signed}"
        );
        assert!(signed.contains("Origin: x\nSuite: y\n"));
        let detached = String::from_utf8(signer.detached(b"data").unwrap()).unwrap();
        assert!(detached.starts_with("-----BEGIN PGP SIGNATURE-----"));
        let public = String::from_utf8(signer.public_keys_armored().unwrap()).unwrap();
        assert_eq!(public.matches("BEGIN PGP PUBLIC KEY BLOCK").count(), 2);
        assert!(!public.contains("PRIVATE"));
    }

    #[test]
    fn rsa4096_keys_work_too() {
        let key = generate("rsa <r@example.invalid>", KeyAlgorithm::Rsa4096).unwrap();
        assert_eq!(key.algorithm, "rsa4096");
        let signer = RepoSigner::new([key.secret_armored.as_str()]).unwrap();
        let signed = String::from_utf8(signer.clearsign(b"Suite: x\n").unwrap()).unwrap();
        assert!(signed.contains("BEGIN PGP SIGNATURE"));
    }

    #[test]
    fn import_checks_the_key() {
        let key = generate("t <t@example.invalid>", KeyAlgorithm::Ed25519).unwrap();
        let imported = import(&key.secret_armored).unwrap();
        assert_eq!(imported.fingerprint, key.fingerprint);
        assert!(import("not a key").is_err());
        // A public key alone cannot sign.
        let signer = RepoSigner::new([key.secret_armored.as_str()]).unwrap();
        let public = String::from_utf8(signer.public_keys_armored().unwrap()).unwrap();
        assert!(import(&public).is_err());
    }
}
