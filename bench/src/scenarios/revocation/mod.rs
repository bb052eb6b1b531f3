//! `revocation`: while `/auth` runs open loop at `--open-fraction` (0.5) of the cluster's
//! maximum on all nodes, revoke `--revocations` sessions one at a time (spread over the nodes)
//! and probe each revoked cookie on every node right after the acknowledgement (issue 3,
//! DESIGN.md guarantee 2).
//!
//! Per run: the fsync baseline, a fresh cluster, `--sessions` background logins plus one login
//! per revocation, a short closed-loop calibration of the maximum (unless `--rate`), then the
//! background load, the revoker, and the nodes' CPU and `/metrics` at the window's edges.

mod report;
mod revoker;
mod tables;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use authd_tests::Cluster;

use super::auth::target::Target;
use super::auth::{Mode, measure};
use super::{Common, ProbeSnapshot, dump_logs, start_cluster};
use crate::fsync::{self, FsyncBaseline};
use crate::openloop::{OpenConn, OpenLoop};
use crate::stats::LatencySummary;
pub use revoker::{RevokeLog, Via};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Sessions revoked per run, one at a time.
    #[arg(long, default_value_t = 1000)]
    pub revocations: usize,
    /// How: `logout` (GET /logout with the cookie) or `delete` (signed DELETE /api/v1/sessions/{id}).
    #[arg(long, value_enum, default_value = "logout")]
    pub via: Via,
    /// `/auth` probe rounds (one probe per node each, all nodes at once) after each ack.
    #[arg(long, default_value_t = 3)]
    pub probes: usize,
    /// Users whose sessions are logged in (and revoked), round-robin.
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Sessions of the background `/auth` load (never revoked).
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// Background load: this fraction of the calibrated closed-loop maximum...
    #[arg(long, default_value_t = 0.5)]
    pub open_fraction: f64,
    /// ... or this fixed rate (req/s over all nodes).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections of the background load (and of the calibration).
    #[arg(long, default_value_t = 64)]
    pub open_conns: usize,
    /// Seconds of closed-loop calibration of the maximum.
    #[arg(long, default_value_t = 4.0)]
    pub calibrate: f64,
    /// After the loaded window, revoke this many more sessions with no background load, for
    /// comparison (0: skip).
    #[arg(long, default_value_t = 200)]
    pub idle_revocations: usize,
}

/// What one run measured.
pub struct RevRun {
    pub run: usize,
    pub calibrated_max: Option<f64>,
    pub rate: f64,
    pub log: RevokeLog,
    /// The `--idle-revocations`, without background load.
    pub idle: Option<RevokeLog>,
    /// The background load: (answers/s, latency, errors, first error, pacer lag p99 ms,
    /// p99 from the due time ms).
    pub background: (f64, LatencySummary, u64, Option<String>, f64, f64),
    pub window: Duration,
    pub delta: ProbeSnapshot,
    pub fsync: FsyncBaseline,
    pub leader: u64,
    pub leader_after: Option<u64>,
    pub busy_before_pct: f64,
}

pub struct Outcome {
    pub args: Args,
    pub runs: Vec<RevRun>,
    pub peers: Vec<crate::peers::PeerResult>,
    pub binary: String,
    pub node_ids: Vec<u64>,
}

pub async fn run(args: Args) -> Result<()> {
    let binary = super::release_binary("revocation")?;
    let common = &args.common;
    let mut runs = Vec::new();
    let mut node_ids = Vec::new();
    for run in 1..=common.runs.max(1) {
        let busy = common.wait_quiet().await?;
        let fsync = fsync::measure(Duration::from_secs(3)).await?;
        let cluster = start_cluster(3).await?;
        node_ids = cluster.node_ids();
        let result = one_run(&args, run, &cluster, fsync, busy).await;
        if result.is_err() {
            dump_logs(&cluster);
        }
        runs.push(result.with_context(|| format!("run {run}"))?);
    }
    let peers = crate::peers::collect(common).await;
    let outcome = Outcome {
        args: args.clone(),
        runs,
        peers,
        binary: crate::report::binary_info(&binary),
        node_ids,
    };
    let (table, full) = report::render(&outcome);
    println!("{table}");
    let path = crate::report::write(&common.out, "revocation", &full)?;
    eprintln!("authd-bench: report written to {}", path.display());
    Ok(())
}

async fn one_run(
    args: &Args,
    run: usize,
    cluster: &Cluster,
    fsync: FsyncBaseline,
    busy_before_pct: f64,
) -> Result<RevRun> {
    let common = &args.common;
    let all = super::sessions::login_many(
        cluster,
        args.users,
        args.sessions + args.revocations + args.idle_revocations,
        6,
    )
    .await?;
    let (background, rest) = all.split_at(args.sessions.min(all.len()));
    let (revoked, idle) = rest.split_at(args.revocations.min(rest.len()));
    let target = Target::authd(cluster, background)?;
    let calibrated_max = match args.rate {
        Some(_) => None,
        None => {
            let mut c = common.clone();
            c.duration = args.calibrate;
            c.warmup = 1.0;
            let mode = Mode::Closed {
                conns: args.open_conns.max(1),
            };
            let m = measure(&target, mode, run, &c).await?;
            eprintln!(
                "run {run}: calibration: {:.0} req/s closed loop at {} conns (p99 {:.3} ms)",
                m.ops_per_sec, args.open_conns, m.latency.p99_ms
            );
            Some(m.ops_per_sec)
        }
    };
    let rate = args
        .rate
        .unwrap_or_else(|| calibrated_max.unwrap_or(0.0) * args.open_fraction);
    let conns = (0..args.open_conns.max(1))
        .filter_map(|k| target.conn(k))
        .map(|(class, addr, requests)| OpenConn {
            addr,
            class,
            requests,
        })
        .collect();
    let nodes = target.nodes.iter().map(|(_, a)| *a).collect();
    let mut revoker =
        revoker::Revoker::connect(nodes, args.via, cluster.secret(), args.probes).await?;
    let leader = cluster.leader().await?;
    let mut load = OpenLoop::start(conns, rate, target.check()).await?;
    tokio::time::sleep(common.warmup()).await;
    let before = target.probe.take().await?;
    load.begin_window();
    let started = Instant::now();
    let mut log = RevokeLog::default();
    revoker.run(revoked, &mut log).await;
    eprintln!(
        "run {run}: {} revocations in {:.1} s at {rate:.0} req/s background",
        log.acked,
        started.elapsed().as_secs_f64()
    );
    load.end_window();
    let after = target.probe.take().await?;
    let mut open = load.stop().await?;
    let bg = &mut open.load;
    let idle = if idle.is_empty() {
        None
    } else {
        let mut log = RevokeLog::default();
        revoker.run(idle, &mut log).await;
        Some(log)
    };
    let leader_after = cluster.leader().await.ok();
    cluster.check_alive()?;
    let out = RevRun {
        run,
        calibrated_max,
        rate,
        background: (
            bg.ops_per_sec(),
            LatencySummary::of(&mut bg.all()),
            bg.errors,
            bg.first_error.take(),
            LatencySummary::of(&mut open.pacer.lag).p99_ms,
            LatencySummary::of(&mut open.from_due).p99_ms,
        ),
        window: bg.window,
        log,
        idle,
        delta: after.since(&before),
        fsync,
        leader,
        leader_after,
        busy_before_pct,
    };
    report::print_run(&out);
    Ok(out)
}
