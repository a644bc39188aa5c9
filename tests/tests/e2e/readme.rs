//! README.md's examples, run as written against a test server.
//!
//! Every ```` ```sh ```` block runs, in order, in one `bash` with
//! `set -euo pipefail`, in a scratch directory holding the files the
//! examples upload (made here or copied from `tests/fixtures/`). What the
//! README assumes is bound to the test server:
//!
//! - its base URL `http://127.0.0.1:8080` (the default listen address) is
//!   replaced by the test server's URL;
//! - a line `NAME=...` (a value the reader fills in) gets the test's value
//!   for `NAME` (only `ADMIN`, the admin token, is known);
//! - `~/.curlrc` says `fail` (and `silent`, `show-error`), so an example
//!   whose request is answered with an HTTP error fails here, where pasted it
//!   would print the JSON error;
//! - `rpcli`, `twine` and `uv` are on `PATH`; `HOME` is a fresh directory.
//!
//! A ```` ```toml ```` block must be a valid `artifactd` configuration file
//! (`artifactd --config FILE config` accepts it and shows its values), or,
//! marked `<!-- readme-test: rpcli-config -->`, an rpcli config file whose
//! profile `local` reaches the test server. A block that cannot run here is
//! marked on the line right before its fence with
//! `<!-- readme-test: skip (REASON) -->`. Shell examples in fences spelled
//! other than `sh`, markers that precede no fence and unknown placeholders
//! fail the test.
//!
//! One backend pair is enough for documentation: this runs on SQLite + local
//! storage only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use artifactd_tests::pypi::{Dist, tools_bin, zip_of};
use artifactd_tests::rpm::{Spec, rpmbuild};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, tar_with};

/// The base URL the README's examples use.
const README_URL: &str = "http://127.0.0.1:8080";

/// What a marker comment says about the block after it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    Skip(String),
    RpcliConfig,
}

/// One fenced code block of a Markdown file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    /// The content, with the fence's indentation removed.
    body: String,
    marker: Option<Marker>,
}

/// Parses a `<!-- readme-test: ... -->` line; `None` for any other line.
fn marker(line: &str, number: usize) -> Option<Result<Marker, String>> {
    let rest = line.trim().strip_prefix("<!--")?.trim_start();
    let rest = rest.strip_prefix("readme-test")?;
    let parsed = rest
        .strip_prefix(':')
        .and_then(|r| r.trim_end().strip_suffix("-->"))
        .map(str::trim)
        .ok_or_else(|| {
            format!("README.md:{number}: a marker is `<!-- readme-test: ... -->` on one line")
        })
        .and_then(|what| {
            if what == "rpcli-config" {
                return Ok(Marker::RpcliConfig);
            }
            let reason = what
                .strip_prefix("skip")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
                .filter(|r| !r.is_empty());
            match reason {
                Some(reason) => Ok(Marker::Skip(reason.to_owned())),
                None => Err(format!(
                    "README.md:{number}: unknown marker {what:?}: `skip (REASON)` or `rpcli-config`"
                )),
            }
        });
    Some(parsed)
}

/// Every fenced block, each with the marker on the line right before it.
fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut pending: Option<(usize, Marker)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let number = i + 1;
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if trimmed.starts_with("~~~") {
            return Err(format!("README.md:{number}: use ``` fences"));
        }
        if let Some(found) = marker(line, number) {
            if let Some((at, _)) = pending {
                return Err(format!("README.md:{at}: marker not right before a fence"));
            }
            pending = Some((number, found?));
            i += 1;
            continue;
        }
        if !trimmed.starts_with("```") {
            if let Some((at, _)) = pending {
                return Err(format!("README.md:{at}: marker not right before a fence"));
            }
            i += 1;
            continue;
        }
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        let info = trimmed[ticks..].trim().to_owned();
        let mut body = String::new();
        let mut j = i + 1;
        loop {
            let Some(content) = lines.get(j) else {
                return Err(format!("README.md:{number}: fence not closed"));
            };
            let t = content.trim();
            if t.len() >= ticks && t.chars().all(|c| c == '`') {
                break;
            }
            let strip = content.len() - content.trim_start().len();
            body.push_str(&content[strip.min(indent)..]);
            body.push('\n');
            j += 1;
        }
        out.push(Block {
            line: number,
            info,
            body,
            marker: pending.take().map(|(_, m)| m),
        });
        i = j + 1;
    }
    if let Some((at, _)) = pending {
        return Err(format!("README.md:{at}: marker not right before a fence"));
    }
    Ok(out)
}

