//! The soak report's tables: faults, memory per process and per interval, load per interval,
//! and the CSV of the intervals.

use super::Outcome;
use super::ops::Op;
use super::report::{errs, leader_of, live, markers, ms};
use super::sample::NodeSample;
use super::verdict::{self, interval_faulted};
use crate::report::{Table, int, num};

const MIB: f64 = 1024.0 * 1024.0;

/// One row per kill: victim, times, errors in its window.
pub fn faults_table(o: &Outcome) -> String {
    let mut t = Table::new([
        "#",
        "node",
        "role",
        "killed s",
        "leader again +s",
        "restarted s",
        "caught up +s",
        "errors in window",
        "last error +s",
        "auth errors",
    ]);
    for (i, f) in o.faults.iter().enumerate() {
        let (a, b) = f.window(o.length);
        let inside: Vec<_> = o
            .errors
            .iter()
            .filter(|(t, _, _)| *t >= a && *t <= b)
            .collect();
        let n = inside.len();
        let last = inside.iter().map(|e| e.0).fold(f64::NAN, f64::max);
        let auth = inside.iter().filter(|e| e.1 == Op::Auth).count();
        let rel = |x: Option<f64>, from: f64| x.map_or("never".into(), |x| num(x - from, 1));
        t.row([
            (i + 1).to_string(),
            f.victim.to_string(),
            f.role.to_string(),
            num(f.killed, 0),
            rel(f.leader_again, f.killed),
            f.restarted.map_or("-".into(), |r| num(r, 0)),
            f.restarted.map_or("-".into(), |r| rel(f.caught_up, r)),
            int(n as f64),
            if n > 0 {
                num(last - f.killed, 1)
            } else {
                "-".into()
            },
            int(auth as f64),
        ]);
    }
    format!(
        "## Faults\n\nSIGKILL, down {} s, then the same binary, config and data dir again. \
         \"caught up\": applied what the leader had applied at the restart.\n\n{}\n",
        num(o.args.down, 0),
        t.to_markdown()
    )
}

/// Memory per node process, then memory and machine per interval.
pub fn memory(o: &Outcome) -> String {
    let ids = node_ids(o);
    let mut head = vec!["t s".to_owned(), "faults".to_owned()];
    head.extend(ids.iter().map(|id| format!("RSS n{id} MiB")));
    head.extend(
        [
            "live sessions + tokens (leader)",
            "audit entries",
            "client pools",
            "lease gaps",
            "stale 503s",
            "cores: nodes",
            "generator",
            "others",
            "steal",
            "loadavg",
        ]
        .map(String::from),
    );
    let mut t = Table::new(head);
    for (k, iv) in o.intervals.iter().enumerate() {
        let mut row = vec![num(iv.end, 0), markers(o, iv)];
        row.extend(ids.iter().map(|id| {
            iv.nodes
                .get(id)
                .and_then(|s| s.rss)
                .map_or("down".into(), |r| num(r as f64 / MIB, 1))
        }));
        row.extend([
            live(iv),
            leader_of(iv).and_then(|s| s.audit).map_or("-".into(), int),
            format!("{} + {}", int(iv.pooled.0 as f64), int(iv.pooled.1 as f64)),
            int(lease_delta(o, k, |s| s.lease_gaps)),
            int(lease_delta(o, k, |s| s.stale_refusals)),
            num(iv.cores.nodes, 2),
            num(iv.cores.generator, 2),
            num(iv.cores.others, 2),
            num(iv.cores.steal, 2),
            num(iv.loadavg, 1),
        ]);
        t.row(row);
    }
    let mut l = Table::new([
        "node",
        "pid",
        "from s",
        "to s",
        "RSS first MiB",
        "RSS last MiB",
        "live first (sessions + tokens + audit)",
        "live last",
        "slope MiB/h",
        "last 5 min MiB/h",
    ]);
    for life in verdict::lifetimes(&o.intervals, o.args.settle * 60.0) {
        let (Some(f), Some(z)) = (life.samples.first(), life.samples.last()) else {
            continue;
        };
        l.row([
            life.node.to_string(),
            life.pid.to_string(),
            num(f.0, 0),
            num(z.0, 0),
            num(f.1, 1),
            num(z.1, 1),
            int(f.2),
            int(z.2),
            life.slope_mib_per_hour().map_or("-".into(), |v| num(v, 1)),
            life.tail_slope_mib_per_hour(300.0)
                .map_or("-".into(), |v| num(v, 1)),
        ]);
    }
    format!(
        "## Memory per node process (after {} min; restarted processes after their first minute)\n\n{}\n\
         ## Memory and machine per interval\n\n{}\n",
        num(o.args.settle, 0),
        l.to_markdown(),
        t.to_markdown()
    )
}

