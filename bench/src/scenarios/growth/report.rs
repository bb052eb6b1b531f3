//! The `growth` report: `bench/results/growth.md`.

use std::fmt::Write as _;

use super::{Args, Bounds, Run};
use crate::report::{MachineInfo, Table, command_line, int, num};
use crate::stats::median;

/// "~0" (issue 20): steady growth under this many bytes/s per node counts as none (a code
/// or an audit merge landing inside the window moves the gauge by a few hundred bytes).
const FLAT_BYTES_PER_SEC: f64 = 100.0;

struct Fig {
    fill: f64,
    steady: f64,
    end_kib: f64,
    grants_per_sec: f64,
    logins_per_sec: f64,
    limited_per_sec: f64,
    sessions: f64,
    tokens: f64,
}

fn figs(args: &Args, runs: &[&Run]) -> Fig {
    let m = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(|r| f(r)));
    Fig {
        fill: m(&|r| r.growth(0.0, args.fill)),
        steady: m(&|r| r.growth(args.attack - args.steady, args.attack)),
        end_kib: m(&|r| r.end_bytes() / 1024.0),
        grants_per_sec: m(&|r| r.tally.grants as f64 / r.secs),
        logins_per_sec: m(&|r| r.tally.logins as f64 / r.secs),
        limited_per_sec: m(&|r| r.tally.limited as f64 / r.secs),
        sessions: m(&|r| r.sessions_end),
        tokens: m(&|r| r.tokens_end),
    }
}

/// (the summary table for stdout, the whole report).
pub fn render(args: &Args, runs: &[Run], binary: &str) -> (String, String) {
    let mut t = Table::new([
        "bounds",
        "fill B/s/node",
        "steady B/s/node",
        "state at end KiB",
        "grants/s",
        "logins/s",
        "refused (429)/s",
        "sessions",
        "tokens",
    ]);
    let mut shipped = None;
    let mut lifted = None;
    for b in [Bounds::Shipped, Bounds::Lifted] {
        let rs: Vec<&Run> = runs.iter().filter(|r| r.bounds == b).collect();
        let f = figs(args, &rs);
        t.row([
            b.label().to_owned(),
            int(f.fill),
            int(f.steady),
            int(f.end_kib),
            num(f.grants_per_sec, 1),
            num(f.logins_per_sec, 1),
            int(f.limited_per_sec),
            int(f.sessions),
            int(f.tokens),
        ]);
        match b {
            Bounds::Shipped => shipped = Some(f),
            Bounds::Lifted => lifted = Some(f),
        }
    }
    let table = t.to_markdown();
    let mut s = String::from("# authd benchmark: `growth`\n\n");
    let _ = writeln!(
        s,
        "How fast one ordinary account can grow the replicated state every node holds in memory \
         (issue 20). Per run and configuration: a fresh 3-node loopback cluster with fsync, one \
         user, one public OAuth2 client (PKCE, no secret); for {:.0} s the user runs {} \
         consent-and-token loops (authorize → approve → redeem, rotated over the nodes) and {} \
         login loops (a fresh cookie jar each time, so each login is a new session), as fast as \
         the nodes answer. Each node's `authd_state_encoded_bytes` gauge (the state's \
         snapshot-encoded size, re-measured every 5 s) is sampled every 5 s. Growth is bytes/s \
         per node (the largest node) over the first {:.0} s (fill) and the last {:.0} s \
         (steady: after the caps are reached and the first codes have expired). The baseline \
         is the same attack with the session cap, family cap and issuance rates lifted, \
         measured in the same run.\n",
        args.attack, args.grant_loops, args.login_loops, args.fill, args.steady
    );
    let _ = writeln!(
        s,
        "Runs: {} per configuration; each figure is the median over runs. Command: `{}`. \
         Binary: {binary}.\n",
        args.common.runs,
        command_line()
    );
    let _ = writeln!(s, "## Results\n\n{table}");
    if let (Some(sh), Some(li)) = (&shipped, &lifted) {
        // Negative is the state shrinking: the fill window's codes expiring while the caps
        // keep anything new from taking their place.
        let verdict = match sh.steady {
            g if g < 0.0 => {
                "met (the state shrinks: the fill's codes expire, nothing replaces them)"
            }
            g if g < FLAT_BYTES_PER_SEC => "met",
            _ => "**not met**",
        };
        let _ = writeln!(
            s,
            "## Target\n\nOnce the caps are hit, one user's growth must be ~0 (issue 20; here: \
             at most {} B/s per node). Measured: **{} B/s per node** in the steady window with the \
             shipped bounds: {verdict}. Without the bounds the same user grows each node by {} \
             B/s ({} KiB/h), at {} grants/s. The fill window shows what the caps let one account \
             hold: {} sessions, {} tokens at the end.\n",
            int(FLAT_BYTES_PER_SEC),
            int(sh.steady),
            int(li.steady),
            int(li.steady * 3600.0 / 1024.0),
            num(li.grants_per_sec, 0),
            int(sh.sessions),
            int(sh.tokens),
        );
    }
    let mut every = Table::new([
        "run",
        "bounds",
        "secs",
        "grants",
        "logins",
        "429s",
        "other",
        "fill B/s",
        "steady B/s",
        "end KiB",
    ]);
    for r in runs {
        every.row([
            r.run.to_string(),
            r.bounds.label().to_owned(),
            num(r.secs, 0),
            int(r.tally.grants as f64),
            int(r.tally.logins as f64),
            int(r.tally.limited as f64),
            int(r.tally.other as f64),
            int(r.growth(0.0, args.fill)),
            int(r.growth(args.attack - args.steady, args.attack)),
            int(r.end_bytes() / 1024.0),
        ]);
    }
    let _ = writeln!(s, "## Every run\n\n{}", every.to_markdown());
    if let Some(r) = runs.iter().find(|r| r.bounds == Bounds::Shipped) {
        let mut series = Table::new(["s", "node 1 KiB", "node 2 KiB", "node 3 KiB"]);
        for (t, v) in &r.samples {
            let mut row = vec![num(*t, 0)];
            row.extend(v.iter().map(|b| num(b / 1024.0, 1)));
            series.row(row);
        }
        let _ = writeln!(
            s,
            "## State size over time (run {}, shipped bounds)\n\n{}",
            r.run,
            series.to_markdown()
        );
    }
    let _ = writeln!(s, "## Machine\n\n{}", MachineInfo::collect().to_markdown());
    (table, s)
}
