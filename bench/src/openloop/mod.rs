//! An open-loop (fixed-rate) load: request `i` is due at `i / rate` whether or not earlier
//! ones have been answered, so latency under a given rate is measured without coordinated
//! omission.
//!
//! Tokio's timer has a 1 ms granularity: paced from the runtime, a 20k req/s schedule would
//! leave as bursts of 20 requests every millisecond and measure the bursts. So a **pacer
//! thread** (timer slack 1 µs) writes each request itself, at its time, on a clone of the
//! connection's socket, and notes when it was due and when it was sent; a reader task per
//! connection, on the benchmark's runtime, parses the answers and records the latencies.
//!
//! Each request goes to the next *idle* connection in round-robin order (connections alternate
//! over the nodes), like an nginx upstream keep-alive pool: one request at a time per
//! connection, never pipelined. If every connection has an answer outstanding, the request
//! waits for the first one to free up (counted, and the wait shows in the from-due latency).
//! Pipelining would measure something nginx never does: against a server without
//! `TCP_NODELAY`, once a pipelined request arrives before the previous answer was ACKed, Nagle
//! holds every later answer until the client's next request carries the delayed ACK, a steady
//! one-interval delay per answer.
//!
//! A request counts when it was *due* inside the window. Two latencies are kept: from the
//! send (the server's answer time: main figure) and from the due time (adds the pacer's
//! lateness, i.e. the generator's own scheduling on the shared cores, and any wait for a free
//! connection).

mod pacer;
mod reader;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::http1::Answer;
use crate::load::LoadResult;
use crate::stats::Latencies;

/// Sends within this much of their due time go out without sleeping (fewer wake-ups).
const EARLY: Duration = Duration::from_micros(30);
/// After the schedule stops, how long readers wait for outstanding answers.
const DRAIN: Duration = Duration::from_secs(3);

/// One connection of the load: where it goes, its latency class, the requests it rotates over.
pub struct OpenConn {
    pub addr: SocketAddr,
    pub class: usize,
    pub requests: Arc<[Bytes]>,
}

/// Decides whether an answer is the expected one.
pub type Check = fn(&Answer) -> Result<(), String>;

struct Shared {
    base: Instant,
    stop: AtomicBool,
    stopped: Notify,
    begin: AtomicU64,
    end: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    fn in_window(&self, t: u64) -> bool {
        t >= self.begin.load(Ordering::Relaxed) && t < self.end.load(Ordering::Relaxed)
    }
}

/// (due, sent) times (ns since `base`) of the requests a connection has outstanding.
#[derive(Default)]
struct Slot {
    sent: Mutex<VecDeque<(u64, u64)>>,
    /// `sent.len()`, readable without the lock.
    outstanding: AtomicUsize,
    dead: AtomicBool,
}

struct ReaderResult {
    class: usize,
    latencies: Latencies,
    from_due: Latencies,
    errors: u64,
    first_error: Option<String>,
    /// (ns since `base`, description) of the first [`ERROR_LOG`] errors.
    error_log: Vec<(u64, String)>,
}

/// Errors whose time and description each reader (and the pacer) keeps, so a long run can
/// tell errors during a fault from errors outside one.
const ERROR_LOG: usize = 10_000;

/// What the pacer saw in the window.
pub struct PacerResult {
    /// Requests sent in the window.
    pub sent: u64,
    /// Send time minus due time, per request sent in the window.
    pub lag: Latencies,
    /// Requests that could not be sent (dead connection, write error).
    pub unsent: u64,
    /// Requests in the window that waited for a free connection (none was idle when due).
    pub waited: u64,
    /// When (ns since the start) the first unsent requests were due to go.
    pub(crate) unsent_log: Vec<u64>,
}

/// Everything an open-loop window measured.
pub struct OpenResult {
    /// Latencies from the send, per class.
    pub load: LoadResult,
    pub pacer: PacerResult,
    /// Latencies from the due time, all classes.
    pub from_due: Latencies,
    /// When each logged error happened and what it was (unsent requests: "not sent"), in
    /// time order; at most 10,000 per connection.
    pub error_log: Vec<(Instant, String)>,
}

