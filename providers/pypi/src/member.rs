//! Paths inside uploaded archives. Installers unpack a wheel into
//! site-packages and an sdist into a build directory, and pip removes what
//! a wheel's RECORD lists on uninstall: every member name, link target and
//! RECORD entry must stay inside that directory, on POSIX and on Windows.

use std::io::{BufRead, Read};

use artifactd_provider_api::ProviderError;

/// Longest RECORD line read (a path, a hash and a size).
const MAX_RECORD_LINE: u64 = 64 * 1024;

/// Why `path` could leave the directory it is unpacked into, if it could.
/// A leading `./` is allowed (sdists made by `tar` have it), and `.`/`./`
/// name the root.
pub fn unsafe_reason(path: &str) -> Option<&'static str> {
    unsafe_form(path).or_else(|| {
        path.split('/')
            .any(|seg| seg == "..")
            .then_some("has a '..' component")
    })
}

/// [`unsafe_reason`] short of `..` components: what no path may hold.
fn unsafe_form(path: &str) -> Option<&'static str> {
    let p = path.strip_prefix("./").unwrap_or(path);
    let b = p.as_bytes();
    if path.is_empty() {
        Some("is empty")
    } else if p.is_empty() || p == "." {
        // The root itself, as `tar -C dir .` lists it.
        None
    } else if p.contains('\0') {
        Some("holds a NUL byte")
    } else if p.chars().any(char::is_control) {
        Some("holds a control character")
    } else if p.contains('\\') {
        Some("holds a backslash, a path separator on Windows")
    } else if p.starts_with('/') {
        Some("is absolute")
    } else if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        Some("names a Windows drive")
    } else {
        None
    }
}

fn refuse(filename: &str, what: &str, path: &str, why: &str) -> ProviderError {
    ProviderError::invalid(
        "unsafe_path",
        format!(
            "{filename}: {what} {path:?} {why}; it could be written outside the install directory"
        ),
    )
}

/// Checks one member name of `filename`.
pub fn check(filename: &str, path: &str) -> Result<(), ProviderError> {
    match unsafe_reason(path) {
        Some(why) => Err(refuse(filename, "member", path, why)),
        None => Ok(()),
    }
}

/// Checks a tar link: a hard link's target is relative to the archive root,
/// a symbolic link's to the link's own directory, and neither may leave it.
pub fn check_link(
    filename: &str,
    member: &str,
    target: &str,
    symbolic: bool,
) -> Result<(), ProviderError> {
    if !symbolic {
        return match unsafe_reason(target) {
            Some(why) => Err(refuse(filename, "hard link target", target, why)),
            None => Ok(()),
        };
    }
    if let Some(why) = unsafe_form(target) {
        return Err(refuse(filename, "symbolic link target", target, why));
    }
    // Depth of the link's directory below the root, then walk the target.
    let member = member.strip_prefix("./").unwrap_or(member);
    let mut depth = member
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .count() as i64
        - 1;
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return Err(refuse(
                filename,
                "symbolic link target",
                target,
                "points above the archive root",
            ));
        }
    }
    Ok(())
}

