//! `growth`: how fast can one ordinary account grow the replicated state that every node
//! holds in memory (issue 20)? One user attacks at full speed (login loops, and
//! consent-and-token loops with a public client) for `--attack` seconds on a fresh 3-node
//! cluster, while each node's `authd_state_encoded_bytes` (the state's snapshot-encoded size)
//! is sampled. Twice per run: with the shipped bounds (session cap, family cap, issuance
//! rates), and with them lifted, the baseline in the same run that shows what the bounds stop.

mod attack;
mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use authd_tests::{Cluster, wait_until};
use reqwest::Method;

use super::{Common, dump_logs, start_cluster_with};
use crate::prom::Metrics;
use attack::{Counts, Tally, Target};

/// Password of the attacking user (not a secret: the cluster lives for one run).
const PASSWORD: &str = "growth-bench-password-0123";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// `--runs` and `--out` apply; `--duration`/`--warmup` do not (see `--attack`).
    #[command(flatten)]
    pub common: Common,
    /// Seconds the attack runs per configuration and run.
    #[arg(long, default_value_t = 120.0)]
    pub attack: f64,
    /// The steady window: the attack's last this-many seconds (codes live 60 s, so the
    /// window should start after that).
    #[arg(long, default_value_t = 40.0)]
    pub steady: f64,
    /// The fill window: the attack's first this-many seconds.
    #[arg(long, default_value_t = 20.0)]
    pub fill: f64,
    /// Concurrent consent-and-token loops of the one user.
    #[arg(long, default_value_t = 4)]
    pub grant_loops: usize,
    /// Concurrent login loops of the one user.
    #[arg(long, default_value_t = 2)]
    pub login_loops: usize,
}

/// Which limits the cluster runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// The binary's defaults: what operators run.
    Shipped,
    /// Caps and per-user/per-client rates lifted: the unbounded baseline.
    Lifted,
}

impl Bounds {
    fn apply(self, c: &mut authd_tests::ClusterConfig) {
        match self {
            // `start_cluster_with` lifts the session cap for the other scenarios: restore it.
            Bounds::Shipped => c.sessions.max_per_user = None,
            Bounds::Lifted => {
                c.sessions.max_per_user = Some(u32::MAX);
                for (k, v) in [
                    ("max_families_per_user_client", 1_000_000),
                    ("user_grants_per_sec", 1_000_000),
                    ("user_grant_burst", 1_000_000),
                    ("client_grants_per_sec", 1_000_000),
                    ("client_grant_burst", 1_000_000),
                ] {
                    c.oauth2.insert(k.into(), v.into());
                }
            }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Bounds::Shipped => "shipped bounds",
            Bounds::Lifted => "bounds lifted (baseline)",
        }
    }
}

/// One attack on one fresh cluster.
pub struct Run {
    pub run: usize,
    pub bounds: Bounds,
    /// (seconds since the attack began, each node's state bytes); the first is before it.
    pub samples: Vec<(f64, Vec<f64>)>,
    pub tally: Tally,
    pub secs: f64,
    /// Live sessions and tokens per node at the end (`authd_state_*` gauges, node 1).
    pub sessions_end: f64,
    pub tokens_end: f64,
}