/// A `NAME=...` (or `export NAME=...`) line bound to its value, other
/// lines as they are.
fn bind_placeholder(line: &str, values: &BTreeMap<&str, &str>) -> Result<String, String> {
    let (export, assignment) = match line.strip_prefix("export ") {
        Some(rest) => ("export ", rest),
        None => ("", line),
    };
    let Some((name, rest)) = assignment.split_once('=') else {
        return Ok(line.to_owned());
    };
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let Some(after) = rest.strip_prefix("...") else {
        return Ok(line.to_owned());
    };
    if !is_name || !(after.is_empty() || after.starts_with(char::is_whitespace)) {
        return Ok(line.to_owned());
    }
    match values.get(name) {
        Some(value) => Ok(format!("{export}{name}='{value}'{after}")),
        None => Err(format!(
            "placeholder {name}=... has no test value (known: {:?})",
            values.keys().collect::<Vec<_>>()
        )),
    }
}

/// The sh blocks as one script, and the README line of each script line.
fn script(blocks: &[Block], url: &str) -> Result<(String, Vec<Option<usize>>), String> {
    let values = BTreeMap::from([("ADMIN", ADMIN_TOKEN)]);
    let mut text = String::from(
        "set -euo pipefail\nexec 2>&1\ntrap 'echo \"readme-test: exit $? at line $LINENO\"' ERR\n",
    );
    let mut lines = vec![None; 3];
    for block in blocks {
        if block.info != "sh" || block.marker.is_some() {
            continue;
        }
        for (k, line) in block.body.lines().enumerate() {
            let readme_line = block.line + 1 + k;
            let line = bind_placeholder(&line.replace(README_URL, url), &values)
                .map_err(|e| format!("README.md:{readme_line}: {e}"))?;
            if line.contains("127.0.0.1:8080") || line.contains("localhost:8080") {
                return Err(format!(
                    "README.md:{readme_line}: examples reach the server as {README_URL}"
                ));
            }
            text.push_str(&line);
            text.push('\n');
            lines.push(Some(readme_line));
        }
    }
    Ok((text, lines))
}

