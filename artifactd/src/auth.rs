//! Who may write. Tokens are random strings shown once; only their SHA-256
//! is stored, and comparisons are constant-time. Reads are public.
//!
//! A token carries scopes:
//! - `admin`: everything, including token management;
//! - `create`: may create repositories (on first upload);
//! - `upload:<provider>/<repo>`, `upload:<provider>/*`, `upload:*`: may upload
//!   to (and, later, delete from) matching repositories.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::Db;
use crate::error::{Error, Result};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    scopes: Vec<String>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == "admin")
    }

    pub fn can_create(&self) -> bool {
        self.is_admin() || self.scopes.iter().any(|s| s == "create")
    }

    pub fn can_upload(&self, provider: &str, repo: &str) -> bool {
        self.is_admin()
            || self.scopes.iter().any(|s| match s.strip_prefix("upload:") {
                Some("*") => true,
                Some(pattern) => match pattern.split_once('/') {
                    Some((p, "*")) => p == provider,
                    Some((p, r)) => p == provider && r == repo,
                    None => false,
                },
                None => false,
            })
    }

    /// Fails with 403 unless the caller may upload to the repository.
    pub fn require_upload(&self, provider: &str, repo: &str) -> Result<()> {
        if self.can_upload(provider, repo) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "token {:?} may not upload to {provider}/{repo}",
                self.name
            )))
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "token {:?} is not an admin token",
                self.name
            )))
        }
    }
}

/// Checks that a scope string is one we understand.
pub fn validate_scope(scope: &str) -> Result<()> {
    let ok = match scope {
        "admin" | "create" | "upload:*" => true,
        s => s
            .strip_prefix("upload:")
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(p, r)| {
                artifactd_provider_api::is_safe_segment(p)
                    && artifactd_provider_api::is_safe_segment(r)
            }),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_scope",
            format!(
                "unknown scope {scope:?}: use admin, create, upload:*, upload:PROVIDER/* or upload:PROVIDER/REPO"
            ),
        ))
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token secret.
pub fn generate_token() -> String {
    format!("ad_{}", hex::encode(rand::random::<[u8; 24]>()))
}

/// Token verification against the configured admin token and the database.
pub struct Auth {
    db: Db,
    admin_hash: Option<[u8; 32]>,
}

impl Auth {
    /// Prepares authentication. Without a configured admin token, the first
    /// start generates one, stores its hash and prints it once.
    pub async fn new(db: Db, admin_token: Option<&str>) -> Result<Auth> {
        if admin_token.is_none() && db.token_named("admin").await?.is_none() {
            let token = generate_token();
            if db
                .insert_token("admin", &hex::encode(hash(&token)), &["admin".to_owned()])
                .await?
                .is_some()
            {
                eprintln!(
                    "\n  artifactd generated an admin token (shown only this once):\n\n    {token}\n\n  Set ARTIFACTD_ADMIN_TOKEN to choose your own.\n"
                );
            }
        }
        Ok(Auth {
            db,
            admin_hash: admin_token.map(hash),
        })
    }

    /// Resolves a presented secret to a caller: 401 if unknown.
    pub async fn authenticate(&self, secret: Option<&str>) -> Result<Principal> {
        let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::Unauthorized("this operation needs a token: Authorization: Bearer TOKEN, or HTTP Basic with the token as password".into())
        })?;
        let presented = hash(secret);
        if let Some(admin) = &self.admin_hash
            && bool::from(admin.ct_eq(&presented))
        {
            return Ok(Principal {
                name: "admin".into(),
                scopes: vec!["admin".into()],
            });
        }
        let row = self.db.token_by_hash(&hex::encode(presented)).await?;
        match row {
            Some(row)
                if bool::from(row.hash.as_bytes().ct_eq(hex::encode(presented).as_bytes())) =>
            {
                Ok(Principal {
                    name: row.name,
                    scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
                })
            }
            _ => Err(Error::Unauthorized("invalid token".into())),
        }
    }

    /// Creates a token with the given scopes; returns its id and secret.
    pub async fn create_token(&self, name: &str, scopes: &[String]) -> Result<(i64, String)> {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(Error::bad_request(
                "invalid_name",
                "token name must be 1..=128 printable characters",
            ));
        }
        if scopes.is_empty() {
            return Err(Error::bad_request(
                "invalid_scope",
                "a token needs at least one scope",
            ));
        }
        for s in scopes {
            validate_scope(s)?;
        }
        let secret = generate_token();
        let row = self
            .db
            .insert_token(name, &hex::encode(hash(&secret)), scopes)
            .await?
            .ok_or_else(|| {
                Error::conflict("token_exists", format!("a token named {name:?} exists"))
            })?;
        Ok((row.id, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(scopes: &[&str]) -> Principal {
        Principal {
            name: "t".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scopes() {
        assert!(p(&["admin"]).can_upload("tar", "r"));
        assert!(p(&["upload:*"]).can_upload("apt", "x"));
        assert!(p(&["upload:tar/*"]).can_upload("tar", "x"));
        assert!(!p(&["upload:tar/*"]).can_upload("apt", "x"));
        assert!(p(&["upload:tar/r"]).can_upload("tar", "r"));
        assert!(!p(&["upload:tar/r"]).can_upload("tar", "s"));
        assert!(!p(&["upload:tar/r"]).can_create());
        assert!(p(&["create"]).can_create());
        assert!(!p(&["create"]).is_admin());
        for ok in [
            "admin",
            "create",
            "upload:*",
            "upload:tar/*",
            "upload:apt/main",
        ] {
            assert!(validate_scope(ok).is_ok(), "{ok}");
        }
        for bad in [
            "root",
            "upload:",
            "upload:tar",
            "upload:../x",
            "upload:a/b/c",
        ] {
            assert!(validate_scope(bad).is_err(), "{bad}");
        }
    }
}