/// Rates, latencies and errors per interval.
pub fn load_table(o: &Outcome) -> String {
    let mut head = vec![
        "t s".to_owned(),
        "fault window".to_owned(),
        "auth /s".to_owned(),
        "auth p50".to_owned(),
        "auth p99".to_owned(),
    ];
    for op in &Op::ALL[1..] {
        head.push(format!("{} /s", op.name()));
        head.push(format!("{} p99", op.name()));
    }
    head.push("errors".into());
    let mut t = Table::new(head);
    for iv in &o.intervals {
        let get = |op: Op| iv.ops.get(&op).cloned().unwrap_or_default();
        let auth = get(Op::Auth);
        let mut row = vec![
            num(iv.end, 0),
            if interval_faulted(&o.faults, iv, o.length) {
                "yes".into()
            } else {
                String::new()
            },
            num(auth.rate, 0),
            ms(auth.p50),
            ms(auth.p99),
        ];
        for op in &Op::ALL[1..] {
            let s = get(*op);
            row.push(num(s.rate, 1));
            row.push(ms(s.p99));
        }
        row.push(errs(iv));
        t.row(row);
    }
    format!(
        "## Load per interval (latencies in ms, from the send)\n\n{}\n",
        t.to_markdown()
    )
}

/// The intervals as numbers, one row each.
pub fn csv(o: &Outcome) -> String {
    let ids = node_ids(o);
    let mut head = vec![
        "start_s".to_owned(),
        "end_s".to_owned(),
        "faulted".to_owned(),
    ];
    for id in &ids {
        head.extend([
            format!("rss_n{id}_bytes"),
            format!("sessions_n{id}"),
            format!("tokens_n{id}"),
        ]);
    }
    for op in Op::ALL {
        let n = op.name();
        head.extend([
            format!("{n}_ok"),
            format!("{n}_p50_ms"),
            format!("{n}_p99_ms"),
            format!("{n}_errors"),
        ]);
    }
    head.extend(["cores_nodes", "cores_generator", "cores_others", "loadavg"].map(String::from));
    let mut out = head.join(",") + "\n";
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for iv in &o.intervals {
        let mut row = vec![
            num(iv.start, 1),
            num(iv.end, 1),
            u8::from(interval_faulted(&o.faults, iv, o.length)).to_string(),
        ];
        for id in &ids {
            let s = iv.nodes.get(id).cloned().unwrap_or_default();
            row.extend([
                s.rss.map_or(String::new(), |r| r.to_string()),
                opt(s.sessions),
                opt(s.tokens),
            ]);
        }
        for op in Op::ALL {
            let s = iv.ops.get(&op).cloned().unwrap_or_default();
            row.extend([
                s.ok.to_string(),
                opt(s.p50),
                opt(s.p99),
                s.errors.values().sum::<u64>().to_string(),
            ]);
        }
        row.extend(
            [
                iv.cores.nodes,
                iv.cores.generator,
                iv.cores.others,
                iv.loadavg,
            ]
            .map(|v| num(v, 3)),
        );
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The node ids, in order.
fn node_ids(o: &Outcome) -> Vec<u64> {
    o.intervals
        .first()
        .map(|i| i.nodes.keys().copied().collect())
        .unwrap_or_default()
}

/// The growth of a per-process counter over interval `k`, summed over the nodes (a restarted
/// node's counter starts again from 0).
fn lease_delta(o: &Outcome, k: usize, get: fn(&NodeSample) -> Option<f64>) -> f64 {
    let Some(iv) = o.intervals.get(k) else {
        return 0.0;
    };
    let prev = k.checked_sub(1).and_then(|j| o.intervals.get(j));
    iv.nodes
        .iter()
        .map(|(id, s)| {
            let now = get(s).unwrap_or(0.0);
            let before = prev
                .and_then(|p| p.nodes.get(id))
                .filter(|p| p.pid == s.pid)
                .and_then(get)
                .unwrap_or(0.0);
            (now - before).max(0.0)
        })
        .sum()
}
