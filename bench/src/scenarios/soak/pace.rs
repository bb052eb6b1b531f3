//! The open-loop driver of the write operations, and the recorder every operation reports to.
//!
//! Each creation runs at its own fixed rate (request `i` is due at `i / rate`, on tokio's
//! 5 ms tick: at these rates, tens to hundreds per second, the tick's bursts do not matter),
//! each as a task of its own whether or not earlier ones were answered; its revocation (see
//! `ops.rs`) follows in the same task. At most [`MAX_IN_FLIGHT`] (2048) are outstanding: a request
//! due beyond that is not sent and counted as a "shed" error, so a stuck cluster cannot make
//! the generator grow without bound.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::ops::{Ctx, Op};
use crate::stats::Latencies;

/// Creations (with their revocation) outstanding at once, per operation.
pub const MAX_IN_FLIGHT: usize = 2048;
/// Errors whose time is kept (beyond this only the counts grow).
const ERROR_LOG: usize = 200_000;

/// What one operation did in one interval.
#[derive(Debug, Default, Clone)]
pub struct OpWindow {
    pub latencies: Latencies,
    pub errors: BTreeMap<String, u64>,
}

/// Per-operation windows and the time of every error; the main loop takes the windows at
/// each interval's end.
#[derive(Default)]
pub struct Recorder {
    windows: Mutex<BTreeMap<Op, OpWindow>>,
    log: Mutex<Vec<(Instant, Op, String)>>,
}

impl Recorder {
    /// A success and its latency.
    pub fn ok(&self, op: Op, latency: Duration) {
        if let Ok(mut w) = self.windows.lock() {
            w.entry(op).or_default().latencies.record(latency);
        }
    }

    /// An error at `at`, described by `what` (reduced to its kind, see [`kind`]).
    pub fn error(&self, op: Op, at: Instant, what: &str) {
        let k = kind(what);
        if let Ok(mut log) = self.log.lock()
            && log.len() < ERROR_LOG
        {
            log.push((at, op, k.clone()));
        }
        if let Ok(mut w) = self.windows.lock() {
            *w.entry(op).or_default().errors.entry(k).or_insert(0) += 1;
        }
    }

    /// Adds an `/auth` segment's successes.
    pub fn merge_latencies(&self, op: Op, lat: Latencies) {
        if let Ok(mut w) = self.windows.lock() {
            w.entry(op).or_default().latencies.merge(lat);
        }
    }

    /// The windows so far, leaving empty ones.
    pub fn take(&self) -> BTreeMap<Op, OpWindow> {
        self.windows
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Every logged error: (time, operation, kind).
    pub fn error_log(&self) -> Vec<(Instant, Op, String)> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The kind of an error, from its description: the HTTP status, or the transport failure.
pub fn kind(what: &str) -> String {
    let lower = what.to_ascii_lowercase();
    if let Some(i) = what.find("HTTP ") {
        return what.get(i..i + 8).unwrap_or("HTTP ?").trim().to_owned();
    }
    for (needle, k) in [
        ("shed", "shed (too many in flight)"),
        ("refused", "connection refused"),
        ("reset", "connection reset"),
        ("timed out", "timeout"),
        ("timeout", "timeout"),
        ("closed", "connection closed"),
        ("no answer", "no answer (connection failed)"),
        ("not sent", "not sent (connection failed)"),
        ("without", "incomplete answer"),
    ] {
        if lower.contains(needle) {
            return k.to_owned();
        }
    }
    what.chars().take(40).collect()
}

/// The running creators.
pub struct Driver {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    permits: Vec<Arc<Semaphore>>,
}

impl Driver {
    /// Starts one paced creator per (operation, rate > 0).
    pub fn start(ctx: Arc<Ctx>, rec: Arc<Recorder>, rates: &[(Op, f64)]) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        let mut permits = Vec::new();
        for &(op, rate) in rates.iter().filter(|(_, r)| *r > 0.0) {
            let sem = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            permits.push(sem.clone());
            let (ctx, rec, stop) = (ctx.clone(), rec.clone(), stop.clone());
            tasks.push(tokio::spawn(creator(ctx, rec, op, rate, stop, sem)));
        }
        Driver {
            stop,
            tasks,
            permits,
        }
    }

    /// Stops the schedules and waits (up to 20 s) for the requests outstanding.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        for sem in self.permits {
            let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
            let _ = tokio::time::timeout(Duration::from_secs(20), sem.acquire_many(all)).await;
        }
    }
}

async fn creator(
    ctx: Arc<Ctx>,
    rec: Arc<Recorder>,
    op: Op,
    rate: f64,
    stop: Arc<AtomicBool>,
    sem: Arc<Semaphore>,
) {
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            sent += 1;
            let Ok(permit) = sem.clone().try_acquire_owned() else {
                rec.error(op, Instant::now(), "shed");
                continue;
            };
            let (ctx, rec) = (ctx.clone(), rec.clone());
            tokio::spawn(async move {
                one(&ctx, &rec, op).await;
                drop(permit);
            });
        }
    }
}

/// One creation, then the revocation it pushes out of its pool, if any.
pub async fn one(ctx: &Ctx, rec: &Recorder, op: Op) {
    let t = Instant::now();
    let credential = match ctx.create(op).await {
        Ok(c) => {
            rec.ok(op, t.elapsed());
            c
        }
        Err(e) => {
            rec.error(op, Instant::now(), &e);
            None
        }
    };
    let Some(c) = credential else { return };
    for (revoke, pooled) in ctx.add(op, c) {
        revoke_one(ctx, rec, revoke, pooled).await;
    }
}

/// One revocation; a failed one goes back to its pool.
pub async fn revoke_one(ctx: &Ctx, rec: &Recorder, revoke: Op, pooled: (String, bool)) {
    let t = Instant::now();
    match ctx.revoke(revoke, &pooled).await {
        Ok(_) => rec.ok(revoke, t.elapsed()),
        Err(e) => {
            rec.error(revoke, Instant::now(), &e);
            ctx.put_back(revoke, pooled.0);
        }
    }
}
