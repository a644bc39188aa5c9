//! Settings: built-in defaults, then an optional TOML file, then environment
//! variables. Each component reads only its own section.
//!
//! Every key is listed in the README's configuration table; keep the two in
//! step (the `ENV` table below is the single list of environment names).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Root for the SQLite file, the local blob store and upload temp files.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `mysql://…`; defaults to `<data_dir>/artifactd.db`.
    pub database_url: Option<String>,
    /// Token with every right; generated and printed once if unset.
    pub admin_token: Option<String>,
    /// Absolute URL clients reach this server at, for install snippets;
    /// derived from the request's Host header if unset.
    pub public_url: Option<String>,
    /// Largest accepted upload request body, in bytes (suffixes K, M, G, T).
    #[serde(deserialize_with = "de_size")]
    pub max_upload_size: u64,
    /// `tracing` filter, e.g. `info` or `artifactd=debug`.
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    pub storage: StorageSettings,
    pub publish: PublishSettings,
    pub signing: SigningSettings,
    pub ui: UiSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// A directory whose `*.html` and `style.css` replace the built-in
    /// templates of the same name (the others stay built in).
    pub templates_dir: Option<PathBuf>,
    /// Packages per page on repository pages (a page may ask for up to 500).
    pub page_size: usize,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            templates_dir: None,
            page_size: 50,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningSettings {
    /// Algorithm of keys generated for new signed repositories.
    pub algorithm: String,
    /// An armored secret key to use for new signed repositories instead of
    /// generating one.
    pub key_file: Option<PathBuf>,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            algorithm: "ed25519".into(),
            key_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Local blob directory; defaults to `<data_dir>/blobs`.
    pub path: Option<PathBuf>,
    /// `http(s)://KEY:SECRET@ENDPOINT/BUCKET`; selects the S3 backend.
    pub s3_url: Option<String>,
    pub s3_region: String,
    /// Prepended to every object key (e.g. `artifactd/`).
    pub s3_prefix: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishSettings {
    /// While uploads keep arriving, publishes start at least this far
    /// apart, each covering everything committed meanwhile (0: back to back).
    pub debounce_ms: u64,
    /// How long superseded index files stay readable.
    pub grace_period_secs: u64,
    /// How long `/addpkg` waits for its publish before answering 202.
    pub wait_timeout_secs: u64,
    /// A publisher that dies holding the lease loses it after this long.
    pub lease_secs: u64,
    /// How often an instance re-checks a repository's current generation
    /// before serving from its in-memory copy.
    pub cache_ttl_ms: u64,
    /// Index files up to this size are held in memory once read; larger
    /// ones are streamed from storage (or from the parts in memory).
    pub memory_limit_bytes: u64,
    /// How often to look for unpublished changes and expired index sets.
    pub sweep_interval_secs: u64,
    /// Minimum time between two garbage collections of one repository's
    /// index objects, and between two sweeps of package blobs (cluster-wide).
    pub gc_interval_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            admin_token: None,
            public_url: None,
            max_upload_size: 2 << 30,
            log: "info".into(),
            log_format: "text".into(),
            storage: StorageSettings::default(),
            publish: PublishSettings::default(),
            signing: SigningSettings::default(),
            ui: UiSettings::default(),
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            path: None,
            s3_url: None,
            s3_region: "us-east-1".into(),
            s3_prefix: String::new(),
        }
    }
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            debounce_ms: 0,
            grace_period_secs: 3600,
            wait_timeout_secs: 60,
            lease_secs: 10,
            cache_ttl_ms: 1000,
            memory_limit_bytes: 4 << 20,
            sweep_interval_secs: 10,
            gc_interval_secs: 60,
        }
    }
}

impl PublishSettings {
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_period_secs)
    }
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }
}

