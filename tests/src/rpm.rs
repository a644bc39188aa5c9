//! Test rpms built with the real `rpmbuild`, and the real `dnf` in an
//! isolated configuration: its own installroot, repos, cache, log and
//! persist directories, no host repositories, the plugins that would touch
//! the host disabled. `--releasever 9 --forcearch x86_64` stand in for what
//! a Debian host cannot tell dnf.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What goes into a test package's spec file.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub epoch: Option<u32>,
    /// `noarch` or `x86_64`.
    pub arch: &'a str,
    /// Preamble lines such as `Requires: libfoo >= 1.1`.
    pub preamble: &'a [&'a str],
    /// Installed files (absolute paths) with their content.
    pub files: &'a [(&'a str, &'a str)],
    pub description: &'a str,
    /// Changelog entries, newest first: (date as "Tue Nov 18 2025", author, text).
    pub changelog: &'a [(&'a str, &'a str, &'a str)],
}

impl<'a> Spec<'a> {
    pub fn new(name: &'a str, version: &'a str) -> Self {
        Spec {
            name,
            version,
            release: "1",
            epoch: None,
            arch: "noarch",
            preamble: &[],
            files: &[],
            description: "A package built by the artifactd tests.",
            changelog: &[],
        }
    }

    fn text(&self) -> String {
        let mut s = format!(
            "Name: {}\nVersion: {}\nRelease: {}\nSummary: Test package {}\nLicense: MIT\nURL: http://example.invalid/{}\nBuildArch: {}\n",
            self.name, self.version, self.release, self.name, self.name, self.arch
        );
        if let Some(e) = self.epoch {
            let _ = writeln!(s, "Epoch: {e}");
        }
        for l in self.preamble {
            let _ = writeln!(s, "{l}");
        }
        let _ = write!(s, "%description\n{}\n%install\n", self.description);
        for (path, content) in self.files {
            let dir = Path::new(path).parent().unwrap().display().to_string();
            let _ = writeln!(
                s,
                "mkdir -p %{{buildroot}}{dir}\nprintf '%s\\n' '{content}' > %{{buildroot}}{path}"
            );
        }
        s.push_str("%files\n");
        for (path, _) in self.files {
            let _ = writeln!(s, "{path}");
        }
        if !self.changelog.is_empty() {
            s.push_str("%changelog\n");
            for (date, author, text) in self.changelog {
                let _ = writeln!(s, "* {date} {author}\n- {text}\n");
            }
        }
        s
    }
}

