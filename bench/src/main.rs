//! `authd-bench`: benchmarks against real `authd` processes, with markdown reports in
//! `bench/results/`. See `bench/README.md`.
//!
//! ```text
//! cargo build --release -p authd-node          # the binary under test
//! cargo run --release -p authd-bench -- writes # → bench/results/writes.md
//! ```

mod fsync;
mod hello;
mod http1;
mod load;
mod openloop;
mod peers;
mod procs;
mod prom;
mod report;
mod scenarios;
mod stats;
mod wrk;

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
    /// Keep-alive `GET /auth` with valid cookies over 3 nodes vs a bare axum ceiling (issue 3).
    Auth(scenarios::auth::Args),
    /// Revoke-ack latency and stale 200s while `/auth` runs at ~50 % load (issue 3).
    Revocation(scenarios::revocation::Args),
    /// `/auth` p99 idle and during a flood of wrong-password logins (issue 4).
    LoginFlood(scenarios::login_flood::Args),
    /// One user's maximum sustained growth of the replicated state, bounds vs none (issue 20).
    Growth(scenarios::growth::Args),
    /// OAuth2 client-credentials grants/s through a 3-node cluster, beside Ory Hydra (issue 6).
    Token(scenarios::token::Args),
    /// The fault-injection suite, long profile, writing docs/reliability.md (issue 8).
    Faults(scenarios::faults::Args),
    /// 30 minutes of mixed load at ~50 % of capacity with a node killed every few minutes:
    /// memory, errors and p99 over time (issue 8).
    Soak(scenarios::soak::Args),
    /// The `auth` ceiling: a bare axum "200" server in its own process (started by `auth`).
    #[command(hide = true)]
    Hello(hello::Args),
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
    if let Scenario::Hello(args) = &cli.scenario {
        return hello::serve(args);
    }
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
    let threads = cli.threads.max(1);
    rt.block_on(async move {
        match cli.scenario {
            Scenario::Writes(args) => scenarios::writes::run(args).await,
            Scenario::Auth(args) => scenarios::auth::run(args, threads).await,
            Scenario::Revocation(args) => scenarios::revocation::run(args).await,
            Scenario::LoginFlood(args) => scenarios::login_flood::run(args, threads).await,
            Scenario::Token(args) => scenarios::token::run(args).await,
            Scenario::Growth(args) => scenarios::growth::run(args).await,
            Scenario::Faults(args) => scenarios::faults::run(args).await,
            Scenario::Soak(args) => scenarios::soak::run(args).await,
            // Served above, on its own runtime.
            Scenario::Hello(_) => Ok(()),
        }
    })
}
