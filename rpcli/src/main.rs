//! rpcli: the artifactd command-line client, for people and CI jobs.
//!
//! Every command is a thin layer over the server's JSON API and its
//! `/addpkg` and `/repo/` URLs; the client knows no package format. The
//! exit code says what kind of failure happened (see [`error::Failure`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

mod client;
mod config;
mod error;
mod snapshots;
mod transfer;

use client::{Client, seg};
use error::Failure;
use snapshots::{ChannelCommand, SnapshotCommand};
use transfer::Progress;

const EXAMPLES: &str = "\
Examples:
  rpcli -s http://127.0.0.1:8080 --token $TOKEN upload -y apt -f hello_2.10-3_amd64.deb -r deb -a dist=bookworm
  rpcli packages -y pypi -r py -p requests
  rpcli download -y tar -r tools -p mytool -i 1.4.2 -o dist/
  rpcli setup -y rpm -r yum

Server and token: --server/--token, else RPCLI_SERVER/RPCLI_TOKEN, else the
profile (--profile, RPCLI_PROFILE) of ~/.config/rpcli/config.toml:
  default_profile = \"prod\"
  [profiles.prod]
  server = \"https://artifacts.example.internal\"
  token = \"...\"

Exit codes: 0 ok, 1 failed (checksum, unhealthy server, local file), 2 usage,
3 not authorised (401/403), 4 not found (404), 5 conflict (409),
6 server error or unreachable (after retries), 7 refused (other 4xx).";

/// Command-line client for artifactd.
#[derive(Parser)]
#[command(version, about, after_help = EXAMPLES)]
struct Cli {
    /// Server URL [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, short = 's', global = true, env = "RPCLI_SERVER")]
    server: Option<String>,
    /// API token (Bearer) [default: the profile's].
    #[arg(long, global = true, env = "RPCLI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Profile of the config file to use.
    #[arg(long, global = true, env = "RPCLI_PROFILE")]
    profile: Option<String>,
    /// Print JSON instead of text (read commands print the server's JSON).
    #[arg(long, global = true)]
    json: bool,
    /// How often to retry a request that failed in transit (connection
    /// reset, 502/503/504).
    #[arg(long, global = true, default_value_t = 4)]
    retries: u32,
    #[command(subcommand)]
    command: Command,
}

/// Which repository.
#[derive(Args)]
struct Repo {
    /// Provider (format): apt, pypi, rpm, tar.
    #[arg(short = 'y', long = "provider")]
    provider: String,
    /// Repository name.
    #[arg(short = 'r', long = "repo")]
    repo: String,
}

