//! What is read at the end of every interval: each node's RSS (`/proc/PID/status`) and live
//! data (`authd_state_sessions`, `authd_state_tokens`, `authd_state_audit_entries` from its
//! `/metrics`) and read-lease gaps,
//! and the CPU the
//! nodes, the load generator and everyone else used in the interval.

use std::collections::BTreeMap;
use std::time::Duration;

use authd_tests::Cluster;

use crate::procs::{self, HostCpu};
use crate::prom::Metrics;

/// One node at an interval's end (`None`: not running, or it did not answer).
#[derive(Debug, Clone, Default)]
pub struct NodeSample {
    pub pid: Option<u32>,
    pub rss: Option<u64>,
    pub sessions: Option<f64>,
    pub tokens: Option<f64>,
    /// Audit events held (bounded by `authd_raft::audit::MAX_ENTRIES`).
    pub audit: Option<f64>,
    pub leader: bool,
    /// Since the process started: times its read lease ran out before it was renewed
    /// (`authd_lease_gaps_total`), and `/auth` answers refused for it (503,
    /// `authd_auth_stale_refusals_total`).
    pub lease_gaps: Option<f64>,
    pub stale_refusals: Option<f64>,
}

/// The machine in one interval, in cores (CPU seconds per second).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cores {
    pub nodes: f64,
    pub generator: f64,
    pub others: f64,
    pub steal: f64,
}

/// Reads successive samples; remembers the previous CPU readings.
pub struct Sampler {
    host: HostCpu,
    cpu: BTreeMap<u32, Duration>,
    generator: Duration,
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler {
            host: HostCpu::read().unwrap_or_default(),
            cpu: BTreeMap::new(),
            generator: procs::self_cpu().unwrap_or_default(),
        }
    }

    /// Every node's state now, and the cores used since the last call.
    pub async fn take(&mut self, cluster: &Cluster) -> (BTreeMap<u64, NodeSample>, Cores) {
        let pids = procs::find_nodes(cluster.config_path()).unwrap_or_default();
        let mut nodes = BTreeMap::new();
        let mut node_cpu = Duration::ZERO;
        let mut cpu = BTreeMap::new();
        for id in cluster.node_ids() {
            let mut s = NodeSample {
                pid: pids.get(&id).copied(),
                ..NodeSample::default()
            };
            if let Some(pid) = s.pid {
                s.rss = procs::rss_bytes(pid).ok();
                if let Ok(c) = procs::process_cpu(pid) {
                    // A restarted node is a new PID: all its CPU is new.
                    let before = self.cpu.get(&pid).copied().unwrap_or_default();
                    node_cpu += c.saturating_sub(before);
                    cpu.insert(pid, c);
                }
            }
            if cluster.is_running(id)
                && let Ok(Ok(m)) =
                    tokio::time::timeout(Duration::from_secs(2), Metrics::fetch(&cluster.api(id)))
                        .await
            {
                s.sessions = Some(m.get("authd_state_sessions"));
                s.tokens = Some(m.get("authd_state_tokens"));
                s.audit = Some(m.get("authd_state_audit_entries"));
                s.leader = m.get("authd_raft_is_leader") > 0.5;
                s.lease_gaps = Some(m.get("authd_lease_gaps_total"));
                s.stale_refusals = Some(m.get("authd_auth_stale_refusals_total"));
            }
            nodes.insert(id, s);
        }
        self.cpu = cpu;
        let host = HostCpu::read().unwrap_or_default();
        let generator = procs::self_cpu().unwrap_or_default();
        let d = host.since(&self.host);
        let secs = d.total.as_secs_f64() / f64::from(nproc()).max(1.0);
        let per = |x: Duration| crate::stats::ratio(x.as_secs_f64(), secs);
        let gen_used = generator.saturating_sub(self.generator);
        let cores = Cores {
            nodes: per(node_cpu),
            generator: per(gen_used),
            others: per(d.busy.saturating_sub(node_cpu + gen_used)),
            steal: per(d.steal),
        };
        self.host = host;
        self.generator = generator;
        (nodes, cores)
    }
}

fn nproc() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
}

/// `/proc/loadavg`'s 1-minute figure.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}
