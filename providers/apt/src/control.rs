//! deb822 control paragraphs (Debian policy §5.1): `Field: value` lines,
//! continuation lines starting with a space or tab, paragraphs separated by
//! blank lines. Field order is kept; names compare case-insensitively.

use serde::{Deserialize, Serialize};

/// One paragraph, fields in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// Parses every paragraph of a control file.
    pub fn parse_all(text: &str) -> Result<Vec<Paragraph>, String> {
        let mut out = Vec::new();
        let mut cur = Paragraph::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                if !cur.fields.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = cur.fields.last_mut() else {
                    return Err(format!("line {}: continuation line without a field", n + 1));
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!(
                    "line {}: expected \"Field: value\", got {line:?}",
                    n + 1
                ));
            };
            if name.is_empty()
                || name.starts_with('-')
                || name.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!("line {}: bad field name {name:?}", n + 1));
            }
            if cur.get(name).is_some() {
                return Err(format!("line {}: field {name} appears twice", n + 1));
            }
            cur.fields.push((name.to_owned(), value.trim().to_owned()));
        }
        if !cur.fields.is_empty() {
            out.push(cur);
        }
        Ok(out)
    }

    /// Parses text that must hold exactly one paragraph.
    pub fn parse_one(text: &str) -> Result<Paragraph, String> {
        let mut all = Self::parse_all(text)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err("no fields".into()),
            n => Err(format!("expected one paragraph, found {n}")),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets a field, keeping its place if present, else appending it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    /// Inserts a field before `before` (or at the end if that is absent).
    pub fn insert_before(&mut self, before: &str, name: &str, value: impl Into<String>) {
        let at = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(before))
            .unwrap_or(self.fields.len());
        self.fields.insert(at, (name.to_owned(), value.into()));
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(self.fields.remove(i).1)
    }

    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some((k, _)) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(from))
        {
            *k = to.to_owned();
        }
    }

    /// Appends the paragraph as text, ending in a newline (no blank line).
    pub fn write_to(&self, out: &mut String) {
        for (k, v) in &self.fields {
            out.push_str(k);
            out.push(':');
            if !v.is_empty() && !v.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(v);
            out.push('\n');
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_to(&mut s);
        s
    }

    /// Lines of a multi-line field such as `Files:` or `Checksums-Sha256:`,
    /// each split on whitespace.
    pub fn lines_of(&self, name: &str) -> Vec<Vec<&str>> {
        self.get(name)
            .map(|v| {
                v.lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>())
                    .filter(|w| !w.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_continuations() {
        let text = "Package: hello\nVersion: 2.10-3\nDescription: example\n friendly greeting\n .\n more\n\nPackage: b\nVersion: 1\n";
        let all = Paragraph::parse_all(text).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].get("package"), Some("hello"));
        assert_eq!(
            all[0].get("Description"),
            Some("example\n friendly greeting\n .\n more")
        );
        let mut out = String::new();
        all[0].write_to(&mut out);
        out.push('\n');
        all[1].write_to(&mut out);
        assert_eq!(out, text);
    }

    #[test]
    fn files_fields_and_edits() {
        let mut p = Paragraph::parse_one(
            "Source: x\nFiles:\n abc 12 x.dsc\n def 34 x.tar.gz\nVersion: 1\n",
        )
        .unwrap();
        assert_eq!(
            p.lines_of("Files"),
            vec![vec!["abc", "12", "x.dsc"], vec!["def", "34", "x.tar.gz"]]
        );
        p.rename("Source", "Package");
        p.insert_before("Version", "Directory", "pool/main/x/x");
        p.set("Version", "2");
        assert_eq!(p.remove("Nope"), None);
        assert_eq!(
            p.to_text(),
            "Package: x\nFiles:\n abc 12 x.dsc\n def 34 x.tar.gz\nDirectory: pool/main/x/x\nVersion: 2\n"
        );
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            " leading continuation\n",
            "no colon here\n",
            "A: 1\nA: 2\n",
            "-X: 1\n",
            "Bad Name: 1\n",
        ] {
            assert!(Paragraph::parse_all(bad).is_err(), "{bad:?}");
        }
        assert!(Paragraph::parse_one("A: 1\n\nB: 2\n").is_err());
    }
}
