//! The `meshscope-loadgen` binary: parses the command line, runs, reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::Parser as _;
use meshscope_loadgen::{Args, Topology, run_with_stop};

/// mimalloc, as the server: generation allocates many small buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if args.print_topology {
        print!("{}", Topology::new(args.services));
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let cfg = args.to_config()?;
    let info = cfg.run_info();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing in-flight batches");
                on_signal.store(true, Ordering::Relaxed);
            }
        });
        run_with_stop(cfg, stop).await
    })?;
    eprint!("{}", report.summary(&info));
    if let Some(path) = &args.report_json {
        let text = serde_json::to_vec_pretty(&report.to_json(&info))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    // Spans that could not be delivered (retries exhausted, transport down) fail the run.
    Ok(if report.spans_failed > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}
