//! Where rpcli finds its server and token: `--server`/`--token`, then
//! `RPCLI_SERVER`/`RPCLI_TOKEN`, then a named profile of the config file
//! (`$RPCLI_CONFIG`, else `$XDG_CONFIG_HOME/rpcli/config.toml`, else
//! `~/.config/rpcli/config.toml`), then the built-in default server.
//!
//! ```toml
//! default_profile = "prod"          # else the profile named "default"
//! [profiles.prod]
//! server = "https://artifacts.example.internal"
//! token = "..."
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Failure;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub server: Option<String>,
    pub token: Option<String>,
}

/// The config file's path, whether or not it exists.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RPCLI_CONFIG") {
        return Some(p.into());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("rpcli").join("config.toml"))
}

/// The profile to use: `name` if given (it must exist), else the file's
/// `default_profile`, else `default`; an empty profile without a file.
pub fn profile(name: Option<&str>) -> Result<Profile, Failure> {
    let Some(path) = path() else {
        return Ok(Profile::default());
    };
    let file: File = match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
        Err(e) => return Err(Failure::Usage(format!("{}: {e}", path.display()))),
    };
    match name {
        Some(n) => file
            .profiles
            .get(n)
            .cloned()
            .ok_or_else(|| Failure::Usage(format!("no profile {n:?} in {}", path.display()))),
        None => {
            let n = file.default_profile.as_deref().unwrap_or("default");
            Ok(file.profiles.get(n).cloned().unwrap_or_default())
        }
    }
}
