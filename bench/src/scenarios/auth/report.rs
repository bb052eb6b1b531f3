//! The `auth` report: `bench/results/auth.md`.

use std::fmt::Write as _;

use super::tables::{cpu_table, node_table, runs_table};
use super::{Kind, Meas, Mode, Outcome};
use crate::report::{MachineInfo, Table, int, num};
use crate::stats::{median, ratio};

/// Issue 3: at least this share of the ceiling's throughput...
const TARGET_RATIO: f64 = 0.6;
/// ... and p99 below this at half of the maximum load.
const TARGET_P99_MS: f64 = 1.0;

/// The measurements of one (target, level) over the runs; the open-loop level is one group.
pub(super) fn group(out: &Outcome, kind: Kind, conns: Option<usize>) -> Vec<&Meas> {
    out.runs
        .iter()
        .filter(|m| {
            m.kind == kind
                && match (m.mode, conns) {
                    (Mode::Closed { conns: c }, Some(want)) => c == want,
                    (Mode::Open { .. }, None) => true,
                    _ => false,
                }
        })
        .collect()
}

pub(super) fn med(ms: &[&Meas], f: impl Fn(&Meas) -> f64) -> f64 {
    median(ms.iter().map(|m| f(m)))
}

/// Per run, authd ÷ ceiling at one level; the median of those.
fn paired_ratio(out: &Outcome, conns: usize) -> f64 {
    let a = group(out, Kind::Authd, Some(conns));
    let c = group(out, Kind::Ceiling, Some(conns));
    median(a.iter().filter_map(|m| {
        c.iter()
            .find(|x| x.run == m.run)
            .map(|x| ratio(m.ops_per_sec, x.ops_per_sec))
    }))
}

fn closed_table(out: &Outcome) -> Table {
    let mut t = Table::new([
        "conns",
        "ceiling req/s",
        "authd req/s",
        "authd ÷ ceiling",
        "authd p50 ms",
        "authd p99 ms",
        "authd p999 ms",
        "ceiling p50 ms",
        "ceiling p99 ms",
        "ceiling p999 ms",
        "errors authd / ceiling",
        "authd CPU µs/req (3 nodes)",
        "ceiling CPU µs/req",
        "load-gen CPU µs/req authd / ceiling",
        "cores busy authd / ceiling",
    ]);
    for &conns in &out.args.conns {
        let a = group(out, Kind::Authd, Some(conns));
        let c = group(out, Kind::Ceiling, Some(conns));
        let errs = |ms: &[&Meas]| ms.iter().map(|m| m.errors).sum::<u64>();
        let busy = |m: &Meas| m.cores_server() + m.cores_loadgen();
        t.row([
            conns.to_string(),
            int(med(&c, |m| m.ops_per_sec)),
            int(med(&a, |m| m.ops_per_sec)),
            num(paired_ratio(out, conns), 2),
            num(med(&a, |m| m.latency.p50_ms), 3),
            num(med(&a, |m| m.latency.p99_ms), 3),
            num(med(&a, |m| m.latency.p999_ms), 3),
            num(med(&c, |m| m.latency.p50_ms), 3),
            num(med(&c, |m| m.latency.p99_ms), 3),
            num(med(&c, |m| m.latency.p999_ms), 3),
            format!("{} / {}", errs(&a), errs(&c)),
            num(med(&a, Meas::server_us_per_req), 1),
            num(med(&c, Meas::server_us_per_req), 1),
            format!(
                "{} / {}",
                num(med(&a, Meas::loadgen_us_per_req), 1),
                num(med(&c, Meas::loadgen_us_per_req), 1)
            ),
            format!("{} / {}", num(med(&a, busy), 2), num(med(&c, busy), 2)),
        ]);
    }
    t
}

fn open_table(out: &Outcome) -> Table {
    let mut t = Table::new([
        "target",
        "rate asked /s",
        "answered /s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "errors",
        "p99 from due ms",
        "pacer lag p99 µs",
        "waited for a conn",
        "server CPU µs/req",
        "load-gen CPU µs/req",
    ]);
    for kind in [Kind::Authd, Kind::Ceiling] {
        let g = group(out, kind, None);
        if g.is_empty() {
            continue;
        }
        let rate = |m: &Meas| match m.mode {
            Mode::Open { rate, .. } => rate,
            Mode::Closed { .. } => f64::NAN,
        };
        t.row([
            kind.name().to_owned(),
            int(med(&g, rate)),
            int(med(&g, |m| m.ops_per_sec)),
            num(med(&g, |m| m.latency.p50_ms), 3),
            num(med(&g, |m| m.latency.p99_ms), 3),
            num(med(&g, |m| m.latency.p999_ms), 3),
            num(med(&g, |m| m.latency.max_ms), 2),
            g.iter().map(|m| m.errors).sum::<u64>().to_string(),
            num(med(&g, |m| m.from_due.map_or(f64::NAN, |l| l.p99_ms)), 3),
            num(
                med(&g, |m| m.pacer_lag.map_or(f64::NAN, |l| l.p99_ms * 1e3)),
                0,
            ),
            g.iter().map(|m| m.waited).sum::<u64>().to_string(),
            num(med(&g, Meas::server_us_per_req), 1),
            num(med(&g, Meas::loadgen_us_per_req), 1),
        ]);
    }
    t
}

