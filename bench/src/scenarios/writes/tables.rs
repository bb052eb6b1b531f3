//! The detail tables of the `writes` report: every run, and where the time went.

use std::collections::BTreeSet;

use super::report::LevelMedian;
use super::{LevelRun, roles};
use crate::report::{Table, int, num};
use crate::stats::ratio;

pub(super) fn runs_table(runs: &[LevelRun]) -> Table {
    let mut t = Table::new([
        "run",
        "clients",
        "writes/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "errors",
        "CPU µs/write",
        "leader µs/write",
        "follower µs/write",
        "batch (leader)",
        "leader fsyncs/s",
        "leader fsync ms",
        "writes/fsync",
        "ctx switches/write (vol + invol)",
        "fsync baseline /s",
        "busy before %",
        "other cores",
        "steal cores",
        "leader",
    ]);
    for r in runs {
        let secs = r.window.as_secs_f64();
        let followers: Vec<String> = roles(r)
            .iter()
            .filter(|(_, role)| **role == "follower")
            .map(|(id, _)| num(r.node_us_per_write(*id), 0))
            .collect();
        let leader_note = match r.leader_after {
            Some(l) if l == r.leader => format!("{}", r.leader),
            Some(l) => format!("{} → {l}", r.leader),
            None => format!("{} → ?", r.leader),
        };
        t.row([
            format!(
                "{}{}{}",
                r.run,
                if r.attempts > 1 {
                    format!(" ({} tries)", r.attempts)
                } else {
                    String::new()
                },
                if r.disturbed() { " ⚠" } else { "" }
            ),
            r.clients.to_string(),
            int(r.ops_per_sec),
            num(r.latency.p50_ms, 2),
            num(r.latency.p99_ms, 2),
            num(r.latency.p999_ms, 2),
            num(r.latency.max_ms, 1),
            r.errors.to_string(),
            num(r.node_cpu_us_per_write(), 0),
            num(r.node_us_per_write(r.leader), 0),
            followers.join(" / "),
            num(r.mean_batch_leader(), 1),
            int(ratio(r.fsyncs(r.leader), secs)),
            num(
                1e3 * r
                    .delta
                    .node_metrics(r.leader)
                    .mean("authd_wal_fsync_seconds"),
                3,
            ),
            num(r.writes_per_leader_fsync(), 1),
            format!(
                "{} + {}",
                num(ratio(r.delta.cpu.switches.voluntary as f64, r.ok as f64), 1),
                num(
                    ratio(r.delta.cpu.switches.involuntary as f64, r.ok as f64),
                    1
                )
            ),
            int(r.fsync.fsyncs_per_sec),
            num(r.busy_before_pct, 0),
            num(r.cores_other(), 2),
            num(r.cores_steal(), 2),
            leader_note,
        ]);
    }
    t
}

pub(super) fn median_run<'a>(runs: &'a [LevelRun], m: &LevelMedian) -> Option<&'a LevelRun> {
    runs.iter()
        .filter(|r| r.clients == m.clients)
        .min_by(|a, b| {
            (a.ops_per_sec - m.ops)
                .abs()
                .total_cmp(&(b.ops_per_sec - m.ops).abs())
        })
}

/// Per node: latency of the writes sent to it, and its own timings from `/metrics`.
pub(super) fn node_table(r: &LevelRun) -> Table {
    let mut t = Table::new([
        format!("{} clients, run {}: node", r.clients, r.run),
        "writes sent".into(),
        "p50 ms".into(),
        "p99 ms".into(),
        "proposals".into(),
        "mean batch".into(),
        "propose→applied ms".into(),
        "WAL fsyncs/s".into(),
        "WAL fsync ms".into(),
        "WAL records/batch".into(),
        "apply ms".into(),
    ]);
    let secs = r.window.as_secs_f64();
    for (id, role) in roles(r) {
        let m = r.delta.node_metrics(id);
        let (n, lat) = r.by_node.get(&id).copied().unwrap_or_default();
        t.row([
            format!("{id} ({role})"),
            int(n as f64),
            num(lat.p50_ms, 2),
            num(lat.p99_ms, 2),
            int(m.count("authd_proposal_batch_commands")),
            num(m.mean("authd_proposal_batch_commands"), 1),
            num(1e3 * m.mean("authd_propose_seconds"), 2),
            int(ratio(m.count("authd_wal_fsync_seconds"), secs)),
            num(1e3 * m.mean("authd_wal_fsync_seconds"), 3),
            num(m.mean("authd_wal_batch_records"), 1),
            num(1e3 * m.mean("authd_apply_seconds"), 3),
        ]);
    }
    t
}

/// CPU µs per write by node and thread name, for one run.
pub(super) fn cpu_table(r: &LevelRun) -> Table {
    let names: BTreeSet<&String> = r
        .delta
        .cpu
        .threads
        .values()
        .flat_map(|m| m.keys())
        .collect();
    let mut headers = vec![
        format!("{} clients, run {}: node", r.clients, r.run),
        "total µs/write".into(),
    ];
    headers.extend(names.iter().map(|n| format!("{n} µs/write")));
    headers.push("cores".into());
    let mut t = Table::new(headers);
    let per_write = |d: std::time::Duration| num(ratio(d.as_secs_f64() * 1e6, r.ok as f64), 1);
    for (id, role) in roles(r) {
        let threads = r.delta.cpu.threads.get(&id);
        let mut row = vec![format!("{id} ({role})"), num(r.node_us_per_write(id), 1)];
        row.extend(
            names
                .iter()
                .map(|n| per_write(threads.and_then(|m| m.get(*n)).copied().unwrap_or_default())),
        );
        let cpu = r.delta.cpu.nodes.get(&id).copied().unwrap_or_default();
        row.push(num(ratio(cpu.as_secs_f64(), r.window.as_secs_f64()), 2));
        t.row(row);
    }
    let lg = r.delta.cpu.load_generator;
    let mut row = vec!["load generator".to_owned(), per_write(lg)];
    row.extend(names.iter().map(|_| String::new()));
    row.push(num(ratio(lg.as_secs_f64(), r.window.as_secs_f64()), 2));
    t.row(row);
    t
}
