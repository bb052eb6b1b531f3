//! `writes`: session-create commands (`POST /api/v1/sessions`, signed with the cluster
//! secret) through a fresh 3-node cluster with fsync, spread over all three nodes (followers
//! forward to the leader), closed loop at each concurrency level.
//!
//! Per run: the fsync baseline (4 KiB write + fdatasync for 3 s), then for each level a fresh
//! cluster, one user, warm-up, a measurement window, and the nodes' CPU time and `/metrics`
//! read at the window's edges.

mod level;
mod report;
mod tables;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use authd_tests::Cluster;
use bytes::Bytes;

use super::{ClusterProbe, Common, bench_client, dump_logs, start_cluster};
use crate::fsync::{self, FsyncBaseline};
use crate::stats::LatencySummary;
pub use level::{DISTURBED_CORES, LevelRun, roles};
use worker::{PATH, SessionWriter, create_user};

/// How long the fsync baseline runs, each run.
const FSYNC_BASELINE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Concurrency levels (closed-loop clients, one request outstanding each).
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub clients: Vec<usize>,
    /// Cluster size (3 is the benchmark; 1 isolates the cost of replication).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
}

/// Everything the report needs.
pub struct Outcome {
    pub args: Args,
    pub runs: Vec<LevelRun>,
    pub peers: Vec<crate::peers::PeerResult>,
    pub binary: String,
}

pub async fn run(args: Args) -> Result<()> {
    let binary = super::release_binary("writes")?;
    let common = &args.common;
    let mut runs = Vec::new();
    for run in 1..=common.runs.max(1) {
        for &clients in &args.clients {
            runs.push(measure_with_retries(run, clients.max(1), args.nodes.max(1), common).await?);
        }
    }
    let peers = crate::peers::collect(common).await;
    let outcome = Outcome {
        args: args.clone(),
        runs,
        peers,
        binary: crate::report::binary_info(&binary),
    };
    let (table, full) = report::render(&outcome);
    println!("{table}");
    let path = crate::report::write(&common.out, "writes", &full)?;
    eprintln!("authd-bench: report written to {}", path.display());
    Ok(())
}

/// One level of one run; measured again (up to `--retry-disturbed` times) while other
/// processes disturb it, keeping the least disturbed attempt.
async fn measure_with_retries(
    run: usize,
    clients: usize,
    nodes: u64,
    common: &Common,
) -> Result<LevelRun> {
    let mut best: Option<LevelRun> = None;
    let mut tries = 0;
    while tries <= common.retry_disturbed {
        tries += 1;
        let r = measure_level(run, clients, nodes, common)
            .await
            .with_context(|| format!("run {run}, {clients} clients"))?;
        eprintln!(
            "run {run}: {clients:>4} clients: fsync baseline {:.0}/s; {:>8.0} writes/s  p50 {:.2} ms  \
             p99 {:.2} ms  p999 {:.2} ms  errors {}  CPU {:.0} µs/write  batch {:.1}  others {:.2} cores",
            r.fsync.fsyncs_per_sec,
            r.ops_per_sec,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.latency.p999_ms,
            r.errors,
            r.node_cpu_us_per_write(),
            r.mean_batch_leader(),
            r.cores_other(),
        );
        let disturbed = r.disturbed();
        if best
            .as_ref()
            .is_none_or(|b| r.cores_other() < b.cores_other())
        {
            best = Some(r);
        }
        if !disturbed {
            break;
        }
        if tries <= common.retry_disturbed {
            eprintln!(
                "run {run}: {clients} clients: disturbed by other processes; measuring again"
            );
        }
    }
    let mut best = best.ok_or_else(|| anyhow!("run {run}, {clients} clients: nothing measured"))?;
    best.attempts = tries;
    Ok(best)
}

/// One level of one run, on a fresh cluster.
async fn measure_level(
    run: usize,
    clients: usize,
    nodes: u64,
    common: &Common,
) -> Result<LevelRun> {
    let busy = common.wait_quiet().await?;
    if busy >= common.quiet_pct {
        eprintln!("authd-bench: the machine is still {busy:.0} % busy; measuring anyway");
    }
    let fsync = fsync::measure(FSYNC_BASELINE).await?;
    let cluster = start_cluster(nodes).await?;
    let result = measure_on(&cluster, run, clients, common, fsync, busy).await;
    if result.is_err() {
        dump_logs(&cluster);
    }
    result
}

async fn measure_on(
    cluster: &Cluster,
    run: usize,
    clients: usize,
    common: &Common,
    fsync: FsyncBaseline,
    busy_before_pct: f64,
) -> Result<LevelRun> {
    let leader = cluster.leader().await?;
    let user_id = create_user(cluster, leader).await?;
    let probe = ClusterProbe::new(cluster)?;

    let http = bench_client(clients)?;
    let node_ids = cluster.node_ids();
    let urls = super::node_urls(cluster, PATH)?;
    let body = Bytes::from(format!("{{\"user_id\":{user_id}}}"));
    let secret: Arc<[u8]> = cluster.secret().into();
    let workers: Vec<SessionWriter> = (0..clients)
        .map(|i| SessionWriter::new(http.clone(), urls.clone(), body.clone(), secret.clone(), i))
        .collect();
    // Room for ~40k writes/s without regrowing (a guess; the Vec grows if needed).
    let (mut result, delta) =
        super::measure_window(cluster, &probe, workers, 40_000.0, common).await?;
    let leader_after = cluster.leader().await.ok();
    cluster.check_alive()?;
    let by_node = node_ids
        .iter()
        .zip(result.by_class.iter_mut())
        .map(|(id, l)| (*id, (l.len(), LatencySummary::of(l))))
        .collect();
    Ok(LevelRun {
        run,
        clients,
        ops_per_sec: result.ops_per_sec(),
        latency: LatencySummary::of(&mut result.all()),
        ok: result.ok,
        errors: result.errors,
        first_error: result.first_error,
        window: result.window,
        leader,
        leader_after,
        delta,
        by_node,
        fsync,
        busy_before_pct,
        attempts: 1,
    })
}
