//! `auth`: keep-alive `GET /auth` with valid session cookies over the 3 nodes, against the
//! ceiling of a bare axum "200" handler loaded the same way in the same run (issue 3).
//!
//! Per run: a fresh cluster, `--users` users and `--sessions` logins (spread over the nodes);
//! for each `--conns` level the ceiling, then `authd`, closed loop; then an open-loop level at
//! `--open-fraction` of this run's best `authd` rate (or `--rate`), on `authd` and on the
//! ceiling. The ceiling process (`authd-bench hello`, 2 runtime workers) lives for the whole
//! scenario.

mod crosscheck;
mod meas;
mod measure;
mod report;
mod tables;
pub mod target;

use anyhow::{Context, Result};

use super::{Common, dump_logs, start_cluster_with};
use crate::hello::Hello;
pub use meas::{Meas, Mode};
pub use measure::{measure, with_retries};
use target::{Kind, Target};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Closed-loop levels: keep-alive connections, one request outstanding each, spread over
    /// the nodes.
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    pub conns: Vec<usize>,
    /// Users to create.
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Sessions to log in (each request uses the next one, round-robin).
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// Open-loop level: this fraction of the run's best closed-loop `authd` rate...
    #[arg(long, default_value_t = 0.5)]
    pub open_fraction: f64,
    /// ... or this fixed rate (req/s over all nodes).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections of the open-loop level.
    #[arg(long, default_value_t = 64)]
    pub open_conns: usize,
    /// Worker threads of the ceiling server's runtime (an `authd` node has one per core).
    #[arg(long, default_value_t = 2)]
    pub ceiling_workers: usize,
    /// Also measure each closed-loop level with `wrk` (Debian package), once per run.
    #[arg(long)]
    pub wrk: bool,
    /// Skip the ceiling (e.g. to profile `authd` alone with `tools/profile.sh auth`).
    #[arg(long)]
    pub no_ceiling: bool,
    /// The upstream JWT's algorithm (`[signing] upstream_alg`); EdDSA writes `auth-eddsa.md`.
    #[arg(long, default_value = "HS256", value_parser = ["HS256", "EdDSA"])]
    pub upstream_alg: String,
}

pub struct Outcome {
    pub args: Args,
    pub runs: Vec<Meas>,
    pub wrk: Vec<crosscheck::WrkMeas>,
    pub peers: Vec<crate::peers::PeerResult>,
    pub binary: String,
    pub threads: usize,
}

/// `threads`: the load generator's runtime threads (for the report).
pub async fn run(args: Args, threads: usize) -> Result<()> {
    let binary = super::release_binary("auth")?;
    let common = &args.common;
    let mut hello = Hello::spawn(args.ceiling_workers).context("starting the ceiling server")?;
    eprintln!(
        "authd-bench auth: ceiling server pid {} on {}",
        hello.pid(),
        hello.addr
    );
    let mut runs = Vec::new();
    let mut wrk = Vec::new();
    for run in 1..=common.runs.max(1) {
        let alg = args.upstream_alg.clone();
        let cluster = start_cluster_with(3, move |c| {
            c.signing.insert("upstream_alg".into(), alg.clone().into());
        })
        .await?;
        let result = one_run(&args, run, &cluster, &mut hello).await;
        if result.is_err() {
            dump_logs(&cluster);
        }
        let (r, w) = result.with_context(|| format!("run {run}"))?;
        runs.extend(r);
        wrk.extend(w);
    }
    drop(hello);
    let peers = crate::peers::collect(common).await;
    let outcome = Outcome {
        args: args.clone(),
        runs,
        wrk,
        peers,
        binary: crate::report::binary_info(&binary),
        threads,
    };
    let (table, full) = report::render(&outcome);
    println!("{table}");
    let name = match args.upstream_alg.as_str() {
        "EdDSA" => "auth-eddsa",
        _ => "auth",
    };
    let path = crate::report::write(&common.out, name, &full)?;
    eprintln!("authd-bench: report written to {}", path.display());
    Ok(())
}

async fn one_run(
    args: &Args,
    run: usize,
    cluster: &authd_tests::Cluster,
    hello: &mut Hello,
) -> Result<(Vec<Meas>, Vec<crosscheck::WrkMeas>)> {
    let common = &args.common;
    let sessions = super::sessions::login_many(cluster, args.users, args.sessions, 6).await?;
    let authd = Target::authd(cluster, &sessions)?;
    let ceiling = Target::ceiling(hello.addr, hello.pid(), &sessions);
    let script = if args.wrk {
        Some(crosscheck::script(&sessions)?)
    } else {
        None
    };
    let mut out = Vec::new();
    let mut wrk = Vec::new();
    for &conns in &args.conns {
        let mode = Mode::Closed {
            conns: conns.max(1),
        };
        hello.check_alive()?;
        if !args.no_ceiling {
            out.push(with_retries(common, || measure(&ceiling, mode, run, common)).await?);
        }
        out.push(with_retries(common, || measure(&authd, mode, run, common)).await?);
        if let Some((_, path)) = &script {
            for t in [&ceiling, &authd] {
                wrk.push(crosscheck::measure(t, conns.max(1), run, path, common).await?);
            }
        }
        cluster.check_alive()?;
    }
    let best = out
        .iter()
        .filter(|m| m.kind == Kind::Authd)
        .map(|m| m.ops_per_sec)
        .fold(0.0, f64::max);
    let rate = args.rate.unwrap_or(best * args.open_fraction);
    if rate > 0.0 {
        let mode = Mode::Open {
            conns: args.open_conns.max(1),
            rate,
        };
        out.push(with_retries(common, || measure(&authd, mode, run, common)).await?);
        hello.check_alive()?;
        if !args.no_ceiling {
            out.push(with_retries(common, || measure(&ceiling, mode, run, common)).await?);
        }
    }
    cluster.check_alive()?;
    Ok((out, wrk))
}
