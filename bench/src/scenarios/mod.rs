//! One module per scenario; what they share lives here: starting a fresh cluster of the
//! release binary, the benchmark's HTTP client, and the probe that reads the nodes' CPU time
//! and `/metrics` at the edges of a measurement window.
//!
//! A new scenario (`auth`, `revocation`, `token`) is a module with an `Args` (flattening
//! [`Common`]) and a `run(args) -> Result<()>` that uses [`crate::load`] for the load,
//! [`crate::stats`] for the numbers and [`crate::report`] for the markdown, plus one variant in
//! `main.rs`'s `Scenario` enum.

pub mod auth;
pub mod faults;
pub mod growth;
pub mod login_flood;
pub mod revocation;
pub mod sessions;
pub mod soak;
pub mod token;
pub mod writes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::{Cluster, NodeApi};

use crate::load::Measure;
use crate::peers::Peer;
use crate::procs::CpuSnapshot;
use crate::prom::Metrics;

/// Options every scenario takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Runs per configuration; the report gives the median of each figure.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of measurement per run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Measure a fixed number of requests per run instead of a duration.
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Seconds of load before the measurement window opens.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Directory of the markdown reports.
    #[arg(long, default_value_os_t = crate::report::default_results_dir())]
    pub out: PathBuf,
    /// Before each measurement, wait up to this many seconds for the machine to be quiet.
    #[arg(long, default_value_t = 20.0)]
    pub quiet_max: f64,
    /// "Quiet": less than this % of all cores busy (over 0.5 s).
    #[arg(long, default_value_t = 15.0)]
    pub quiet_pct: f64,
    /// Measure a disturbed run (others used > 0.25 cores during its window) again, up to this
    /// many times, and keep the least disturbed attempt.
    #[arg(long, default_value_t = 2)]
    pub retry_disturbed: u32,
    /// Also run these peer baselines (they install Debian packages): redis, etcd.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub peers: Vec<Peer>,
    /// Quote the `--peers` baselines kept in `<out>/peer-<name>.md` by an earlier run instead
    /// of measuring them again (one Redis measurement serves several reports).
    #[arg(long)]
    pub reuse_peers: bool,
}

impl Common {
    pub fn measure(&self) -> Measure {
        match self.count {
            Some(n) => Measure::Count(n),
            None => Measure::For(Duration::from_secs_f64(self.duration.max(0.1))),
        }
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup.max(0.0))
    }

    /// Waits for a quiet machine (see `--quiet-max`); returns the busy % last seen.
    pub async fn wait_quiet(&self) -> Result<f64> {
        crate::procs::wait_quiet(
            Duration::from_secs_f64(self.quiet_max.max(0.0)),
            self.quiet_pct,
        )
        .await
    }
}

/// The `authd` binary the harness will start, with a warning if it is not a release build.
pub fn release_binary(scenario: &str) -> Result<PathBuf> {
    let binary = authd_tests::authd_bin()?;
    eprintln!("authd-bench {scenario}: authd binary {}", binary.display());
    if !binary.components().any(|c| c.as_os_str() == "release") {
        eprintln!(
            "authd-bench: WARNING: {} does not look like a release build; \
             run `cargo build --release -p authd-node` (or set AUTHD_BIN)",
            binary.display()
        );
    }
    Ok(binary)
}

/// A fresh 3-node cluster of `authd` (the binary the harness finds: `$AUTHD_BIN`, else the
/// one next to this executable, i.e. `target/release/authd` under `cargo run --release`),
/// with the binary's own Raft defaults (the harness's faster test timings are removed).
pub async fn start_cluster(nodes: u64) -> Result<Cluster> {
    start_cluster_with(nodes, |_| {}).await
}

/// [`start_cluster`] with further config changes (e.g. `[signing]`).
pub async fn start_cluster_with(
    nodes: u64,
    tweak: impl Fn(&mut authd_tests::ClusterConfig),
) -> Result<Cluster> {
    let mut cluster = Cluster::start(nodes, |cfg| {
        cfg.raft = authd_tests::RaftTuning::default();
        // The scenarios log in hundreds of sessions for a handful of users: past the per-user
        // cap (100) older ones would end, and the load would measure 401s and evictions.
        cfg.sessions.max_per_user = Some(u32::MAX);
        tweak(cfg);
    })
    .await
    .context("starting the cluster")?;
    cluster.set_logs_on_drop(false);
    Ok(cluster)
}

/// Prints the tail of every node's log (after a failed run).
pub fn dump_logs(cluster: &Cluster) {
    for id in cluster.node_ids() {
        eprintln!(
            "----- node {id} log (last 30 lines) -----\n{}",
            cluster.log_tail(id, 30)
        );
    }
}

/// The load generator's HTTP client: keep-alive HTTP/1.1, one pool sized to the concurrency.
pub fn bench_client(concurrency: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(concurrency.max(1))
        .pool_idle_timeout(None)
        .build()
        .context("building the benchmark HTTP client")
}

