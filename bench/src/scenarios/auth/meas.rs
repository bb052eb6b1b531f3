//! What one `/auth` measurement saw, and the figures derived from it.

use std::time::Duration;

use super::target::Kind;
use crate::scenarios::ProbeSnapshot;
use crate::scenarios::writes::DISTURBED_CORES;
use crate::stats::{LatencySummary, ratio};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Closed { conns: usize },
    Open { conns: usize, rate: f64 },
}

/// What one measurement saw.
#[derive(Debug, Clone)]
pub struct Meas {
    pub run: usize,
    pub kind: Kind,
    pub mode: Mode,
    pub ops_per_sec: f64,
    pub latency: LatencySummary,
    /// Per node (label, answers, latency).
    pub by_node: Vec<(String, usize, LatencySummary)>,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    pub delta: ProbeSnapshot,
    /// Open loop: how late the pacer sent (send − due).
    pub pacer_lag: Option<LatencySummary>,
    /// Open loop: latency from the due time (adds pacer lag and waits for a free connection).
    pub from_due: Option<LatencySummary>,
    /// Open loop: requests that waited for a free connection.
    pub waited: u64,
    pub busy_before_pct: f64,
    pub attempts: u32,
}

impl Meas {
    fn reqs(&self) -> f64 {
        (self.ok + self.errors) as f64
    }
    /// Server CPU (all nodes, or the ceiling process) per request, µs.
    pub fn server_us_per_req(&self) -> f64 {
        ratio(
            self.delta.cpu.nodes_total().as_secs_f64() * 1e6,
            self.reqs(),
        )
    }
    pub fn loadgen_us_per_req(&self) -> f64 {
        ratio(
            self.delta.cpu.load_generator.as_secs_f64() * 1e6,
            self.reqs(),
        )
    }
    fn secs(&self) -> f64 {
        self.window.as_secs_f64()
    }
    pub fn cores_server(&self) -> f64 {
        ratio(self.delta.cpu.nodes_total().as_secs_f64(), self.secs())
    }
    pub fn cores_loadgen(&self) -> f64 {
        ratio(self.delta.cpu.load_generator.as_secs_f64(), self.secs())
    }
    /// irq + softirq time of the machine (mostly the loopback TCP receive path of this load;
    /// with tick-based accounting it is also in the processes' system time, not extra).
    pub fn cores_irq(&self) -> f64 {
        ratio(self.delta.cpu.host.irq.as_secs_f64(), self.secs())
    }
    /// CPU of everything else: busy − servers − load generator.
    pub fn cores_other(&self) -> f64 {
        let ours = self.delta.cpu.nodes_total() + self.delta.cpu.load_generator;
        ratio(
            self.delta.cpu.host.busy.saturating_sub(ours).as_secs_f64(),
            self.secs(),
        )
    }
    pub fn cores_steal(&self) -> f64 {
        ratio(self.delta.cpu.host.steal.as_secs_f64(), self.secs())
    }
    pub fn disturbed(&self) -> bool {
        self.cores_other() > DISTURBED_CORES || self.cores_steal() > DISTURBED_CORES
    }
    /// "authd 64 conns" / "ceiling open 20,000/s".
    pub fn label(&self) -> String {
        match self.mode {
            Mode::Closed { conns } => format!("{} closed {conns}", self.kind.name()),
            Mode::Open { conns, rate } => {
                format!("{} open {rate:.0}/s on {conns}", self.kind.name())
            }
        }
    }
}
