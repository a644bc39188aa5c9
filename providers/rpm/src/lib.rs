//! `provider=rpm`: signed yum/dnf repositories (rpm-md).
//!
//! A repository holds *dists* (`el9`, `fc40`, ...), each a yum repository of
//! its own at `<dist>/`: packages at `<dist>/Packages/<first letter>/<NEVRA>.rpm`,
//! metadata at `<dist>/repodata/` (repomd.xml, its detached signature, and
//! gzip primary/filelists/other named by checksum), and a ready `.repo` file.
//! Packages are `name`, `version = [epoch:]version-release`, `section =
//! dist`, `variant = arch` (`src` for source rpms). Everything the metadata
//! needs is read from the header at upload ([`header`]), so publishing never
//! opens a package again.

use artifactd_provider_api::{
    Field, IndexFile, NewFile, NewPackage, PackageRecord, Provider, ProviderError, RenderInput,
    Snippet, SnippetContext, UploadContext, UploadedFile,
};

pub mod filelist;
pub mod header;
mod render;
pub mod xml;

/// For the fuzz targets in `fuzz/` only; not part of the crate's API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::header::{check_layout, extract};
}

use header::RpmInfo;

/// The rpm provider.
#[derive(Default)]
pub struct RpmProvider {
    caches: render::Caches,
}

impl std::fmt::Debug for RpmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RpmProvider")
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(code, message)
}

/// One path segment of letters, digits, `._+` and the `extra` characters
/// the field allows, not starting with a dot or dash. (rpm itself accepts a
/// few more, such as `%{}`, that have no place in URLs.)
fn check_token(what: &str, v: &str, extra: &str) -> Result<(), ProviderError> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && !v.starts_with(['.', '-'])
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+".contains(c) || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_field",
            format!("{what} {v:?} has characters a repository path cannot carry"),
        ))
    }
}

/// The stored version string: `version-release`, with `epoch:` when nonzero.
pub fn evr(info: &RpmInfo) -> String {
    if info.epoch == 0 {
        format!("{}-{}", info.ver, info.rel)
    } else {
        format!("{}:{}-{}", info.epoch, info.ver, info.rel)
    }
}

impl Provider for RpmProvider {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn signed(&self) -> bool {
        true
    }

    fn same_version(&self, given: &str, canonical: &str) -> bool {
        given.strip_prefix("0:").unwrap_or(given) == canonical
    }