/// A running open-loop load.
pub struct OpenLoop {
    shared: Arc<Shared>,
    pacer: Option<std::thread::JoinHandle<PacerResult>>,
    readers: Vec<JoinHandle<ReaderResult>>,
    classes: usize,
    window: (Option<Instant>, Option<Instant>),
}

impl OpenLoop {
    /// Connects every connection and starts the schedule at `rate` requests/s (warm-up:
    /// nothing is recorded until [`OpenLoop::begin_window`]).
    pub async fn start(conns: Vec<OpenConn>, rate: f64, check: Check) -> Result<OpenLoop> {
        let shared = Arc::new(Shared {
            base: Instant::now(),
            stop: AtomicBool::new(false),
            stopped: Notify::new(),
            begin: AtomicU64::new(u64::MAX),
            end: AtomicU64::new(u64::MAX),
        });
        if conns.is_empty() || rate.is_nan() || rate <= 0.0 {
            return Err(anyhow!(
                "an open-loop load needs connections and a rate > 0"
            ));
        }
        let classes = conns.iter().map(|c| c.class + 1).max().unwrap_or(1);
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for c in conns {
            let std_stream = crate::http1::connect(c.addr)
                .await?
                .into_std()
                .context("detaching a socket from the runtime")?;
            let writer = std_stream.try_clone().context("cloning a socket")?;
            let stream = TcpStream::from_std(std_stream).context("registering a socket")?;
            let slot = Arc::new(Slot::default());
            writers.push((writer, slot.clone(), c.requests));
            readers.push(tokio::spawn(reader::read_loop(
                stream,
                slot,
                shared.clone(),
                c.class,
                check,
            )));
        }
        let period = Duration::from_secs_f64(1.0 / rate);
        let sh = shared.clone();
        let pacer = std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || pacer::pace(writers, period, &sh))
            .context("starting the pacer thread")?;
        Ok(OpenLoop {
            shared,
            pacer: Some(pacer),
            readers,
            classes,
            window: (None, None),
        })
    }

    pub fn begin_window(&mut self) {
        self.window.0 = Some(Instant::now());
        self.shared.begin.store(self.shared.now(), Ordering::SeqCst);
    }

    pub fn end_window(&mut self) {
        self.window.1 = Some(Instant::now());
        self.shared.end.store(self.shared.now(), Ordering::SeqCst);
    }

    /// Stops the schedule, waits (up to 3 s) for outstanding answers, merges the results.
    pub async fn stop(mut self) -> Result<OpenResult> {
        if self.window.1.is_none() {
            self.end_window();
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        let pacer = self.pacer.take();
        let pacer = tokio::task::spawn_blocking(move || pacer.map(|p| p.join()))
            .await
            .context("joining the pacer")?
            .ok_or_else(|| anyhow!("no pacer thread"))?
            .map_err(|_| anyhow!("the pacer thread panicked"))?;
        self.shared.stopped.notify_waiters();
        let mut merged = LoadResult {
            by_class: (0..self.classes).map(|_| Latencies::default()).collect(),
            ok: 0,
            errors: pacer.unsent,
            first_error: (pacer.unsent > 0).then(|| "a request could not be sent".to_owned()),
            window: match self.window {
                (Some(b), Some(e)) => e.duration_since(b),
                _ => Duration::ZERO,
            },
        };
        let mut from_due = Latencies::default();
        let base = self.shared.base;
        let at = move |ns: u64| base + Duration::from_nanos(ns);
        let mut error_log: Vec<(Instant, String)> = pacer
            .unsent_log
            .iter()
            .map(|t| (at(*t), "not sent (write failed)".to_owned()))
            .collect();
        for r in self.readers.drain(..) {
            let r = r.await.context("an open-loop reader failed")?;
            error_log.extend(r.error_log.into_iter().map(|(t, e)| (at(t), e)));
            from_due.merge(r.from_due);
            merged.ok += r.latencies.len() as u64;
            merged.errors += r.errors;
            if merged.first_error.is_none() {
                merged.first_error = r.first_error;
            }
            if let Some(l) = merged.by_class.get_mut(r.class) {
                l.merge(r.latencies);
            }
        }
        error_log.sort_by_key(|(t, _)| *t);
        Ok(OpenResult {
            load: merged,
            pacer,
            from_due,
            error_log,
        })
    }
}
