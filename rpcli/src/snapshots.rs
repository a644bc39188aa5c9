//! Snapshots (a repository's index frozen under a name) and channels (a
//! name that points at a snapshot and is moved from one to the next).
//!
//! Each command is one request, built by [`SnapshotCommand::call`] or
//! [`ChannelCommand::call`] (so the tests see exactly what is sent) and
//! printed here.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{Client, seg};
use crate::error::Failure;
use crate::{Repo, confirm, print_json, repo_path, str_of};

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Freeze the repository's current packages under a name.
    #[command(
        after_help = "Example:\n  rpcli snapshot create -y apt -r deb 2024-06-01 --description 'June release'"
    )]
    Create {
        #[command(flatten)]
        repo: Repo,
        /// Snapshot name (letters, digits, '.', '_', '-').
        name: String,
        /// What the snapshot is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List a repository's snapshots, newest first.
    #[command(after_help = "Example:\n  rpcli snapshot list -y apt -r deb")]
    List {
        #[command(flatten)]
        repo: Repo,
    },
    /// Show one snapshot.
    #[command(after_help = "Example:\n  rpcli snapshot show -y apt -r deb 2024-06-01")]
    Show {
        #[command(flatten)]
        repo: Repo,
        name: String,
    },
    /// Packages added, removed and changed from snapshot FROM to TO (or to
    /// the live repository).
    #[command(
        after_help = "Examples:\n  rpcli snapshot diff -y apt -r deb 2024-05-01 2024-06-01\n  rpcli snapshot diff -y apt -r deb 2024-06-01   # against the live repository"
    )]
    Diff {
        #[command(flatten)]
        repo: Repo,
        from: String,
        /// [default: the live repository]
        to: Option<String>,
    },
    /// Delete a snapshot (refused while a channel points at it).
    #[command(after_help = "Example:\n  rpcli snapshot delete -y apt -r deb 2024-05-01 --yes")]
    Delete {
        #[command(flatten)]
        repo: Repo,
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
pub enum ChannelCommand {
    /// Point a channel at a snapshot (creating the channel if need be).
    #[command(
        after_help = "Examples:\n  rpcli channel set -y apt -r deb stable 2024-06-01 --expect 2024-05-01\n  rpcli channel set -y apt -r deb testing 2024-06-01 --expect-none   # only if new"
    )]
    Set {
        #[command(flatten)]
        repo: Repo,
        channel: String,
        snapshot: String,
        /// Only move the channel if it points at this snapshot now.
        #[arg(long, value_name = "PREV", conflicts_with = "expect_none")]
        expect: Option<String>,
        /// Only create the channel: refuse if it exists.
        #[arg(long)]
        expect_none: bool,
    },
    /// Show one channel.
    #[command(after_help = "Example:\n  rpcli channel show -y apt -r deb stable")]
    Show {
        #[command(flatten)]
        repo: Repo,
        channel: String,
    },
    /// List a repository's channels.
    #[command(after_help = "Example:\n  rpcli channel list -y apt -r deb --json")]
    List {
        #[command(flatten)]
        repo: Repo,
    },
    /// Delete a channel (its snapshot stays).
    #[command(after_help = "Example:\n  rpcli channel delete -y apt -r deb testing --yes")]
    Delete {
        #[command(flatten)]
        repo: Repo,
        channel: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// One API request.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

impl Call {
    fn new(method: Method, path: String) -> Call {
        Call {
            method,
            path,
            body: None,
        }
    }

    async fn send(&self, client: &Client) -> Result<Value, Failure> {
        client
            .json(self.method.clone(), &self.path, self.body.as_ref())
            .await
    }
}

/// What `channel set` requires of the channel's current snapshot.
#[derive(Debug, PartialEq)]
pub enum Expect<'a> {
    /// Nothing: move it wherever it is.
    Any,
    /// The channel must not exist yet.
    Absent,
    /// The channel must point at this snapshot.
    At(&'a str),
}

fn snapshots_path(repo: &Repo) -> String {
    format!("{}/snapshots", repo_path(repo))
}

fn snapshot_path(repo: &Repo, name: &str) -> String {
    format!("{}/{}", snapshots_path(repo), seg(name))
}

fn channels_path(repo: &Repo) -> String {
    format!("{}/channels", repo_path(repo))
}

fn channel_path(repo: &Repo, name: &str) -> String {
    format!("{}/{}", channels_path(repo), seg(name))
}

/// The body of `snapshot create`; the description is empty without one
/// (the server keeps a string either way).
pub fn create_body(name: &str, description: Option<&str>) -> Value {
    json!({ "name": name, "description": description.unwrap_or("") })
}

/// The body of `channel set`: `"expect"` is absent (move unconditionally),
/// `null` (create only) or the snapshot the channel must point at.
pub fn set_body(snapshot: &str, expect: &Expect) -> Value {
    let mut body = Map::new();
    body.insert("snapshot".into(), json!(snapshot));
    match expect {
        Expect::Any => {}
        Expect::Absent => {
            body.insert("expect".into(), Value::Null);
        }
        Expect::At(prev) => {
            body.insert("expect".into(), json!(prev));
        }
    }
    Value::Object(body)
}

impl SnapshotCommand {
    pub fn call(&self) -> Call {
        match self {
            SnapshotCommand::Create {
                repo,
                name,
                description,
            } => Call {
                method: Method::POST,
                path: snapshots_path(repo),
                body: Some(create_body(name, description.as_deref())),
            },
            SnapshotCommand::List { repo } => Call::new(Method::GET, snapshots_path(repo)),
            SnapshotCommand::Show { repo, name } => {
                Call::new(Method::GET, snapshot_path(repo, name))
            }
            SnapshotCommand::Diff { repo, from, to } => {
                let mut path = format!("{}/diff", snapshot_path(repo, from));
                if let Some(to) = to {
                    path.push('/');
                    path.push_str(&seg(to));
                }
                Call::new(Method::GET, path)
            }
            SnapshotCommand::Delete { repo, name, .. } => {
                Call::new(Method::DELETE, snapshot_path(repo, name))
            }
        }
    }
}

impl ChannelCommand {
    /// What `--expect`/`--expect-none` ask for.
    pub fn expect(&self) -> Expect<'_> {
        match self {
            ChannelCommand::Set {
                expect: Some(prev), ..
            } => Expect::At(prev),
            ChannelCommand::Set {
                expect_none: true, ..
            } => Expect::Absent,
            _ => Expect::Any,
        }
    }

    pub fn call(&self) -> Call {
        match self {
            ChannelCommand::Set {
                repo,
                channel,
                snapshot,
                ..
            } => Call {
                method: Method::PUT,
                path: channel_path(repo, channel),
                body: Some(set_body(snapshot, &self.expect())),
            },
            ChannelCommand::Show { repo, channel } => {
                Call::new(Method::GET, channel_path(repo, channel))
            }
            ChannelCommand::List { repo } => Call::new(Method::GET, channels_path(repo)),
            ChannelCommand::Delete { repo, channel, .. } => {
                Call::new(Method::DELETE, channel_path(repo, channel))
            }
        }
    }
}

