//! `login-flood`: does a flood of wrong passwords slow `/auth` down? (issue 4)
//!
//! Per run: a fresh 3-node cluster, real login cookies, then `/auth` open loop at `--rate`
//! (all nodes, keep-alive) measured twice: idle, and while `--flood` concurrent clients post
//! wrong passwords through the login form to all nodes as fast as they are answered. Every
//! flood attempt names a different unknown account (credential stuffing: no account lock
//! short-circuits the Argon2id check) and the per-address limit is lifted for the run, so
//! every attempt costs a full hash and a replicated failure count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use authd_tests::browser::Browser;
use authd_tests::{Cluster, LoginTuning, RaftTuning};

use super::auth::target::Target;
use super::auth::{Meas, Mode, measure};
use super::{Common, dump_logs};
use crate::report::{Table, num};
use crate::stats::median;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// `/auth` rate during both windows (req/s over all nodes).
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// Connections of the `/auth` open loop.
    #[arg(long, default_value_t = 64)]
    pub open_conns: usize,
    /// Concurrent clients posting wrong passwords.
    #[arg(long, default_value_t = 200)]
    pub flood: usize,
    /// Seconds the flood runs before the window opens (its queue fills up).
    #[arg(long, default_value_t = 3.0)]
    pub ramp: f64,
}

#[derive(Debug, Default)]
struct FloodCounts {
    sent: AtomicU64,
    refused_400: AtomicU64,
    locked_429: AtomicU64,
    busy_503: AtomicU64,
    other: AtomicU64,
}

struct RunResult {
    idle: Meas,
    flooded: Meas,
    attempts_per_sec: f64,
    counts: [u64; 4],
}

pub async fn run(args: Args, threads: usize) -> Result<()> {
    let binary = super::release_binary("login-flood")?;
    let mut results = Vec::new();
    for run in 1..=args.common.runs.max(1) {
        let mut cluster = Cluster::start(3, |c| {
            c.raft = RaftTuning::default();
            c.login = Some(LoginTuning {
                max_failures_per_account: 10,
                max_failures_per_ip: u32::MAX,
                window_secs: 900,
                lockout_secs: 900,
            });
        })
        .await
        .context("starting the cluster")?;
        cluster.set_logs_on_drop(false);
        let r = one_run(&args, run, &cluster).await;
        if r.is_err() {
            dump_logs(&cluster);
        }
        results.push(r.with_context(|| format!("run {run}"))?);
    }
    let report = render(
        &args,
        &results,
        &crate::report::binary_info(&binary),
        threads,
    );
    println!("{report}");
    let path = crate::report::write(&args.common.out, "login-flood", &report)?;
    eprintln!("authd-bench: report written to {}", path.display());
    Ok(())
}

async fn one_run(args: &Args, run: usize, cluster: &Cluster) -> Result<RunResult> {
    let common = &args.common;
    let sessions = super::sessions::login_many(cluster, 10, 100, 6).await?;
    let target = Target::authd(cluster, &sessions)?;
    let mode = Mode::Open {
        conns: args.open_conns.max(1),
        rate: args.rate,
    };
    let idle = measure(&target, mode, run, common).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    // The attackers get their own thread and runtime, so their HTTP work does not delay the
    // `/auth` load generator (which would show up as `/auth` latency).
    let mut browsers = Vec::new();
    for k in 0..args.flood {
        let id = cluster.node_ids().get(k % 3).copied().unwrap_or(1);
        browsers.push(Browser::new(&cluster.base_url(id)?)?);
    }
    let flood = {
        let (stop, counts) = (stop.clone(), counts.clone());
        std::thread::Builder::new()
            .name("flood".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(futures::future::join_all(
                    browsers
                        .into_iter()
                        .enumerate()
                        .map(|(k, b)| flood_client(b, k, stop.clone(), counts.clone())),
                ));
                anyhow::Ok(())
            })
            .context("starting the flood thread")?
    };
    tokio::time::sleep(Duration::from_secs_f64(args.ramp)).await;
    let sent_before = counts.sent.load(Ordering::Relaxed);
    let started = Instant::now();
    let busy_ok = Common {
        quiet_max: 0.0,
        ..common.clone()
    };
    let flooded = measure(&target, mode, run, &busy_ok).await?;
    let attempts = counts.sent.load(Ordering::Relaxed) - sent_before;
    let attempts_per_sec = attempts as f64 / started.elapsed().as_secs_f64().max(1e-9);
    stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || flood.join())
        .await
        .context("joining the flood thread")?
        .map_err(|_| anyhow::anyhow!("the flood thread panicked"))??;
    cluster.check_alive()?;
    Ok(RunResult {
        idle,
        flooded,
        attempts_per_sec,
        counts: [
            counts.refused_400.load(Ordering::Relaxed),
            counts.locked_429.load(Ordering::Relaxed),
            counts.busy_503.load(Ordering::Relaxed),
            counts.other.load(Ordering::Relaxed),
        ],
    })
}