/// Environment variables and the key each one sets. `DATABASE_URL` and
/// `S3_URL` are the conventional names; the `ARTIFACTD_` forms work too.
pub const ENV: &[(&str, &str)] = &[
    ("ARTIFACTD_LISTEN", "listen"),
    ("ARTIFACTD_DATA_DIR", "data_dir"),
    ("DATABASE_URL", "database_url"),
    ("ARTIFACTD_DATABASE_URL", "database_url"),
    ("ARTIFACTD_ADMIN_TOKEN", "admin_token"),
    ("ARTIFACTD_PUBLIC_URL", "public_url"),
    ("ARTIFACTD_MAX_UPLOAD_SIZE", "max_upload_size"),
    ("ARTIFACTD_LOG", "log"),
    ("ARTIFACTD_LOG_FORMAT", "log_format"),
    ("ARTIFACTD_STORAGE_PATH", "storage.path"),
    ("S3_URL", "storage.s3_url"),
    ("ARTIFACTD_S3_URL", "storage.s3_url"),
    ("ARTIFACTD_S3_REGION", "storage.s3_region"),
    ("ARTIFACTD_S3_PREFIX", "storage.s3_prefix"),
    ("ARTIFACTD_PUBLISH_DEBOUNCE_MS", "publish.debounce_ms"),
    (
        "ARTIFACTD_PUBLISH_GRACE_PERIOD_SECS",
        "publish.grace_period_secs",
    ),
    (
        "ARTIFACTD_PUBLISH_WAIT_TIMEOUT_SECS",
        "publish.wait_timeout_secs",
    ),
    ("ARTIFACTD_PUBLISH_LEASE_SECS", "publish.lease_secs"),
    ("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "publish.cache_ttl_ms"),
    (
        "ARTIFACTD_PUBLISH_MEMORY_LIMIT_BYTES",
        "publish.memory_limit_bytes",
    ),
    (
        "ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS",
        "publish.sweep_interval_secs",
    ),
    (
        "ARTIFACTD_PUBLISH_GC_INTERVAL_SECS",
        "publish.gc_interval_secs",
    ),
    ("ARTIFACTD_SIGNING_ALGORITHM", "signing.algorithm"),
    ("ARTIFACTD_SIGNING_KEY_FILE", "signing.key_file"),
    ("ARTIFACTD_UI_TEMPLATES_DIR", "ui.templates_dir"),
    ("ARTIFACTD_UI_PAGE_SIZE", "ui.page_size"),
];

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// As [`Settings::load`], reading variables through `env` (for tests).
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.into(),
                    source,
                })?
            }
            None => Settings::default(),
        };
        for (name, key) in ENV {
            if let Some(value) = env(name) {
                settings
                    .set(key, &value)
                    .map_err(|e| invalid(name, e.to_string()))?;
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    fn set(&mut self, key: &str, v: &str) -> Result<(), ConfigError> {
        let num = |v: &str| v.parse::<u64>().map_err(|e| invalid(key, e.to_string()));
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        match key {
            "listen" => self.listen = v.parse().map_err(|e| invalid(key, format!("{e}")))?,
            "data_dir" => self.data_dir = v.into(),
            "database_url" => self.database_url = opt(v),
            "admin_token" => self.admin_token = opt(v),
            "public_url" => self.public_url = opt(v),
            "max_upload_size" => {
                self.max_upload_size = parse_size(v).map_err(|m| invalid(key, m))?
            }
            "log" => self.log = v.into(),
            "log_format" => self.log_format = v.into(),
            "storage.path" => self.storage.path = opt(v).map(PathBuf::from),
            "storage.s3_url" => self.storage.s3_url = opt(v),
            "storage.s3_region" => self.storage.s3_region = v.into(),
            "storage.s3_prefix" => self.storage.s3_prefix = v.into(),
            "publish.debounce_ms" => self.publish.debounce_ms = num(v)?,
            "publish.grace_period_secs" => self.publish.grace_period_secs = num(v)?,
            "publish.wait_timeout_secs" => self.publish.wait_timeout_secs = num(v)?,
            "publish.lease_secs" => self.publish.lease_secs = num(v)?,
            "publish.cache_ttl_ms" => self.publish.cache_ttl_ms = num(v)?,
            "publish.memory_limit_bytes" => self.publish.memory_limit_bytes = num(v)?,
            "publish.sweep_interval_secs" => self.publish.sweep_interval_secs = num(v)?,
            "publish.gc_interval_secs" => self.publish.gc_interval_secs = num(v)?,
            "signing.algorithm" => self.signing.algorithm = v.into(),
            "signing.key_file" => self.signing.key_file = opt(v).map(PathBuf::from),
            "ui.templates_dir" => self.ui.templates_dir = opt(v).map(PathBuf::from),
            "ui.page_size" => self.ui.page_size = num(v)? as usize,
            other => return Err(invalid(other, "unknown key")),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(invalid("log_format", "must be \"text\" or \"json\""));
        }
        if !matches!(self.signing.algorithm.as_str(), "ed25519" | "rsa4096") {
            return Err(invalid(
                "signing.algorithm",
                "must be \"ed25519\" or \"rsa4096\"",
            ));
        }
        if !(1..=500).contains(&self.ui.page_size) {
            return Err(invalid("ui.page_size", "must be between 1 and 500"));
        }
        if self.publish.lease_secs < 2 {
            return Err(invalid("publish.lease_secs", "must be at least 2"));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("mysql://")
                || url.starts_with("mariadb://"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite: or mysql://",
            ));
        }
        if let Some(token) = &self.admin_token
            && token.len() < 16
        {
            return Err(invalid("admin_token", "must be at least 16 characters"));
        }
        Ok(())
    }

    /// The effective settings as TOML, with secrets replaced by `***`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.admin_token.is_some() {
            shown.admin_token = Some("***".into());
        }
        shown.database_url = Some(redact_url_password(&self.database_url()));
        shown.storage.s3_url = shown.storage.s3_url.as_deref().map(redact_url_password);
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show settings: {e}\n"))
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.replacen("mariadb://", "mysql://", 1),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("artifactd.db").display()
            ),
        }
    }

    /// Where upload bodies are spooled before they are validated.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// The local blob directory in effect.
    pub fn storage_path(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }
}

