//! `provider=apt`: signed Debian/Ubuntu repositories.
//!
//! An upload is either `.deb` files, or one `.dsc` with every file it lists.
//! Packages live in `section = "<dist>/<component>"`, `variant = <arch>` (or
//! `source`), and their files in a dist-independent `pool/`. Control stanzas
//! and file lists are captured at upload, so rendering never reads packages.
//! [`render`] builds, per dist: Packages and Sources (plain, gzip, xz),
//! Contents, Release with MD5Sum/SHA1/SHA256/SHA512, by-hash copies, and
//! the signed InRelease/Release.gpg.

use artifactd_provider_api::{
    ChannelFile, ChannelInput, Field, IndexFile, NewFile, NewPackage, PackageRecord, Provider,
    ProviderError, RenderInput, Snippet, SnippetContext, UploadContext, UploadedFile,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};

mod channel;
mod chunked;
pub mod control;
pub mod deb;
pub mod dsc;
mod hashes;
mod render;
pub mod version;
mod xzjoin;

use control::Paragraph;
use hashes::Digests;

/// The apt provider.
#[derive(Debug, Default)]
pub struct AptProvider {
    caches: render::Caches,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(code, message)
}

/// Dist and component names: one path segment of letters, digits, `.`, `_`, `-`, `+`.
fn check_token(what: &str, v: &str) -> Result<(), ProviderError> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_parameter",
            format!("{what} {v:?}: use letters, digits, '.', '_', '-', '+'"),
        ))
    }
}

/// Package names per Debian policy §5.6.1.
fn check_package_name(name: &str) -> Result<(), ProviderError> {
    let ok = name.len() >= 2
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_package",
            format!("package name {name:?} is not a valid Debian package name"),
        ))
    }
}

/// Versions dpkg accepts ([`version::check`]), short enough for file names.
fn check_version(version: &str) -> Result<(), ProviderError> {
    let refuse = |why: String| {
        invalid(
            "invalid_version",
            format!("version {version:?} is not a valid Debian version: {why}"),
        )
    };
    version::check(version).map_err(|e| refuse(e.to_string()))?;
    if version.len() > 128 {
        return Err(refuse("longer than 128 bytes".into()));
    }
    // The ordering of the web UI reads it with debversion.
    version
        .parse::<debversion::Version>()
        .map_err(|e| refuse(e.to_string()))?;
    Ok(())
}

fn check_arch(arch: &str) -> Result<(), ProviderError> {
    let ok = !arch.is_empty()
        && arch.len() <= 32
        && arch != "source"
        && arch
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_architecture",
            format!("Architecture {arch:?} is not a single Debian architecture"),
        ))
    }
}

/// `pool/<component>/<prefix>/<source>/`: `libfoo` goes under `libf`.
fn pool_dir(component: &str, source: &str) -> String {
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    format!("pool/{component}/{prefix}/{source}")
}

/// The version as it appears in file names (without the epoch).
fn file_version(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, rest)| rest)
}

impl AptProvider {
    fn ingest_debs(
        &self,
        section: &str,
        component: &str,
        files: &[UploadedFile],
    ) -> Result<Vec<NewPackage>, ProviderError> {
        let mut out = Vec::new();
        for (upload, file) in files.iter().enumerate() {
            if !file.filename.ends_with(".deb") {
                return Err(invalid(
                    "unsupported_file_type",
                    format!(
                        "{}: upload .deb files, or one .dsc with the files it lists",
                        file.filename
                    ),
                ));
            }
            let deb = deb::read(&file.path, file.size)
                .map_err(|e| invalid(e.code(), format!("{}: {e}", file.filename)))?;
            let mut control = deb.control;
            let field = |name: &str| {
                control.get(name).map(str::to_owned).ok_or_else(|| {
                    invalid(
                        "invalid_deb",
                        format!("{}: control file has no {name} field", file.filename),
                    )
                })
            };
            let name = field("Package")?;
            let version = field("Version")?;
            let arch = field("Architecture")?;
            check_package_name(&name)?;
            check_version(&version)?;
            check_arch(&arch)?;
            let source = control
                .get("Source")
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or(&name)
                .to_owned();
            check_package_name(&source)?;
            // Fields the repository computes are not taken from the upload.
            for f in ["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"] {
                control.remove(f);
            }
            let digests = Digests::of_file(&file.path)?;
            let filename = format!("{name}_{}_{arch}.deb", file_version(&version));
            out.push(NewPackage {
                name,
                version,
                section: section.to_owned(),
                variant: arch,
                metadata: json!({ "control": control, "source": source }),
                files: vec![NewFile {
                    upload,
                    path: format!("{}/{filename}", pool_dir(component, &source)),
                    filename,
                    content_type: "application/vnd.debian.binary-package".into(),
                    metadata: json!({ "md5": digests.md5, "sha1": digests.sha1, "sha512": digests.sha512, "contents": deb.files }),
                }],
                derived: Vec::new(),
            });
        }
        Ok(out)
    }

