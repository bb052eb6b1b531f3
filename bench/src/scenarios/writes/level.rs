//! What one (level, run) of `writes` measured, and the figures derived from it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::fsync::FsyncBaseline;
use crate::scenarios::ProbeSnapshot;
use crate::stats::{LatencySummary, ratio};

/// Cores used by others (or stolen) during a window above which the run is flagged.
pub const DISTURBED_CORES: f64 = 0.25;

/// What one (level, run) measured.
#[derive(Debug, Clone)]
pub struct LevelRun {
    pub run: usize,
    pub clients: usize,
    pub ops_per_sec: f64,
    pub latency: LatencySummary,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    pub leader: u64,
    pub leader_after: Option<u64>,
    /// CPU used and metrics accumulated during the window.
    pub delta: ProbeSnapshot,
    /// Latency of the writes sent to each node (id → count, summary).
    pub by_node: BTreeMap<u64, (usize, LatencySummary)>,
    /// The disk baseline measured just before this level's cluster started.
    pub fsync: FsyncBaseline,
    /// How busy the machine was (%) just before the measurement.
    pub busy_before_pct: f64,
    /// Measurements made for this (level, run); the least disturbed one is kept.
    pub attempts: u32,
}

impl LevelRun {
    /// CPU µs of all nodes per successful write.
    pub fn node_cpu_us_per_write(&self) -> f64 {
        ratio(
            self.delta.cpu.nodes_total().as_secs_f64() * 1e6,
            self.ok as f64,
        )
    }
    /// The load generator's CPU µs per request (successes and errors).
    pub fn loadgen_cpu_us_per_req(&self) -> f64 {
        ratio(
            self.delta.cpu.load_generator.as_secs_f64() * 1e6,
            (self.ok + self.errors) as f64,
        )
    }
    /// CPU µs of node `id` per write.
    pub fn node_us_per_write(&self, id: u64) -> f64 {
        let cpu = self.delta.cpu.nodes.get(&id).copied().unwrap_or_default();
        ratio(cpu.as_secs_f64() * 1e6, self.ok as f64)
    }
    /// Cores kept busy by the nodes and the load generator together.
    pub fn cores_busy(&self) -> f64 {
        let cpu = self.delta.cpu.nodes_total() + self.delta.cpu.load_generator;
        ratio(cpu.as_secs_f64(), self.window.as_secs_f64())
    }
    /// Cores used by everything else on the machine during the window (other processes, kernel
    /// threads): a large figure means the run was disturbed.
    pub fn cores_other(&self) -> f64 {
        let ours = self.delta.cpu.nodes_total() + self.delta.cpu.load_generator;
        ratio(
            self.delta.cpu.host.busy.saturating_sub(ours).as_secs_f64(),
            self.window.as_secs_f64(),
        )
    }
    /// Whether something else used a noticeable share of the machine during the window.
    pub fn disturbed(&self) -> bool {
        self.cores_other() > DISTURBED_CORES || self.cores_steal() > DISTURBED_CORES
    }
    /// Hypervisor steal during the window, in cores.
    pub fn cores_steal(&self) -> f64 {
        ratio(
            self.delta.cpu.host.steal.as_secs_f64(),
            self.window.as_secs_f64(),
        )
    }
    /// Commands per proposal on the leader's proposer (`authd_proposal_batch_commands`).
    pub fn mean_batch_leader(&self) -> f64 {
        self.delta
            .node_metrics(self.leader)
            .mean("authd_proposal_batch_commands")
    }
    /// Commands per proposal over every node's proposer (followers batch, then forward).
    pub fn mean_batch_all(&self) -> f64 {
        ratio(
            self.delta.metric_all("authd_proposal_batch_commands_sum"),
            self.delta.metric_all("authd_proposal_batch_commands_count"),
        )
    }
    /// WAL fsyncs of node `id` in the window.
    pub fn fsyncs(&self, id: u64) -> f64 {
        self.delta.node_metrics(id).count("authd_wal_fsync_seconds")
    }
    /// Writes acknowledged per fsync of the leader's log (the real batching factor).
    pub fn writes_per_leader_fsync(&self) -> f64 {
        ratio(self.ok as f64, self.fsyncs(self.leader))
    }
}

/// Node id → role name in a run ("leader" / "follower").
pub fn roles(run: &LevelRun) -> BTreeMap<u64, &'static str> {
    run.delta
        .cpu
        .nodes
        .keys()
        .map(|id| {
            (
                *id,
                if *id == run.leader {
                    "leader"
                } else {
                    "follower"
                },
            )
        })
        .collect()
}
