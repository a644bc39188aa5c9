//! The rpm-md XML of one package, in primary.xml, filelists.xml and
//! other.xml, as createrepo_c writes it (element order, `epoch="0"` on
//! versioned entries, primary's file subset).

use std::borrow::Cow;
use std::fmt::Write;

use crate::header::{Dep, RpmInfo, is_primary_file};

/// One package as the three files describe it.
pub struct Entry<'a> {
    pub name: &'a str,
    pub info: &'a RpmInfo,
    pub sha256: &'a str,
    pub size: u64,
    /// Seconds since the epoch the file entered the repository.
    pub time_file: i64,
    /// Relative to the directory holding `repodata/`.
    pub href: &'a str,
}

/// Text safe for XML 1.0 content and attributes: characters XML cannot
/// carry at all (most control characters) are dropped, markup is escaped.
pub fn esc(s: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
    };
    if s.chars().all(allowed) {
        quick_xml::escape::escape(s)
    } else {
        let clean: String = s.chars().filter(|c| allowed(*c)).collect();
        Cow::Owned(quick_xml::escape::escape(&clean).into_owned())
    }
}

fn version(out: &mut String, i: &RpmInfo) {
    let _ = writeln!(
        out,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        i.epoch,
        esc(&i.ver),
        esc(&i.rel)
    );
}

fn text_element(out: &mut String, indent: &str, tag: &str, value: &str) {
    if value.is_empty() {
        let _ = writeln!(out, "{indent}<{tag}/>");
    } else {
        let _ = writeln!(out, "{indent}<{tag}>{}</{tag}>", esc(value));
    }
}

fn deps(out: &mut String, tag: &str, list: &[Dep]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for d in list {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", esc(&d.name));
        if let Some(f) = &d.flags {
            let _ = write!(out, " flags=\"{f}\"");
        }
        for (attr, v) in [("epoch", &d.epoch), ("ver", &d.ver), ("rel", &d.rel)] {
            if let Some(v) = v {
                let _ = write!(out, " {attr}=\"{}\"", esc(v));
            }
        }
        if d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

fn file(out: &mut String, indent: &str, path: &str, kind: Option<&str>) {
    match kind {
        Some(k) => {
            let _ = writeln!(out, "{indent}<file type=\"{k}\">{}</file>", esc(path));
        }
        None => {
            let _ = writeln!(out, "{indent}<file>{}</file>", esc(path));
        }
    }
}

/// The package's `<package type="rpm">` element of primary.xml.
pub fn primary(out: &mut String, e: &Entry<'_>) {
    let i = e.info;
    out.push_str("<package type=\"rpm\">\n");
    text_element(out, "  ", "name", e.name);
    text_element(out, "  ", "arch", &i.arch);
    version(out, i);
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        e.sha256
    );
    text_element(out, "  ", "summary", &i.summary);
    text_element(out, "  ", "description", &i.description);
    text_element(out, "  ", "packager", &i.packager);
    text_element(out, "  ", "url", &i.url);
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        e.time_file, i.buildtime
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        e.size, i.installed_size, i.archive_size
    );
    let _ = writeln!(out, "  <location href=\"{}\"/>", esc(e.href));
    out.push_str("  <format>\n");
    text_element(out, "    ", "rpm:license", &i.license);
    text_element(out, "    ", "rpm:vendor", &i.vendor);
    text_element(out, "    ", "rpm:group", &i.group);
    text_element(out, "    ", "rpm:buildhost", &i.buildhost);
    text_element(out, "    ", "rpm:sourcerpm", &i.sourcerpm);
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        i.header_start, i.header_end
    );
    deps(out, "provides", &i.provides);
    deps(out, "requires", &i.requires);
    deps(out, "conflicts", &i.conflicts);
    deps(out, "obsoletes", &i.obsoletes);
    deps(out, "suggests", &i.suggests);
    deps(out, "enhances", &i.enhances);
    deps(out, "recommends", &i.recommends);
    deps(out, "supplements", &i.supplements);
    for f in i.files.iter().filter(|f| is_primary_file(&f.path)) {
        file(out, "    ", &f.path, f.kind.as_deref());
    }
    out.push_str("  </format>\n</package>\n");
}

fn package_open(out: &mut String, e: &Entry<'_>) {
    let _ = writeln!(
        out,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        e.sha256,
        esc(e.name),
        esc(&e.info.arch)
    );
    version(out, e.info);
}

/// The package's element of filelists.xml: every file.
pub fn filelists(out: &mut String, e: &Entry<'_>) {
    package_open(out, e);
    for f in &e.info.files {
        file(out, "  ", &f.path, f.kind.as_deref());
    }
    out.push_str("</package>\n");
}

/// The package's element of other.xml: its changelog, oldest first.
pub fn other(out: &mut String, e: &Entry<'_>) {
    package_open(out, e);
    for c in e.info.changelog.iter().rev() {
        let _ = writeln!(
            out,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            esc(&c.author),
            c.date,
            esc(&c.text)
        );
    }
    out.push_str("</package>\n");
}

/// The three kinds of per-package metadata, with their files' framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Primary,
    Filelists,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Primary, Kind::Filelists, Kind::Other];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Filelists => "filelists",
            Kind::Other => "other",
        }
    }

    pub fn write(self, out: &mut String, e: &Entry<'_>) {
        match self {
            Kind::Primary => primary(out, e),
            Kind::Filelists => filelists(out, e),
            Kind::Other => other(out, e),
        }
    }

    /// The same for every render: a package count here would change the
    /// first bytes of the file at every upload.
    pub fn head(self) -> String {
        let root = match self {
            Kind::Primary => {
                "metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\""
            }
            Kind::Filelists => "filelists xmlns=\"http://linux.duke.edu/metadata/filelists\"",
            Kind::Other => "otherdata xmlns=\"http://linux.duke.edu/metadata/other\"",
        };
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>\n")
    }

    pub fn tail(self) -> &'static str {
        match self {
            Kind::Primary => "</metadata>\n",
            Kind::Filelists => "</filelists>\n",
            Kind::Other => "</otherdata>\n",
        }
    }
}
