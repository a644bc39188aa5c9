//! The simple repository API pages: per project, PEP 503 HTML and PEP 691
//! JSON (with PEP 700's versions/size/upload-time, PEP 658/714 metadata
//! hashes and PEP 592 yanks), and the root list of projects.
//!
//! Links are relative to the page (`FILE#sha256=...`), and files live under
//! the page's own path, so the same bytes answer at `simple/P/` and at the
//! compatibility path `P/`.

use std::fmt::Write;
use std::hash::{DefaultHasher, Hasher};

use artifactd_provider_api::time::Utc;
use artifactd_provider_api::{FileRecord, PackageRecord};
use serde_json::Value;

/// PEP 691/700 API version these pages follow.
pub const API_VERSION: &str = "1.1";

pub const HTML: &str = "text/html; charset=utf-8";
pub const V1_HTML: &str = "application/vnd.pypi.simple.v1+html";
pub const V1_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// Where the rendered representations of a page live in the index set.
pub fn page_path(project: Option<&str>, repr: Repr) -> String {
    let leaf = match repr {
        Repr::Html => "index.html",
        Repr::V1Html => "index.v1.html",
        Repr::V1Json => "index.v1.json",
    };
    match project {
        Some(p) => format!("+simple/{p}/{leaf}"),
        None => format!("+simple/{leaf}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    Html,
    V1Html,
    V1Json,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One distribution file as the pages show it.
pub struct Dist<'a> {
    pub file: &'a FileRecord,
    pub package: &'a PackageRecord,
    /// Position of `file` among the package's files.
    pub index: u32,
    /// SHA-256 of the `.metadata` file, for wheels.
    pub metadata_sha256: Option<&'a str>,
}

impl Dist<'_> {
    fn requires_python(&self) -> Option<String> {
        match self.file.metadata.get("requires_python") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// What the rendered forms depend on: the package's content changes
    /// its `seq`, so `(id, seq, position among its files)` pins them down.
    fn identity(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.package.id.to_le_bytes());
        out.extend_from_slice(&self.package.seq.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
    }

    /// Stable across changes to the package, for choosing part boundaries.
    fn boundary(&self) -> u64 {
        artifactd_provider_api::mix64(self.package.id as u64 ^ (u64::from(self.index) << 48))
    }

    fn html(&self, out: &mut String) {
        let f = self.file;
        let _ = write!(
            out,
            "    <a href=\"{}#sha256={}\"",
            escape(&f.filename),
            f.sha256
        );
        if let Some(rp) = self.requires_python() {
            let _ = write!(out, " data-requires-python=\"{}\"", escape(&rp));
        }
        if let Some(sha) = self.metadata_sha256 {
            let _ = write!(
                out,
                " data-dist-info-metadata=\"sha256={sha}\" data-core-metadata=\"sha256={sha}\""
            );
        }
        if let Some(reason) = &self.package.yanked {
            let _ = write!(out, " data-yanked=\"{}\"", escape(reason));
        }
        let _ = writeln!(out, ">{}</a><br>", escape(&f.filename));
    }

    fn json(&self, out: &mut String) {
        let f = self.file;
        let _ = write!(
            out,
            "{{\"filename\":{},\"url\":{},\"hashes\":{{\"sha256\":\"{}\"}},\"size\":{},\"upload-time\":\"{}\",\"yanked\":",
            json_str(&f.filename),
            json_str(&f.filename),
            f.sha256,
            f.size,
            Utc::from_millis(f.uploaded_at).rfc3339()
        );
        match self.package.yanked.as_deref() {
            None => out.push_str("false"),
            Some("") => out.push_str("true"),
            Some(reason) => out.push_str(&json_str(reason)),
        }
        if let Some(rp) = self.requires_python() {
            let _ = write!(out, ",\"requires-python\":{}", json_str(&rp));
        }
        if let Some(sha) = self.metadata_sha256 {
            let _ = write!(
                out,
                ",\"core-metadata\":{{\"sha256\":\"{sha}\"}},\"dist-info-metadata\":{{\"sha256\":\"{sha}\"}}"
            );
        }
        out.push('}');
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// A project's distribution files in upload order, and its versions.
pub struct Project<'a> {
    pub name: &'a str,
    pub dists: Vec<Dist<'a>>,
    pub versions: Vec<&'a str>,
}

/// A project from its packages (all of one normalised name); `order` is
/// the previous render's version order, brought up to these packages.
pub fn project<'a>(
    name: &'a str,
    mut pkgs: Vec<&'a PackageRecord>,
    order: &'a mut crate::versions::VersionOrder,
) -> Project<'a> {
    pkgs.sort_by_key(|p| p.id);
    let mut dists = Vec::new();
    for p in &pkgs {
        for (index, f) in p.files.iter().enumerate() {
            // Distribution files are wheels and sdists; `.metadata` files
            // are derived from them.
            if f.filename.ends_with(".metadata") {
                continue;
            }
            let metadata_sha256 = p
                .files
                .iter()
                .find(|m| {
                    m.path.len() == f.path.len() + ".metadata".len()
                        && m.path.starts_with(&f.path)
                        && m.path.ends_with(".metadata")
                })
                .map(|m| m.sha256.as_str());
            dists.push(Dist {
                file: f,
                package: p,
                index: index as u32,
                metadata_sha256,
            });
        }
    }
    let versions = order.update(&pkgs);
    Project {
        name,
        dists,
        versions,
    }
}

/// One piece of a page. Pages are lists of segments so that [`crate::chunks`]
/// can cut them into parts by content and re-render only changed parts.
pub enum Seg<'a> {
    Text(String),
    HtmlFile(&'a Dist<'a>),
    /// The flag: first in its list (no leading comma).
    JsonFile(&'a Dist<'a>, bool),
    JsonVersion(&'a str, bool),
    /// Normalised name, display name.
    HtmlProject(&'a str, &'a str),
    JsonProject(&'a str, bool),
}

impl Seg<'_> {
    /// Bytes that determine the rendering: equal identities, equal output.
    pub fn identity(&self, out: &mut Vec<u8>) {
        let (tag, first) = match self {
            Seg::Text(_) => (0u8, false),
            Seg::HtmlFile(_) => (1, false),
            Seg::JsonFile(_, f) => (2, *f),
            Seg::JsonVersion(_, f) => (3, *f),
            Seg::HtmlProject(..) => (4, false),
            Seg::JsonProject(_, f) => (5, *f),
        };
        out.push(tag);
        out.push(u8::from(first));
        match self {
            Seg::Text(t) => out.extend_from_slice(t.as_bytes()),
            Seg::HtmlFile(d) | Seg::JsonFile(d, _) => d.identity(out),
            Seg::JsonVersion(v, _) | Seg::JsonProject(v, _) => out.extend_from_slice(v.as_bytes()),
            Seg::HtmlProject(n, d) => {
                out.extend_from_slice(n.as_bytes());
                out.push(0);
                out.extend_from_slice(d.as_bytes());
            }
        }
    }

    /// A hash that stays put when the segment's content changes in place
    /// (a yank), so part boundaries do not move.
    pub fn boundary(&self) -> u64 {
        match self {
            Seg::HtmlFile(d) | Seg::JsonFile(d, _) => d.boundary(),
            Seg::Text(t) => hash_str(t),
            Seg::JsonVersion(v, _) | Seg::JsonProject(v, _) | Seg::HtmlProject(v, _) => hash_str(v),
        }
    }

    pub fn render(&self, out: &mut String) {
        let comma = |out: &mut String, first: bool| {
            if !first {
                out.push(',');
            }
        };
        match self {
            Seg::Text(t) => out.push_str(t),
            Seg::HtmlFile(d) => d.html(out),
            Seg::JsonFile(d, first) => {
                comma(out, *first);
                d.json(out);
            }
            Seg::JsonVersion(v, first) | Seg::JsonProject(v, first) => {
                comma(out, *first);
                if matches!(self, Seg::JsonProject(..)) {
                    let _ = write!(out, "{{\"name\":{}}}", json_str(v));
                } else {
                    out.push_str(&json_str(v));
                }
            }
            Seg::HtmlProject(n, d) => {
                let _ = writeln!(out, "    <a href=\"{}/\">{}</a><br>", escape(n), escape(d));
            }
        }
    }
}

fn hash_str(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(s.as_bytes());
    h.finish()
}

fn html_head(title: &str, h1: bool) -> String {
    let title = escape(title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>{title}</title>\n  </head>\n  <body>\n"
    );
    if h1 {
        let _ = writeln!(out, "    <h1>{title}</h1>");
    }
    out
}

const HTML_TAIL: &str = "  </body>\n</html>\n";

pub fn project_html<'a>(p: &'a Project<'a>) -> Vec<Seg<'a>> {
    let mut segs = Vec::with_capacity(p.dists.len() + 2);
    segs.push(Seg::Text(html_head(&format!("Links for {}", p.name), true)));
    segs.extend(p.dists.iter().map(Seg::HtmlFile));
    segs.push(Seg::Text(HTML_TAIL.into()));
    segs
}

pub fn project_json<'a>(p: &'a Project<'a>) -> Vec<Seg<'a>> {
    let mut segs = Vec::with_capacity(p.dists.len() + p.versions.len() + 3);
    segs.push(Seg::Text(format!(
        "{{\"meta\":{{\"api-version\":\"{API_VERSION}\"}},\"name\":{},\"versions\":[",
        json_str(p.name)
    )));
    segs.extend(
        p.versions
            .iter()
            .enumerate()
            .map(|(i, v)| Seg::JsonVersion(v, i == 0)),
    );
    segs.push(Seg::Text("],\"files\":[".into()));
    segs.extend(
        p.dists
            .iter()
            .enumerate()
            .map(|(i, d)| Seg::JsonFile(d, i == 0)),
    );
    segs.push(Seg::Text("]}".into()));
    segs
}

/// The root page: every project (normalised name, display name), linked
/// relative to the page.
pub fn root_html<'a>(projects: &[(&'a str, &'a str)]) -> Vec<Seg<'a>> {
    let mut segs = Vec::with_capacity(projects.len() + 2);
    segs.push(Seg::Text(html_head("Simple index", false)));
    segs.extend(projects.iter().map(|(n, d)| Seg::HtmlProject(n, d)));
    segs.push(Seg::Text(HTML_TAIL.into()));
    segs
}

pub fn root_json<'a>(projects: &[(&'a str, &'a str)]) -> Vec<Seg<'a>> {
    let mut segs = Vec::with_capacity(projects.len() + 2);
    segs.push(Seg::Text(format!(
        "{{\"meta\":{{\"api-version\":\"{API_VERSION}\"}},\"projects\":["
    )));
    segs.extend(
        projects
            .iter()
            .enumerate()
            .map(|(i, (_, d))| Seg::JsonProject(d, i == 0)),
    );
    segs.push(Seg::Text("]}".into()));
    segs
}