/// A binary built next to the test binary (for `artifactd`, `ARTIFACTD_BIN`
/// wins, as in the harness).
fn target_bin(name: &str) -> PathBuf {
    if name == "artifactd"
        && let Ok(p) = std::env::var("ARTIFACTD_BIN")
    {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join(name);
    assert!(
        bin.exists(),
        "{} missing: build it first (cargo build --workspace --bins)",
        bin.display()
    );
    bin
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// Where the examples run: `work` (the current directory) holds the files
/// they upload, `bin` the programs they call, `home` is their `HOME`.
struct Scratch {
    root: PathBuf,
    work: PathBuf,
    bin: PathBuf,
    home: PathBuf,
}

impl Scratch {
    fn new(root: &Path) -> Scratch {
        let s = Scratch {
            root: root.to_owned(),
            work: root.join("work"),
            bin: root.join("bin"),
            home: root.join("home"),
        };
        for d in [&s.work, &s.bin, &s.home] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(s.home.join(".curlrc"), "fail\nsilent\nshow-error\n").unwrap();
        s
    }

    /// A command with only the environment the examples are given.
    fn command(&self, program: &Path) -> tokio::process::Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = tokio::process::Command::new(program);
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("LC_ALL", "C.UTF-8")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .env("UV_NO_CONFIG", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }
}

/// Writes the files the examples upload and links the programs they call.
fn prepare(scratch: &Scratch) {
    let work = &scratch.work;
    let gz = |bytes: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(
        work.join("mytool-1.4.2.tar.gz"),
        gz(&tar_with("mytool/README", b"mytool 1.4.2\n")),
    )
    .unwrap();
    std::fs::write(
        work.join("build.zip"),
        zip_of(&[("index.html".into(), b"<h1>site 2.0</h1>\n".to_vec())]),
    )
    .unwrap();
    for f in [
        "deb/hello_2.10-3_amd64.deb",
        "deb-src/hello_2.10-3.dsc",
        "deb-src/hello_2.10.orig.tar.gz",
        "deb-src/hello_2.10.orig.tar.gz.asc",
        "deb-src/hello_2.10-3.debian.tar.xz",
    ] {
        let name = Path::new(f).file_name().unwrap();
        std::fs::copy(fixture(f), work.join(name)).unwrap();
    }
    let dist = work.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let mypkg = Dist {
        name: "mypkg",
        version: "1.0",
        ..Dist::default()
    };
    std::fs::write(dist.join(mypkg.wheel_name()), mypkg.wheel()).unwrap();
    std::fs::write(dist.join(mypkg.sdist_name()), mypkg.sdist()).unwrap();
    let build = scratch.root.join("rpmbuild");
    std::fs::create_dir_all(&build).unwrap();
    let spec = Spec {
        release: "1.el9",
        arch: "x86_64",
        files: &[("/usr/bin/hello", "#!/bin/sh")],
        ..Spec::new("hello", "1.0")
    };
    let rpm = &rpmbuild(&build, &spec, false)[0];
    std::fs::rename(rpm, work.join("hello-1.0-1.el9.x86_64.rpm")).unwrap();

    let tools = tools_bin();
    for (name, target) in [
        ("rpcli", target_bin("rpcli")),
        ("twine", tools.join("twine")),
        ("uv", tools.join("uv")),
    ] {
        std::os::unix::fs::symlink(target, scratch.bin.join(name)).unwrap();
    }
}

/// Runs the sh blocks; panics with the failing README line and the output.
async fn run_sh(blocks: &[Block], server: &Server, scratch: &Scratch) {
    let (text, lines) = script(blocks, &server.url).unwrap_or_else(|e| panic!("{e}"));
    let script_path = scratch.root.join("readme.sh");
    std::fs::write(&script_path, &text).unwrap();
    let mut cmd = scratch.command(Path::new("bash"));
    cmd.arg(&script_path).stdout(Stdio::piped());
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("README examples finish within 10 minutes")
        .expect("bash runs");
    let output = String::from_utf8_lossy(&out.stdout);
    std::fs::write(scratch.root.join("readme.log"), output.as_bytes()).unwrap();
    if out.status.success() {
        return;
    }
    let at = output
        .lines()
        .find_map(|l| l.strip_prefix("readme-test: exit "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| lines.get(n.checked_sub(1)?).copied().flatten());
    let block = at.and_then(|at| blocks.iter().rev().find(|b| b.line < at));
    let all: Vec<&str> = output.lines().collect();
    let tail = all[all.len().saturating_sub(40)..].join("\n");
    panic!(
        "a README example failed ({}) at README.md:{} (block at line {}); the end of its output:\n{tail}\n--- server log ---\n{}",
        out.status,
        at.map_or("?".into(), |n| n.to_string()),
        block.map_or("?".into(), |b| b.line.to_string()),
        server.log_text()
    );
}

/// Every leaf of a TOML table as `dotted.key = value`.
fn leaves(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => leaves(&key, t, out),
            v => {
                out.insert(key, v.clone());
            }
        }
    }
}

/// `artifactd --config FILE config` accepts the block and shows each value
/// it sets (secrets hidden).
async fn check_artifactd_config(block: &Block, scratch: &Scratch) {
    let file = scratch.root.join(format!("artifactd-{}.toml", block.line));
    std::fs::write(&file, &block.body).unwrap();
    let mut cmd = scratch.command(&target_bin("artifactd"));
    cmd.arg("--config").arg(&file).arg("config");
    let out = cmd.output().await.unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "README.md:{}: artifactd refuses this configuration:\n{}",
        block.line,
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut want, mut got) = (BTreeMap::new(), BTreeMap::new());
    leaves("", &block.body.parse().unwrap(), &mut want);
    leaves("", &shown.parse().unwrap(), &mut got);
    for (key, value) in want {
        let Some(effective) = got.get(&key) else {
            panic!("README.md:{}: {key} not in effect:\n{shown}", block.line);
        };
        let hidden = effective.as_str().is_some_and(|s| s.contains("***"));
        // Sizes such as "4G" are shown in bytes.
        let size = value
            .as_str()
            .and_then(|s| artifactd::config::parse_size(s).ok())
            .is_some_and(|n| effective.as_integer() == i64::try_from(n).ok());
        assert!(
            *effective == value || hidden || size,
            "README.md:{}: {key} = {value} shows as {effective}",
            block.line
        );
    }
}