fn verdict(out: &Outcome) -> String {
    let mut s = format!(
        "Issue 3: `/auth` at ≥ {TARGET_RATIO}× the ceiling's throughput, and p99 < {TARGET_P99_MS} ms \
         at half of the maximum load.\n\n"
    );
    for &conns in &out.args.conns {
        let r = paired_ratio(out, conns);
        let _ = writeln!(
            s,
            "- {conns} connections: authd ÷ ceiling = **{}** ({}).",
            num(r, 2),
            if r >= TARGET_RATIO {
                "met"
            } else {
                "**not met**"
            }
        );
    }
    let g = group(out, Kind::Authd, None);
    if !g.is_empty() {
        let p99 = med(&g, |m| m.latency.p99_ms);
        let rate = med(&g, |m| m.ops_per_sec);
        let _ = writeln!(
            s,
            "- Open loop at {} req/s ({} × the run's best closed-loop authd rate): p99 **{} ms** ({}).",
            int(rate),
            out.args
                .rate
                .map_or_else(|| num(out.args.open_fraction, 2), |_| "fixed".into()),
            num(p99, 3),
            if p99 < TARGET_P99_MS {
                "met"
            } else {
                "**not met**"
            }
        );
    }
    s
}

/// `(table for stdout, whole report)`.
pub fn render(out: &Outcome) -> (String, String) {
    let closed = closed_table(out).to_markdown();
    let open = open_table(out).to_markdown();
    let table = format!("{closed}\n{open}");
    let a = &out.args;
    let c = &a.common;
    let mut s = String::new();
    let _ = writeln!(s, "# authd benchmark: `auth`\n");
    let _ = writeln!(s, "{}", super::tables::INTRO);
    let _ = writeln!(
        s,
        "Runs: {} (each figure is the median over runs; errors are summed), warm-up {} s, window {} s; \
         {} users, {} sessions; load generator runtime threads: {}. Command: `{}`.\n",
        c.runs,
        c.warmup,
        c.duration,
        a.users,
        a.sessions,
        out.threads,
        crate::report::command_line(),
    );
    let _ = writeln!(s, "## Results\n\nClosed loop (max throughput):\n\n{closed}");
    let _ = writeln!(
        s,
        "Open loop (fixed rate, latency at ~{} % of the max):\n\n{open}",
        num(100.0 * a.open_fraction, 0)
    );
    let disturbed = out.runs.iter().filter(|m| m.disturbed()).count();
    if disturbed > 0 {
        let _ = writeln!(
            s,
            "{disturbed} of {} measurements were disturbed (others took > 0.25 cores during the \
             window even after retries; ⚠ under \"Every measurement\"). The medians include them.\n",
            out.runs.len()
        );
    }
    let _ = writeln!(s, "## Target\n\n{}", verdict(out));
    if let Some(r) = out.peers.iter().find_map(|p| p.redis_quote()) {
        let mine: Vec<String> = out
            .args
            .conns
            .iter()
            .map(|&c| {
                let a = group(out, Kind::Authd, Some(c));
                format!(
                    "{} req/s at {c} connections (p50 {} ms, p99 {} ms)",
                    int(med(&a, |m| m.ops_per_sec)),
                    num(med(&a, |m| m.latency.p50_ms), 3),
                    num(med(&a, |m| m.latency.p99_ms), 3)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "## Beside Redis\n\n{r}\n\n`/auth` in this report, closed loop like `redis-benchmark`, \
             over 3 nodes: {}. Each `/auth` answer also verifies the cookie's HMAC, checks the \
             session and returns a signed upstream JWT; a Redis GET returns stored bytes.\n",
            mine.join("; ")
        );
    }
    if !out.wrk.is_empty() {
        let _ = writeln!(
            s,
            "## Cross-check with wrk\n\nThe same closed-loop levels, once more per run with 3 `wrk -t1` \
             processes (one per node; all three on the ceiling), each with a third of the connections, a Lua script rotating over the same \
             cookies; wrk checks the status only). wrk's percentiles are per process: the worst \
             node's is shown.\n\n{}",
            super::crosscheck::table(out).to_markdown()
        );
    }
    let _ = writeln!(
        s,
        "## Per node (median over runs)\n\n{}",
        node_table(out).to_markdown()
    );
    let _ = writeln!(
        s,
        "## Where the CPU goes (authd, median run of each level)\n"
    );
    for m in super::tables::median_runs(out) {
        let _ = writeln!(s, "{}", cpu_table(m).to_markdown());
    }
    let _ = writeln!(
        s,
        "## Every measurement\n\n{}",
        runs_table(&out.runs).to_markdown()
    );
    let errors: Vec<String> = out
        .runs
        .iter()
        .filter_map(|m| {
            m.first_error
                .as_ref()
                .map(|e| format!("- run {}, {}: `{e}`", m.run, m.label()))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(
            s,
            "## First error of each measurement that had errors\n\n{}\n",
            errors.join("\n")
        );
    }
    for p in &out.peers {
        let _ = writeln!(s, "## Peer baseline\n\n{}", p.to_markdown());
    }
    let _ = writeln!(s, "## How to read this\n\n{}", super::tables::HOW_TO_READ);
    let _ = writeln!(s, "## Machine\n\n{}", MachineInfo::collect().to_markdown());
    let _ = writeln!(s, "authd binary: {}\n", out.binary);
    let _ = writeln!(
        s,
        "Upstream JWT: {} (`[signing] upstream_alg`).\n",
        out.args.upstream_alg
    );
    (table, s)
}
