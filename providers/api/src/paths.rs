//! Path hygiene shared by the server and providers: every name that ends up in
//! a URL or a storage key passes through here, so traversal is refused in one
//! place.

/// Whether `s` is usable as one path segment: non-empty, at most 255 bytes, not
/// `.`/`..`, no slash, backslash, NUL or other control character.
pub fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Checks a repository-relative path made of safe segments, without a leading
/// or trailing slash.
pub fn validate_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 1024 {
        return Err(format!("path length must be 1..=1024 bytes: {path:?}"));
    }
    match path.split('/').find(|seg| !is_safe_segment(seg)) {
        Some(bad) => Err(format!("unsafe path segment {bad:?} in {path:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        for ok in ["a", "foo-1.0.tar.gz", "a..b", ".hidden"] {
            assert!(is_safe_segment(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(!is_safe_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        assert!(validate_relative_path("pool/main/h/hello/hello.deb").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "a/", "../x"] {
            assert!(validate_relative_path(bad).is_err(), "{bad:?}");
        }
    }
}
