//! `soak` (issue 8): a long mixed load at a fraction of capacity on a 3-node cluster while a
//! node is killed (-9) and restarted every few minutes; memory, live data, rates, errors and
//! latency per interval.
//!
//! One run: a fresh cluster, users and `/auth` cookies, an OAuth2 client; a closed-loop
//! calibration of each operation's capacity ([`calibrate`]); then, for `--minutes`, `/auth`
//! open loop on every running node (in `--segment`-second pieces, each reconnecting to the
//! nodes that are up) beside the paced creations and the revocations that keep the live data
//! at its caps ([`ops`], [`pace`]), while [`faults`] kills and restarts nodes. Every
//! `--interval` seconds each node's RSS and live data are read ([`sample`]); the report
//! ([`report`]) goes to `results/soak.md`, the intervals to `results/soak.csv`.

mod calibrate;
mod faults;
mod ops;
mod pace;
mod report;
mod sample;
mod tables;
mod verdict;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use authd_tests::Cluster;

use super::auth::target::{Target, check_authd};
use super::{Common, dump_logs, start_cluster};
use crate::openloop::{OpenConn, OpenLoop};
use crate::stats::Latencies;
use calibrate::{Capacity, Shares};
use faults::{Fault, Faults};
use ops::{Ctx, Op};
use pace::{Driver, OpWindow, Recorder};
use sample::{Cores, NodeSample, Sampler};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only `--out` (and `--quiet-*` for the calibration) apply here.
    #[command(flatten)]
    pub common: Common,
    /// Length of the soak (after setup and calibration).
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Minutes between node kills (0: no faults).
    #[arg(long, default_value_t = 4.0)]
    pub kill_every: f64,
    /// Seconds a killed node stays down before it is started again.
    #[arg(long, default_value_t = 10.0)]
    pub down: f64,
    /// Seconds per report interval.
    #[arg(long, default_value_t = 30.0)]
    pub interval: f64,
    /// Seconds per `/auth` open-loop segment (each reconnects to the nodes that are up).
    #[arg(long, default_value_t = 10.0)]
    pub segment: f64,
    /// Fraction of the measured capacity the mix runs at.
    #[arg(long, default_value_t = 0.5)]
    pub load: f64,
    /// Share of the load budget for `/auth` checks.
    #[arg(long, default_value_t = 0.5)]
    pub share_auth: f64,
    /// Share for logins through the form (with the session ends they cause).
    #[arg(long, default_value_t = 0.15)]
    pub share_login: f64,
    /// Share for signed API session creations (with the session ends they cause).
    #[arg(long, default_value_t = 0.15)]
    pub share_create: f64,
    /// Share for OAuth2 token grants (with the token revocations they cause).
    #[arg(long, default_value_t = 0.2)]
    pub share_token: f64,
    /// Seconds each operation's capacity is measured for.
    #[arg(long, default_value_t = 4.0)]
    pub calibrate: f64,
    /// Connections of the `/auth` open loop.
    #[arg(long, default_value_t = 48)]
    pub open_conns: usize,
    /// Churned sessions kept live (older ones are ended as new ones come).
    #[arg(long, default_value_t = 10_000)]
    pub live_sessions: usize,
    /// Churned access tokens kept live (older ones are revoked as new ones come).
    #[arg(long, default_value_t = 10_000)]
    pub live_tokens: usize,
    /// Long-lived sessions whose cookies `/auth` checks.
    #[arg(long, default_value_t = 100)]
    pub stable_sessions: usize,
    /// Benchmark users (logins and API sessions rotate over them).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Minutes excluded from the memory slope (the caps fill, allocators warm up).
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
}

/// One operation in one interval.
#[derive(Debug, Clone, Default)]
pub struct OpSummary {
    pub ok: u64,
    pub rate: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub errors: BTreeMap<String, u64>,
}

/// One report interval; times in seconds since the soak started.
#[derive(Debug, Clone)]
pub struct Interval {
    pub start: f64,
    pub end: f64,
    pub ops: BTreeMap<Op, OpSummary>,
    pub nodes: BTreeMap<u64, NodeSample>,
    pub cores: Cores,
    pub loadavg: f64,
    /// The client's pools: (sessions, tokens).
    pub pooled: (usize, usize),
}

/// Everything the report needs.
pub struct Outcome {
    pub args: Args,
    pub binary: String,
    pub capacity: Capacity,
    pub auth_rate: f64,
    pub rates: Vec<(Op, f64)>,
    pub intervals: Vec<Interval>,
    pub faults: Vec<Fault>,
    /// (seconds since the start, operation, kind) of every logged error.
    pub errors: Vec<(f64, Op, String)>,
    /// The soak's length as run, seconds.
    pub length: f64,
    /// Whether every node had caught up at the end, and how.
    pub converged: String,
}

pub async fn run(args: Args) -> Result<()> {
    let binary = super::release_binary("soak")?;
    let mut cluster = start_cluster(3).await?;
    let out = soak(&args, &mut cluster).await;
    if out.is_err() {
        dump_logs(&cluster);
    }
    let mut outcome = out?;
    outcome.binary = crate::report::binary_info(&binary);
    let (md, csv) = report::render(&outcome);
    println!("{md}");
    let path = crate::report::write(&args.common.out, "soak", &md)?;
    let csv_path = args.common.out.join("soak.csv");
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    eprintln!(
        "authd-bench: report written to {} (intervals: {})",
        path.display(),
        csv_path.display()
    );
    Ok(())
}