/// A time in milliseconds since the epoch as `YYYY-MM-DD HH:MM:SSZ` (UTC);
/// empty when the value is not a number.
pub fn utc(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else {
        return String::new();
    };
    let secs = ms.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

/// `name version (section variant)`, the parentheses only when there is
/// a section or variant.
fn package_line(p: &Value) -> String {
    format!(
        "{} {}{}",
        str_of(&p["name"]),
        str_of(&p["version"]),
        place(p)
    )
}

/// ` (section variant)`, or nothing for a package with neither.
fn place(p: &Value) -> String {
    let parts: Vec<&str> = ["section", "variant"]
        .iter()
        .map(|k| str_of(&p[*k]))
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(" "))
    }
}

/// A diff as lines: `+ added`, `- removed`, `~ changed` (the server
/// pairs entries of one name, version, section and variant whose content
/// differs; should a pair differ in those, it reads `~ name old -> new`),
/// then a summary.
pub fn diff_lines(diff: &Value) -> Vec<String> {
    let list = |k: &str| diff[k].as_array().cloned().unwrap_or_default();
    let (added, removed, changed) = (list("added"), list("removed"), list("changed"));
    let mut out = Vec::new();
    out.extend(added.iter().map(|p| format!("+ {}", package_line(p))));
    out.extend(removed.iter().map(|p| format!("- {}", package_line(p))));
    for c in &changed {
        let (from, to) = (&c["from"], &c["to"]);
        let (fp, tp) = (place(from), place(to));
        let (fv, tv) = (str_of(&from["version"]), str_of(&to["version"]));
        let name = str_of(&from["name"]);
        out.push(if (fv, &fp) == (tv, &tp) {
            // The same package with other content (files, yanked).
            format!("~ {name} {fv}{fp}")
        } else if fp == tp {
            format!("~ {name} {fv} -> {tv}{fp}")
        } else {
            format!("~ {name} {fv}{fp} -> {tv}{tp}")
        });
    }
    let to = diff["to"].as_str().unwrap_or("the live repository");
    out.push(if out.is_empty() {
        format!("{} -> {to}: no differences", str_of(&diff["from"]))
    } else {
        format!(
            "{} -> {to}: {} added, {} removed, {} changed",
            str_of(&diff["from"]),
            added.len(),
            removed.len(),
            changed.len()
        )
    });
    out
}