/// `path` on every node of the cluster, in node-id order (workers rotate over them).
pub fn node_urls(cluster: &Cluster, path: &str) -> Result<std::sync::Arc<[reqwest::Url]>> {
    Ok(cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            let url = cluster.api(id).url(path);
            reqwest::Url::parse(&url).with_context(|| format!("parsing {url}"))
        })
        .collect::<Result<Vec<_>>>()?
        .into())
}

/// Which of `n` nodes request `seq` of client `first` goes to: client `first` starts at node
/// `first % n`, then rotates.
pub fn rotate(first: usize, seq: u64, n: usize) -> usize {
    let n = n.max(1);
    (first + (seq % n as u64) as usize) % n
}

/// Where request `seq` of client `first` goes: the node's index in `urls` and its URL.
pub fn pick(
    urls: &[reqwest::Url],
    first: usize,
    seq: u64,
) -> Result<(usize, reqwest::Url), String> {
    let idx = rotate(first, seq, urls.len());
    let url = urls
        .get(idx)
        .cloned()
        .ok_or_else(|| "no node URL".to_owned())?;
    Ok((idx, url))
}

/// A worker's answer: `Ok(body)` when the status is `want`, else a short description.
pub async fn expect_status(
    sent: reqwest::Result<reqwest::Response>,
    idx: usize,
    want: reqwest::StatusCode,
) -> Result<bytes::Bytes, String> {
    let resp = sent.map_err(|e| format!("node #{idx}: {e}"))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("node #{idx}: reading the body: {e}"))?;
    if status == want {
        return Ok(body);
    }
    let text = String::from_utf8_lossy(&body);
    Err(format!(
        "node #{idx}: HTTP {status}: {}",
        text.chars().take(200).collect::<String>()
    ))
}

/// Closed-loop `workers` on `cluster`: warm-up, then one measurement window with `probe` read
/// at its edges. `per_sec_guess` sizes the latency buffers (they grow if it is low).
pub async fn measure_window<W: crate::load::Worker>(
    cluster: &Cluster,
    probe: &ClusterProbe,
    workers: Vec<W>,
    per_sec_guess: f64,
    common: &Common,
) -> Result<(crate::load::LoadResult, ProbeSnapshot)> {
    let clients = workers.len().max(1);
    let expected = match common.measure() {
        Measure::For(d) => (d.as_secs_f64() * per_sec_guess) as usize / clients,
        Measure::Count(n) => usize::try_from(n).unwrap_or(0) / clients + 1,
    };
    let mut load = crate::load::Load::start(workers, expected);
    tokio::time::sleep(common.warmup()).await;
    cluster.check_alive()?;
    let before = probe.take().await?;
    load.begin_window();
    load.wait_window(common.measure()).await;
    load.end_window();
    let after = probe.take().await?;
    let result = load.stop().await?;
    Ok((result, after.since(&before)))
}

/// Reads every node's CPU time and `/metrics`.
pub struct ClusterProbe {
    pids: BTreeMap<u64, u32>,
    apis: Vec<NodeApi>,
}

/// One reading.
#[derive(Debug, Clone, Default)]
pub struct ProbeSnapshot {
    pub cpu: CpuSnapshot,
    pub metrics: BTreeMap<u64, Metrics>,
}

impl ClusterProbe {
    pub fn new(cluster: &Cluster) -> Result<ClusterProbe> {
        let pids = crate::procs::find_nodes(cluster.config_path())?;
        let apis = cluster
            .node_ids()
            .into_iter()
            .map(|id| cluster.api(id))
            .collect();
        Ok(ClusterProbe { pids, apis })
    }

    pub async fn take(&self) -> Result<ProbeSnapshot> {
        let fetched = futures::future::join_all(self.apis.iter().map(Metrics::fetch)).await;
        let mut metrics = BTreeMap::new();
        for (api, m) in self.apis.iter().zip(fetched) {
            metrics.insert(api.node_id, m?);
        }
        let cpu = CpuSnapshot::take(&self.pids)?;
        Ok(ProbeSnapshot { cpu, metrics })
    }
}

impl ProbeSnapshot {
    /// `self - earlier`: CPU used and metric sums/counts accumulated in between.
    pub fn since(&self, earlier: &ProbeSnapshot) -> ProbeSnapshot {
        let metrics = self
            .metrics
            .iter()
            .map(|(id, m)| {
                (
                    *id,
                    earlier
                        .metrics
                        .get(id)
                        .map(|e| m.since(e))
                        .unwrap_or_else(|| m.clone()),
                )
            })
            .collect();
        ProbeSnapshot {
            cpu: self.cpu.since(&earlier.cpu),
            metrics,
        }
    }

    /// Sum of `name` over every node.
    pub fn metric_all(&self, name: &str) -> f64 {
        self.metrics.values().map(|m| m.get(name)).sum()
    }

    pub fn node_metrics(&self, id: u64) -> Metrics {
        self.metrics.get(&id).cloned().unwrap_or_default()
    }
}