/// rpcli reads the block as its config file and reaches the test server
/// through the profile `local`.
async fn check_rpcli_config(block: &Block, server: &Server, scratch: &Scratch) {
    let file = scratch.root.join(format!("rpcli-{}.toml", block.line));
    std::fs::write(&file, block.body.replace(README_URL, &server.url)).unwrap();
    let mut cmd = scratch.command(&target_bin("rpcli"));
    cmd.env("RPCLI_CONFIG", &file)
        .args(["--profile", "local", "--retries", "0", "repos"]);
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "README.md:{}: rpcli with this config, profile local:\n{}{}",
        block.line,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_work() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let blocks = blocks(&readme).unwrap_or_else(|e| panic!("{e}"));
    for b in &blocks {
        if matches!(
            b.info.as_str(),
            "bash" | "shell" | "console" | "shell-session" | "zsh"
        ) {
            panic!("README.md:{}: shell examples are ```sh blocks", b.line);
        }
        if let Some(Marker::RpcliConfig) = b.marker {
            assert_eq!(
                b.info, "toml",
                "README.md:{}: rpcli-config marks TOML",
                b.line
            );
        }
        if let Some(Marker::Skip(reason)) = &b.marker {
            eprintln!("README.md:{} ```{} skipped: {reason}", b.line, b.info);
        }
    }
    assert!(
        blocks.iter().any(|b| b.info == "sh" && b.marker.is_none()),
        "README.md has no sh block to run"
    );

    let env = TestEnv::new(Backend::Embedded).await;
    let server = env.start(&[]).await;
    let scratch = Scratch::new(&env.dir.path().join("readme"));
    prepare(&scratch);

    run_sh(&blocks, &server, &scratch).await;
    for b in blocks.iter().filter(|b| b.info == "toml") {
        match &b.marker {
            None => check_artifactd_config(b, &scratch).await,
            Some(Marker::RpcliConfig) => check_rpcli_config(b, &server, &scratch).await,
            Some(Marker::Skip(_)) => {}
        }
    }
}

#[test]
fn extractor_reads_fences_markers_and_placeholders() {
    let md = "# T\n\n<!-- readme-test: skip (starts a server) -->\n```sh\nserve\n```\n\ntext\n\n- item:\n\n  <!-- readme-test: rpcli-config -->\n  ```toml\n  a = 1\n    b = 2\n  ```\n```sh\nADMIN=...   # fill in\n```\n";
    let got = blocks(md).unwrap();
    assert_eq!(
        got,
        [
            Block {
                line: 4,
                info: "sh".into(),
                body: "serve\n".into(),
                marker: Some(Marker::Skip("starts a server".into())),
            },
            Block {
                line: 13,
                info: "toml".into(),
                body: "a = 1\n  b = 2\n".into(),
                marker: Some(Marker::RpcliConfig),
            },
            Block {
                line: 17,
                info: "sh".into(),
                body: "ADMIN=...   # fill in\n".into(),
                marker: None,
            },
        ]
    );
    let (text, lines) = script(&got, "http://127.0.0.1:9").unwrap();
    assert!(
        text.ends_with(&format!("\nADMIN='{ADMIN_TOKEN}'   # fill in\n")),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&Some(18)));

    for bad in [
        "<!-- readme-test: skip -->\n```sh\nx\n```\n",
        "<!-- readme-test: run -->\n```sh\nx\n```\n",
        "<!-- readme-test: skip (why) -->\n\n```sh\nx\n```\n",
        "```sh\nx\n",
        "~~~sh\nx\n~~~\n",
    ] {
        assert!(blocks(bad).is_err(), "{bad:?} accepted");
    }
    let export = blocks("```sh\nexport ADMIN=...\n```\n").unwrap();
    let (text, _) = script(&export, "http://x").unwrap();
    assert!(
        text.ends_with(&format!("\nexport ADMIN='{ADMIN_TOKEN}'\n")),
        "{text}"
    );
    let unknown = blocks("```sh\nSECRET=...\n```\n").unwrap();
    assert!(script(&unknown, "http://x").is_err());
    let other_port = blocks("```sh\ncurl http://localhost:8080/\n```\n").unwrap();
    assert!(script(&other_port, "http://x").is_err());
}