/// `key  value` lines, aligned, skipping empty values.
fn print_fields(fields: &[(&str, String)]) {
    for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        println!("{k:<12}{v}");
    }
}

fn plural(n: &Value, one: &str) -> String {
    let n = n.as_u64().unwrap_or(0);
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

fn print_snapshot(client: &Client, s: &Value) {
    print_fields(&[
        ("name", str_of(&s["name"]).to_owned()),
        ("description", str_of(&s["description"]).to_owned()),
        (
            "created",
            format!("{} by {}", utc(&s["created_at"]), str_of(&s["created_by"])),
        ),
        ("packages", s["packages"].to_string()),
        ("generation", s["generation"].to_string()),
        ("root", str_of(&s["root"]).to_owned()),
        ("url", client.url(str_of(&s["url"]))),
    ]);
}

fn print_channel(client: &Client, c: &Value) {
    print_fields(&[
        ("name", str_of(&c["name"]).to_owned()),
        ("snapshot", str_of(&c["snapshot"]).to_owned()),
        ("previous", str_of(&c["previous"]).to_owned()),
        (
            "updated",
            format!("{} by {}", utc(&c["updated_at"]), str_of(&c["updated_by"])),
        ),
        ("url", client.url(str_of(&c["url"]))),
    ]);
}

pub async fn run_snapshot(
    client: &Client,
    cmd: SnapshotCommand,
    json: bool,
) -> Result<(), Failure> {
    let call = cmd.call();
    if let SnapshotCommand::Delete { repo, name, yes } = &cmd {
        let what = format!("snapshot {}/{}@{name}", repo.provider, repo.repo);
        if !yes && !confirm(&format!("Delete {what}?"))? {
            return Err(Failure::Failed("not deleted".into()));
        }
        call.send(client).await?;
        if json {
            print_json(&json!({
                "provider": repo.provider,
                "repository": repo.repo,
                "deleted": name,
            }));
        } else {
            println!("deleted {what}");
        }
        return Ok(());
    }
    let body = call.send(client).await?;
    if json {
        print_json(&body);
        return Ok(());
    }
    match &cmd {
        SnapshotCommand::Create { repo, .. } => {
            println!(
                "created snapshot {}/{}@{}: {}, generation {}",
                repo.provider,
                repo.repo,
                str_of(&body["name"]),
                plural(&body["packages"], "package"),
                body["generation"]
            );
            println!("{}", client.url(str_of(&body["url"])));
        }
        SnapshotCommand::List { .. } => {
            for s in body["snapshots"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    str_of(&s["name"]),
                    utc(&s["created_at"]),
                    plural(&s["packages"], "package"),
                    str_of(&s["created_by"]),
                    str_of(&s["description"])
                );
            }
        }
        SnapshotCommand::Show { .. } => print_snapshot(client, &body),
        SnapshotCommand::Diff { .. } => {
            for line in diff_lines(&body) {
                println!("{line}");
            }
        }
        SnapshotCommand::Delete { .. } => unreachable!("handled above"),
    }
    Ok(())
}