#[derive(Subcommand)]
enum Command {
    /// Check that the server, its database and its storage answer.
    #[command(after_help = "Example:\n  rpcli -s http://127.0.0.1:8080 health")]
    Health,
    /// List repositories.
    #[command(after_help = "Example:\n  rpcli repos --json")]
    Repos,
    /// List a repository's packages.
    #[command(after_help = "Example:\n  rpcli packages -y apt -r deb -p hello")]
    Packages {
        #[command(flatten)]
        repo: Repo,
        /// Only this package name.
        #[arg(short = 'p', long = "name")]
        name: Option<String>,
        /// Only this version.
        #[arg(short = 'i', long = "version")]
        version: Option<String>,
    },
    /// Show one package's versions, files and checksums.
    #[command(after_help = "Example:\n  rpcli show -y tar -r tools -p mytool -i 1.4.2")]
    Show {
        #[command(flatten)]
        repo: Repo,
        #[arg(short = 'p', long = "name")]
        name: String,
        #[arg(short = 'i', long = "version")]
        version: Option<String>,
    },
    /// Upload files (several -f go in one request, e.g. a .dsc with its tarballs).
    #[command(
        after_help = "Examples:\n  rpcli upload -y apt -f hello_2.10-3_amd64.deb -r deb -a dist=bookworm -a component=main\n  rpcli upload -y tar -f build.zip -r tools -p site -i 2.0\n  rpcli upload -y pypi -r py -f dist/*.whl"
    )]
    Upload {
        /// Provider (format): apt, pypi, rpm, tar.
        #[arg(short = 'y', long = "provider")]
        provider: String,
        /// File to upload; repeat for several.
        #[arg(short = 'f', long = "file", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Repository name (created on first upload if the token may).
        #[arg(short = 'r', long = "repo")]
        repo: String,
        /// Package name the server must find in the files.
        #[arg(short = 'p', long = "name")]
        name: Option<String>,
        /// Version the server must find in the files.
        #[arg(short = 'i', long = "version")]
        version: Option<String>,
        /// Provider parameter KEY=VALUE (dist=bookworm, component=main); repeatable.
        #[arg(short = 'a', long = "param", value_parser = key_value)]
        params: Vec<(String, String)>,
        /// Answer once stored, before the package is published.
        #[arg(long)]
        no_wait: bool,
    },
    /// Download a package's files, checking each SHA-256.
    #[command(
        after_help = "Example:\n  rpcli download -y tar -r tools -p mytool -i 1.4.2 -o dist/"
    )]
    Download {
        #[command(flatten)]
        repo: Repo,
        #[arg(short = 'p', long = "name")]
        name: String,
        /// Version [default: the only one; required when there are several].
        #[arg(short = 'i', long = "version")]
        version: Option<String>,
        /// Only the file of this name.
        #[arg(long)]
        file: Option<String>,
        /// Directory to write to.
        #[arg(short = 'o', long = "output", default_value = ".")]
        output: PathBuf,
    },
    /// Delete a package version (every architecture unless narrowed).
    #[command(
        after_help = "Example:\n  rpcli delete -y apt -r deb -p hello -i 2.10-3 --variant amd64 --yes"
    )]
    Delete {
        #[command(flatten)]
        repo: Repo,
        #[arg(short = 'p', long = "name")]
        name: String,
        #[arg(short = 'i', long = "version")]
        version: String,
        /// Only in this section (apt dist/component, rpm dist).
        #[arg(long)]
        section: Option<String>,
        /// Only this variant (architecture).
        #[arg(long)]
        variant: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Print a signed repository's public key (armored).
    #[command(
        after_help = "Example:\n  rpcli key -y apt -r deb | sudo tee /etc/apt/keyrings/deb.asc"
    )]
    Key {
        #[command(flatten)]
        repo: Repo,
    },
    /// Print ready-to-use client configuration (apt sources, pip index, dnf .repo).
    #[command(after_help = "Example:\n  rpcli setup -y apt -r deb")]
    Setup {
        #[command(flatten)]
        repo: Repo,
        /// Instructions for this package instead.
        #[arg(short = 'p', long = "name")]
        name: Option<String>,
    },
    /// Manage API tokens (needs an admin token).
    #[command(
        subcommand,
        after_help = "Example:\n  rpcli token create ci --scope 'upload:tar/*'"
    )]
    Token(TokenCommand),
    /// Freeze a repository's packages under a name; compare snapshots.
    #[command(
        subcommand,
        after_help = "Examples:\n  rpcli snapshot create -y apt -r deb 2024-06-01\n  rpcli snapshot diff -y apt -r deb 2024-05-01 2024-06-01"
    )]
    Snapshot(SnapshotCommand),
    /// Point named channels (stable, testing) at snapshots.
    #[command(
        subcommand,
        after_help = "Example:\n  rpcli channel set -y apt -r deb stable 2024-06-01 --expect 2024-05-01"
    )]
    Channel(ChannelCommand),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  rpcli completions bash > /etc/bash_completion.d/rpcli")]
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; its secret is printed once.
    #[command(
        after_help = "Example:\n  rpcli token create ci --scope create --scope 'upload:apt/*'"
    )]
    Create {
        name: String,
        /// admin, create, upload:*, upload:PROVIDER/*, upload:PROVIDER/REPO; repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List tokens (never their secrets).
    #[command(after_help = "Example:\n  rpcli token list --json")]
    List,
    /// Revoke a token by id.
    #[command(after_help = "Example:\n  rpcli token revoke 7")]
    Revoke { id: i64 },
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values print")
    );
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn repo_path(r: &Repo) -> String {
    format!("/api/v1/repos/{}/{}", seg(&r.provider), seg(&r.repo))
}