/// Builds the binary rpm (and with `source`, the source rpm too) of `spec`
/// under `dir`; returns the paths of what was built, binary first.
pub fn rpmbuild(dir: &Path, spec: &Spec<'_>, source: bool) -> Vec<PathBuf> {
    let top = dir.join(format!("rpmbuild-{}-{}", spec.name, spec.version));
    std::fs::create_dir_all(&top).unwrap();
    let spec_path = top.join(format!("{}.spec", spec.name));
    std::fs::write(&spec_path, spec.text()).unwrap();
    let mut out = Vec::new();
    for (mode, sub) in [("-bb", "RPMS"), ("-bs", "SRPMS")] {
        if sub == "SRPMS" && !source {
            continue;
        }
        let o = Command::new("rpmbuild")
            .arg(mode)
            .arg("--quiet")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "_build_id_links none"])
            .args(["--define", "__os_install_post %{nil}"])
            .arg(&spec_path)
            .output()
            .expect("rpmbuild runs (package rpm; tests/run installs it)");
        assert!(
            o.status.success(),
            "rpmbuild {mode} {}:\n{}",
            spec.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let built = walk(&top.join(sub));
        assert_eq!(built.len(), 1, "{built:?}");
        let kept = dir.join(built[0].file_name().unwrap());
        std::fs::rename(&built[0], &kept).unwrap();
        out.push(kept);
        std::fs::remove_dir_all(top.join(sub)).unwrap();
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An isolated dnf.
pub struct Dnf {
    pub dir: PathBuf,
}

/// What one dnf run printed and whether it exited 0.
#[derive(Debug)]
pub struct DnfRun {
    pub ok: bool,
    pub stdout: String,
    /// stdout and stderr.
    pub output: String,
}

impl Dnf {
    /// `repos` are `.repo` files (name, content) for its reposdir.
    pub fn new(dir: &Path, repos: &[(&str, &str)]) -> Dnf {
        for sub in ["root", "repos", "cache", "log", "persist"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (name, content) in repos {
            std::fs::write(dir.join("repos").join(name), content).unwrap();
        }
        std::fs::write(
            dir.join("dnf.conf"),
            format!(
                "[main]\nreposdir={d}/repos\ncachedir={d}/cache\nlogdir={d}/log\npersistdir={d}/persist\nplugins=1\ninstall_weak_deps=0\nskip_if_unavailable=0\n",
                d = dir.display()
            ),
        )
        .unwrap();
        Dnf {
            dir: dir.to_owned(),
        }
    }

    pub fn run(&self, args: &[&str]) -> DnfRun {
        let o = Command::new("dnf")
            .arg("-c")
            .arg(self.dir.join("dnf.conf"))
            .arg("--installroot")
            .arg(self.dir.join("root"))
            .args(["--releasever", "9", "--forcearch", "x86_64"])
            .args(["--disableplugin", "generate_completion_cache,local"])
            .arg(format!("--setopt=reposdir={}/repos", self.dir.display()))
            .args(["-y", "-q"])
            .args(args)
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .output()
            .expect("dnf runs (package dnf; tests/run installs it)");
        DnfRun {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(run.ok, "dnf {args:?} failed:\n{}", run.output);
        run.stdout
    }

    /// Sorted output lines of a successful run.
    pub fn lines(&self, args: &[&str]) -> Vec<String> {
        let mut l: Vec<String> = self
            .ok(args)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect();
        l.sort();
        l
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Rewrites the main header of a built rpm: `edit(tag, data)` sees each
/// entry's tag and the data store from that entry's offset on, and may
/// change bytes in place (the header keeps its size). The header digests in
/// the signature header are renamed to tags nobody reads, so that only
/// what was edited can be objected to: how a crafted package looks.
pub fn with_header_edit(rpm: &[u8], mut edit: impl FnMut(u32, &mut [u8])) -> Vec<u8> {
    let mut b = rpm.to_vec();
    let (sig_tags, sig_data) = (be32(&b, 96 + 8) as usize, be32(&b, 96 + 12) as usize);
    for i in 0..sig_tags {
        let at = 96 + 16 + i * 16;
        // SHA1 (269), SHA256 (273), MD5 (1004) become tags nobody reads.
        if matches!(be32(&b, at), 269 | 273 | 1004) {
            b[at..at + 4].copy_from_slice(&(0x7fff_0000u32 + i as u32).to_be_bytes());
        }
    }
    let h = (96 + 16 + sig_tags * 16 + sig_data).div_ceil(8) * 8;
    let (tags, data) = (be32(&b, h + 8) as usize, be32(&b, h + 12) as usize);
    let store = h + 16 + tags * 16;
    for i in 0..tags {
        let at = h + 16 + i * 16;
        let (tag, off) = (be32(&b, at), be32(&b, at + 8) as usize);
        edit(tag, &mut b[store + off..store + data]);
    }
    b
}

/// Replaces the NUL-terminated string at the start of `data` by `new`, of
/// the same length.
pub fn replace_string(data: &mut [u8], new: &str) {
    let old_len = data.iter().position(|c| *c == 0).unwrap();
    assert_eq!(old_len, new.len(), "same length only");
    data[..old_len].copy_from_slice(new.as_bytes());
}

/// Rewrites the package name inside a built rpm (same length), as
/// [`with_header_edit`] does: how a crafted package with a hostile name looks.
pub fn with_name(rpm: &[u8], name: &str) -> Vec<u8> {
    let mut found = false;
    let b = with_header_edit(rpm, |tag, data| {
        if tag == 1000 {
            replace_string(data, name);
            found = true;
        }
    });
    assert!(found, "no name tag");
    b
}
