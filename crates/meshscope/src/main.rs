//! `meshscope`: one binary that receives OTLP, stores it and serves queries.

use clap::{Parser, Subcommand};
use meshscope::query_cli::{self, QueryArgs};
use meshscope::{Config, ServeArgs, Server};
use tracing_subscriber::EnvFilter;

/// mimalloc: the many small allocations of OTLP requests cost far less than with glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "meshscope",
    version,
    about = "OTLP collector and tracing backend for service meshes"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

// parsed once at start: the size of `Serve` does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Run a read-only SQL statement against a running server or a data directory and print
    /// the answer as a table.
    Query(QueryArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Query(args)) => return query_cli::run(&args),
        None => cli.serve,
    };
    let config = Config::resolve(&args)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .or_else(|_| EnvFilter::try_new(&config.log_filter))?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("meshscope")
        .build()?
        .block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let mut server = Server::start(config).await?;
    tokio::select! {
        result = server.wait_for_failure() => {
            result?;
        }
        signal = shutdown_signal() => {
            tracing::info!(signal, "shutting down");
        }
    }
    server.shutdown().await
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
