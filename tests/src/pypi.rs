//! Real pip, uv and twine against artifactd, and wheels/sdists built here.
//!
//! The tools come from the virtualenv `tests/run` prepares
//! (`ARTIFACTD_TEST_PYTOOLS`, its `bin/`). Every client runs with a clean
//! environment: no `PIP_*`/`UV_*` variables, `PIP_CONFIG_FILE=/dev/null` and
//! `uv --no-config`, so packages can only come from the server under test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha256};

/// What a test wheel or sdist declares.
#[derive(Debug, Clone, Default)]
pub struct Dist<'a> {
    /// As written in METADATA (`Alpha_Pkg`).
    pub name: &'a str,
    pub version: &'a str,
    pub requires_python: Option<&'a str>,
    pub requires_dist: &'a [&'a str],
    /// Overrides the Name in METADATA (for mismatch tests).
    pub metadata_name: Option<&'a str>,
    /// Bytes appended to METADATA (as the long description).
    pub description: &'a str,
}

impl Dist<'_> {
    /// The wheel's file name stem part: `alpha_pkg-1.0`.
    fn stem(&self) -> String {
        format!("{}-{}", self.name.replace(['-', '.'], "_"), self.version)
    }

    pub fn wheel_name(&self) -> String {
        format!("{}-py3-none-any.whl", self.stem())
    }

    pub fn sdist_name(&self) -> String {
        format!("{}.tar.gz", self.stem())
    }

    pub fn metadata(&self) -> String {
        let mut m = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: test package {}\n",
            self.metadata_name.unwrap_or(self.name),
            self.version,
            self.name
        );
        if let Some(rp) = self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for d in self.requires_dist {
            m.push_str(&format!("Requires-Dist: {d}\n"));
        }
        m.push('\n');
        m.push_str(self.description);
        m
    }

    /// A wheel pip can install: one module, METADATA, WHEEL and a RECORD
    /// with real hashes.
    pub fn wheel(&self) -> Vec<u8> {
        let module = self.name.to_lowercase().replace(['-', '.'], "_");
        let dist_info = format!("{}.dist-info", self.stem());
        let files: Vec<(String, Vec<u8>)> = vec![
            (
                format!("{module}/__init__.py"),
                format!("VERSION = {:?}\n", self.version).into_bytes(),
            ),
            (format!("{dist_info}/METADATA"), self.metadata().into_bytes()),
            (
                format!("{dist_info}/WHEEL"),
                b"Wheel-Version: 1.0\nGenerator: artifactd-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
            ),
        ];
        let mut record = String::new();
        for (path, bytes) in &files {
            let digest =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
            record.push_str(&format!("{path},sha256={digest},{}\n", bytes.len()));
        }
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        let mut all = files;
        all.push((format!("{dist_info}/RECORD"), record.into_bytes()));
        zip_of(&all)
    }

    /// An sdist: `NAME-VERSION/PKG-INFO` and a pyproject.toml.
    pub fn sdist(&self) -> Vec<u8> {
        let top = self.stem();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let pyproject = format!(
            "[project]\nname = {:?}\nversion = {:?}\n",
            self.name, self.version
        );
        for (path, content) in [
            (format!("{top}/PKG-INFO"), self.metadata().into_bytes()),
            (format!("{top}/pyproject.toml"), pyproject.into_bytes()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, &content[..])
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }
}

/// A deflated zip of the given files.
pub fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (path, bytes) in files {
        w.start_file(path.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Where the Python tools live.
pub fn tools_bin() -> PathBuf {
    let dir = std::env::var("ARTIFACTD_TEST_PYTOOLS").unwrap_or_else(|_| {
        panic!("ARTIFACTD_TEST_PYTOOLS is not set: run the suite with tests/run, which installs twine and uv")
    });
    PathBuf::from(dir).join("bin")
}

/// A command with a clean environment: only PATH and HOME survive.
pub fn clean_command(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("UV_NO_CONFIG", "1")
        .env("UV_CACHE_DIR", home.join("uv-cache"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Output of a client run.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub output: String,
}

pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run client");
    Run {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A fresh virtualenv (with the interpreter's own bundled pip) under `dir`.
pub struct Venv {
    pub dir: PathBuf,
    pub home: PathBuf,
}

impl Venv {
    pub fn new(dir: &Path) -> Venv {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let venv = dir.join("venv");
        let r = run({
            let mut c = clean_command(Path::new("python3"), &home);
            c.args(["-m", "venv"]).arg(&venv);
            c
        });
        assert!(r.ok, "python3 -m venv failed:\n{}", r.output);
        Venv { dir: venv, home }
    }

    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python")
    }

    /// `pip install --index-url INDEX ARGS...` in this venv.
    pub fn pip_install(&self, index: &str, args: &[&str]) -> Run {
        let mut c = clean_command(&self.python(), &self.home);
        c.args([
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--index-url",
            index,
        ])
        .args(args);
        run(c)
    }

    /// `uv pip install --index-url INDEX ARGS...` into this venv.
    pub fn uv_install(&self, index: &str, args: &[&str]) -> Run {
        let mut c = clean_command(&tools_bin().join("uv"), &self.home);
        c.args(["pip", "install", "--no-config", "--no-cache", "--python"])
            .arg(self.python())
            .args(["--index-url", index])
            .args(args);
        run(c)
    }

    /// `name==version` of every installed distribution (normalised names).
    pub fn installed(&self) -> Vec<String> {
        let mut c = clean_command(&self.python(), &self.home);
        c.args([
            "-c",
            "import importlib.metadata as m, re\nfor d in m.distributions(): print(re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() + '==' + d.version)",
        ]);
        let r = run(c);
        assert!(r.ok, "listing installed distributions:\n{}", r.output);
        let mut v: Vec<String> = r.output.lines().map(str::to_owned).collect();
        v.sort();
        v
    }
}

/// `twine upload --repository-url URL -u __token__ -p TOKEN FILES...`.
pub fn twine_upload(home: &Path, url: &str, token: &str, files: &[PathBuf]) -> Run {
    let mut c = clean_command(&tools_bin().join("twine"), home);
    c.args([
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--verbose",
        "--repository-url",
        url,
        "-u",
        "__token__",
        "-p",
        token,
    ])
    .args(files);
    run(c)
}
