//! `results/soak.md` (verdict, faults, memory and load per interval) and `results/soak.csv`
//! (one row per interval).

use std::fmt::Write as _;

use super::ops::Op;
use super::sample::NodeSample;
use super::{Interval, Outcome};
use super::{tables, verdict};
use crate::report::{Table, int, num};

const MIB: f64 = 1024.0 * 1024.0;

/// One line per interval on stderr while the soak runs.
pub fn progress(iv: &Interval) -> String {
    let rss: Vec<String> = iv
        .nodes
        .iter()
        .map(|(id, s)| {
            format!(
                "n{id} {}",
                s.rss.map_or("-".into(), |r| num(r as f64 / MIB, 0))
            )
        })
        .collect();
    let ops: Vec<String> = Op::ALL
        .iter()
        .filter_map(|op| {
            let s = iv.ops.get(op)?;
            Some(format!(
                "{} {}/s p99 {} err {}",
                op.name(),
                num(s.rate, 0),
                s.p99.map_or("-".into(), |p| num(p, 2)),
                s.errors.values().sum::<u64>()
            ))
        })
        .collect();
    format!(
        "t={:.0}s RSS MiB [{}] live {} | {} | load {:.1}",
        iv.end,
        rss.join(", "),
        live(iv),
        ops.join("; "),
        iv.loadavg
    )
}

/// The leader's sample, else the first node that answered.
pub fn leader_of(iv: &Interval) -> Option<&NodeSample> {
    iv.nodes
        .values()
        .find(|s| s.leader)
        .or_else(|| iv.nodes.values().find(|s| s.sessions.is_some()))
}

/// Sessions + tokens as the leader (else the first answering node) holds them.
pub fn live(iv: &Interval) -> String {
    match leader_of(iv).and_then(|s| Some((s.sessions?, s.tokens?))) {
        Some((s, t)) => format!("{} + {}", int(s), int(t)),
        None => "-".into(),
    }
}

/// A latency in ms, "-" without samples.
pub fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |p| num(p, 2))
}

/// The interval's errors of every operation, by kind.
pub fn errs(iv: &Interval) -> String {
    let mut kinds: std::collections::BTreeMap<String, u64> = Default::default();
    for s in iv.ops.values() {
        for (k, n) in &s.errors {
            *kinds.entry(k.clone()).or_insert(0) += n;
        }
    }
    if kinds.is_empty() {
        return "0".into();
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fault events inside `[start, end)`: "K2(L)" kill of node 2, the leader; "R2" restart; "C2"
/// caught up.
pub fn markers(o: &Outcome, iv: &Interval) -> String {
    let mut m = Vec::new();
    let inside = |t: Option<f64>| t.is_some_and(|t| t >= iv.start && t < iv.end);
    for f in &o.faults {
        let r = if f.role == "leader" { "L" } else { "F" };
        if inside(Some(f.killed)) {
            m.push(format!("K{}({r})", f.victim));
        }
        if inside(f.restarted) {
            m.push(format!("R{}", f.victim));
        }
        if inside(f.caught_up) {
            m.push(format!("C{}", f.victim));
        }
    }
    m.join(" ")
}

/// The markdown report and the CSV of the intervals.
pub fn render(o: &Outcome) -> (String, String) {
    let a = &o.args;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# `soak`: {} minutes of mixed load at {:.0} % of capacity, a node killed every {} min\n",
        num(o.length / 60.0, 1),
        a.load * 100.0,
        num(a.kill_every, 1)
    );
    let _ = writeln!(
        md,
        "Command: `{}`\n\nBinary: {}\n",
        crate::report::command_line(),
        o.binary
    );
    md.push_str(&summary(o));
    md.push_str(&mix(o));
    md.push_str(&tables::faults_table(o));
    md.push_str(&tables::memory(o));
    md.push_str(&tables::load_table(o));
    md.push_str(HOW_TO_READ);
    md.push_str(&crate::report::MachineInfo::collect().to_markdown());
    (md, tables::csv(o))
}

fn summary(o: &Outcome) -> String {
    let mut s = String::from("## Verdict\n\n");
    let lives = verdict::lifetimes(&o.intervals, o.args.settle * 60.0);
    let long: Vec<_> = lives.iter().filter(|l| l.span() >= 300.0).collect();
    let worst = long
        .iter()
        .filter_map(|l| l.tail_slope_mib_per_hour(300.0).map(|v| (v, l.node, l.pid)))
        .max_by(|x, y| x.0.total_cmp(&y.0));
    let _ = writeln!(
        s,
        "- **Memory**: steepest RSS slope over the last 5 min of a node process that was sampled \
         ≥ 5 min after the first {} min: {} (per process below; a restarted node is a new \
         process, whose RSS climbs for its first minutes: its whole-life slope is not a leak rate).",
        num(o.args.settle, 0),
        worst.map_or(
            "n/a (no process lived 5 min after settling)".into(),
            |(v, n, p)| { format!("{} MiB/h (node {n}, pid {p})", num(v, 1)) }
        )
    );
    let split = verdict::split_errors(o);
    let total: u64 = o.errors.len() as u64;
    let outside: u64 = split
        .values()
        .map(|e| e.outside.values().sum::<u64>())
        .sum();
    let _ = writeln!(
        s,
        "- **Errors**: {} in total, {} outside the fault windows (kill → caught up + {} s).",
        int(total as f64),
        int(outside as f64),
        super::faults::GRACE_SECS
    );
    for (op, e) in &split {
        let show = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "  - {}: inside [{}], outside [{}]{}",
            op.name(),
            show(&e.inside),
            show(&e.outside),
            if e.outside_at.is_empty() {
                String::new()
            } else {
                let at: Vec<String> = e.outside_at.iter().map(|t| format!("{t:.0}")).collect();
                format!(" at s {}", at.join(", "))
            }
        );
    }
    for op in Op::ALL {
        let (all, clean) = verdict::worst_p99(o, op);
        let fmt = |w: verdict::Worst| {
            w.map_or("-".into(), |(p, t)| {
                format!("{} ms (interval ending {t:.0} s)", num(p, 2))
            })
        };
        let _ = writeln!(
            s,
            "- **Worst p99 {}**: {}; outside fault windows {}.",
            op.name(),
            fmt(all),
            fmt(clean)
        );
    }
    let _ = writeln!(
        s,
        "- **Faults**: {} kills (-9) and restarts. **Convergence**: {}.\n",
        o.faults.len(),
        o.converged
    );
    s
}

