//! The simple repository API pages: per project, PEP 503 HTML and PEP 691
//! JSON (with PEP 700's versions/size/upload-time, PEP 658/714 metadata
//! hashes and PEP 592 yanks), and the root list of projects.
//!
//! Links are relative to the page (`FILE#sha256=...`), and files live under
//! the page's own path, so the same bytes answer at `simple/P/` and at the
//! compatibility path `P/`.

use std::collections::BTreeMap;
use std::fmt::Write;

use artifactd_provider_api::time::Utc;
use artifactd_provider_api::{FileRecord, PackageRecord};
use pep440_rs::Version;
use serde_json::{Value, json};

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
    /// SHA-256 of the `.metadata` file, for wheels.
    pub metadata_sha256: Option<&'a str>,
}

impl Dist<'_> {
    fn requires_python(&self) -> Option<&str> {
        self.file
            .metadata
            .get("requires_python")
            .and_then(Value::as_str)
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
            let _ = write!(out, " data-requires-python=\"{}\"", escape(rp));
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

    fn json(&self) -> Value {
        let f = self.file;
        let mut o = json!({
            "filename": f.filename,
            "url": f.filename,
            "hashes": { "sha256": f.sha256 },
            "size": f.size,
            "upload-time": Utc::from_millis(f.uploaded_at).rfc3339(),
            "yanked": match self.package.yanked.as_deref() {
                None => Value::Bool(false),
                Some("") => Value::Bool(true),
                Some(reason) => Value::String(reason.to_owned()),
            },
        });
        if let Some(rp) = self.requires_python() {
            o["requires-python"] = json!(rp);
        }
        if let Some(sha) = self.metadata_sha256 {
            o["core-metadata"] = json!({ "sha256": sha });
            o["dist-info-metadata"] = json!({ "sha256": sha });
        }
        o
    }
}

/// A project's distribution files in upload order, and its versions.
pub struct Project<'a> {
    pub name: &'a str,
    pub dists: Vec<Dist<'a>>,
    pub versions: Vec<&'a str>,
}

/// Groups packages by project (their names are already normalised).
pub fn projects(packages: &[PackageRecord]) -> BTreeMap<&str, Project<'_>> {
    let mut by_name: BTreeMap<&str, Vec<&PackageRecord>> = BTreeMap::new();
    for p in packages {
        by_name.entry(p.name.as_str()).or_default().push(p);
    }
    by_name
        .into_iter()
        .map(|(name, mut pkgs)| {
            pkgs.sort_by_key(|p| p.id);
            let mut dists = Vec::new();
            for p in &pkgs {
                for f in &p.files {
                    if f.metadata.get("kind").and_then(Value::as_str) == Some("core-metadata") {
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
                        metadata_sha256,
                    });
                }
            }
            let mut versions: Vec<(Option<Version>, &str)> = pkgs
                .iter()
                .map(|p| (p.version.parse::<Version>().ok(), p.version.as_str()))
                .collect();
            versions.sort();
            versions.dedup_by(|a, b| a.1 == b.1);
            let project = Project {
                name,
                dists,
                versions: versions.into_iter().map(|(_, v)| v).collect(),
            };
            (name, project)
        })
        .collect()
}

pub fn project_html(p: &Project<'_>) -> String {
    let name = escape(p.name);
    let mut out = String::with_capacity(256 + p.dists.len() * 320);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
    );
    for d in &p.dists {
        d.html(&mut out);
    }
    out.push_str("  </body>\n</html>\n");
    out
}

pub fn project_json(p: &Project<'_>) -> Vec<u8> {
    let v = json!({
        "meta": { "api-version": API_VERSION },
        "name": p.name,
        "versions": p.versions,
        "files": p.dists.iter().map(Dist::json).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&v).expect("JSON values serialise")
}

/// The root page: every project, linked relative to the page.
pub fn root_html(projects: &[(&str, &str)]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
    );
    for (normalized, display) in projects {
        let _ = writeln!(
            out,
            "    <a href=\"{}/\">{}</a><br>",
            escape(normalized),
            escape(display)
        );
    }
    out.push_str("  </body>\n</html>\n");
    out
}

pub fn root_json(projects: &[(&str, &str)]) -> Vec<u8> {
    let v = json!({
        "meta": { "api-version": API_VERSION },
        "projects": projects.iter().map(|(_, display)| json!({ "name": display })).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&v).expect("JSON values serialise")
}
