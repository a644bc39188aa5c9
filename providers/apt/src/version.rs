//! Debian version syntax, checked as dpkg's `parseversion()` checks it
//! (`lib/dpkg/parsehelp.c`), with dpkg's own messages, so a version dpkg
//! would refuse to install is refused at upload.
//!
//! dpkg reports some of these as warnings; every one of them is a refusal
//! here. Beyond dpkg, the epoch must be plain digits (dpkg's `strtol` also
//! takes a sign or leading white space) and the version must not hold
//! spaces or control characters at all (dpkg trims leading and trailing
//! blanks): the stored version ends up in file names and index files.

/// Why a version is not one dpkg accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version string is empty")]
    Empty,
    #[error("version string has embedded spaces")]
    EmbeddedSpaces,
    #[error("epoch in version is empty")]
    EpochEmpty,
    #[error("epoch in version is not number")]
    EpochNotNumber,
    #[error("epoch in version is negative")]
    EpochNegative,
    #[error("epoch in version is too big")]
    EpochTooBig,
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    #[error("revision number is empty")]
    RevisionEmpty,
    #[error("version number is empty")]
    UpstreamEmpty,
    #[error("version number does not start with digit")]
    NoLeadingDigit,
    #[error("invalid character in version number")]
    InvalidUpstreamChar,
    #[error("invalid character in revision number")]
    InvalidRevisionChar,
}

/// A version split as dpkg splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts<'a> {
    pub epoch: u32,
    pub upstream: &'a str,
    /// Empty when the version has no `-`.
    pub revision: &'a str,
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// What C's `strtol(s, &end, 10)` reads from the start of `s`: the value,
/// clamped to the `i64` range as strtol clamps to `long`'s, and how many
/// bytes it consumed (0 if there were no digits).
fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = s
        .iter()
        .position(|c| !b" \t\n\x0b\x0c\r".contains(c))
        .unwrap_or(s.len());
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return (0, 0);
    }
    let clamp = if negative { i64::MIN } else { i64::MAX };
    let mut value: i64 = 0;
    for &d in &s[i..i + digits] {
        let d = i64::from(d - b'0');
        value = value
            .checked_mul(10)
            .and_then(|v| {
                if negative {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .unwrap_or(clamp);
    }
    (value, i + digits)
}

/// Splits and checks `version` exactly as dpkg's `parseversion()` does.
pub fn parse_dpkg(version: &str) -> Result<Parts<'_>, VersionError> {
    let bytes = version.as_bytes();
    let start = bytes
        .iter()
        .position(|c| !is_blank(*c))
        .unwrap_or(bytes.len());
    if start == bytes.len() {
        return Err(VersionError::Empty);
    }
    let end = start + bytes[start..].iter().take_while(|c| !is_blank(**c)).count();
    if bytes[end..].iter().any(|c| !is_blank(*c)) {
        return Err(VersionError::EmbeddedSpaces);
    }
    let mut rest = start;
    let mut epoch = 0;
    if let Some(colon) = version[start..].find(':').map(|i| start + i) {
        let (value, used) = strtol(&bytes[start..]);
        if used == 0 {
            return Err(VersionError::EpochEmpty);
        }
        if start + used != colon {
            return Err(VersionError::EpochNotNumber);
        }
        if value < 0 {
            return Err(VersionError::EpochNegative);
        }
        if value > i64::from(i32::MAX) {
            return Err(VersionError::EpochTooBig);
        }
        epoch = value as u32;
        if colon + 1 == bytes.len() {
            return Err(VersionError::NothingAfterColon);
        }
        rest = colon + 1;
    }
    let body = &version[rest..end.max(rest)];
    let (upstream, revision) = match body.rfind('-') {
        Some(hyphen) if hyphen + 1 == body.len() => return Err(VersionError::RevisionEmpty),
        Some(hyphen) => (&body[..hyphen], &body[hyphen + 1..]),
        None => (body, ""),
    };
    let Some(first) = upstream.bytes().next() else {
        return Err(VersionError::UpstreamEmpty);
    };
    if !first.is_ascii_digit() {
        return Err(VersionError::NoLeadingDigit);
    }
    if !upstream
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b".-+~:".contains(&c))
    {
        return Err(VersionError::InvalidUpstreamChar);
    }
    if !revision
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b".+~".contains(&c))
    {
        return Err(VersionError::InvalidRevisionChar);
    }
    Ok(Parts {
        epoch,
        upstream,
        revision,
    })
}

