//! `authd-bench`: benchmarks against real `authd` processes, with markdown reports in
//! `bench/results/`. See `bench/README.md`.
//!
//! ```text
//! cargo build --release -p authd-node          # the binary under test
//! cargo run --release -p authd-bench -- writes # → bench/results/writes.md
//! ```

mod fsync;
mod load;
mod peers;
mod procs;
mod prom;
mod report;
mod scenarios;
mod stats;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "authd-bench",
    about = "Benchmarks of a real authd cluster, reported as markdown"
)]
struct Cli {
    /// Worker threads of the load generator's runtime (1 = a single-threaded runtime: the
    /// cores are shared with the three nodes, so the load generator stays frugal).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Session-create writes through a 3-node cluster with fsync (issue 2).
    Writes(scenarios::writes::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authd-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .context("building the tokio runtime")?;
    rt.block_on(async move {
        match cli.scenario {
            Scenario::Writes(args) => scenarios::writes::run(args).await,
        }
    })
}