    fn ingest_source(
        &self,
        section: &str,
        component: &str,
        files: &[UploadedFile],
        dsc_index: usize,
    ) -> Result<Vec<NewPackage>, ProviderError> {
        let dsc_file = &files[dsc_index];
        let parsed = dsc::read(&dsc_file.path, dsc_file.size)
            .map_err(|e| invalid(e.code(), format!("{}: {e}", dsc_file.filename)))?;
        let source = parsed
            .paragraph
            .get("Source")
            .unwrap_or_default()
            .to_owned();
        let version = parsed
            .paragraph
            .get("Version")
            .unwrap_or_default()
            .to_owned();
        check_package_name(&source)?;
        check_version(&version)?;
        let dir = pool_dir(component, &source);
        let dsc_digests = Digests::of_file(&dsc_file.path)?;
        let mut new_files = vec![NewFile {
            upload: dsc_index,
            filename: dsc_file.filename.clone(),
            path: format!("{dir}/{}", dsc_file.filename),
            content_type: "text/plain; charset=utf-8".into(),
            metadata: json!({ "md5": dsc_digests.md5, "sha1": dsc_digests.sha1, "sha512": dsc_digests.sha512 }),
        }];
        let uploaded: HashMap<&str, usize> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.filename.as_str(), i))
            .collect();
        for listed in &parsed.files {
            let (i, up) = uploaded
                .get(listed.name.as_str())
                .map(|&i| (i, &files[i]))
                .ok_or_else(|| {
                    invalid(
                        "missing_file",
                        format!(
                            "{} lists {}, which is not in the upload",
                            dsc_file.filename, listed.name
                        ),
                    )
                })?;
            let digests = Digests::of_file(&up.path)?;
            let mismatch = up.size != listed.size
                || listed.md5.as_ref().is_some_and(|m| *m != digests.md5)
                || listed.sha256.as_ref().is_some_and(|s| *s != up.sha256);
            if mismatch {
                return Err(invalid(
                    "checksum_mismatch",
                    format!(
                        "{} does not match the size or checksums {} gives for it",
                        listed.name, dsc_file.filename
                    ),
                ));
            }
            new_files.push(NewFile {
                upload: i,
                filename: listed.name.clone(),
                path: format!("{dir}/{}", listed.name),
                content_type: "application/octet-stream".into(),
                metadata: json!({ "md5": digests.md5, "sha1": digests.sha1, "sha512": digests.sha512 }),
            });
        }
        let used: HashSet<&str> = new_files.iter().map(|n| n.filename.as_str()).collect();
        if let Some(extra) = files.iter().find(|f| !used.contains(f.filename.as_str())) {
            return Err(invalid(
                "unused_file",
                format!("{} is not listed in {}", extra.filename, dsc_file.filename),
            ));
        }
        Ok(vec![NewPackage {
            name: source,
            version,
            section: section.to_owned(),
            variant: "source".into(),
            metadata: json!({ "dsc": parsed.paragraph, "dsc_file": dsc_file.filename }),
            files: new_files,
            derived: Vec::new(),
        }])
    }
}

impl Provider for AptProvider {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn signed(&self) -> bool {
        true
    }

    fn ingest(
        &self,
        ctx: &UploadContext<'_>,
        files: &[UploadedFile],
    ) -> Result<Vec<NewPackage>, ProviderError> {
        let dist = ctx
            .param("dist")
            .ok_or_else(|| invalid("missing_parameter", "give dist=, e.g. dist=bookworm"))?;
        let component = ctx.param("component").unwrap_or("main");
        check_token("dist", dist)?;
        check_token("component", component)?;
        let section = format!("{dist}/{component}");
        let dscs: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.filename.ends_with(".dsc"))
            .map(|(i, _)| i)
            .collect();
        match dscs.as_slice() {
            [] => self.ingest_debs(&section, component, files),
            [one] => self.ingest_source(&section, component, files, *one),
            _ => Err(invalid(
                "invalid_upload",
                "upload one source package (.dsc) at a time",
            )),
        }
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<IndexFile>, ProviderError> {
        render::render(&self.caches, input)
    }

