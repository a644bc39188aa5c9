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

/// glibc's malloc gives each thread that allocates its own arena (up to
/// eight per core), and every blocking thread that renders a publish kept
/// its freed memory: the server's resident size was twice its live heap
/// (`tests/bench/tar-history.sh`: 162 MiB against 79 MiB with two arenas
/// at 3,000 uploads). glibc reads `MALLOC_ARENA_MAX` only at start-up, and
/// setting it from inside takes `mallopt` (unsafe code, which the
/// workspace forbids), so the process starts itself again with it set.
/// An operator's own value is kept.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(VAR, "2")
        .exec();
    // Only returns on failure: go on with glibc's defaults.
    eprintln!("artifactd: cannot restart with {VAR}=2 ({err}); continuing");
}

fn main() -> anyhow::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
    serve()
}

#[actix_web::main]
async fn serve() -> anyhow::Result<()> {
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