/// The first field of a RECORD line (CSV, optionally double-quoted with
/// `""` for a quote), or `None` if the quoting is broken.
fn first_field(line: &str) -> Option<String> {
    let Some(rest) = line.strip_prefix('"') else {
        return Some(line.split(',').next().unwrap_or_default().to_owned());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return matches!(chars.peek(), None | Some(',')).then_some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Reads a wheel's RECORD to its end and checks the path of every entry;
/// returns how many bytes it read.
pub fn check_record(filename: &str, record: &str, reader: impl Read) -> Result<u64, ProviderError> {
    let malformed = |n: usize, why: &str| {
        ProviderError::invalid(
            "invalid_wheel",
            format!("{filename}: {record} line {n} {why}"),
        )
    };
    let mut reader = std::io::BufReader::new(reader);
    let mut raw = Vec::new();
    let mut n = 0;
    let mut total = 0u64;
    loop {
        n += 1;
        raw.clear();
        let read = (&mut reader)
            .take(MAX_RECORD_LINE + 1)
            .read_until(b'\n', &mut raw)
            .map_err(|e| malformed(n, &format!("cannot be read: {e}")))?;
        if read == 0 {
            return Ok(total);
        }
        total += read as u64;
        if read as u64 > MAX_RECORD_LINE {
            return Err(malformed(
                n,
                &format!("is longer than {MAX_RECORD_LINE} bytes"),
            ));
        }
        let line = std::str::from_utf8(&raw).map_err(|_| malformed(n, "is not UTF-8"))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue;
        }
        let path = first_field(line).ok_or_else(|| malformed(n, "has broken quoting"))?;
        if let Some(why) = unsafe_reason(&path) {
            return Err(refuse(filename, &format!("{record} entry"), &path, why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(), ProviderError>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(ProviderError::Invalid { code, .. }) => code,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn member_paths() {
        for ok in [
            "six.py",
            "./six-1.0/PKG-INFO",
            "pkg/sub/",
            "a..b/c",
            "pkg/.hidden",
            "six-1.0.data/scripts/run",
            "./",
            ".",
        ] {
            assert_eq!(unsafe_reason(ok), None, "{ok}");
        }
        for bad in [
            "",
            "../../evil.py",
            "..",
            "/etc/evil",
            "a/../../x",
            "a/..",
            "\\etc\\evil",
            "..\\evil",
            "C:\\x",
            "c:x",
            "C:/x",
            "a\0b",
            "a\nb",
        ] {
            assert!(unsafe_reason(bad).is_some(), "{bad:?}");
            assert_eq!(code(check("w.whl", bad)), "unsafe_path", "{bad:?}");
        }
    }

    #[test]
    fn link_targets() {
        let sym = |member: &str, target: &str| code(check_link("s.tar.gz", member, target, true));
        assert_eq!(sym("p-1/a/link", "../b"), "ok");
        assert_eq!(sym("p-1/link", "sub/file"), "ok");
        assert_eq!(sym("./p-1/link", "../p-1/x"), "ok");
        assert_eq!(sym("p-1/link", "../../etc/passwd"), "unsafe_path");
        assert_eq!(sym("p-1/link", "/etc/passwd"), "unsafe_path");
        assert_eq!(sym("p-1/link", "a/../../../x"), "unsafe_path");
        assert_eq!(sym("p-1/link", "C:\\x"), "unsafe_path");
        let hard = |target: &str| code(check_link("s.tar.gz", "p-1/h", target, false));
        assert_eq!(hard("p-1/file"), "ok");
        assert_eq!(hard("../x"), "unsafe_path");
        assert_eq!(hard("/etc/shadow"), "unsafe_path");
    }

    #[test]
    fn record_entries() {
        let record = |text: &str| {
            code(check_record("w.whl", "w-1.dist-info/RECORD", text.as_bytes()).map(|_| ()))
        };
        assert_eq!(
            record(
                "w/__init__.py,sha256=abc,10\n\"w/a,b.py\",sha256=def,3\r\nw-1.dist-info/RECORD,,\n\n"
            ),
            "ok"
        );
        assert_eq!(record("\"w/say \"\"hi\"\".py\",,\n"), "ok");
        for bad in [
            "../../evil.py,sha256=abc,10\n",
            "ok.py,,\n/etc/evil,,\n",
            "\"a/../../x\",,\n",
            "C:\\x,,\n",
            "\"C:\\x\",,\n",
        ] {
            assert_eq!(record(bad), "unsafe_path", "{bad:?}");
        }
        assert_eq!(record("\"unterminated,,\n"), "invalid_wheel");
        assert_eq!(
            record(&format!("{},,\n", "a".repeat(70_000))),
            "invalid_wheel"
        );
    }
}
