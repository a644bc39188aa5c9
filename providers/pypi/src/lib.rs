//! `provider=pypi`: a Python package index that pip, uv and twine use
//! unmodified.
//!
//! Uploads come through `/addpkg` or twine's legacy upload API (a POST to
//! the repository root). Wheels and sdists are read end to end; a wheel's
//! METADATA is kept as a derived `<file>.metadata` (PEP 658). A project is
//! one package name (PEP 503-normalised), a package one PEP 440 version
//! whose files are its wheels and sdists, stored at `simple/<project>/<file>`.
//!
//! Clients read `simple/` and `simple/<project>/` (and the same at the
//! repository root for `pip -i <repo>/`), in HTML or JSON chosen by the
//! `Accept` header (PEP 691).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use artifactd_provider_api::{
    DerivedFile, Field, IndexBody, IndexFile, NewFile, NewPackage, PackageRecord, Part, Provider,
    ProviderError, ReadRequest, RenderInput, Resolution, Snippet, SnippetContext, UploadContext,
    UploadedFile,
};
use pep440_rs::Version;
use serde_json::{Value, json};

mod chunks;
pub mod dist;
pub mod member;
pub mod metadata;
pub mod names;
mod negotiate;
pub mod render;
mod versions;

use render::Repr;

/// The pypi provider.
#[derive(Debug, Default)]
pub struct PypiProvider {
    /// Per repository: the pages of its last render.
    cache: Mutex<HashMap<i64, Arc<RepoCache>>>,
}

/// What one render leaves for the next, so unchanged projects cost a hash
/// of their packages' `(id, seq)` and changed ones re-render changed parts.
#[derive(Debug, Default)]
struct RepoCache {
    projects: HashMap<String, Arc<ProjectPages>>,
    root: chunks::PartCache,
}

#[derive(Debug)]
struct ProjectPages {
    /// SHA-256 over the sorted `(id, seq)` of the project's packages.
    fingerprint: [u8; 32],
    display: String,
    html: Vec<Part>,
    json: Vec<Part>,
    parts: chunks::PartCache,
    /// The version order, so a growing project places only new versions.
    versions: Mutex<versions::VersionOrder>,
}

fn fingerprint(pkgs: &[&PackageRecord]) -> [u8; 32] {
    use sha2::Digest;
    let mut ids: Vec<(i64, i64)> = pkgs.iter().map(|p| (p.id, p.seq)).collect();
    ids.sort_unstable();
    let mut h = sha2::Sha256::new();
    for (id, seq) in ids {
        h.update(id.to_le_bytes());
        h.update(seq.to_le_bytes());
    }
    h.finalize().into()
}

fn invalid(code: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(code, message)
}

impl PypiProvider {
    fn ingest_file(
        &self,
        ctx: &UploadContext<'_>,
        upload: usize,
        file: &UploadedFile,
    ) -> Result<NewPackage, ProviderError> {
        if let Some(declared) = ctx.param("sha256_digest")
            && !declared.trim().eq_ignore_ascii_case(&file.sha256)
        {
            return Err(invalid(
                "digest_mismatch",
                format!(
                    "sha256_digest {declared:?} does not match {} (sha256 {})",
                    file.filename, file.sha256
                ),
            ));
        }
        let found = dist::inspect(file)?;
        if let Some(filetype) = ctx.param("filetype")
            && filetype != found.kind.filetype()
        {
            return Err(invalid(
                "filetype_mismatch",
                format!(
                    "filetype={filetype:?} but {} is a {}",
                    file.filename,
                    found.kind.filetype()
                ),
            ));
        }
        let md = &found.metadata;
        let project = names::normalize(&md.name);
        let path = format!("simple/{project}/{}", file.filename);
        let derived = found
            .metadata_file
            .map(|bytes| DerivedFile {
                filename: format!("{}.metadata", file.filename),
                path: format!("{path}.metadata"),
                content_type: "text/plain; charset=utf-8".into(),
                metadata: json!({ "kind": "core-metadata" }),
                bytes,
            })
            .into_iter()
            .collect();
        Ok(NewPackage {
            name: project,
            version: md.version.to_string(),
            section: String::new(),
            variant: String::new(),
            metadata: json!({
                "display_name": md.name,
                "summary": md.summary,
                "requires_python": md.requires_python,
                "metadata_version": md.metadata_version,
                "requires_dist": md.all("Requires-Dist").collect::<Vec<_>>(),
                "home_page": md.get("Home-page"),
                "license": md.get("License-Expression").or(md.get("License")),
            }),
            files: vec![NewFile {
                upload,
                filename: file.filename.clone(),
                path,
                content_type: found.kind.content_type().into(),
                metadata: json!({
                    "kind": if found.kind == dist::Kind::Wheel { "wheel" } else { "sdist" },
                    "requires_python": md.requires_python,
                    "tags": found.tags,
                }),
            }],
            derived,
        })
    }
}

