//! The real rpcli binary against a real server: uploads (one file, several,
//! provider parameters), listing, inspection, downloads with checksum
//! checks, deletion, keys and set-up, tokens, profiles, exit codes, and
//! retries through a proxy that cuts the first connection.

use std::path::{Path, PathBuf};
use std::process::Output;

use artifactd::storage::StorageKey;
use artifactd_tests::apt::make_deb;
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex, tar_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

both_backends!(
    rpcli_uploads_lists_and_shows,
    rpcli_downloads_verify_and_delete_confirms,
    rpcli_exit_codes_tokens_and_profiles,
    rpcli_retries_a_cut_connection_without_duplicates,
    rpcli_streams_large_uploads,
);

fn rpcli() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|d| d.parent()).unwrap().join("rpcli")
}

/// A finished rpcli run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "rpcli failed:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// rpcli with a clean environment: no RPCLI_* from the machine, a config
/// file that does not exist unless `config` says otherwise.
fn command(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(rpcli());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("RPCLI_CONFIG", home.join("rpcli.toml"))
        .stdin(std::process::Stdio::null());
    cmd
}

async fn finish(mut cmd: tokio::process::Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().await.expect("run rpcli");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `rpcli -s SERVER --token TOKEN ARGS...`
async fn with_token(server: &Server, home: &Path, token: &str, args: &[&str]) -> Run {
    let mut cmd = command(home);
    cmd.args(["-s", &server.url, "--token", token]).args(args);
    finish(cmd).await
}

/// `rpcli -s SERVER --token ADMIN ARGS...`
async fn admin(server: &Server, home: &Path, args: &[&str]) -> Run {
    with_token(server, home, ADMIN_TOKEN, args).await
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

async fn rpcli_uploads_lists_and_shows(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let home = env.dir.path();
    // One file; plain lines on a pipe, no progress bar.
    let x = write(home, "x-1.0.tar", &tar_with("x", b"x"));
    let run = admin(
        &server,
        home,
        &["upload", "-y", "tar", "-f", &x, "-r", "cli"],
    )
    .await;
    run.ok();
    assert_eq!(run.stdout, "x-1.0.tar\tcreated\tx 1.0\n");
    assert!(
        run.stderr.contains("uploading x-1.0.tar ("),
        "{}",
        run.stderr
    );
    // The same file again: the identical file is already there.
    let run = admin(
        &server,
        home,
        &["upload", "-y", "tar", "-f", &x, "-r", "cli"],
    )
    .await;
    assert_eq!(
        run.ok().stdout,
        "x-1.0.tar\talready there (identical)\tx 1.0\n"
    );
    // Name and version given with -p/-i.
    let site = write(home, "build.zip", &zip_of("index.html", b"<h1>hi</h1>"));
    admin(
        &server,
        home,
        &[
            "upload", "-y", "tar", "-f", &site, "-r", "cli", "-p", "site", "-i", "2.0",
        ],
    )
    .await
    .ok();
    // Several files in one call, with provider parameters.
    let a = write(home, "a.deb", &make_deb("alpha", "1.0", "amd64", ""));
    let b = write(home, "b.deb", &make_deb("beta", "2.0", "all", ""));
    let run = admin(
        &server,
        home,
        &[
            "upload",
            "-y",
            "apt",
            "-f",
            &a,
            "-f",
            &b,
            "-r",
            "debs",
            "-a",
            "dist=bookworm",
            "-a",
            "component=contrib",
        ],
    )
    .await;
    run.ok();
    assert!(
        run.stdout
            .contains("alpha_1.0_amd64.deb\tcreated\talpha 1.0 bookworm/contrib amd64"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("beta_2.0_all.deb\tcreated\tbeta 2.0 bookworm/contrib all")
    );

    // Listing: repositories, packages (filtered), one package's files.
    let repos = admin(&server, home, &["repos"]).await;
    assert!(repos.ok().stdout.contains("apt/debs\tgeneration"));
    let run = admin(&server, home, &["packages", "-y", "apt", "-r", "debs"]).await;
    assert_eq!(
        run.ok().stdout,
        "alpha\t1.0\tbookworm/contrib\tamd64\t1 file\nbeta\t2.0\tbookworm/contrib\tall\t1 file\n"
    );
    let run = admin(
        &server,
        home,
        &[
            "packages", "-y", "apt", "-r", "debs", "-p", "beta", "--json",
        ],
    )
    .await;
    let listed = run.ok().json();
    assert_eq!(listed["packages"].as_array().unwrap().len(), 1);
    assert_eq!(listed["packages"][0]["name"], "beta");
    let run = admin(
        &server,
        home,
        &["show", "-y", "tar", "-r", "cli", "-p", "site", "-i", "2.0"],
    )
    .await;
    let sha = sha256_hex(&std::fs::read(&site).unwrap());
    assert!(run.ok().stdout.contains("build.zip\t"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("sha256:{sha}")));
    assert!(
        run.stdout
            .contains(&format!("{}/repo/tar/cli/site/2.0/build.zip", server.url))
    );
    let shown = admin(
        &server,
        home,
        &["show", "-y", "tar", "-r", "cli", "-p", "site", "--json"],
    )
    .await;
    assert_eq!(
        shown.ok().json()["packages"][0]["files"][0]["sha256"],
        sha.as_str()
    );
    // The repository's key and client set-up.
    let key = admin(&server, home, &["key", "-y", "apt", "-r", "debs"]).await;
    assert!(
        key.ok()
            .stdout
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );
    let setup = admin(&server, home, &["setup", "-y", "apt", "-r", "debs"]).await;
    assert!(setup.ok().stdout.contains(&format!(
        "curl -fsSL {}/repo/apt/debs/dists/bookworm/install | sudo sh",
        server.url
    )));
    assert!(
        setup
            .stdout
            .contains("Suites: bookworm\nComponents: contrib\n")
    );
    let setup = admin(
        &server,
        home,
        &["setup", "-y", "apt", "-r", "debs", "-p", "beta", "--json"],
    )
    .await;
    assert_eq!(
        setup.ok().json()["snippets"][0]["text"],
        "sudo apt-get install beta=2.0"
    );
    // Shell completions.
    let mut cmd = command(home);
    cmd.args(["completions", "bash"]);
    let run = finish(cmd).await;
    assert!(run.ok().stdout.contains("_rpcli()"), "{}", run.stdout);
}

fn zip_of(name: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(content).unwrap();
    z.finish().unwrap().into_inner()
}

async fn rpcli_downloads_verify_and_delete_confirms(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let home = env.dir.path();
    let one = tar_with("x", b"one");
    let two = tar_with("x", b"two, a little longer");
    for (name, bytes) in [("x-1.0.tar", &one), ("x-2.0.tar", &two)] {
        let f = write(home, name, bytes);
        admin(
            &server,
            home,
            &["upload", "-y", "tar", "-f", &f, "-r", "dl"],
        )
        .await
        .ok();
    }
    let out = home.join("out");
    let out_s = out.to_str().unwrap();
    // Two versions: say which.
    let run = admin(
        &server,
        home,
        &["download", "-y", "tar", "-r", "dl", "-p", "x", "-o", out_s],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("several versions (1.0, 2.0)"),
        "{}",
        run.stderr
    );
    let run = admin(
        &server,
        home,
        &[
            "download", "-y", "tar", "-r", "dl", "-p", "x", "-i", "2.0", "-o", out_s,
        ],
    )
    .await;
    assert_eq!(
        run.ok().stdout.trim(),
        out.join("x-2.0.tar").to_str().unwrap()
    );
    assert_eq!(std::fs::read(out.join("x-2.0.tar")).unwrap(), two);
    // Bytes in storage that do not match the listed SHA-256: refused, nothing left.
    env.storage()
        .await
        .put_bytes(
            &StorageKey::blob(&sha256_hex(&one)),
            tar_with("x", b"EVIL").into(),
            "application/x-tar",
        )
        .await
        .unwrap();
    let run = admin(
        &server,
        home,
        &[
            "download", "-y", "tar", "-r", "dl", "-p", "x", "-i", "1.0", "-o", out_s,
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("SHA-256 mismatch"), "{}", run.stderr);
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["x-2.0.tar"], "no partial or bad file");

    // Delete: without a terminal it needs --yes, and nothing changes without it.
    let run = admin(
        &server,
        home,
        &["delete", "-y", "tar", "-r", "dl", "-p", "x", "-i", "2.0"],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    let listed = admin(
        &server,
        home,
        &["packages", "-y", "tar", "-r", "dl", "--json"],
    )
    .await;
    assert_eq!(listed.ok().json()["packages"].as_array().unwrap().len(), 2);
    // On a terminal it asks: "n" keeps the package, "y" deletes it.
    let args = ["delete", "-y", "tar", "-r", "dl", "-p", "x", "-i", "2.0"];
    let run = on_terminal(&server, home, &args, "n\n").await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("Delete tar/dl: x 2.0? [y/N]"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not deleted"), "{}", run.stdout);
    let listed = admin(
        &server,
        home,
        &["packages", "-y", "tar", "-r", "dl", "--json"],
    )
    .await;
    assert_eq!(listed.ok().json()["packages"].as_array().unwrap().len(), 2);
    let run = on_terminal(&server, home, &args, "y\n").await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("deleted tar/dl: x 2.0"),
        "{}",
        run.stdout
    );
    let listed = admin(&server, home, &["packages", "-y", "tar", "-r", "dl"]).await;
    assert_eq!(listed.ok().stdout, "x\t1.0\t\t\t1 file\n");
    // --yes skips the question; what is gone is not found.
    let run = admin(
        &server,
        home,
        &[
            "delete", "-y", "tar", "-r", "dl", "-p", "x", "-i", "2.0", "--yes",
        ],
    )
    .await;
    assert_eq!(run.code, 4, "already gone: {}", run.stderr);
    let run = admin(
        &server,
        home,
        &[
            "delete", "-y", "tar", "-r", "dl", "-p", "x", "-i", "1.0", "--yes",
        ],
    )
    .await;
    assert_eq!(run.ok().stdout, "deleted tar/dl: x 1.0\n");
}

/// Runs rpcli (as admin) on a pseudo-terminal made by util-linux's
/// `script`, typing `input`; stdout holds everything the terminal showed.
async fn on_terminal(server: &Server, home: &Path, args: &[&str], input: &str) -> Run {
    let line = [
        rpcli().to_str().unwrap(),
        "-s",
        &server.url,
        "--token",
        ADMIN_TOKEN,
    ]
    .iter()
    .chain(args)
    .map(|a| format!("'{a}'"))
    .collect::<Vec<_>>()
    .join(" ");
    let mut cmd = tokio::process::Command::new("script");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("RPCLI_CONFIG", home.join("rpcli.toml"))
        .env("TERM", "dumb")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("script (util-linux) runs");
    // Keep stdin open until rpcli is done: its end would end the session.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut out = String::new();
    let (read, status) = tokio::join!(stdout.read_to_string(&mut out), child.wait());
    read.unwrap();
    drop(stdin);
    Run {
        code: status.unwrap().code().unwrap_or(-1),
        stdout: out.replace('\r', ""),
        stderr: String::new(),
    }
}

async fn rpcli_exit_codes_tokens_and_profiles(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let home = env.dir.path();
    let x = write(home, "x-1.0.tar", &tar_with("x", b"x"));
    admin(
        &server,
        home,
        &["upload", "-y", "tar", "-f", &x, "-r", "codes"],
    )
    .await
    .ok();

    // 401: an unknown token; the server's message, no stack trace.
    let run = with_token(
        &server,
        home,
        "wrong-token",
        &["upload", "-y", "tar", "-f", &x, "-r", "codes"],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("rpcli: upload: 401 ") && l.contains("token")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
    // 404: no such repository.
    let run = admin(&server, home, &["packages", "-y", "tar", "-r", "nope"]).await;
    assert_eq!(run.code, 4);
    assert!(
        run.stderr
            .contains("no repository tar/nope (repo_not_found)"),
        "{}",
        run.stderr
    );
    // 409: the same file name with other bytes.
    std::fs::create_dir_all(home.join("sub")).unwrap();
    let other = write(&home.join("sub"), "x-1.0.tar", &tar_with("x", b"other"));
    let run = admin(
        &server,
        home,
        &["upload", "-y", "tar", "-f", &other, "-r", "codes"],
    )
    .await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    // 400 (other refusals): not a tar.
    let bad = write(home, "bad-1.0.tar", b"not a tar at all");
    let run = admin(
        &server,
        home,
        &["upload", "-y", "tar", "-f", &bad, "-r", "codes"],
    )
    .await;
    assert_eq!(run.code, 7, "{}", run.stderr);
    // Usage: a missing file, a bad -a, a bad URL, no server at all.
    let run = admin(
        &server,
        home,
        &[
            "upload",
            "-y",
            "tar",
            "-f",
            "/nonexistent.tar",
            "-r",
            "codes",
        ],
    )
    .await;
    assert_eq!(run.code, 2);
    let run = admin(
        &server,
        home,
        &[
            "upload", "-y", "tar", "-f", &x, "-r", "codes", "-a", "novalue",
        ],
    )
    .await;
    assert_eq!(run.code, 2);
    let run = admin(
        &server,
        home,
        &[
            "upload",
            "-y",
            "tar",
            "-f",
            &x,
            "-r",
            "codes",
            "-a",
            "provider=apt",
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let mut cmd = command(home);
    cmd.args(["-s", "not a url", "repos"]);
    assert_eq!(finish(cmd).await.code, 2);
    let mut cmd = command(home);
    cmd.args(["-s", "http://127.0.0.1:9", "--retries", "1", "health"]);
    let run = finish(cmd).await;
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("gave up after 2 attempts"),
        "{}",
        run.stderr
    );

    // Tokens: create with a scope, use it, list, revoke.
    let run = admin(
        &server,
        home,
        &["token", "create", "ci", "--scope", "upload:tar/codes"],
    )
    .await;
    let secret = run.ok().stdout.trim().to_owned();
    assert!(run.stderr.contains("created token"), "{}", run.stderr);
    let y = write(home, "y-1.0.tar", &tar_with("y", b"y"));
    with_token(
        &server,
        home,
        &secret,
        &["upload", "-y", "tar", "-f", &y, "-r", "codes"],
    )
    .await
    .ok();
    assert_eq!(
        with_token(
            &server,
            home,
            &secret,
            &["upload", "-y", "tar", "-f", &y, "-r", "elsewhere"]
        )
        .await
        .code,
        3,
        "403: outside the token's scope"
    );
    let list = admin(&server, home, &["token", "list", "--json"]).await;
    let tokens = list.ok().json()["tokens"].as_array().unwrap().clone();
    let ci = tokens
        .iter()
        .find(|t| t["name"] == "ci")
        .expect("the new token is listed");
    assert!(!list.stdout.contains(&secret), "secrets are never listed");
    let id = ci["id"].to_string();
    admin(&server, home, &["token", "revoke", &id]).await.ok();
    assert_eq!(
        with_token(
            &server,
            home,
            &secret,
            &["upload", "-y", "tar", "-f", &y, "-r", "codes"]
        )
        .await
        .code,
        3,
        "a revoked token is refused"
    );

    // Profiles: the file, then RPCLI_* over it, then flags over those.
    std::fs::write(
        home.join("rpcli.toml"),
        format!(
            "default_profile = \"main\"\n\
             [profiles.main]\nserver = \"{}\"\ntoken = \"{ADMIN_TOKEN}\"\n\
             [profiles.broken]\nserver = \"http://127.0.0.1:9\"\n",
            server.url
        ),
    )
    .unwrap();
    let mut cmd = command(home);
    cmd.args(["token", "list"]);
    let run = finish(cmd).await;
    assert!(
        !run.ok().stdout.contains("\tci\t"),
        "the profile's admin token lists tokens, the revoked one is gone:\n{}",
        run.stdout
    );
    let mut cmd = command(home);
    cmd.args(["packages", "-y", "tar", "-r", "codes"]);
    assert!(
        finish(cmd).await.ok().stdout.contains("x\t1.0"),
        "server and token from the default profile"
    );
    let mut cmd = command(home);
    cmd.args(["--profile", "broken", "--retries", "0", "repos"]);
    assert_eq!(finish(cmd).await.code, 6, "the named profile's server");
    let mut cmd = command(home);
    cmd.env("RPCLI_PROFILE", "broken")
        .env("RPCLI_SERVER", &server.url)
        .args(["repos"]);
    finish(cmd).await.ok();
    let mut cmd = command(home);
    cmd.env("RPCLI_SERVER", "http://127.0.0.1:9")
        .args(["-s", &server.url, "repos"]);
    finish(cmd).await.ok();
    let mut cmd = command(home);
    cmd.env("RPCLI_TOKEN", "wrong-token")
        .args(["token", "list"]);
    assert_eq!(
        finish(cmd).await.code,
        3,
        "RPCLI_TOKEN over the profile's token"
    );
    let mut cmd = command(home);
    cmd.args(["--profile", "nope", "repos"]);
    let run = finish(cmd).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no profile \"nope\""), "{}", run.stderr);
    // Without RPCLI_CONFIG the file is ~/.config/rpcli/config.toml.
    std::fs::create_dir_all(home.join(".config/rpcli")).unwrap();
    std::fs::rename(
        home.join("rpcli.toml"),
        home.join(".config/rpcli/config.toml"),
    )
    .unwrap();
    let mut cmd = command(home);
    cmd.env_remove("RPCLI_CONFIG")
        .args(["packages", "-y", "tar", "-r", "codes"]);
    finish(cmd).await.ok();
}

/// How the proxy treats its first connection.
#[derive(Clone, Copy)]
enum Cut {
    /// Reads part of the request, then closes: nothing reached the server.
    BeforeForwarding,
    /// Forwards the whole request, waits for the server's answer, then
    /// closes without passing it on: the upload landed, the client never heard.
    AfterTheAnswer,
}

/// A TCP proxy to `upstream` that cuts its first connection; it returns
/// its port.
async fn flaky_proxy(upstream: String, cut: Cut) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let cut_this = first.then_some(cut);
            first = false;
            tokio::spawn(async move {
                let mut server = TcpStream::connect(&upstream).await.unwrap();
                match cut_this {
                    None => {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    Some(Cut::BeforeForwarding) => {
                        let mut buf = vec![0u8; 4096];
                        let _ = client.read(&mut buf).await;
                        drop(client);
                    }
                    Some(Cut::AfterTheAnswer) => {
                        let (mut cr, _cw) = client.into_split();
                        let (mut sr, mut sw) = server.into_split();
                        tokio::spawn(async move {
                            let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        });
                        let mut buf = vec![0u8; 1];
                        let _ = sr.read_exact(&mut buf).await;
                        // Dropping both halves of the client closes it.
                    }
                }
            });
        }
    });
    port
}

async fn rpcli_retries_a_cut_connection_without_duplicates(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let home = env.dir.path();
    let upstream = server.url.trim_start_matches("http://").to_owned();
    for (cut, name, expect) in [
        (Cut::BeforeForwarding, "before-1.0.tar", "created"),
        (
            Cut::AfterTheAnswer,
            "after-1.0.tar",
            "stored (an earlier attempt had landed)",
        ),
    ] {
        let port = flaky_proxy(upstream.clone(), cut).await;
        let bytes = tar_with("f", name.as_bytes());
        let f = write(home, name, &bytes);
        let mut cmd = command(home);
        cmd.args([
            "-s",
            &format!("http://127.0.0.1:{port}"),
            "--token",
            ADMIN_TOKEN,
        ])
        .args(["upload", "-y", "tar", "-f", &f, "-r", "flaky"]);
        let run = finish(cmd).await;
        run.ok();
        assert!(
            run.stderr.contains("retrying in"),
            "{name}: no retry?\n{}",
            run.stderr
        );
        let pkg = name.split('-').next().unwrap();
        assert_eq!(
            run.stdout,
            format!("{name}\t{expect}\t{pkg} 1.0\n"),
            "{}",
            run.stderr
        );
        // Exactly one stored copy: one package, one file, one blob.
        let listed = server
            .get_json(&format!("/api/v1/repos/tar/flaky/packages?name={pkg}"))
            .await;
        let packages = listed["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0]["files"].as_array().unwrap().len(), 1);
        let sha = sha256_hex(&bytes);
        let blobs: Vec<String> = env
            .stored_objects()
            .await
            .into_iter()
            .filter(|k| k.starts_with("blobs/") && k.ends_with(&sha))
            .collect();
        assert_eq!(blobs.len(), 1, "{blobs:?}");
    }
}

async fn rpcli_streams_large_uploads(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    let home = env.dir.path();
    let big = home.join("big-1.0.tar");
    artifactd_tests::write_big_tar(&big, 200 << 20);
    let mut cmd = command(home);
    cmd.args(["-s", &server.url, "--token", ADMIN_TOKEN])
        .args([
            "upload",
            "-y",
            "tar",
            "-f",
            big.to_str().unwrap(),
            "-r",
            "big",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    // Peak memory as the kernel counts it, read until the process exits.
    let watcher = tokio::spawn(async move {
        let mut peak = 0u64;
        while let Ok(status) = tokio::fs::read_to_string(format!("/proc/{pid}/status")).await {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        peak
    });
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_kib = watcher.await.unwrap();
    assert!(peak_kib > 0, "the watcher saw the process");
    assert!(
        peak_kib < 64 * 1024,
        "rpcli peaked at {peak_kib} KiB for a 200 MiB upload: not streamed"
    );
    let (sha, len) = server
        .download_digest("/repo/tar/big/big/1.0/big-1.0.tar")
        .await;
    let size = std::fs::metadata(&big).unwrap().len();
    assert_eq!((sha, len), (artifactd_tests::file_sha256(&big), size));
}