/// The packages of a repository, narrowed by name and version.
async fn packages(
    client: &Client,
    repo: &Repo,
    name: Option<&str>,
    version: Option<&str>,
) -> Result<Value, Failure> {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(n) = name {
        q.append_pair("name", n);
    }
    if let Some(v) = version {
        q.append_pair("version", v);
    }
    client
        .get_json(&format!("{}/packages?{}", repo_path(repo), q.finish()))
        .await
}

/// The packages of one name (and version), or a not-found failure.
async fn one_package(
    client: &Client,
    repo: &Repo,
    name: &str,
    version: Option<&str>,
) -> Result<(Value, Vec<Value>), Failure> {
    let body = packages(client, repo, Some(name), version).await?;
    let list = body["packages"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return Err(Failure::NotFound(format!(
            "{}/{} has no package {name}{}",
            repo.provider,
            repo.repo,
            version.map(|v| format!(" {v}")).unwrap_or_default()
        )));
    }
    Ok((body, list))
}

fn confirm(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "not on a terminal: add --yes to confirm the deletion".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Completions { shell } = cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(shell, &mut cmd, "rpcli", &mut std::io::stdout());
        return Ok(());
    }
    let profile = config::profile(cli.profile.as_deref())?;
    let server = cli
        .server
        .or(profile.server)
        .unwrap_or_else(|| config::DEFAULT_SERVER.to_owned());
    let token = cli.token.or(profile.token).filter(|t| !t.is_empty());
    let client = Client::new(&server, token, cli.retries)?;
    let json = cli.json;
    match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Health => {
            let resp = client
                .send("health", || Ok(client.request(Method::GET, "/healthz")))
                .await;
            match resp {
                Ok((_, body)) => {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if json {
                        print_json(&v);
                    } else {
                        println!("ok");
                    }
                }
                Err(Failure::Server(m)) if m.contains(" 503 ") => {
                    return Err(Failure::Failed(format!("unavailable: {m}")));
                }
                Err(e) => return Err(e),
            }
        }
        Command::Repos => {
            let body = client.get_json("/api/v1/repos").await?;
            if json {
                print_json(&body);
            } else {
                for r in body["repos"].as_array().into_iter().flatten() {
                    println!(
                        "{}/{}\tgeneration {}",
                        str_of(&r["provider"]),
                        str_of(&r["name"]),
                        r["generation"]
                    );
                }
            }
        }
        Command::Packages {
            repo,
            name,
            version,
        } => {
            let body = packages(&client, &repo, name.as_deref(), version.as_deref()).await?;
            if json {
                print_json(&body);
            } else {
                for p in body["packages"].as_array().into_iter().flatten() {
                    let files = p["files"].as_array().map_or(0, Vec::len);
                    println!(
                        "{}\t{}\t{}\t{}\t{files} file{}",
                        str_of(&p["name"]),
                        str_of(&p["version"]),
                        str_of(&p["section"]),
                        str_of(&p["variant"]),
                        if files == 1 { "" } else { "s" }
                    );
                }
            }
        }
        Command::Show {
            repo,
            name,
            version,
        } => {
            let (body, list) = one_package(&client, &repo, &name, version.as_deref()).await?;
            if json {
                print_json(&body);
            } else {
                for p in &list {
                    let mut head = format!("{} {}", str_of(&p["name"]), str_of(&p["version"]));
                    for k in ["section", "variant"] {
                        if !str_of(&p[k]).is_empty() {
                            head.push_str(&format!("  {k} {}", str_of(&p[k])));
                        }
                    }
                    println!("{head}  uploaded by {}", str_of(&p["uploader"]));
                    if let Some(reason) = p["yanked"].as_str() {
                        println!("  yanked: {reason}");
                    }
                    for f in p["files"].as_array().into_iter().flatten() {
                        println!(
                            "  {}\t{} bytes\tsha256:{}\t{}",
                            str_of(&f["filename"]),
                            f["size"],
                            str_of(&f["sha256"]),
                            client.url(str_of(&f["url"]))
                        );
                    }
                }
            }
        }
        Command::Upload {
            provider,
            files,
            repo,
            name,
            version,
            params,
            no_wait,
        } => {
            let up = transfer::Upload {
                provider: &provider,
                repo: &repo,
                files: &files,
                name: name.as_deref(),
                version: version.as_deref(),
                params: &params,
                wait: !no_wait,
            };
            let done = transfer::upload(&client, &up, &Progress::new()).await?;
            if json {
                print_json(&done.body);
            } else {
                print_upload(&done);
            }
        }
        Command::Download {
            repo,
            name,
            version,
            file,
            output,
        } => {
            let (_, list) = one_package(&client, &repo, &name, version.as_deref()).await?;
            let mut versions: Vec<&str> = list.iter().map(|p| str_of(&p["version"])).collect();
            versions.sort_unstable();
            versions.dedup();
            if versions.len() > 1 {
                return Err(Failure::Usage(format!(
                    "{name} has several versions ({}): choose one with -i",
                    versions.join(", ")
                )));
            }
            let files: Vec<&Value> = list
                .iter()
                .flat_map(|p| p["files"].as_array().into_iter().flatten())
                .filter(|f| {
                    file.as_deref()
                        .is_none_or(|want| str_of(&f["filename"]) == want)
                })
                .collect();
            if files.is_empty() {
                return Err(Failure::NotFound(format!(
                    "{name} {} has no file {}",
                    versions[0],
                    file.as_deref().unwrap_or("")
                )));
            }
            std::fs::create_dir_all(&output)
                .map_err(|e| Failure::Failed(format!("{}: {e}", output.display())))?;
            let progress = Progress::new();
            let mut written = Vec::new();
            for f in files {
                let filename = str_of(&f["filename"]);
                if filename.is_empty() || filename.contains('/') || filename.starts_with('.') {
                    return Err(Failure::Failed(format!(
                        "refusing the file name {filename:?}"
                    )));
                }
                let dest = output.join(filename);
                transfer::download(
                    &client,
                    str_of(&f["url"]),
                    &dest,
                    str_of(&f["sha256"]),
                    f["size"].as_u64().unwrap_or(0),
                    &progress,
                )
                .await?;
                written.push(json!({ "path": dest, "sha256": f["sha256"], "size": f["size"] }));
                if !json {
                    println!("{}", dest.display());
                }
            }
            if json {
                print_json(&json!({ "files": written }));
            }
        }
        Command::Delete {
            repo,
            name,
            version,
            section,
            variant,
            yes,
        } => {
            let mut what = format!("{}/{}: {name} {version}", repo.provider, repo.repo);
            if let Some(s) = &section {
                what.push_str(&format!(" in {s}"));
            }
            if let Some(v) = &variant {
                what.push_str(&format!(" for {v}"));
            }
            if !yes && !confirm(&format!("Delete {what}?"))? {
                return Err(Failure::Failed("not deleted".into()));
            }
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(s) = &section {
                q.append_pair("section", s);
            }
            if let Some(v) = &variant {
                q.append_pair("variant", v);
            }
            let path = format!(
                "{}/packages/{}/{}?{}",
                repo_path(&repo),
                seg(&name),
                seg(&version),
                q.finish()
            );
            let body = client.json(Method::DELETE, &path, None).await?;
            if json {
                print_json(&body);
            } else {
                println!("deleted {what}");
            }
        }
        Command::Key { repo } => {
            let key = client
                .get_text(&format!(
                    "/repo/{}/{}/pubkey",
                    seg(&repo.provider),
                    seg(&repo.repo)
                ))
                .await?;
            if json {
                print_json(&json!({
                    "provider": repo.provider,
                    "repository": repo.repo,
                    "key": key,
                }));
            } else {
                print!("{key}");
            }
        }
        Command::Setup { repo, name } => {
            let mut path = format!("{}/setup", repo_path(&repo));
            if let Some(n) = &name {
                path.push_str(&format!("?package={}", seg(n)));
            }
            let body = client.get_json(&path).await?;
            if json {
                print_json(&body);
            } else {
                for (i, s) in body["snippets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if i > 0 {
                        println!();
                    }
                    println!("# {}", str_of(&s["title"]));
                    println!("{}", str_of(&s["text"]));
                }
            }
        }
        Command::Snapshot(cmd) => snapshots::run_snapshot(&client, cmd, json).await?,
        Command::Channel(cmd) => snapshots::run_channel(&client, cmd, json).await?,
        Command::Token(cmd) => {
            if !client.has_token() {
                return Err(Failure::Usage(
                    "token commands need an admin token: --token or RPCLI_TOKEN".into(),
                ));
            }
            match cmd {
                TokenCommand::Create { name, scopes } => {
                    let body = client
                        .json(
                            Method::POST,
                            "/api/v1/tokens",
                            Some(&json!({ "name": name, "scopes": scopes })),
                        )
                        .await?;
                    if json {
                        print_json(&body);
                    } else {
                        eprintln!(
                            "created token {} ({name}, {}); its secret is shown only now:",
                            body["id"],
                            scopes.join(" ")
                        );
                        println!("{}", str_of(&body["token"]));
                    }
                }
                TokenCommand::List => {
                    let body = client.get_json("/api/v1/tokens").await?;
                    if json {
                        print_json(&body);
                    } else {
                        for t in body["tokens"].as_array().into_iter().flatten() {
                            let scopes: Vec<&str> = t["scopes"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(str_of)
                                .collect();
                            println!("{}\t{}\t{}", t["id"], str_of(&t["name"]), scopes.join(" "));
                        }
                    }
                }
                TokenCommand::Revoke { id } => {
                    client
                        .json(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
                        .await?;
                    if json {
                        print_json(&json!({ "revoked": id }));
                    } else {
                        println!("revoked token {id}");
                    }
                }
            }
        }
    }
    Ok(())
}

