//! The detail tables and fixed text of the `auth` report.

use std::collections::BTreeSet;

use super::report::{group, med};
use super::{Kind, Meas, Mode, Outcome};
use crate::report::{Table, int, num};
use crate::stats::ratio;

pub(super) const INTRO: &str = "\
`GET /auth` with a valid `ARXIVNG_SESSION_ID` cookie (a real login each, `POST /login`), over \
keep-alive HTTP/1.1 connections spread evenly over the 3 nodes of a fresh loopback cluster per \
run; each request uses the next session. A 200 counts only with an `Authorization` header (the \
upstream JWT); anything else is an error. **The ceiling** is a bare axum handler answering 200 \
with an empty body (`authd-bench hello`: its own process, its own tokio runtime with 2 workers, \
as an `authd` node has on this 2-core machine), loaded by the same generator with the same \
requests in the same run, right before `authd` at each level. The load generator is this \
benchmark's own minimal HTTP/1.1 client (pre-formatted requests, `httparse` on the answers, one \
runtime thread; the open-loop level adds a pacer thread); it shares the 2 cores with the servers, \
so its CPU per request is reported.\n";

pub(super) const HOW_TO_READ: &str = "\
- **Closed loop**: `conns` connections, each with one request outstanding, as fast as the \
answers come: the maximum throughput. **authd ÷ ceiling** is the median over runs of each run's \
paired ratio. On 2 shared cores the ceiling is set by the whole box: server + load generator + \
kernel (loopback TCP) per request.
- **Open loop**: requests sent on a fixed schedule (`rate` per second, request `i` due at \
`i/rate`) whether or not earlier answers came back, each on the next idle connection (one \
request at a time per connection, like an nginx upstream keep-alive pool; **waited for a conn**: \
requests that found none idle and waited): latency at a given load without coordinated \
omission. **p50/p99/p999** are measured from the moment the pacer wrote the request (the \
server's answer time); **p99 from due** from the moment it was due, adding the **pacer lag** \
(how late the generator's own thread got a core to send it, time slicing with the servers on 2 \
cores) and any wait for a connection: an upper bound that includes the generator.
- **p50/p99/p999**: exact percentiles of every counted answer (send → whole answer parsed).
- **CPU µs/req**: user+system CPU (`/proc/PID/stat`) of the 3 `authd` processes (or the ceiling \
process) in the window ÷ requests; **load-gen**: this benchmark process's CPU ÷ requests.
- **cores busy**: server + load generator CPU ÷ window: ≈ 2 means CPU-bound on this box. \
**softirq cores**: the machine's irq + softirq time (`/proc/stat`), mostly the loopback TCP \
receive path of this very load; with this kernel's tick-based accounting it is already part of \
the processes' system time (shown for scale, not extra).
- **other cores / steal**: CPU used by everything else on the machine / taken by the \
hypervisor during the window; a measurement where others took > 0.25 cores is repeated (up to \
`--retry-disturbed` times) and the least disturbed attempt kept.
- **Where the CPU goes**: per node and thread name, CPU µs per request answered by the whole \
cluster (`tokio-rt-worker` = the node's runtime: HTTP, cookie check, session lookup, cached \
JWT); `/auth` decisions are the nodes' `authd_auth_decisions_total` in the window.
";

/// Per node, for every `authd` level: answers/s and latency, medians over runs.
pub(super) fn node_table(out: &Outcome) -> Table {
    let mut t = Table::new(["level", "node", "answers/s", "p50 ms", "p99 ms", "p999 ms"]);
    let mut levels: Vec<(String, Vec<&Meas>)> = out
        .args
        .conns
        .iter()
        .map(|c| {
            (
                format!("closed, {c} conns"),
                group(out, Kind::Authd, Some(*c)),
            )
        })
        .collect();
    levels.push(("open loop".into(), group(out, Kind::Authd, None)));
    for (label, ms) in levels {
        let nodes: BTreeSet<String> = ms
            .iter()
            .flat_map(|m| m.by_node.iter().map(|(n, _, _)| n.clone()))
            .collect();
        for node in nodes {
            let of = |m: &Meas| m.by_node.iter().find(|(n, _, _)| *n == node).cloned();
            t.row([
                label.clone(),
                node.clone(),
                int(med(&ms, |m| {
                    of(m).map_or(f64::NAN, |(_, c, _)| {
                        ratio(c as f64, m.window.as_secs_f64())
                    })
                })),
                num(
                    med(&ms, |m| of(m).map_or(f64::NAN, |(_, _, l)| l.p50_ms)),
                    3,
                ),
                num(
                    med(&ms, |m| of(m).map_or(f64::NAN, |(_, _, l)| l.p99_ms)),
                    3,
                ),
                num(
                    med(&ms, |m| of(m).map_or(f64::NAN, |(_, _, l)| l.p999_ms)),
                    3,
                ),
            ]);
        }
    }
    t
}

/// For each `authd` level, the run closest to the median throughput.
pub(super) fn median_runs(out: &Outcome) -> Vec<&Meas> {
    let mut groups: Vec<Vec<&Meas>> = out
        .args
        .conns
        .iter()
        .map(|c| group(out, Kind::Authd, Some(*c)))
        .collect();
    groups.push(group(out, Kind::Authd, None));
    groups
        .into_iter()
        .filter_map(|g| {
            let mid = med(&g, |m| m.ops_per_sec);
            g.into_iter().min_by(|a, b| {
                (a.ops_per_sec - mid)
                    .abs()
                    .total_cmp(&(b.ops_per_sec - mid).abs())
            })
        })
        .collect()
}

/// CPU µs per request by node and thread name, for one measurement.
pub(super) fn cpu_table(m: &Meas) -> Table {
    let cpu = &m.delta.cpu;
    let names: BTreeSet<&String> = cpu.threads.values().flat_map(|t| t.keys()).collect();
    let reqs = (m.ok + m.errors) as f64;
    let per_req = |d: std::time::Duration| num(ratio(d.as_secs_f64() * 1e6, reqs), 2);
    let mut headers = vec![
        format!("{}, run {}: node", m.label(), m.run),
        "total µs/req".into(),
    ];
    headers.extend(names.iter().map(|n| format!("{n} µs/req")));
    headers.extend([
        "cores".into(),
        "/auth decisions".into(),
        "503s: lease not current".into(),
    ]);
    let mut t = Table::new(headers);
    for (id, total) in &cpu.nodes {
        let threads = cpu.threads.get(id);
        let mut row = vec![id.to_string(), per_req(*total)];
        row.extend(
            names
                .iter()
                .map(|n| per_req(threads.and_then(|t| t.get(*n)).copied().unwrap_or_default())),
        );
        row.push(num(ratio(total.as_secs_f64(), m.window.as_secs_f64()), 2));
        row.push(int(m
            .delta
            .node_metrics(*id)
            .get("authd_auth_decisions_total")));
        row.push(int(m
            .delta
            .node_metrics(*id)
            .get("authd_auth_stale_refusals_total")));
        t.row(row);
    }
    let mut row = vec!["load generator".to_owned(), per_req(cpu.load_generator)];
    row.extend(names.iter().map(|_| String::new()));
    row.push(num(m.cores_loadgen(), 2));
    row.push(format!("{} answers", int(reqs)));
    t.row(row);
    t
}

pub(super) fn runs_table(runs: &[Meas]) -> Table {
    let mut t = Table::new([
        "run",
        "measurement",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "errors",
        "server µs/req",
        "load-gen µs/req",
        "server cores",
        "load-gen cores",
        "softirq cores",
        "pacer lag p99 µs",
        "waited for a conn",
        "busy before %",
        "other cores",
        "steal cores",
    ]);
    for m in runs {
        t.row([
            format!(
                "{}{}{}",
                m.run,
                if m.attempts > 1 {
                    format!(" ({} tries)", m.attempts)
                } else {
                    String::new()
                },
                if m.disturbed() { " ⚠" } else { "" }
            ),
            m.label(),
            int(m.ops_per_sec),
            num(m.latency.p50_ms, 3),
            num(m.latency.p99_ms, 3),
            num(m.latency.p999_ms, 3),
            num(m.latency.max_ms, 2),
            m.errors.to_string(),
            num(m.server_us_per_req(), 1),
            num(m.loadgen_us_per_req(), 1),
            num(m.cores_server(), 2),
            num(m.cores_loadgen(), 2),
            num(m.cores_irq(), 2),
            match m.mode {
                Mode::Open { .. } => num(m.pacer_lag.map_or(f64::NAN, |l| l.p99_ms * 1e3), 0),
                Mode::Closed { .. } => String::new(),
            },
            match m.mode {
                Mode::Open { .. } => m.waited.to_string(),
                Mode::Closed { .. } => String::new(),
            },
            num(m.busy_before_pct, 0),
            num(m.cores_other(), 2),
            num(m.cores_steal(), 2),
        ]);
    }
    t
}