fn mix(o: &Outcome) -> String {
    let c = &o.capacity;
    let a = &o.args;
    let mut t = Table::new(["operation", "capacity alone /s", "share", "soak rate /s"]);
    let rate = |op: Op| o.rates.iter().find(|(x, _)| *x == op).map_or(0.0, |r| r.1);
    let rows = [
        (
            "`GET /auth`",
            num(c.auth, 0),
            num(a.share_auth, 2),
            num(o.auth_rate, 0),
        ),
        (
            "login (form)",
            num(c.login, 1),
            num(a.share_login, 2),
            num(rate(Op::Login), 1),
        ),
        (
            "API session create",
            num(c.create, 0),
            num(a.share_create, 2),
            num(rate(Op::Create), 1),
        ),
        (
            "session end (DELETE)",
            num(c.end, 0),
            "(paid by creations)".into(),
            "= login + create".into(),
        ),
        (
            "token grant",
            num(c.grant, 0),
            num(a.share_token, 2),
            num(rate(Op::Grant), 1),
        ),
    ];
    for (what, cap, share, soak) in rows {
        t.row([what.to_owned(), cap, share, soak]);
    }
    t.row([
        "token revoke",
        "≈ grant (assumed)",
        "(paid by grants)",
        "= grant",
    ]);
    format!(
        "## Mix and capacity\n\nCapacities measured in this run, each operation alone, closed loop \
         ({} s each, `/auth` 64 connections, logins 6 clients, others 64). The mix spends {:.0} % of \
         capacity: each operation's rate is its share of that budget divided by its cost (1/capacity, \
         plus its revocation's for creations). Live data is bounded: the {} stable `/auth` sessions, \
         plus at most {} churned sessions and {} tokens — every creation beyond a cap ends the oldest \
         (a failed end is retried with the next creation).\n\n{}\n",
        num(a.calibrate, 0),
        a.load * 100.0,
        a.stable_sessions,
        int(a.live_sessions as f64),
        int(a.live_tokens as f64),
        t.to_markdown()
    )
}

const HOW_TO_READ: &str = "## How to read this\n\n\
- **RSS**: `VmRSS` of each node process from `/proc` at the interval's end (\"down\": killed). \
  **live**: `authd_state_sessions` + `authd_state_tokens` of the leader's state machine (sessions \
  and tokens held, expired or not yet swept); it should stay flat once the client pools are full. \
  **audit entries** (`authd_state_audit_entries`): the replicated audit log, which every session \
  end and login adds to, up to its bound of 100,000 events: live data that grows until then. \
  Memory is judged per process: a least-squares slope of RSS after the settle time (a restarted \
  process after its first minute), next to its live data at the first and last sample.\n\
- **faults**: K*n*(L/F) node *n* killed (leader/follower), R*n* restarted, C*n* caught up. A \
  **fault window** runs from the kill to 5 s after the restarted node caught up; errors inside are \
  expected (requests sent to the dead node, an election when the leader died), errors outside are not.\n\
- **Rates** are successes per second; p50/p99 are from the send to the whole answer, per interval. \
  `/auth` is open loop (a pacer thread, see the `auth` scenario) on every node that was up when its \
  segment began; the creations are paced open loop on tokio's 5 ms tick, each followed by the \
  revocation it pushes out of its pool (end-session, revoke-token rates follow the creations).\n\
- **errors** by kind: `HTTP nnn` (an answer other than the expected), `connection refused` (node \
  down), `no answer (connection failed)` (a killed node's in-flight `/auth`), `timeout`, `shed` \
  (more than 2048 creations of one kind outstanding: not sent).\n\
- **lease gaps**: times a node's read lease (see `node/src/lease.rs`) ran out before its renewal \
  came back, summed over the nodes; **stale 503s**: `/auth` answers a node refused meanwhile \
  (`authd_auth_stale_refusals_total`). On a starved CPU the renewal round is late, and `/auth` \
  answers 503 until it completes: that is the safety of revocations at work, not a lost credential.\n\
- **cores**: CPU seconds per second of the three nodes, of the load generator, and of everything \
  else on the machine (other people's builds and tests: distrust latencies where it is large).\n\n";