/// One attacker: loads the form once, then posts wrong passwords for fresh names.
async fn flood_client(b: Browser, k: usize, stop: Arc<AtomicBool>, counts: Arc<FloodCounts>) {
    let Ok(form) = b.get("/login").await else {
        return;
    };
    let Some(csrf) = form.csrf() else {
        return;
    };
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let name = format!("stuffed-{k}-{i}");
        let r = b
            .post(
                "/login",
                &[
                    ("username", &name),
                    ("password", "wrong-guess-1234"),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let slot = match r.map(|p| p.status) {
            Ok(400) => &counts.refused_400,
            Ok(429) => &counts.locked_429,
            Ok(503) => &counts.busy_503,
            _ => &counts.other,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }
}

fn render(args: &Args, runs: &[RunResult], binary: &str, threads: usize) -> String {
    let mut t = Table::new([
        "run",
        "/auth rate",
        "idle p50 ms",
        "idle p99 ms",
        "flood p50 ms",
        "flood p99 ms",
        "p99 flood/idle",
        "wrong-password attempts/s",
        "/auth errors (idle, flood)",
    ]);
    for (i, r) in runs.iter().enumerate() {
        t.row([
            (i + 1).to_string(),
            num(r.flooded.ops_per_sec, 0),
            num(r.idle.latency.p50_ms, 3),
            num(r.idle.latency.p99_ms, 3),
            num(r.flooded.latency.p50_ms, 3),
            num(r.flooded.latency.p99_ms, 3),
            num(r.flooded.latency.p99_ms / r.idle.latency.p99_ms, 2),
            num(r.attempts_per_sec, 0),
            format!("{}, {}", r.idle.errors, r.flooded.errors),
        ]);
    }
    let idle_p99 = median(runs.iter().map(|r| r.idle.latency.p99_ms));
    let flood_p99 = median(runs.iter().map(|r| r.flooded.latency.p99_ms));
    let attempts = median(runs.iter().map(|r| r.attempts_per_sec));
    let totals = runs.iter().fold([0u64; 4], |mut acc, r| {
        for (a, c) in acc.iter_mut().zip(r.counts) {
            *a += c;
        }
        acc
    });
    format!(
        "# `login-flood`: `/auth` latency under a flood of wrong passwords\n\n\
         Command: `{}`\n\nBinary: {binary}\n\nLoad generator: {threads} runtime thread(s).\n\n\
         **Median of {} runs: `/auth` p99 idle {} ms, during the flood {} ms → {}× \
         (target ≤ 2×), at {} wrong-password attempts/s.**\n\n\
         Method: a fresh 3-node cluster per run, 100 real login cookies; `/auth` open loop at \
         {} req/s over {} keep-alive connections to all nodes, measured for {} s (after {} s \
         warm-up) idle and then while {} concurrent clients post the login form (with its CSRF \
         token) for a new unknown account each time, spread over the nodes, starting {} s \
         before the window (the attackers run on their own thread and runtime). Each attempt costs an Argon2id verification (m=19 MiB, t=2) on the \
         node's low-priority hashing threads and a replicated failure count.\n\n{}\n\
         Flood answers over all runs: 400 (wrong password) {}, 429 (locked) {}, 503 (busy) {}, \
         other {}.\n\nFirst `/auth` error during a flood, if any: {}\n\n{}\n",
        crate::report::command_line(),
        runs.len(),
        num(idle_p99, 3),
        num(flood_p99, 3),
        num(flood_p99 / idle_p99, 2),
        num(attempts, 0),
        num(args.rate, 0),
        args.open_conns,
        args.common.duration,
        args.common.warmup,
        args.flood,
        args.ramp,
        t.to_markdown(),
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        runs.iter()
            .find_map(|r| r.flooded.first_error.clone())
            .unwrap_or_else(|| "none".into()),
        crate::report::MachineInfo::collect().to_markdown(),
    )
}
