//! The soak's conclusions from its intervals: memory growth per node process (a restarted node
//! is a new process, with its own line), errors inside and outside the fault windows, the
//! worst p99 interval of each operation.

use std::collections::BTreeMap;

use super::faults::Fault;
use super::ops::Op;
use super::{Interval, Outcome};

/// A node process's memory after the settle time.
#[derive(Debug, Clone)]
pub struct Lifetime {
    pub node: u64,
    pub pid: u32,
    /// (interval end s, RSS MiB, live entries: sessions + tokens + audit events on that node).
    pub samples: Vec<(f64, f64, f64)>,
}

impl Lifetime {
    /// Least-squares slope of RSS over time, MiB per hour (`None` with < 3 samples).
    pub fn slope_mib_per_hour(&self) -> Option<f64> {
        slope(&self.samples)
    }

    /// The slope over the last `secs` seconds only: a process's RSS climbs for minutes after
    /// it starts (allocator arenas, the Argon2 buffers of its first logins), so a leak shows
    /// in the tail, not in the whole-life slope.
    pub fn tail_slope_mib_per_hour(&self, secs: f64) -> Option<f64> {
        let end = self.samples.last()?.0;
        let from = self.samples.iter().position(|s| s.0 >= end - secs)?;
        slope(self.samples.get(from..)?)
    }

    /// Seconds covered.
    pub fn span(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0.0,
        }
    }
}

/// Least-squares slope of (seconds, MiB) samples, MiB per hour (`None` with < 3 samples).
fn slope(samples: &[(f64, f64, f64)]) -> Option<f64> {
    let n = samples.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = samples.iter().map(|s| s.0).sum::<f64>() / nf;
    let my = samples.iter().map(|s| s.1).sum::<f64>() / nf;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y, _) in samples {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    (sxx > 0.0).then(|| sxy / sxx * 3600.0)
}

/// Seconds after a (re)start before a process's RSS counts (it loads its snapshot, replays
/// its log and catches up first).
const PROCESS_WARMUP: f64 = 60.0;

/// Every node process's samples after `settle` s and after its own first minute.
pub fn lifetimes(intervals: &[Interval], settle: f64) -> Vec<Lifetime> {
    let mut out: Vec<Lifetime> = Vec::new();
    let mut first_seen: BTreeMap<u32, f64> = BTreeMap::new();
    for iv in intervals {
        for (id, s) in &iv.nodes {
            let (Some(pid), Some(rss)) = (s.pid, s.rss) else {
                continue;
            };
            let born = *first_seen.entry(pid).or_insert(iv.start);
            // A process that was there from the start is not warming up.
            let warm = born <= 0.0 || iv.end >= born + PROCESS_WARMUP;
            if iv.end < settle || !warm {
                continue;
            }
            let live = s.sessions.unwrap_or(f64::NAN)
                + s.tokens.unwrap_or(f64::NAN)
                + s.audit.unwrap_or(0.0);
            let sample = (iv.end, rss as f64 / (1024.0 * 1024.0), live);
            match out.iter_mut().find(|l| l.pid == pid) {
                Some(l) => l.samples.push(sample),
                None => out.push(Lifetime {
                    node: *id,
                    pid,
                    samples: vec![sample],
                }),
            }
        }
    }
    out
}

/// Errors of one operation: (inside fault windows, outside), by kind.
#[derive(Debug, Clone, Default)]
pub struct ErrorSplit {
    pub inside: BTreeMap<String, u64>,
    pub outside: BTreeMap<String, u64>,
    /// Seconds of the first few errors outside any window.
    pub outside_at: Vec<f64>,
}

/// Every logged error, split by operation and by whether a fault window holds it.
pub fn split_errors(o: &Outcome) -> BTreeMap<Op, ErrorSplit> {
    let mut out: BTreeMap<Op, ErrorSplit> = BTreeMap::new();
    for (t, op, kind) in &o.errors {
        let e = out.entry(*op).or_default();
        if in_fault(&o.faults, *t, o.length) {
            *e.inside.entry(kind.clone()).or_insert(0) += 1;
        } else {
            *e.outside.entry(kind.clone()).or_insert(0) += 1;
            if e.outside_at.len() < 10 {
                e.outside_at.push(*t);
            }
        }
    }
    out
}

/// Whether `t` falls in the window of one of `faults`.
pub fn in_fault(faults: &[Fault], t: f64, end: f64) -> bool {
    faults.iter().any(|f| {
        let (a, b) = f.window(end);
        t >= a && t <= b
    })
}

/// Whether the interval overlaps a fault window.
pub fn interval_faulted(faults: &[Fault], iv: &Interval, end: f64) -> bool {
    faults.iter().any(|f| {
        let (a, b) = f.window(end);
        a <= iv.end && b >= iv.start
    })
}

/// The worst interval: (p99 ms, interval end s).
pub type Worst = Option<(f64, f64)>;

/// The interval with the highest p99 of `op`, all intervals and outside fault windows only.
pub fn worst_p99(o: &Outcome, op: Op) -> (Worst, Worst) {
    let mut all: Worst = None;
    let mut clean: Worst = None;
    for iv in &o.intervals {
        let Some(p) = iv.ops.get(&op).and_then(|s| s.p99) else {
            continue;
        };
        if all.is_none_or(|(w, _)| p > w) {
            all = Some((p, iv.end));
        }
        if !interval_faulted(&o.faults, iv, o.length) && clean.is_none_or(|(w, _)| p > w) {
            clean = Some((p, iv.end));
        }
    }
    (all, clean)
}