/// One line per file: what the server did with it.
fn print_upload(done: &transfer::Uploaded) {
    let retried = done.attempts > 1;
    for p in done.body["packages"].as_array().into_iter().flatten() {
        let mut what = format!("{} {}", str_of(&p["name"]), str_of(&p["version"]));
        for k in ["section", "variant"] {
            if !str_of(&p[k]).is_empty() {
                what.push_str(&format!(" {}", str_of(&p[k])));
            }
        }
        for f in p["files"].as_array().into_iter().flatten() {
            let status = match str_of(&f["status"]) {
                "created" => "created".to_owned(),
                "exists" if retried => "stored (an earlier attempt had landed)".to_owned(),
                "exists" => "already there (identical)".to_owned(),
                other => other.to_owned(),
            };
            println!("{}\t{status}\t{what}", str_of(&f["filename"]));
        }
    }
    let publication = &done.body["publication"];
    if done.status == reqwest::StatusCode::ACCEPTED || publication["published"] == false {
        println!(
            "stored; published once generation covers seq {}",
            publication["seq"]
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpcli: {e}");
            ExitCode::from(e.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_shows_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{path} {}", sub.get_name());
                let help = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("Example") {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "rpcli", &mut missing);
        assert!(missing.is_empty(), "no example in the help of {missing:?}");
        assert!(
            Cli::command()
                .get_after_help()
                .unwrap()
                .to_string()
                .contains("Exit codes")
        );
    }

    #[test]
    fn the_established_upload_form_parses() {
        let cli = Cli::try_parse_from([
            "rpcli",
            "-s",
            "http://localhost:8080",
            "upload",
            "-y",
            "apt",
            "-f",
            "a.deb",
            "-f",
            "b.deb",
            "-r",
            "deb",
            "-p",
            "hello",
            "-i",
            "1.0",
            "-a",
            "dist=bookworm",
            "-a",
            "component=main",
        ])
        .unwrap();
        let Command::Upload {
            provider,
            files,
            params,
            ..
        } = cli.command
        else {
            panic!("not an upload")
        };
        assert_eq!(provider, "apt");
        assert_eq!(files, [PathBuf::from("a.deb"), PathBuf::from("b.deb")]);
        assert_eq!(
            params,
            [
                ("dist".to_owned(), "bookworm".to_owned()),
                ("component".to_owned(), "main".to_owned())
            ]
        );
        assert!(Cli::try_parse_from(["rpcli", "upload", "-y", "apt", "-r", "x"]).is_err());
        assert!(key_value("novalue").is_err());
    }
}
