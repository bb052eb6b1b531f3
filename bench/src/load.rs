//! A closed-loop load driver: `clients` tasks, each with exactly one request outstanding.
//!
//! The driver runs continuously from warm-up into the measurement window; a request counts
//! (latency recorded, success or error counted) only if it both started and finished inside
//! the window. The scenario decides what happens at the window's edges (CPU and metrics
//! probes), so the load never pauses between warm-up and measurement:
//!
//! ```text
//! let load = Load::start(workers);       // warm-up: requests run, nothing recorded
//! sleep(warmup); probe_before();
//! load.begin_window();
//! load.wait_window(measure).await;       // a duration, or a number of completed requests
//! load.end_window(); probe_after();
//! let result = load.stop().await;
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::stats::Latencies;

/// One client: issues request number `seq` (0, 1, 2, ... per client) and says how it went.
pub trait Worker: Send + 'static {
    /// `Ok(())` for the expected answer, `Err(description)` for anything else (wrong
    /// status, transport error). Keep the success path allocation-free.
    fn call(&mut self, seq: u64) -> impl Future<Output = Result<(), String>> + Send;

    /// Which class request `seq` belongs to (e.g. the node it goes to), `< classes()`:
    /// latencies are also kept per class.
    fn class(&self, _seq: u64) -> usize {
        0
    }

    fn classes(&self) -> usize {
        1
    }
}

/// How long the measurement window lasts.
#[derive(Debug, Clone, Copy)]
pub enum Measure {
    For(Duration),
    /// Until this many requests (successes and errors) completed in the window.
    Count(u64),
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measure::For(d) => write!(f, "{:.1} s", d.as_secs_f64()),
            Measure::Count(n) => write!(f, "{n} requests"),
        }
    }
}

const WARMUP: u8 = 0;
const MEASURING: u8 = 1;
const DONE: u8 = 2;

struct Shared {
    phase: AtomicU8,
    stop: AtomicBool,
    /// Requests completed inside the window (for `Measure::Count`).
    completed: AtomicU64,
    target: AtomicU64,
    reached: Notify,
}

/// What one client saw in the window.
struct ClientResult {
    /// Per class.
    latencies: Vec<Latencies>,
    errors: u64,
    first_error: Option<String>,
}

/// The merged result of a window.
#[derive(Debug)]
pub struct LoadResult {
    /// Latencies of the successful requests, per class (see [`Worker::class`]).
    pub by_class: Vec<Latencies>,
    pub ok: u64,
    pub errors: u64,
    /// One example of what went wrong, for the report.
    pub first_error: Option<String>,
    pub window: Duration,
}

impl LoadResult {
    pub fn ops_per_sec(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Every class's latencies together.
    pub fn all(&self) -> Latencies {
        let mut all = Latencies::with_capacity(usize::try_from(self.ok).unwrap_or(0));
        for l in &self.by_class {
            all.merge(l.clone());
        }
        all
    }
}

/// A running load.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<ClientResult>>,
    begin: Option<Instant>,
    end: Option<Instant>,
}

impl Load {
    /// Starts one task per worker (in warm-up: nothing is recorded yet).
    pub fn start<W: Worker>(workers: Vec<W>, expected_per_client: usize) -> Load {
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(WARMUP),
            stop: AtomicBool::new(false),
            completed: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
        });
        let tasks = workers
            .into_iter()
            .map(|w| tokio::spawn(client_loop(w, shared.clone(), expected_per_client)))
            .collect();
        Load {
            shared,
            tasks,
            begin: None,
            end: None,
        }
    }

    pub fn begin_window(&mut self) {
        self.begin = Some(Instant::now());
        self.shared.phase.store(MEASURING, Ordering::SeqCst);
    }

    /// Returns when the window is over (the caller then calls `end_window`).
    pub async fn wait_window(&self, measure: Measure) {
        match measure {
            Measure::For(d) => tokio::time::sleep(d).await,
            Measure::Count(n) => {
                let notified = self.shared.reached.notified();
                self.shared.target.store(n, Ordering::SeqCst);
                if self.shared.completed.load(Ordering::SeqCst) < n {
                    notified.await;
                }
            }
        }
    }

    pub fn end_window(&mut self) {
        self.shared.phase.store(DONE, Ordering::SeqCst);
        self.end = Some(Instant::now());
    }

    /// Stops every client (each finishes its request in flight) and merges their results.
    pub async fn stop(mut self) -> Result<LoadResult> {
        if self.end.is_none() {
            self.end_window();
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut merged = LoadResult {
            by_class: Vec::new(),
            ok: 0,
            errors: 0,
            first_error: None,
            window: match (self.begin, self.end) {
                (Some(b), Some(e)) => e.duration_since(b),
                _ => Duration::ZERO,
            },
        };
        for task in self.tasks.drain(..) {
            let r = task.await.context("a load client task failed")?;
            merged.errors += r.errors;
            if merged.by_class.len() < r.latencies.len() {
                merged
                    .by_class
                    .resize_with(r.latencies.len(), Latencies::default);
            }
            for (into, l) in merged.by_class.iter_mut().zip(r.latencies) {
                merged.ok += l.len() as u64;
                into.merge(l);
            }
            if merged.first_error.is_none() {
                merged.first_error = r.first_error;
            }
        }
        Ok(merged)
    }
}

async fn client_loop<W: Worker>(
    mut worker: W,
    shared: Arc<Shared>,
    expected: usize,
) -> ClientResult {
    let classes = worker.classes().max(1);
    let per_class = expected / classes + 1;
    let latencies = (0..classes)
        .map(|_| Latencies::with_capacity(per_class))
        .collect();
    let mut out = ClientResult {
        latencies,
        errors: 0,
        first_error: None,
    };
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase == DONE {
            break;
        }
        let class = worker.class(seq);
        let start = Instant::now();
        let outcome = worker.call(seq).await;
        let elapsed = start.elapsed();
        seq += 1;
        if phase != MEASURING || shared.phase.load(Ordering::Relaxed) != MEASURING {
            continue;
        }
        match outcome {
            Ok(()) => {
                if let Some(l) = out.latencies.get_mut(class) {
                    l.record(elapsed);
                }
            }
            Err(e) => {
                out.errors += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(e);
                }
            }
        }
        let done = shared.completed.fetch_add(1, Ordering::Relaxed) + 1;
        if done == shared.target.load(Ordering::Relaxed) {
            shared.reached.notify_one();
        }
    }
    out
}
