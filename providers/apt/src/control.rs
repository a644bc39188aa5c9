//! deb822 control paragraphs (Debian policy §5.1): `Field: value` lines,
//! continuation lines starting with a space or tab, paragraphs separated by
//! blank lines. Field order is kept; names compare case-insensitively.
//! Parsing is linear in the text, and a paragraph holds at most
//! [`MAX_FIELDS`] fields.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Fields a paragraph may hold. Real control files and `.dsc`s have fewer
/// than 60; this leaves room for any amount of `X-` fields a tool adds.
pub const MAX_FIELDS: usize = 1000;

/// Bytes a `.deb`'s control file or a `.dsc` may hold; real ones are a few
/// kilobytes. Larger is refused, never cut.
pub const MAX_CONTROL_SIZE: u64 = 1 << 20;

/// Why control text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {what}")]
    Malformed { line: usize, what: String },
    #[error("line {line}: field {name} appears twice")]
    DuplicateField { line: usize, name: String },
    #[error("line {line}: a paragraph has more than {MAX_FIELDS} fields")]
    TooManyFields { line: usize },
    #[error("no fields")]
    Empty,
    #[error("expected one paragraph, found {0}")]
    Paragraphs(usize),
}

impl ParseError {
    /// The error code for an upload refused with this error: `too_many_fields`
    /// for the limit, else `syntax` (the caller's code for a malformed file).
    pub fn code(&self, syntax: &'static str) -> &'static str {
        match self {
            ParseError::TooManyFields { .. } => "too_many_fields",
            _ => syntax,
        }
    }
}

/// One paragraph, fields in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// Parses every paragraph of a control file.
    pub fn parse_all(text: &str) -> Result<Vec<Paragraph>, ParseError> {
        let mut out = Vec::new();
        let mut cur = Paragraph::default();
        // Lower-cased names of `cur`'s fields, for the duplicate check.
        let mut seen: HashSet<String> = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let malformed = |what: String| ParseError::Malformed { line: n + 1, what };
            if line.trim().is_empty() {
                if !cur.fields.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    seen.clear();
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = cur.fields.last_mut() else {
                    return Err(malformed("continuation line without a field".into()));
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(malformed(format!(
                    "expected \"Field: value\", got {line:?}"
                )));
            };
            if name.is_empty()
                || name.starts_with('-')
                || name.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(malformed(format!("bad field name {name:?}")));
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(ParseError::DuplicateField {
                    line: n + 1,
                    name: name.to_owned(),
                });
            }
            if cur.fields.len() == MAX_FIELDS {
                return Err(ParseError::TooManyFields { line: n + 1 });
            }
            cur.fields.push((name.to_owned(), value.trim().to_owned()));
        }
        if !cur.fields.is_empty() {
            out.push(cur);
        }
        Ok(out)
    }

    /// Parses text that must hold exactly one paragraph.
    pub fn parse_one(text: &str) -> Result<Paragraph, ParseError> {
        let mut all = Self::parse_all(text)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err(ParseError::Empty),
            n => Err(ParseError::Paragraphs(n)),
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

    #[test]
    fn duplicates_are_found_whatever_the_case() {
        assert_eq!(
            Paragraph::parse_all("Package: a\nVersion: 1\npackage: b\n"),
            Err(ParseError::DuplicateField {
                line: 3,
                name: "package".into()
            })
        );
        // The same field in two paragraphs is fine.
        assert_eq!(Paragraph::parse_all("A: 1\n\nA: 2\n").unwrap().len(), 2);
    }

    #[test]
    fn fields_per_paragraph_are_capped() {
        let fields = |n: usize| -> String { (0..n).map(|i| format!("X-F{i}: v\n")).collect() };
        let at_limit = Paragraph::parse_one(&fields(MAX_FIELDS)).unwrap();
        assert_eq!(at_limit.get("x-f999"), Some("v"));
        let over = Paragraph::parse_one(&fields(MAX_FIELDS + 1)).unwrap_err();
        assert_eq!(
            over,
            ParseError::TooManyFields {
                line: MAX_FIELDS + 1
            }
        );
        assert_eq!(over.code("invalid_deb"), "too_many_fields");
        assert_eq!(
            ParseError::Empty.code("invalid_dsc"),
            "invalid_dsc",
            "other errors keep the caller's code"
        );
    }

    #[test]
    fn parsing_is_linear() {
        // A quadratic duplicate check took ~26 s on 200 paragraphs of
        // MAX_FIELDS fields. The same fields in paragraphs four times as
        // long must cost about the same, not four times as much (the best
        // of three runs each, so a busy machine does not decide).
        fn text(fields: usize, per_paragraph: usize) -> String {
            let mut text = String::new();
            for i in 0..fields {
                text.push_str(&format!("X-Field-{i}: value\n"));
                if i % per_paragraph == per_paragraph - 1 {
                    text.push('\n');
                }
            }
            text
        }
        let best = |text: &str, paragraphs: usize| {
            (0..3)
                .map(|_| {
                    let started = std::time::Instant::now();
                    assert_eq!(Paragraph::parse_all(text).unwrap().len(), paragraphs);
                    started.elapsed()
                })
                .min()
                .expect("three runs")
        };
        let fields = 100 * MAX_FIELDS;
        let short = best(&text(fields, MAX_FIELDS / 4), 400);
        let long = best(&text(fields, MAX_FIELDS), 100);
        assert!(
            long < short * 5 / 2,
            "{short:?} in paragraphs of {}, {long:?} in paragraphs of {MAX_FIELDS}",
            MAX_FIELDS / 4
        );
    }
}
