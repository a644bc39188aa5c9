//! Source package descriptions (`.dsc`): an optionally clearsigned deb822
//! paragraph naming the files that make up the source package.

use std::collections::HashMap;

use crate::control::{MAX_CONTROL_SIZE, Paragraph, ParseError};

/// Why a `.dsc` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DscError {
    #[error("{0}")]
    Invalid(String),
    #[error("the .dsc is {size} bytes; at most {MAX_CONTROL_SIZE} are accepted")]
    TooLarge { size: u64 },
    #[error("{0}")]
    Control(#[from] ParseError),
}

impl DscError {
    /// The stable error code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            DscError::Invalid(_) => "invalid_dsc",
            DscError::TooLarge { .. } => "control_too_large",
            DscError::Control(e) => e.code("invalid_dsc"),
        }
    }
}

impl From<String> for DscError {
    fn from(message: String) -> Self {
        DscError::Invalid(message)
    }
}

impl From<&str> for DscError {
    fn from(message: &str) -> Self {
        DscError::Invalid(message.to_owned())
    }
}

/// A file a `.dsc` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub size: u64,
    pub md5: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug)]
pub struct Dsc {
    pub paragraph: Paragraph,
    pub files: Vec<Listed>,
}

/// The signed text of a clearsigned message, or the text itself if unsigned.
/// The signature is not checked: the upload token is what authorises.
fn strip_clearsign(text: &str) -> Result<String, String> {
    let Some(rest) = text
        .trim_start()
        .strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----")
    else {
        return Ok(text.to_owned());
    };
    // Armor headers ("Hash: ...") end at the first blank line.
    let body_start = rest.find("\n\n").ok_or("clearsigned .dsc without a body")? + 2;
    let body = &rest[body_start..];
    let end = body
        .find("\n-----BEGIN PGP SIGNATURE-----")
        .ok_or("clearsigned .dsc without a signature block")?;
    Ok(body[..end]
        .lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}

/// Reads a `.dsc` of `size` bytes, refusing one over [`MAX_CONTROL_SIZE`]
/// before reading it.
pub fn read(path: &std::path::Path, size: u64) -> Result<Dsc, DscError> {
    if size > MAX_CONTROL_SIZE {
        return Err(DscError::TooLarge { size });
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("not a text file: {e}"))?;
    parse(&text)
}

/// Parses the text of a `.dsc`; each file may be listed once.
pub fn parse(text: &str) -> Result<Dsc, DscError> {
    let paragraph = Paragraph::parse_one(&strip_clearsign(text)?)?;
    for field in ["Source", "Version", "Files"] {
        if paragraph.get(field).is_none() {
            return Err(format!("the .dsc has no {field} field").into());
        }
    }
    let mut files: Vec<Listed> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let parse_line = |field: &str, words: &[&str]| -> Result<(String, u64, String), String> {
        match words {
            [hash, size, name] => Ok((
                name.to_string(),
                size.parse()
                    .map_err(|_| format!("{field}: bad size {size:?}"))?,
                hash.to_ascii_lowercase(),
            )),
            _ => Err(format!(
                "{field}: expected \"HASH SIZE NAME\", got {:?}",
                words.join(" ")
            )),
        }
    };
    for words in paragraph.lines_of("Files") {
        let (name, size, md5) = parse_line("Files", &words)?;
        if by_name.insert(name.clone(), files.len()).is_some() {
            return Err(format!("{name} is listed twice in Files").into());
        }
        files.push(Listed {
            name,
            size,
            md5: Some(md5),
            sha256: None,
        });
    }
    for words in paragraph.lines_of("Checksums-Sha256") {
        let (name, size, sha) = parse_line("Checksums-Sha256", &words)?;
        match by_name.get(&name).map(|&i| &mut files[i]) {
            Some(f) if f.sha256.is_some() => {
                return Err(format!("{name} is listed twice in Checksums-Sha256").into());
            }
            Some(f) if f.size == size => f.sha256 = Some(sha),
            Some(_) => {
                return Err(format!("{name}: sizes in Files and Checksums-Sha256 differ").into());
            }
            None => {
                return Err(format!("{name} is in Checksums-Sha256 but not in Files").into());
            }
        }
    }
    if files.is_empty() {
        return Err("the .dsc lists no files".into());
    }
    Ok(Dsc { paragraph, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nFormat: 3.0 (quilt)\nSource: hello\nVersion: 2.10-3\nChecksums-Sha256:\n aa 10 hello_2.10.orig.tar.gz\nFiles:\n bb 10 hello_2.10.orig.tar.gz\n- -not-a-field: dash escaped\n-----BEGIN PGP SIGNATURE-----\n\nxyz\n-----END PGP SIGNATURE-----\n";

    #[test]
    fn parses_signed_dsc() {
        let d = parse(&SIGNED.replace("- -not-a-field: dash escaped\n", "")).unwrap();
        assert_eq!(d.paragraph.get("Source"), Some("hello"));
        assert_eq!(
            d.files,
            vec![Listed {
                name: "hello_2.10.orig.tar.gz".into(),
                size: 10,
                md5: Some("bb".into()),
                sha256: Some("aa".into())
            }]
        );
        assert_eq!(
            strip_clearsign(SIGNED).unwrap().lines().last(),
            Some("-not-a-field: dash escaped")
        );
    }

    #[test]
    fn refuses_incomplete_dsc() {
        assert!(parse("Source: x\nVersion: 1\n").is_err());
        assert!(parse("Source: x\nVersion: 1\nFiles:\n aa notanumber x.tar\n").is_err());
        assert!(
            parse("Source: x\nVersion: 1\nFiles:\n aa 1 x.tar\nChecksums-Sha256:\n bb 2 x.tar\n")
                .is_err()
        );
    }

    #[test]
    fn refuses_repeated_listings_and_field_floods() {
        let listed_twice = "Source: x\nVersion: 1\nFiles:\n aa 1 x.tar\n bb 1 x.tar\n";
        assert_eq!(parse(listed_twice).unwrap_err().code(), "invalid_dsc");
        let sha_twice = "Source: x\nVersion: 1\nFiles:\n aa 1 x.tar\nChecksums-Sha256:\n bb 1 x.tar\n cc 1 x.tar\n";
        assert!(parse(sha_twice).is_err());
        let mut flood = String::from("Source: x\nVersion: 1\nFiles:\n aa 1 x.tar\n");
        for i in 0..crate::control::MAX_FIELDS {
            flood.push_str(&format!("X-{i}: v\n"));
        }
        assert_eq!(parse(&flood).unwrap_err().code(), "too_many_fields");
    }

    #[test]
    fn refuses_a_large_dsc_before_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dsc");
        let mut text = String::from("Source: x\nVersion: 1\nFiles:\n");
        while text.len() as u64 <= MAX_CONTROL_SIZE {
            text.push_str(" d41d8cd98f00b204e9800998ecf8427e 0 x.tar\n");
        }
        std::fs::write(&path, &text).unwrap();
        let err = read(&path, text.len() as u64).unwrap_err();
        assert_eq!(err.code(), "control_too_large", "{err}");
    }
}
