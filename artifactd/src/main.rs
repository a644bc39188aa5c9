//! The `artifactd` binary: parse flags, load settings, start the server.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use artifactd::app::App;
use artifactd::config::Settings;
use clap::{Parser, Subcommand};

/// Self-hosted artifact repository server for apt, pip, dnf and plain tarballs.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file; environment variables override it.
    #[arg(long, short = 'c', global = true, env = "ARTIFACTD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets hidden) and exit.
    Config,
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("loading configuration")?;
    init_logging(&settings);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => print!("{}", settings.to_redacted_toml()),
        Command::Migrate => {
            artifactd::db::Db::connect(&settings.database_url()).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            let app = Arc::new(App::build(settings).await.context("starting artifactd")?);
            app.start_background();
            artifactd::http::serve(app).await.context("HTTP server")?;
        }
    }
    Ok(())
}
