//! `--wrk`: each closed-loop level measured once more per run with `wrk` (C, Debian) instead of
//! the benchmark's own client, on the ceiling and on `authd`, to show that the generator is no
//! heavier than wrk and that the ratio does not depend on it.

use anyhow::{Context, Result, anyhow};

use super::report::med;
use super::target::{Kind, Target};
use super::{Meas, Mode, Outcome};
use crate::report::{Table, int, num};
use crate::scenarios::sessions::Session;
use crate::scenarios::{Common, ProbeSnapshot};
use crate::stats::ratio;
use crate::wrk::{self, WrkRun};

/// wrk processes per measurement (one thread each).
const WRK_PROCS: usize = 3;

pub struct WrkMeas {
    pub run: usize,
    pub kind: Kind,
    pub conns: usize,
    pub wrk: WrkRun,
    pub delta: ProbeSnapshot,
}

/// The wrk script for these sessions, in a temp dir that lives as long as the returned guard.
pub fn script(sessions: &[Session]) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("authd-bench-wrk-")
        .tempdir()
        .context("creating a temp dir for the wrk script")?;
    let path = dir.path().join("auth.lua");
    let cookies: Vec<String> = sessions
        .iter()
        .map(|s| format!("{}={}", s.name, s.value))
        .collect();
    std::fs::write(&path, wrk::script(&cookies))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((dir, path))
}

/// One wrk measurement of `target` with `conns` connections spread over its nodes.
pub async fn measure(
    target: &Target,
    conns: usize,
    run: usize,
    script: &std::path::Path,
    common: &Common,
) -> Result<WrkMeas> {
    common.wait_quiet().await?;
    // Always WRK_PROCS wrk processes (so the generator has as many threads against the ceiling
    // as against the cluster), cycling over the target's nodes.
    let targets: Vec<_> = (0..WRK_PROCS)
        .filter_map(|i| {
            let (_, addr) = target.nodes.get(i % target.nodes.len().max(1))?;
            Some((
                *addr,
                conns / WRK_PROCS + usize::from(i < conns % WRK_PROCS),
            ))
        })
        .filter(|(_, c)| *c > 0)
        .collect();
    let secs = common.duration.round().max(1.0) as u64;
    let before = target.probe.take().await?;
    let script = script.to_path_buf();
    let wrk = tokio::task::spawn_blocking(move || wrk::run(&targets, &script, secs))
        .await
        .map_err(|e| anyhow!("the wrk thread failed: {e}"))??;
    let after = target.probe.take().await?;
    let m = WrkMeas {
        run,
        kind: target.kind,
        conns,
        wrk,
        delta: after.since(&before),
    };
    eprintln!(
        "run {run}: wrk {} {conns} conns: {:.0} req/s, p99 (worst node) {:.3} ms, errors {}, \
         wrk {:.1} µs/req, server {:.1} µs/req",
        target.kind.name(),
        m.wrk.ops_per_sec(),
        m.wrk.worst(|o| o.p99_ms),
        m.wrk.errors(),
        m.wrk_us_per_req(),
        m.server_us_per_req()
    );
    Ok(m)
}

impl WrkMeas {
    fn wrk_us_per_req(&self) -> f64 {
        ratio(self.wrk.cpu.as_secs_f64() * 1e6, self.wrk.requests() as f64)
    }
    fn server_us_per_req(&self) -> f64 {
        ratio(
            self.delta.cpu.nodes_total().as_secs_f64() * 1e6,
            self.wrk.requests() as f64,
        )
    }
}

/// wrk beside the benchmark's own client, medians over runs.
pub fn table(out: &Outcome) -> Table {
    let mut t = Table::new([
        "conns",
        "target",
        "wrk req/s",
        "own client req/s",
        "wrk p50 ms",
        "wrk p99 ms (worst node)",
        "wrk p999 ms (worst node)",
        "wrk errors",
        "wrk CPU µs/req",
        "own client CPU µs/req",
        "server CPU µs/req under wrk",
        "authd ÷ ceiling (wrk)",
    ]);
    for &conns in &out.args.conns {
        for kind in [Kind::Ceiling, Kind::Authd] {
            let w: Vec<&WrkMeas> = out
                .wrk
                .iter()
                .filter(|m| m.kind == kind && m.conns == conns)
                .collect();
            if w.is_empty() {
                continue;
            }
            let own: Vec<&Meas> = out
                .runs
                .iter()
                .filter(|m| m.kind == kind && m.mode == Mode::Closed { conns })
                .collect();
            let mw = |f: &dyn Fn(&WrkMeas) -> f64| crate::stats::median(w.iter().map(|m| f(m)));
            let paired = crate::stats::median(
                out.wrk
                    .iter()
                    .filter(|m| m.kind == Kind::Authd && m.conns == conns)
                    .filter_map(|a| {
                        out.wrk
                            .iter()
                            .find(|c| c.kind == Kind::Ceiling && c.conns == conns && c.run == a.run)
                            .map(|c| ratio(a.wrk.ops_per_sec(), c.wrk.ops_per_sec()))
                    }),
            );
            t.row([
                conns.to_string(),
                kind.name().to_owned(),
                int(mw(&|m| m.wrk.ops_per_sec())),
                int(med(&own, |m| m.ops_per_sec)),
                num(mw(&|m| m.wrk.worst(|o| o.p50_ms)), 3),
                num(mw(&|m| m.wrk.worst(|o| o.p99_ms)), 3),
                num(mw(&|m| m.wrk.worst(|o| o.p999_ms)), 3),
                w.iter().map(|m| m.wrk.errors()).sum::<u64>().to_string(),
                num(mw(&WrkMeas::wrk_us_per_req), 1),
                num(med(&own, Meas::loadgen_us_per_req), 1),
                num(mw(&WrkMeas::server_us_per_req), 1),
                if kind == Kind::Authd {
                    num(paired, 2)
                } else {
                    String::new()
                },
            ]);
        }
    }
    t
}
