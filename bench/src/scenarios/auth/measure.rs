//! One measurement of `/auth` load on a [`Target`]: closed loop (`conns` connections, one
//! request outstanding each, as fast as answers come) or open loop (a fixed rate), with the
//! server's and the generator's CPU read at the window's edges.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;

use super::meas::{Meas, Mode};
use super::target::Target;
use crate::http1::{Answer, Conn};
use crate::load::{Load, LoadResult, Worker};
use crate::openloop::{OpenConn, OpenLoop};
use crate::scenarios::{Common, ProbeSnapshot};
use crate::stats::LatencySummary;

/// A closed-loop client: one keep-alive connection to one node, rotating over the sessions.
struct AuthWorker {
    conn: Conn,
    requests: Arc<[Bytes]>,
    class: usize,
    classes: usize,
    first: usize,
    check: fn(&Answer) -> Result<(), String>,
}

impl Worker for AuthWorker {
    fn class(&self, _seq: u64) -> usize {
        self.class
    }

    fn classes(&self) -> usize {
        self.classes
    }

    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let n = self.requests.len().max(1);
        let i = (self.first + usize::try_from(seq % n as u64).unwrap_or(0)) % n;
        let req = self
            .requests
            .get(i)
            .ok_or_else(|| "no request".to_owned())?;
        let answer = self
            .conn
            .roundtrip(req)
            .await
            .map_err(|e| format!("{}: {e}", self.conn.addr()))?;
        (self.check)(&answer)
    }
}

/// Measures once; `mode` says how.
pub async fn measure(target: &Target, mode: Mode, run: usize, common: &Common) -> Result<Meas> {
    let busy = common.wait_quiet().await?;
    if busy >= common.quiet_pct {
        eprintln!("authd-bench: the machine is still {busy:.0} % busy; measuring anyway");
    }
    let (mut result, before, after, pacer) = match mode {
        Mode::Closed { conns } => {
            let mut workers = Vec::with_capacity(conns);
            for k in 0..conns {
                let (class, addr, requests) = target
                    .conn(k)
                    .ok_or_else(|| anyhow!("the target has no nodes"))?;
                workers.push(AuthWorker {
                    conn: Conn::open(addr).await?,
                    requests,
                    class,
                    classes: target.nodes.len(),
                    first: k * 7,
                    check: target.check(),
                });
            }
            let expected = (common.duration * 120_000.0) as usize / conns.max(1);
            let mut load = Load::start(workers, expected);
            tokio::time::sleep(common.warmup()).await;
            let before = target.probe.take().await?;
            load.begin_window();
            eprintln!(
                "authd-bench: {} closed {conns}: window open",
                target.kind.name()
            );
            load.wait_window(common.measure()).await;
            load.end_window();
            let after = target.probe.take().await?;
            (load.stop().await?, before, after, None)
        }
        Mode::Open { conns, rate } => {
            let conns = (0..conns)
                .map(|k| {
                    let (class, addr, requests) = target
                        .conn(k)
                        .ok_or_else(|| anyhow!("the target has no nodes"))?;
                    Ok(OpenConn {
                        addr,
                        class,
                        requests,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut load = OpenLoop::start(conns, rate, target.check()).await?;
            tokio::time::sleep(common.warmup()).await;
            let before = target.probe.take().await?;
            load.begin_window();
            eprintln!(
                "authd-bench: {} open {rate:.0}/s: window open",
                target.kind.name()
            );
            tokio::time::sleep(Duration::from_secs_f64(common.duration.max(0.1))).await;
            load.end_window();
            let after = target.probe.take().await?;
            let mut r = load.stop().await?;
            let pacer = Pacer {
                lag: LatencySummary::of(&mut r.pacer.lag),
                from_due: LatencySummary::of(&mut r.from_due),
                waited: r.pacer.waited,
            };
            (r.load, before, after, Some(pacer))
        }
    };
    Ok(summarize(
        target,
        mode,
        run,
        &mut result,
        after.since(&before),
        pacer,
        busy,
    ))
}

/// The open-loop extras.
#[derive(Clone, Copy)]
struct Pacer {
    lag: LatencySummary,
    from_due: LatencySummary,
    waited: u64,
}

fn summarize(
    target: &Target,
    mode: Mode,
    run: usize,
    result: &mut LoadResult,
    delta: ProbeSnapshot,
    pacer: Option<Pacer>,
    busy_before_pct: f64,
) -> Meas {
    let by_node = target
        .labels()
        .into_iter()
        .zip(result.by_class.iter_mut())
        .map(|(label, l)| (label, l.len(), LatencySummary::of(l)))
        .collect();
    Meas {
        run,
        kind: target.kind,
        mode,
        ops_per_sec: result.ops_per_sec(),
        latency: LatencySummary::of(&mut result.all()),
        by_node,
        ok: result.ok,
        errors: result.errors,
        first_error: result.first_error.take(),
        window: result.window,
        delta,
        pacer_lag: pacer.map(|p| p.lag),
        from_due: pacer.map(|p| p.from_due),
        waited: pacer.map_or(0, |p| p.waited),
        busy_before_pct,
        attempts: 1,
    }
}

/// Measures with `f` again while other processes disturb it (up to `--retry-disturbed` more
/// times), keeping the least disturbed attempt.
pub async fn with_retries<F, Fut>(common: &Common, mut f: F) -> Result<Meas>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Meas>>,
{
    let mut best: Option<Meas> = None;
    let mut tries = 0;
    while tries <= common.retry_disturbed {
        tries += 1;
        let m = f().await?;
        eprintln!(
            "run {}: {:<34} {:>8.0} req/s  p50 {:.3} ms  p99 {:.3} ms  p999 {:.3} ms  errors {}  \
             server {:.1} µs/req  load-gen {:.1} µs/req  others {:.2} cores{}",
            m.run,
            m.label(),
            m.ops_per_sec,
            m.latency.p50_ms,
            m.latency.p99_ms,
            m.latency.p999_ms,
            m.errors,
            m.server_us_per_req(),
            m.loadgen_us_per_req(),
            m.cores_other(),
            m.pacer_lag
                .map(|l| format!(
                    "  pacer lag p99 {:.0} µs, p99 from due {:.3} ms, {} waited",
                    l.p99_ms * 1e3,
                    m.from_due.map_or(f64::NAN, |d| d.p99_ms),
                    m.waited
                ))
                .unwrap_or_default(),
        );
        if let Some(e) = &m.first_error {
            eprintln!("run {}: {}: first error: {e}", m.run, m.label());
        }
        let disturbed = m.disturbed();
        if best
            .as_ref()
            .is_none_or(|b| m.cores_other() < b.cores_other())
        {
            best = Some(m);
        }
        if !disturbed {
            break;
        }
        if tries <= common.retry_disturbed {
            eprintln!("authd-bench: disturbed by other processes; measuring again");
        }
    }
    let mut best = best.context("nothing measured")?;
    best.attempts = tries;
    Ok(best)
}