/// [`parse_dpkg`] plus what artifactd insists on: no blank or control
/// character anywhere, and an epoch of plain digits.
pub fn check(version: &str) -> Result<Parts<'_>, VersionError> {
    let parts = parse_dpkg(version)?;
    if version
        .bytes()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(VersionError::EmbeddedSpaces);
    }
    if let Some((epoch, _)) = version.split_once(':')
        && !epoch.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(VersionError::EpochNotNumber);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::VersionError::*;
    use super::*;

    /// Each case gives what `dpkg --validate-version` (dpkg 1.21) says.
    #[test]
    fn refuses_what_dpkg_refuses_with_its_message() {
        for (bad, want) in [
            ("", Empty),
            ("   ", Empty),
            ("1.0 2", EmbeddedSpaces),
            (":1.0", EpochEmpty),
            ("a:1.0", EpochEmpty),
            ("1a:1.0", EpochNotNumber),
            ("-1:1.0", EpochNegative),
            ("2147483648:1.0", EpochTooBig),
            ("99999999999999999999:1.0", EpochTooBig),
            ("1:", NothingAfterColon),
            ("1.0-", RevisionEmpty),
            ("1:-1", UpstreamEmpty),
            ("-1", UpstreamEmpty),
            ("a.b", NoLeadingDigit),
            ("1:a1.0", NoLeadingDigit),
            ("1.0_beta", InvalidUpstreamChar),
            ("1.0/2", InvalidUpstreamChar),
            ("1.0-1_2", InvalidRevisionChar),
            ("1:1.0-1:2", InvalidRevisionChar),
            // A colon anywhere makes what precedes it the epoch.
            ("1.0-1:2", EpochNotNumber),
            ("-:1", EpochEmpty),
            ("1: ", UpstreamEmpty),
        ] {
            assert_eq!(parse_dpkg(bad), Err(want), "{bad:?}");
            assert_eq!(check(bad), Err(want), "{bad:?}");
        }
        assert_eq!(RevisionEmpty.to_string(), "revision number is empty");
        assert_eq!(EpochEmpty.to_string(), "epoch in version is empty");
    }

    #[test]
    fn accepts_what_dpkg_accepts() {
        for (ok, epoch, upstream, revision) in [
            ("1.0", 0, "1.0", ""),
            ("0:1.0", 0, "1.0", ""),
            ("1:1.0~rc1+dfsg-2ubuntu0.1", 1, "1.0~rc1+dfsg", "2ubuntu0.1"),
            ("1.0-1-2", 0, "1.0-1", "2"),
            ("2147483647:1", 2147483647, "1", ""),
            ("1:2:3-4", 1, "2:3", "4"),
            ("0~rc1", 0, "0~rc1", ""),
        ] {
            let want = Parts {
                epoch,
                upstream,
                revision,
            };
            assert_eq!(parse_dpkg(ok), Ok(want), "{ok}");
            assert_eq!(check(ok), Ok(want), "{ok}");
        }
    }

    #[test]
    fn stricter_than_dpkg_where_it_is_lenient() {
        // dpkg trims blanks and lets strtol take a sign; the stored form may not.
        assert!(parse_dpkg(" 1.0 ").is_ok());
        assert_eq!(check(" 1.0 "), Err(EmbeddedSpaces));
        assert!(parse_dpkg("+1:1.0").is_ok());
        assert_eq!(check("+1:1.0"), Err(EpochNotNumber));
        assert_eq!(check("1.0\n"), Err(InvalidUpstreamChar));
    }
}
