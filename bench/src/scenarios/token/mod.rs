//! `token`: OAuth2 client-credentials grants (`POST /oauth2/token`, `client_secret_basic`)
//! through a fresh 3-node cluster per measurement, closed loop, rotated over all nodes. Each
//! grant is one replicated, fsynced write (the token's digest), so this is the write path plus
//! the token endpoint's parsing, client authentication and response.
//!
//! Compared with Ory Hydra's published figure of 541 client-credentials grants/s on 2 vCPUs.

mod report;
pub mod worker;

use anyhow::{Context, Result, anyhow};
use authd_tests::Cluster;

use super::writes::DISTURBED_CORES;
use super::{ClusterProbe, Common, bench_client, dump_logs, start_cluster};
use crate::stats::{LatencySummary, ratio};
use worker::{PATH, TokenWorker, register_client};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Concurrency levels (closed-loop clients, one request outstanding each).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub clients: Vec<usize>,
}

/// One level of one run.
pub struct Run {
    pub run: usize,
    pub clients: usize,
    pub grants_per_sec: f64,
    pub latency: LatencySummary,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Node CPU µs per grant (all three nodes).
    pub cpu_us_per_grant: f64,
    /// Cores the nodes and the load generator kept busy.
    pub cores_busy: f64,
    /// Cores everything else used (a disturbance indicator).
    pub cores_other: f64,
    /// Measurements made to get this one (see `--retry-disturbed`).
    pub attempts: u32,
}

pub async fn run(args: Args) -> Result<()> {
    let binary = super::release_binary("token")?;
    let common = &args.common;
    let mut runs = Vec::new();
    for run in 1..=common.runs.max(1) {
        for &clients in &args.clients {
            runs.push(measure_with_retries(run, clients.max(1), common).await?);
        }
    }
    let (table, full) = report::render(&args, &runs, &crate::report::binary_info(&binary));
    println!("{table}");
    let path = crate::report::write(&common.out, "token", &full)?;
    eprintln!("authd-bench: report written to {}", path.display());
    Ok(())
}

/// One level of one run, measured again (up to `--retry-disturbed` times) while other
/// processes disturb it; the least disturbed attempt is kept.
async fn measure_with_retries(run: usize, clients: usize, common: &Common) -> Result<Run> {
    let mut best: Option<Run> = None;
    let mut attempts = 0;
    while attempts <= common.retry_disturbed {
        attempts += 1;
        let r = measure_level(run, clients, common)
            .await
            .with_context(|| format!("run {run}, {clients} clients"))?;
        eprintln!(
            "run {run}: {clients:>4} clients: {:>8.0} grants/s  p50 {:.2} ms  p99 {:.2} ms  \
             errors {}  CPU {:.0} µs/grant  others {:.2} cores",
            r.grants_per_sec,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.errors,
            r.cpu_us_per_grant,
            r.cores_other
        );
        let disturbed = r.cores_other > DISTURBED_CORES;
        if best.as_ref().is_none_or(|b| r.cores_other < b.cores_other) {
            best = Some(r);
        }
        if !disturbed {
            break;
        }
    }
    let mut best = best.ok_or_else(|| anyhow!("run {run}, {clients} clients: nothing measured"))?;
    best.attempts = attempts;
    Ok(best)
}

async fn measure_level(run: usize, clients: usize, common: &Common) -> Result<Run> {
    let busy = common.wait_quiet().await?;
    if busy >= common.quiet_pct {
        eprintln!("authd-bench: the machine is still {busy:.0} % busy; measuring anyway");
    }
    let cluster = start_cluster(3).await?;
    let result = measure_on(&cluster, run, clients, common).await;
    if result.is_err() {
        dump_logs(&cluster);
    }
    result
}

async fn measure_on(cluster: &Cluster, run: usize, clients: usize, common: &Common) -> Result<Run> {
    let leader = cluster.leader().await?;
    let basic = register_client(cluster, leader).await?;
    let probe = ClusterProbe::new(cluster)?;
    let http = bench_client(clients)?;
    let urls = super::node_urls(cluster, PATH)?;
    let workers: Vec<TokenWorker> = (0..clients)
        .map(|i| TokenWorker::new(http.clone(), urls.clone(), basic.clone(), i))
        .collect();
    let (result, delta) = super::measure_window(cluster, &probe, workers, 20_000.0, common).await?;
    cluster.check_alive()?;
    let window = result.window.as_secs_f64();
    let ours = delta.cpu.nodes_total() + delta.cpu.load_generator;
    if result.ok == 0 {
        return Err(anyhow!(
            "no grant succeeded; first error: {}",
            result.first_error.unwrap_or_default()
        ));
    }
    Ok(Run {
        run,
        clients,
        grants_per_sec: result.ops_per_sec(),
        latency: LatencySummary::of(&mut result.all()),
        ok: result.ok,
        errors: result.errors,
        first_error: result.first_error.clone(),
        cpu_us_per_grant: ratio(
            delta.cpu.nodes_total().as_secs_f64() * 1e6,
            result.ok as f64,
        ),
        cores_busy: ratio(ours.as_secs_f64(), window),
        cores_other: ratio(
            delta.cpu.host.busy.saturating_sub(ours).as_secs_f64(),
            window,
        ),
        attempts: 1,
    })
}