    fn channel_source(&self, path: &str) -> Option<String> {
        channel::source(path)
    }

    fn channel_file(&self, input: &ChannelInput<'_>) -> Result<ChannelFile, ProviderError> {
        channel::file(input)
    }

    fn describe(&self, package: &PackageRecord) -> Vec<Field> {
        let control = control_of(package);
        let (dist, component) = package
            .section
            .split_once('/')
            .unwrap_or((&package.section, ""));
        let mut fields = vec![
            Field {
                label: "Distribution".into(),
                value: dist.into(),
            },
            Field {
                label: "Component".into(),
                value: component.into(),
            },
            Field {
                label: "Architecture".into(),
                value: package.variant.clone(),
            },
        ];
        for name in [
            "Description",
            "Depends",
            "Pre-Depends",
            "Recommends",
            "Build-Depends",
            "Section",
            "Maintainer",
            "Homepage",
            "Installed-Size",
        ] {
            if let Some(v) = control.get(name) {
                // Debian marks blank lines of a long description with a lone ".".
                let value = v
                    .lines()
                    .map(|l| if l.trim() == "." { "" } else { l })
                    .collect::<Vec<_>>()
                    .join("\n");
                fields.push(Field {
                    label: name.into(),
                    value,
                });
            }
        }
        fields
    }

    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        match (
            a.parse::<debversion::Version>(),
            b.parse::<debversion::Version>(),
        ) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        }
    }

    fn summary(&self, package: &PackageRecord) -> String {
        control_of(package)
            .get("Description")
            .and_then(|d| d.lines().next())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Any `dist/component`: pool paths do not depend on the dist, and a
    /// package keeps its pool file when it moves between components.
    fn relocate(&self, path: &str, _from: &str, to: &str) -> Result<String, ProviderError> {
        let (dist, component) = to.split_once('/').ok_or_else(|| {
            invalid(
                "invalid_section",
                format!("apt sections are dist/component, e.g. bookworm/main; not {to:?}"),
            )
        })?;
        check_token("dist", dist)?;
        check_token("component", component)?;
        Ok(path.to_owned())
    }

    fn install_snippets(&self, ctx: &SnippetContext<'_>) -> Vec<Snippet> {
        let name = &ctx.repo.name;
        let root = format!("{}/repo/apt/{name}", ctx.base_url);
        // dist -> its components, in the order the sections are given.
        let mut dists: Vec<(&str, Vec<&str>)> = Vec::new();
        for section in ctx.sections {
            let (dist, component) = section.split_once('/').unwrap_or((section, "main"));
            match dists.iter_mut().find(|(d, _)| *d == dist) {
                Some((_, components)) => components.push(component),
                None => dists.push((dist, vec![component])),
            }
        }
        if dists.is_empty() {
            dists.push(("DIST", vec!["main"]));
        }
        let mut out = Vec::new();
        if let Some(p) = ctx.package {
            let (dist, _) = p.section.split_once('/').unwrap_or((&p.section, ""));
            dists.retain(|(d, _)| *d == dist);
            let install = if p.variant == "source" {
                format!("apt-get source {}={}", p.name, p.version)
            } else {
                format!("sudo apt-get install {}={}", p.name, p.version)
            };
            out.push(Snippet {
                title: format!(
                    "Install {} {} (once the source below is set up)",
                    p.name, p.version
                ),
                text: install,
            });
        }
        for (dist, _) in &dists {
            out.push(Snippet {
                title: format!("Set up {dist} on this machine (signing key and deb822 source)"),
                text: format!(
                    "curl -fsSL {root}/dists/{dist}/install | sudo sh\nsudo apt-get update"
                ),
            });
        }
        // By hand: one .sources file, a stanza per dist.
        let stanzas: Vec<String> = dists
            .iter()
            .map(|(dist, components)| {
                format!(
                    "Types: deb\nURIs: {root}\nSuites: {dist}\nComponents: {}\n\
                     Signed-By: /etc/apt/keyrings/{name}.asc",
                    components.join(" ")
                )
            })
            .collect();
        out.push(Snippet {
            title: format!("Or by hand: the key, then /etc/apt/sources.list.d/{name}.sources"),
            text: format!(
                "# sudo curl -fsSL -o /etc/apt/keyrings/{name}.asc {root}/pubkey\n{}",
                stanzas.join("\n\n")
            ),
        });
        out
    }
}

/// A package's control stanza (binary) or `.dsc` fields (source).
fn control_of(package: &PackageRecord) -> Paragraph {
    let meta = render::PackageMeta::of(package);
    meta.control.or(meta.dsc).unwrap_or_default()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