impl Provider for PypiProvider {
    fn name(&self) -> &'static str {
        "pypi"
    }

    fn ingest(
        &self,
        ctx: &UploadContext<'_>,
        files: &[UploadedFile],
    ) -> Result<Vec<NewPackage>, ProviderError> {
        if let Some(action) = ctx.param(":action")
            && action != "file_upload"
        {
            return Err(invalid(
                "unsupported_action",
                format!(":action={action:?} is not supported; only file_upload is"),
            ));
        }
        if files.len() > 1 && ctx.param("sha256_digest").is_some() {
            return Err(invalid(
                "ambiguous_digest",
                "sha256_digest names one file; upload one file per request",
            ));
        }
        let mut out: Vec<NewPackage> = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let p = self.ingest_file(ctx, i, file)?;
            match out
                .iter_mut()
                .find(|o| o.name == p.name && o.version == p.version)
            {
                Some(o) => {
                    o.files.extend(p.files);
                    o.derived.extend(p.derived);
                }
                None => out.push(p),
            }
        }
        Ok(out)
    }

    fn canonical_name(&self, given: &str) -> String {
        names::normalize(given)
    }

    fn same_version(&self, given: &str, canonical: &str) -> bool {
        match (Version::from_str(given), Version::from_str(canonical)) {
            (Ok(a), Ok(b)) => a == b,
            _ => given == canonical,
        }
    }

    fn yankable(&self) -> bool {
        true
    }

    fn accepts_upload_at(&self, path: &str) -> bool {
        matches!(path, "" | "legacy/" | "simple/")
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError> {
        let previous = self
            .cache
            .lock()
            .expect("lock")
            .get(&input.repo.id)
            .cloned()
            .unwrap_or_default();
        let mut by_name: BTreeMap<&str, Vec<&PackageRecord>> = BTreeMap::new();
        for p in input.packages {
            by_name.entry(p.name.as_str()).or_default().push(p);
        }
        let mut next = RepoCache::default();
        let mut files = Vec::with_capacity(by_name.len() * 3 + 3);
        for (name, pkgs) in by_name {
            let fp = fingerprint(&pkgs);
            let pages = match previous.projects.get(name) {
                Some(p) if p.fingerprint == fp => p.clone(),
                old => {
                    let empty = chunks::PartCache::default();
                    let mut asm = chunks::Assembler::new(old.map_or(&empty, |o| &o.parts));
                    // Taken from the previous pages, which no render reads again
                    // (a failed render leaves them without: the next starts over).
                    let mut versions = old
                        .map(|o| std::mem::take(&mut *o.versions.lock().expect("lock")))
                        .unwrap_or_default();
                    let project = render::project(name, pkgs, &mut versions);
                    let display = project
                        .dists
                        .first()
                        .map(|d| d.package.metadata.str("display_name"))
                        .filter(|d| !d.is_empty())
                        .unwrap_or_else(|| name.to_owned());
                    let html = asm.page(&render::project_html(&project));
                    let json = asm.page(&render::project_json(&project));
                    drop(project);
                    Arc::new(ProjectPages {
                        fingerprint: fp,
                        display,
                        html,
                        json,
                        parts: asm.finish(),
                        versions: Mutex::new(versions),
                    })
                }
            };
            pages_of(
                &mut files,
                Some(name),
                pages.html.clone(),
                pages.json.clone(),
            );
            next.projects.insert(name.to_owned(), pages);
        }
        let listing: Vec<(&str, &str)> = next
            .projects
            .iter()
            .map(|(n, p)| (n.as_str(), p.display.as_str()))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let mut asm = chunks::Assembler::new(&previous.root);
        let html = asm.page(&render::root_html(&listing));
        let json = asm.page(&render::root_json(&listing));
        let root = asm.finish();
        pages_of(&mut files, None, html, json);
        next.root = root;
        self.cache
            .lock()
            .expect("lock")
            .insert(input.repo.id, Arc::new(next));
        Ok(files)
    }

    fn resolve(&self, path: &str, req: &ReadRequest<'_>) -> Resolution {
        let page = |project: Option<&str>| match negotiate::choose(req.accept) {
            Some(repr) => Resolution::Negotiated(render::page_path(project, repr)),
            None => Resolution::NotAcceptable(format!(
                "this page is available as {}, {} and {}",
                render::V1_JSON,
                render::V1_HTML,
                "text/html"
            )),
        };
        if path.starts_with('+') {
            return Resolution::Serve(path.to_owned());
        }
        let (prefix, rest) = match path.strip_prefix("simple") {
            Some("") => return Resolution::Redirect("simple/".into()),
            Some(r) if r.starts_with('/') => ("simple/", &r[1..]),
            _ => ("", path),
        };
        if rest.is_empty() {
            return page(None);
        }
        let (name, file) = match rest.split_once('/') {
            Some((n, f)) => (n, Some(f)),
            None => (rest, None),
        };
        if !names::is_valid(name) {
            return Resolution::NotFound;
        }
        let norm = names::normalize(name);
        match file {
            None => Resolution::Redirect(format!("{prefix}{norm}/")),
            Some(_) if norm != name => {
                Resolution::Redirect(format!("{prefix}{norm}/{}", file.unwrap_or_default()))
            }
            Some("") => page(Some(name)),
            Some(f) if !f.contains('/') => Resolution::Serve(format!("simple/{name}/{f}")),
            Some(_) => Resolution::NotFound,
        }
    }

    fn describe(&self, package: &PackageRecord) -> Vec<Field> {
        let m = package.metadata.value();
        let mut out = Vec::new();
        for (label, key) in [
            ("Summary", "summary"),
            ("Requires-Python", "requires_python"),
            ("Home page", "home_page"),
            ("License", "license"),
        ] {
            if let Some(v) = m.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()) {
                out.push(Field {
                    label: label.into(),
                    value: v.into(),
                });
            }
        }
        if let Some(reason) = &package.yanked {
            out.push(Field {
                label: "Yanked".into(),
                value: if reason.is_empty() {
                    "yes".into()
                } else {
                    reason.clone()
                },
            });
        }
        out
    }

    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        match (a.parse::<Version>(), b.parse::<Version>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        }
    }

    fn summary(&self, package: &PackageRecord) -> String {
        package.metadata.str("summary")
    }

    fn install_snippets(&self, ctx: &SnippetContext<'_>) -> Vec<Snippet> {
        let root = format!("{}/repo/pypi/{}", ctx.base_url, ctx.repo.name);
        let (what, requirement) = match ctx.package {
            Some(p) => (
                format!("{} {}", p.name, p.version),
                format!("'{}=={}'", p.name, p.version),
            ),
            None => ("a package".to_owned(), "PACKAGE".to_owned()),
        };
        let mut out = vec![
            Snippet {
                title: format!("Install {what} with pip"),
                text: format!("pip install --index-url {root}/simple/ {requirement}"),
            },
            Snippet {
                title: format!("Install {what} with uv"),
                text: format!("uv pip install --index-url {root}/simple/ {requirement}"),
            },
        ];
        if ctx.package.is_none() {
            out.push(Snippet {
                title: "Use it for every pip command (pip.conf)".into(),
                text: format!("[global]\nindex-url = {root}/simple/"),
            });
            out.push(Snippet {
                title: "Upload with twine".into(),
                text: format!("twine upload --repository-url {root}/ -u __token__ -p TOKEN dist/*"),
            });
        }
        out
    }
}

/// The three representations of one page; the PEP 691 HTML type is the
/// same bytes as `text/html`.
fn pages_of(files: &mut Vec<IndexFile>, project: Option<&str>, html: Vec<Part>, json: Vec<Part>) {
    let html_path = render::page_path(project, Repr::Html);
    files.push(IndexFile {
        path: render::page_path(project, Repr::V1Html),
        content_type: render::V1_HTML.into(),
        body: IndexBody::Alias(html_path.clone()),
    });
    files.push(IndexFile {
        path: html_path,
        content_type: render::HTML.into(),
        body: IndexBody::Parts(html),
    });
    files.push(IndexFile {
        path: render::page_path(project, Repr::V1Json),
        content_type: render::V1_JSON.into(),
        body: IndexBody::Parts(json),
    });
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