impl Run {
    /// Growth in bytes/s per node between `from` and `to` seconds: the largest over nodes.
    pub fn growth(&self, from: f64, to: f64) -> f64 {
        let at = |t: f64| {
            self.samples
                .iter()
                .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
        };
        let (Some(a), Some(b)) = (at(from), at(to)) else {
            return f64::NAN;
        };
        if b.0 <= a.0 {
            return f64::NAN;
        }
        a.1.iter()
            .zip(&b.1)
            .map(|(x, y)| (y - x) / (b.0 - a.0))
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The largest node's state at the end, bytes.
    pub fn end_bytes(&self) -> f64 {
        self.samples
            .last()
            .map_or(f64::NAN, |s| s.1.iter().copied().fold(0.0, f64::max))
    }
}

pub async fn run(args: Args) -> Result<()> {
    let binary = super::release_binary("growth")?;
    let mut runs = Vec::new();
    for run in 1..=args.common.runs.max(1) {
        for bounds in [Bounds::Shipped, Bounds::Lifted] {
            let r = one(run, bounds, &args).await?;
            eprintln!(
                "growth run {run} ({}): fill {:.0} B/s, steady {:.0} B/s per node, {} grants, {} logins, {} limited",
                bounds.label(),
                r.growth(0.0, args.fill),
                r.growth(args.attack - args.steady, args.attack),
                r.tally.grants,
                r.tally.logins,
                r.tally.limited,
            );
            runs.push(r);
        }
    }
    let (table, full) = report::render(&args, &runs, &crate::report::binary_info(&binary));
    println!("{table}");
    let path = crate::report::write(&args.common.out, "growth", &full)?;
    eprintln!("authd-bench: report written to {}", path.display());
    Ok(())
}

async fn one(run: usize, bounds: Bounds, args: &Args) -> Result<Run> {
    let cluster = start_cluster_with(3, |c| bounds.apply(c)).await?;
    let r = attack_cluster(&cluster, run, bounds, args).await;
    if r.is_err() {
        dump_logs(&cluster);
    }
    r
}

/// Each node's `authd_state_encoded_bytes`, and node 1's metrics.
async fn sizes(cluster: &Cluster) -> Result<(Vec<f64>, Metrics)> {
    let mut v = Vec::new();
    let mut first = Metrics::default();
    for id in cluster.node_ids() {
        let m = Metrics::fetch(&cluster.api(id)).await?;
        v.push(m.get("authd_state_encoded_bytes"));
        if id == 1 {
            first = m;
        }
    }
    Ok((v, first))
}

async fn attack_cluster(cluster: &Cluster, run: usize, bounds: Bounds, args: &Args) -> Result<Run> {
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let empty = wait_until(
        "a state size on every node",
        Duration::from_secs(30),
        || async {
            let v = sizes(cluster).await?.0;
            anyhow::ensure!(
                v.iter().all(|x| *x > 0.0),
                "no authd_state_encoded_bytes yet: {v:?}"
            );
            Ok(v)
        },
    )
    .await?;
    let name = format!("grower{run}");
    let api = cluster.api(1);
    api.create_user(&name, &format!("{name}@example.org"), PASSWORD, false)
        .await?
        .expect(201)?;
    let redirect_uri = "http://127.0.0.1:9/cb".to_owned();
    let body = serde_json::json!({"name": "native app", "owner": name, "public": true,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [redirect_uri], "scopes": ["profile:read"]});
    let client = api
        .signed(Method::POST, "/api/v1/clients", Some(&body))
        .await?
        .expect(201)?;
    let client_id = client
        .get("client_id")
        .and_then(serde_json::Value::as_str)
        .context("no client_id")?
        .to_owned();
    for id in cluster.node_ids() {
        let api = cluster.api(id);
        wait_until(
            "the user on every node",
            Duration::from_secs(20),
            || async { api.get_user(&name).await?.expect(200).map(|_| ()) },
        )
        .await?;
    }
    let bases: Vec<String> = cluster
        .node_ids()
        .into_iter()
        .map(|id| cluster.base_url(id))
        .collect::<Result<_>>()?;
    let target = Target {
        bases: bases.into(),
        username: name,
        password: PASSWORD.into(),
        client_id,
        redirect_uri,
    };
    // Every node has measured its state since the user and client were applied.
    let settled = wait_until("a fresh state size", Duration::from_secs(30), || async {
        let now = sizes(cluster).await?.0;
        let grown = now.len() == empty.len() && now.iter().zip(&empty).all(|(n, e)| n > e);
        anyhow::ensure!(grown, "state sizes {now:?}, empty {empty:?}");
        Ok(now)
    })
    .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut tasks = Vec::new();
    for i in 0..args.login_loops {
        let f = attack::login_loop(target.clone(), i as u64, stop.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            f.await;
            Ok(())
        }));
    }
    for i in 0..args.grant_loops {
        let f = attack::grant_loop(target.clone(), i as u64, stop.clone(), counts.clone());
        tasks.push(tokio::spawn(f));
    }
    let started = Instant::now();
    let mut samples = vec![(0.0, settled)];
    // The gauge is re-measured every 5 s; sampling at that period reads each measurement.
    let every = Duration::from_secs(5);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    while started.elapsed().as_secs_f64() < args.attack {
        tick.tick().await;
        samples.push((started.elapsed().as_secs_f64(), sizes(cluster).await?.0));
    }
    stop.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let tally = counts.tally();
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e.context("an attack loop failed")),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => anyhow::bail!("an attack loop did not stop within 30 s"),
        }
    }
    let (_, m) = sizes(cluster).await?;
    Ok(Run {
        run,
        bounds,
        samples,
        tally,
        secs,
        sessions_end: m.get("authd_state_sessions"),
        tokens_end: m.get("authd_state_tokens"),
    })
}