/// `scheme://user:secret@host/...` -> `scheme://user:***@host/...`.
fn redact_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Num(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Num(n) => Ok(n),
        Size::Text(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

/// `1048576`, `512K`, `100M`, `2G`, `1T` (binary multiples; a trailing `iB`/`B` is allowed).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        Some('T' | 't') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("not a size: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("512K").unwrap(), 512 << 10);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("100MB").unwrap(), 100 << 20);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nmax_upload_size = \"1M\"\n[publish]\ndebounce_ms = 7\n",
        )
        .unwrap();
        let env: HashMap<&str, &str> = [
            ("ARTIFACTD_LISTEN", "127.0.0.1:9001"),
            ("DATABASE_URL", "mysql://u:p@127.0.0.1:3306/db"),
            ("S3_URL", "http://k:s@127.0.0.1:9000/b"),
        ]
        .into();
        let s = Settings::load_with(Some(&file), |k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.max_upload_size, 1 << 20);
        assert_eq!(s.publish.debounce_ms, 7);
        assert_eq!(s.database_url(), "mysql://u:p@127.0.0.1:3306/db");
        assert_eq!(
            s.storage.s3_url.as_deref(),
            Some("http://k:s@127.0.0.1:9000/b")
        );
    }

    /// Every environment variable sets its key, and every key has a variable.
    #[test]
    fn every_env_variable_takes_effect() {
        let value = |key: &str| match key {
            "listen" => "127.0.0.1:9999",
            "database_url" => "sqlite://x.db",
            "admin_token" => "a-token-long-enough",
            "log_format" => "json",
            "signing.algorithm" => "rsa4096",
            "max_upload_size" => "12345",
            k if k.starts_with("publish.") => "12345",
            "ui.page_size" => "25",
            _ => "/some/value",
        };
        let defaults = toml::Value::try_from(Settings::default()).unwrap();
        let mut covered = std::collections::BTreeSet::new();
        for (name, key) in ENV {
            let s = Settings::load_with(None, |n| (n == *name).then(|| value(key).to_string()))
                .unwrap();
            let after = toml::Value::try_from(&s).unwrap();
            assert_ne!(after, defaults, "{name} changed nothing");
            covered.insert(*key);
        }
        let table = defaults.as_table().unwrap();
        for (k, v) in table {
            match v.as_table() {
                Some(section) => {
                    for sub in section.keys() {
                        assert!(
                            covered.contains(format!("{k}.{sub}").as_str()),
                            "no variable for {k}.{sub}"
                        );
                    }
                }
                None => assert!(covered.contains(k.as_str()), "no variable for {k}"),
            }
        }
    }

    #[test]
    fn shown_settings_hide_secrets() {
        let env: HashMap<&str, &str> = [
            ("ARTIFACTD_ADMIN_TOKEN", "very-secret-admin-token"),
            ("DATABASE_URL", "mysql://u:dbsecret@127.0.0.1:3306/db"),
            ("S3_URL", "http://key:s3secret@127.0.0.1:9000/b"),
        ]
        .into();
        let s = Settings::load_with(None, |k| env.get(k).map(|v| v.to_string())).unwrap();
        let shown = s.to_redacted_toml();
        for secret in ["very-secret-admin-token", "dbsecret", "s3secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("listen = \"127.0.0.1:8080\""), "{shown}");
    }

    #[test]
    fn defaults_are_embedded() {
        let s = Settings::load_with(None, |_| None).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.database_url().starts_with("sqlite://./data/artifactd.db"));
        assert_eq!(s.storage_path(), PathBuf::from("./data/blobs"));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        assert!(Settings::load_with(Some(&file), |_| None).is_err());
        let bad = |k: &'static str, v: &'static str| {
            Settings::load_with(None, move |n| (n == k).then(|| v.to_string())).is_err()
        };
        assert!(bad("ARTIFACTD_LISTEN", "nowhere"));
        assert!(bad("DATABASE_URL", "postgres://x"));
        assert!(bad("ARTIFACTD_ADMIN_TOKEN", "short"));
        assert!(bad("ARTIFACTD_PUBLISH_DEBOUNCE_MS", "-1"));
    }
}
