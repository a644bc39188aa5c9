//! Project names: what PEP 508 allows, and the PEP 503 normal form every
//! lookup goes through (so `My_Pkg`, `my.pkg` and `my-pkg` are one project).

/// PEP 503: lowercase, every run of `-`, `_`, `.` collapsed to one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A valid project name: ASCII letters and digits, with `.`, `_`, `-`
/// inside (core metadata's `Name` rule), at most 200 characters.
pub fn is_valid(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503() {
        for (given, want) in [
            ("My_Pkg", "my-pkg"),
            ("my.pkg", "my-pkg"),
            ("my--_.pkg", "my-pkg"),
            ("Typing_Extensions", "typing-extensions"),
            ("six", "six"),
        ] {
            assert_eq!(normalize(given), want);
        }
        assert!(is_valid("a") && is_valid("A.b_c-9"));
        for bad in ["", "-a", "a-", "a b", "a/b", "ä", ".."] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