async fn soak(args: &Args, cluster: &mut Cluster) -> Result<Outcome> {
    let sessions =
        super::sessions::login_many(cluster, args.users, args.stable_sessions, 6).await?;
    let api = cluster.api(cluster.leader().await?);
    super::token::worker::register_owner(&api).await?;
    let (_, basic) = super::token::worker::register_named(&api, "soak").await?;
    let users = ops::user_ids(&api, args.users).await?;
    let caps = (args.live_sessions.max(1), args.live_tokens.max(1));
    let ctx = Arc::new(Ctx::new(cluster, users, basic, caps)?);
    let capacity = calibrate::calibrate(cluster, &ctx, &sessions, args.calibrate, &args.common)
        .await
        .context("calibrating")?;
    let shares = Shares {
        auth: args.share_auth,
        login: args.share_login,
        create: args.share_create,
        token: args.share_token,
    };
    let (auth_rate, rates) = capacity.rates(args.load, shares);
    eprintln!("authd-bench soak: capacity {capacity:?}; /auth {auth_rate:.0}/s, {rates:?}");
    let target = Target::authd(cluster, &sessions)?;
    let rec = Arc::new(Recorder::default());
    let driver = Driver::start(ctx.clone(), rec.clone(), &rates);
    let length = args.minutes.max(0.1) * 60.0;
    let mut faults = Faults::new(args.kill_every.max(0.0) * 60.0, args.down, length);
    let mut sampler = Sampler::new();
    let t0 = Instant::now();
    let step = args.interval.max(1.0);
    let mut intervals = Vec::new();
    let mut start = 0.0;
    while start < length - 0.5 {
        let end = (start + step).min(length);
        while t0.elapsed().as_secs_f64() < end {
            let seg_end = (t0.elapsed().as_secs_f64() + args.segment.max(1.0)).min(end);
            let seg = Segment {
                target: &target,
                rate: auth_rate,
                conns: args.open_conns.max(1),
                t0,
                end: seg_end,
            };
            seg.run(cluster, &mut faults, &rec).await?;
        }
        let windows = rec.take();
        let (nodes, cores) = sampler.take(cluster).await;
        let iv = Interval {
            start,
            end,
            ops: summarize(windows, end - start),
            nodes,
            cores,
            loadavg: sample::loadavg(),
            pooled: ctx.pooled(),
        };
        eprintln!("authd-bench soak: {}", report::progress(&iv));
        intervals.push(iv);
        start = end;
    }
    driver.stop().await;
    // Any fault still in progress: let it finish (restart, catch up) before the end.
    let mut waited = 0;
    while faults.all().iter().any(|f| f.caught_up.is_none()) && waited < 120 {
        faults.tick(cluster, t0.elapsed().as_secs_f64()).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        waited += 1;
    }
    cluster.check_alive()?;
    let converged = match cluster.wait_caught_up(Duration::from_secs(30)).await {
        Ok(index) => format!("every node applied index {index} within 30 s after the load"),
        Err(e) => format!("NOT converged 30 s after the load: {e:#}"),
    };
    let errors = rec
        .error_log()
        .into_iter()
        .map(|(at, op, k)| (at.saturating_duration_since(t0).as_secs_f64(), op, k))
        .collect();
    Ok(Outcome {
        args: args.clone(),
        binary: String::new(),
        capacity,
        auth_rate,
        rates,
        intervals,
        faults: faults.all(),
        errors,
        length,
        converged,
    })
}

fn summarize(windows: BTreeMap<Op, OpWindow>, secs: f64) -> BTreeMap<Op, OpSummary> {
    windows
        .into_iter()
        .map(|(op, mut w)| {
            let ok = w.latencies.len() as u64;
            let s = OpSummary {
                ok,
                rate: ok as f64 / secs.max(1e-9),
                p50: w.latencies.percentile_ms(0.5),
                p99: w.latencies.percentile_ms(0.99),
                errors: std::mem::take(&mut w.errors),
            };
            (op, s)
        })
        .collect()
}

/// One `/auth` open-loop piece on the nodes that are up, with the fault schedule ticking.
struct Segment<'a> {
    target: &'a Target,
    rate: f64,
    conns: usize,
    t0: Instant,
    end: f64,
}

impl Segment<'_> {
    async fn run(&self, cluster: &mut Cluster, faults: &mut Faults, rec: &Recorder) -> Result<()> {
        let mut up = Vec::new();
        for (class, (id, _)) in self.target.nodes.iter().enumerate() {
            if cluster.is_running(*id) && matches!(cluster.api(*id).healthz().await, Ok(200)) {
                up.push(class);
            }
        }
        let conns: Vec<OpenConn> = (0..self.conns)
            .filter_map(|k| {
                let class = *up.get(k % up.len().max(1))?;
                let (_, addr) = self.target.nodes.get(class)?;
                Some(OpenConn {
                    addr: *addr,
                    class,
                    requests: self.target.requests.get(class)?.clone(),
                })
            })
            .collect();
        let mut load = match OpenLoop::start(conns, self.rate, check_authd).await {
            Ok(l) => Some(l),
            Err(e) => {
                rec.error(Op::Auth, Instant::now(), &format!("connect failed: {e:#}"));
                None
            }
        };
        if let Some(l) = load.as_mut() {
            l.begin_window();
        }
        let tick_until = if load.is_some() {
            self.end
        } else {
            (self.secs() + 1.0).min(self.end)
        };
        while self.secs() < tick_until {
            faults.tick(cluster, self.secs()).await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let Some(mut l) = load else { return Ok(()) };
        l.end_window();
        let r = l.stop().await?;
        let mut all = Latencies::default();
        for lat in r.load.by_class {
            all.merge(lat);
        }
        rec.merge_latencies(Op::Auth, all);
        let logged = r.error_log.len() as u64;
        for (at, e) in r.error_log {
            rec.error(Op::Auth, at, &e);
        }
        for _ in logged..r.load.errors {
            rec.error(Op::Auth, Instant::now(), "error beyond the log");
        }
        Ok(())
    }

    fn secs(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}