pub async fn run_channel(client: &Client, cmd: ChannelCommand, json: bool) -> Result<(), Failure> {
    let call = cmd.call();
    if let ChannelCommand::Delete { repo, channel, yes } = &cmd {
        let what = format!("channel {} of {}/{}", channel, repo.provider, repo.repo);
        if !yes && !confirm(&format!("Delete {what}?"))? {
            return Err(Failure::Failed("not deleted".into()));
        }
        call.send(client).await?;
        if json {
            print_json(&json!({
                "provider": repo.provider,
                "repository": repo.repo,
                "deleted": channel,
            }));
        } else {
            println!("deleted {what}");
        }
        return Ok(());
    }
    let body = call.send(client).await?;
    if json {
        print_json(&body);
        return Ok(());
    }
    match &cmd {
        ChannelCommand::Set { repo, .. } => {
            println!(
                "{}/{} channel {}: {} -> {}",
                repo.provider,
                repo.repo,
                str_of(&body["name"]),
                body["previous"].as_str().unwrap_or("(new)"),
                str_of(&body["snapshot"])
            );
            println!("{}", client.url(str_of(&body["url"])));
        }
        ChannelCommand::Show { .. } => print_channel(client, &body),
        ChannelCommand::List { .. } => {
            for c in body["channels"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}\t{}",
                    str_of(&c["name"]),
                    str_of(&c["snapshot"]),
                    utc(&c["updated_at"]),
                    str_of(&c["updated_by"])
                );
            }
        }
        ChannelCommand::Delete { .. } => unreachable!("handled above"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};
    use clap::Parser;

    fn snapshot(args: &[&str]) -> SnapshotCommand {
        let cli = Cli::try_parse_from(["rpcli", "snapshot"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Command::Snapshot(cmd) = cli.command else {
            panic!("not a snapshot command")
        };
        cmd
    }

    fn channel(args: &[&str]) -> ChannelCommand {
        let cli = Cli::try_parse_from(["rpcli", "channel"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Command::Channel(cmd) = cli.command else {
            panic!("not a channel command")
        };
        cmd
    }

    fn call(method: Method, path: &str, body: Option<Value>) -> Call {
        Call {
            method,
            path: path.into(),
            body,
        }
    }

    const BASE: &str = "/api/v1/repos/apt/deb";

    #[test]
    fn snapshot_commands_parse_into_their_requests() {
        let create = snapshot(&[
            "create",
            "-y",
            "apt",
            "-r",
            "deb",
            "june",
            "--description",
            "June release",
        ]);
        assert_eq!(
            create.call(),
            call(
                Method::POST,
                &format!("{BASE}/snapshots"),
                Some(json!({"name": "june", "description": "June release"}))
            )
        );
        let bare = snapshot(&["create", "-y", "apt", "-r", "deb", "june"]);
        assert_eq!(
            bare.call().body,
            Some(json!({"name": "june", "description": ""}))
        );
        assert_eq!(
            snapshot(&["list", "-y", "apt", "-r", "deb", "--json"]).call(),
            call(Method::GET, &format!("{BASE}/snapshots"), None)
        );
        assert_eq!(
            snapshot(&["show", "--provider", "apt", "--repo", "deb", "june"]).call(),
            call(Method::GET, &format!("{BASE}/snapshots/june"), None)
        );
        assert_eq!(
            snapshot(&["diff", "-y", "apt", "-r", "deb", "may", "june"]).call(),
            call(
                Method::GET,
                &format!("{BASE}/snapshots/may/diff/june"),
                None
            )
        );
        assert_eq!(
            snapshot(&["diff", "-y", "apt", "-r", "deb", "may"]).call(),
            call(Method::GET, &format!("{BASE}/snapshots/may/diff"), None),
            "without TO: against the live repository"
        );
        let delete = snapshot(&["delete", "-y", "apt", "-r", "deb", "may"]);
        assert!(matches!(delete, SnapshotCommand::Delete { yes: false, .. }));
        assert_eq!(
            delete.call(),
            call(Method::DELETE, &format!("{BASE}/snapshots/may"), None)
        );
        assert!(matches!(
            snapshot(&["delete", "-y", "apt", "-r", "deb", "may", "--yes"]),
            SnapshotCommand::Delete { yes: true, .. }
        ));
        assert_eq!(
            snapshot(&["show", "-y", "apt", "-r", "a b", "x/y"])
                .call()
                .path,
            "/api/v1/repos/apt/a%20b/snapshots/x%2Fy",
            "names are path segments"
        );

        for bad in [
            &["create", "-y", "apt", "-r", "deb"][..],
            &["create", "-y", "apt", "june"],
            &["show", "-y", "apt", "-r", "deb"],
            &["diff", "-y", "apt", "-r", "deb"],
            &["diff", "-y", "apt", "-r", "deb", "a", "b", "c"],
            &["delete", "-y", "apt", "-r", "deb"],
            &["list", "-y", "apt"],
            &["rename", "-y", "apt", "-r", "deb", "a"],
        ] {
            let args = ["rpcli", "snapshot"].iter().chain(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn channel_commands_parse_into_their_requests() {
        let set = |extra: &[&str]| {
            let mut args = vec!["set", "-y", "apt", "-r", "deb", "stable", "june"];
            args.extend(extra);
            channel(&args)
        };
        let path = format!("{BASE}/channels/stable");
        let moved = set(&[]);
        assert_eq!(moved.expect(), Expect::Any);
        assert_eq!(
            moved.call(),
            call(Method::PUT, &path, Some(json!({"snapshot": "june"}))),
            "no flag: no expect key, an unconditional move"
        );
        let body = moved.call().body.unwrap();
        assert!(body.get("expect").is_none());

        let expected = set(&["--expect", "may"]);
        assert_eq!(expected.expect(), Expect::At("may"));
        assert_eq!(
            expected.call(),
            call(
                Method::PUT,
                &path,
                Some(json!({"snapshot": "june", "expect": "may"}))
            )
        );
        let fresh = set(&["--expect-none"]);
        assert_eq!(fresh.expect(), Expect::Absent);
        let body = fresh.call().body.unwrap();
        assert_eq!(body, json!({"snapshot": "june", "expect": null}));
        assert_eq!(body.get("expect"), Some(&Value::Null), "the key is there");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"expect":null,"snapshot":"june"}"#
        );

        assert_eq!(
            channel(&["show", "-y", "apt", "-r", "deb", "stable"]).call(),
            call(Method::GET, &path, None)
        );
        assert_eq!(
            channel(&["list", "-y", "apt", "-r", "deb"]).call(),
            call(Method::GET, &format!("{BASE}/channels"), None)
        );
        let delete = channel(&["delete", "-y", "apt", "-r", "deb", "stable"]);
        assert!(matches!(delete, ChannelCommand::Delete { yes: false, .. }));
        assert_eq!(delete.call(), call(Method::DELETE, &path, None));
        assert!(matches!(
            channel(&["delete", "-y", "apt", "-r", "deb", "stable", "--yes"]),
            ChannelCommand::Delete { yes: true, .. }
        ));

        for bad in [
            &["set", "-y", "apt", "-r", "deb", "stable"][..],
            &[
                "set",
                "-y",
                "apt",
                "-r",
                "deb",
                "stable",
                "june",
                "--expect",
                "may",
                "--expect-none",
            ],
            &[
                "set", "-y", "apt", "-r", "deb", "stable", "june", "--expect",
            ],
            &["show", "-y", "apt", "-r", "deb"],
            &["delete", "-r", "deb", "stable"],
        ] {
            let args = ["rpcli", "channel"].iter().chain(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn diffs_read_as_added_removed_changed_lines() {
        let pkg = |name: &str, version: &str, section: &str, variant: &str| json!({"name": name, "version": version, "section": section, "variant": variant});
        let diff = json!({
            "from": "may",
            "to": null,
            "added": [pkg("hello", "2.11-1", "bookworm/main", "amd64")],
            "removed": [pkg("mytool", "1.4.2", "", "")],
            "changed": [
                {"from": pkg("hello", "2.10-3", "bookworm/main", "amd64"),
                 "to": pkg("hello", "2.10-3", "bookworm/main", "amd64")},
                {"from": pkg("libfoo", "1.0", "bookworm/main", "arm64"),
                 "to": pkg("libfoo", "1.1", "bookworm/main", "arm64")},
                {"from": pkg("bar", "1.0", "bookworm/main", "amd64"),
                 "to": pkg("bar", "1.0", "bookworm/contrib", "amd64")},
            ],
        });
        assert_eq!(
            diff_lines(&diff),
            [
                "+ hello 2.11-1 (bookworm/main amd64)",
                "- mytool 1.4.2",
                "~ hello 2.10-3 (bookworm/main amd64)",
                "~ libfoo 1.0 -> 1.1 (bookworm/main arm64)",
                "~ bar 1.0 (bookworm/main amd64) -> 1.0 (bookworm/contrib amd64)",
                "may -> the live repository: 1 added, 1 removed, 3 changed",
            ]
        );
        let same = json!({"from": "may", "to": "june", "added": [], "removed": [], "changed": []});
        assert_eq!(diff_lines(&same), ["may -> june: no differences"]);
    }

    #[test]
    fn times_print_in_utc() {
        assert_eq!(utc(&json!(0)), "1970-01-01 00:00:00Z");
        assert_eq!(utc(&json!(951_782_400_000_i64)), "2000-02-29 00:00:00Z");
        assert_eq!(utc(&json!(1_718_000_000_123_i64)), "2024-06-10 06:13:20Z");
        assert_eq!(utc(&json!(-1)), "1969-12-31 23:59:59Z");
        assert_eq!(utc(&Value::Null), "");
    }
}
