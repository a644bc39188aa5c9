//! rpcli: the artifactd command-line client.
//!
//! This first version checks a server's health and lists its repositories;
//! uploads, inspection, downloads and token management follow the server's
//! API as it grows.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Command-line client for artifactd.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Examples:\n  rpcli -s http://127.0.0.1:8080 health\n  rpcli repos --json"
)]
struct Cli {
    /// Server URL.
    #[arg(
        long,
        short = 's',
        global = true,
        env = "RPCLI_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that the server, its database and its storage answer.
    Health,
    /// List repositories.
    Repos,
}

async fn get_json(
    server: &str,
    path: &str,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let resp = reqwest::get(&url)
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let body = resp
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    Ok((status, body))
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Health => {
            let (status, body) = get_json(&cli.server, "/healthz").await?;
            if cli.json {
                println!("{body}");
            } else if status.is_success() {
                println!("ok");
            } else {
                println!(
                    "unavailable: {}",
                    body["message"].as_str().unwrap_or("no reason given")
                );
            }
            Ok(status.is_success())
        }
        Command::Repos => {
            let (status, body) = get_json(&cli.server, "/api/v1/repos").await?;
            anyhow::ensure!(
                status.is_success(),
                "server answered {status}: {}",
                body["message"]
            );
            if cli.json {
                println!("{body}");
            } else {
                for r in body["repos"].as_array().into_iter().flatten() {
                    println!(
                        "{}/{}\tgeneration {}",
                        r["provider"].as_str().unwrap_or("?"),
                        r["name"].as_str().unwrap_or("?"),
                        r["generation"]
                    );
                }
            }
            Ok(true)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rpcli: {e:#}");
            ExitCode::from(2)
        }
    }
}
