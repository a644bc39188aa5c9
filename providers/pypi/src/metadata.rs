//! Core metadata (`METADATA` in wheels, `PKG-INFO` in sdists): RFC 822-style
//! headers, checked for what an index relies on: a known `Metadata-Version`,
//! a valid `Name`, a PEP 440 `Version` and a parseable `Requires-Python`.

use std::str::FromStr;

use artifactd_provider_api::ProviderError;
use pep440_rs::{Version, VersionSpecifiers};

use crate::names;

/// The largest metadata file read (uncompressed); long READMEs fit easily.
pub const MAX_METADATA: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct CoreMetadata {
    pub metadata_version: String,
    /// As written (display form); [`names::normalize`] it for lookups.
    pub name: String,
    pub version: Version,
    pub requires_python: Option<String>,
    pub summary: Option<String>,
    /// Every header in order (multiple-use fields repeat).
    pub headers: Vec<(String, String)>,
}

impl CoreMetadata {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(code, message)
}

/// Parses a PEP 440 version, saying what it belongs to when it is not one.
pub fn parse_version(v: &str, what: &str) -> Result<Version, ProviderError> {
    Version::from_str(v.trim()).map_err(|e| {
        invalid(
            "invalid_version",
            format!("{what}: {v:?} is not a valid PEP 440 version: {e}"),
        )
    })
}

/// Parses the RFC 822-style headers of a metadata file (`what` names it in
/// errors); stops at the first empty line, where the body begins.
pub fn parse_headers(bytes: &[u8], what: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid("invalid_metadata", format!("{what} is not UTF-8")))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = headers.last_mut() else {
                return Err(invalid(
                    "invalid_metadata",
                    format!("{what} starts with a continuation line"),
                ));
            };
            value.push('\n');
            value.push_str(line.trim_start());
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(invalid(
                "invalid_metadata",
                format!("{what}: line {line:?} is not a 'Key: value' header"),
            ));
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(invalid(
                "invalid_metadata",
                format!("{what}: {key:?} is not a header name"),
            ));
        }
        headers.push((key.to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

/// Parses and checks a core metadata file (`what` names it in errors).
pub fn parse(bytes: &[u8], what: &str) -> Result<CoreMetadata, ProviderError> {
    let headers = parse_headers(bytes, what)?;
    let one = |key: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let metadata_version = one("Metadata-Version").ok_or_else(|| {
        invalid(
            "invalid_metadata",
            format!("{what} has no Metadata-Version"),
        )
    })?;
    let major = metadata_version.split('.').next().unwrap_or_default();
    if !matches!(major, "1" | "2") {
        return Err(invalid(
            "invalid_metadata",
            format!("{what}: Metadata-Version {metadata_version:?} is not 1.x or 2.x"),
        ));
    }
    let name =
        one("Name").ok_or_else(|| invalid("invalid_metadata", format!("{what} has no Name")))?;
    if !names::is_valid(&name) {
        return Err(invalid(
            "invalid_name",
            format!("{what}: Name {name:?} is not a valid project name"),
        ));
    }
    let version = one("Version")
        .ok_or_else(|| invalid("invalid_metadata", format!("{what} has no Version")))?;
    let version = parse_version(&version, what)?;
    let requires_python = one("Requires-Python").filter(|v| !v.is_empty());
    if let Some(rp) = &requires_python {
        VersionSpecifiers::from_str(rp).map_err(|e| {
            invalid(
                "invalid_metadata",
                format!("{what}: Requires-Python {rp:?} is not a version specifier: {e}"),
            )
        })?;
    }
    let summary = one("Summary").filter(|v| !v.is_empty());
    Ok(CoreMetadata {
        metadata_version,
        name,
        version,
        requires_python,
        summary,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_stops_at_the_body() {
        let m = parse(
            b"Metadata-Version: 2.1\nName: My_Pkg\nVersion: 1.0.0-RC1\nRequires-Python: >=3.8\nRequires-Dist: a\nRequires-Dist: b ; extra == 'x'\nLicense: line one\n        line two\n\nName: not-a-header\n",
            "METADATA",
        )
        .unwrap();
        assert_eq!(m.name, "My_Pkg");
        assert_eq!(m.version.to_string(), "1.0.0rc1");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.all("requires-dist").count(), 2);
        assert_eq!(m.get("License"), Some("line one\nline two"));
    }

    #[test]
    fn refuses_what_an_index_cannot_use() {
        for (bad, code) in [
            (&b"Name: x\nVersion: 1\n"[..], "invalid_metadata"),
            (
                b"Metadata-Version: 3.0\nName: x\nVersion: 1\n",
                "invalid_metadata",
            ),
            (
                b"Metadata-Version: 2.1\nName: -x\nVersion: 1\n",
                "invalid_name",
            ),
            (
                b"Metadata-Version: 2.1\nName: x\nVersion: one\n",
                "invalid_version",
            ),
            (
                b"Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Python: >=>3\n",
                "invalid_metadata",
            ),
            (b"Metadata-Version: 2.1\nName: x\n", "invalid_metadata"),
            (b"Metadata-Version: 2.1\n\xff\n", "invalid_metadata"),
        ] {
            match parse(bad, "METADATA") {
                Err(ProviderError::Invalid { code: c, .. }) => assert_eq!(c, code),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
            }
        }
    }
}