    fn ingest(
        &self,
        ctx: &UploadContext<'_>,
        files: &[UploadedFile],
    ) -> Result<Vec<NewPackage>, ProviderError> {
        let dist = ctx
            .param("dist")
            .ok_or_else(|| invalid("missing_parameter", "give dist=, e.g. dist=el9"))?;
        check_token("dist", dist, "-_")?;
        if dist == "pubkey" {
            return Err(invalid(
                "invalid_parameter",
                "dist \"pubkey\" is reserved for the key",
            ));
        }
        let mut out = Vec::new();
        for (upload, file) in files.iter().enumerate() {
            if !file.filename.ends_with(".rpm") {
                return Err(invalid(
                    "unsupported_file_type",
                    format!("{}: upload .rpm files", file.filename),
                ));
            }
            let parsed = header::read(&file.path, file.size)
                .map_err(|e| invalid(e.code(), format!("{}: {e}", file.filename)))?;
            let info = parsed.info;
            check_token("package name", &parsed.name, "-_")?;
            check_token("version", &info.ver, "_~^")?;
            check_token("release", &info.rel, "_~^")?;
            check_token("architecture", &info.arch, "_")?;
            if parsed.is_source != (info.arch == "src") {
                return Err(invalid(
                    "invalid_rpm",
                    format!(
                        "{}: a binary package cannot have architecture src",
                        file.filename
                    ),
                ));
            }
            let filename = format!(
                "{}-{}-{}.{}.rpm",
                parsed.name, info.ver, info.rel, info.arch
            );
            let letter = parsed.name[..1].to_ascii_lowercase();
            let version = evr(&info);
            let metadata = serde_json::to_value(&info).expect("RpmInfo is plain data");
            out.push(NewPackage {
                name: parsed.name,
                version,
                section: dist.to_owned(),
                variant: info.arch.clone(),
                metadata,
                files: vec![NewFile {
                    upload,
                    path: format!("{dist}/Packages/{letter}/{filename}"),
                    filename,
                    content_type: "application/x-rpm".into(),
                    metadata: serde_json::Value::Null,
                }],
                derived: Vec::new(),
            });
        }
        Ok(out)
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError> {
        render::render(&self.caches, input)
    }

    fn describe(&self, package: &PackageRecord) -> Vec<Field> {
        let Ok(info) = package.metadata.parse::<RpmInfo>() else {
            return Vec::new();
        };
        let deps = |list: &[header::Dep]| {
            list.iter()
                .map(|d| match (&d.flags, &d.ver) {
                    (Some(f), Some(v)) => {
                        let op = match f.as_str() {
                            "LT" => "<",
                            "LE" => "<=",
                            "GT" => ">",
                            "GE" => ">=",
                            _ => "=",
                        };
                        let rel = d
                            .rel
                            .as_deref()
                            .map(|r| format!("-{r}"))
                            .unwrap_or_default();
                        format!("{} {op} {v}{rel}", d.name)
                    }
                    _ => d.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut fields = Vec::new();
        let mut add = |label: &str, value: String| {
            if !value.is_empty() {
                fields.push(Field {
                    label: label.into(),
                    value,
                });
            }
        };
        add("Dist", package.section.clone());
        add("Architecture", info.arch.clone());
        add("Summary", info.summary.clone());
        add("Description", info.description.clone());
        add("License", info.license.clone());
        add("URL", info.url.clone());
        add("Requires", deps(&info.requires));
        add("Provides", deps(&info.provides));
        add("Recommends", deps(&info.recommends));
        add("Conflicts", deps(&info.conflicts));
        add("Obsoletes", deps(&info.obsoletes));
        add("Source RPM", info.sourcerpm.clone());
        add("Installed size", info.installed_size.to_string());
        fields
    }

    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        rpm_version::Evr::parse(a).cmp(&rpm_version::Evr::parse(b))
    }

    fn summary(&self, package: &PackageRecord) -> String {
        // One member, not the whole header (file lists, changelog).
        package.metadata.str("summary")
    }

    /// Another dist: the file moves under it (`el9/Packages/...` becomes
    /// `el10/Packages/...`), as repodata locations are relative to the dist.
    fn relocate(&self, path: &str, from: &str, to: &str) -> Result<String, ProviderError> {
        check_token("dist", to, "-_")?;
        if to == "pubkey" {
            return Err(invalid(
                "invalid_field",
                "dist \"pubkey\" is reserved for the key",
            ));
        }
        let rest = path
            .strip_prefix(from)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| ProviderError::Render(format!("{path} is not under {from}/")))?;
        Ok(format!("{to}/{rest}"))
    }

    fn install_snippets(&self, ctx: &SnippetContext<'_>) -> Vec<Snippet> {
        let name = &ctx.repo.name;
        let root = format!("{}/repo/rpm/{name}", ctx.base_url);
        let mut dists: Vec<&str> = match ctx.package {
            Some(p) => vec![p.section.as_str()],
            None => ctx.sections.iter().map(String::as_str).collect(),
        };
        if dists.is_empty() {
            dists.push("DIST");
        }
        let mut out = Vec::new();
        if let Some(p) = ctx.package {
            out.push(Snippet {
                title: format!(
                    "Install {} {} (once the repository below is set up)",
                    p.name, p.version
                ),
                text: format!("sudo dnf install {}-{}", p.name, p.version),
            });
        }
        for dist in dists {
            out.push(Snippet {
                title: format!("Set up {dist} on this machine: /etc/yum.repos.d/{name}.repo"),
                text: format!(
                    "sudo curl -fsSL -o /etc/yum.repos.d/{name}.repo {root}/{dist}/{name}.repo"
                ),
            });
            out.push(Snippet {
                title: format!("The {name}.repo file for {dist}"),
                text: render::repo_file(name, dist)
                    .replace(artifactd_provider_api::BASE_URL, ctx.base_url)
                    .trim_end()
                    .to_owned(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
