//! The detail tables and fixed text of the `revocation` report.

use super::report::{ack, med, others};
use super::{Outcome, RevRun};
use crate::report::{Table, int, num};
use crate::stats::ratio;

pub(super) fn runs_table(out: &Outcome) -> Table {
    let mut t = Table::new([
        "run",
        "calibrated max /s",
        "background /s",
        "acked",
        "ack p50 ms",
        "ack p99 ms",
        "ack p999 ms",
        "ack max ms",
        "revoke errors",
        "valid before revoke",
        "stale 200s",
        "probes: 401 / other",
        "ack → 1st probe round answered, p99 ms",
        "background p99 ms",
        "background p99 from due ms",
        "pacer lag p99 µs",
        "fsync baseline /s",
        "busy before %",
        "other cores",
        "leader",
    ]);
    for r in &out.runs {
        let a = ack(r);
        let s401 = r.log.probe_status.get(&401).copied().unwrap_or(0);
        let leader = match r.leader_after {
            Some(l) if l == r.leader => l.to_string(),
            Some(l) => format!("{} → {l}", r.leader),
            None => format!("{} → ?", r.leader),
        };
        t.row([
            r.run.to_string(),
            r.calibrated_max.map_or_else(|| "fixed".into(), int),
            int(r.background.0),
            r.log.acked.to_string(),
            num(a.p50_ms, 2),
            num(a.p99_ms, 2),
            num(a.p999_ms, 2),
            num(a.max_ms, 2),
            r.log.revoke_errors.to_string(),
            format!(
                "{} / {}",
                r.log.checked.saturating_sub(r.log.not_valid_before),
                r.log.checked
            ),
            r.log.stale.to_string(),
            format!("{s401} / {}", r.log.probes - s401),
            num(
                r.log
                    .first_round
                    .clone()
                    .percentile_ms(0.99)
                    .unwrap_or(f64::NAN),
                3,
            ),
            num(r.background.1.p99_ms, 3),
            num(r.background.5, 3),
            num(r.background.4 * 1e3, 0),
            int(r.fsync.fsyncs_per_sec),
            num(r.busy_before_pct, 0),
            num(others(r), 2),
            leader,
        ]);
    }
    t
}

/// Revoke-ack latency by the node the revoke was sent to, and the nodes' own timings.
pub(super) fn node_table(out: &Outcome) -> Table {
    let mut t = Table::new([
        "node (revokes sent to it)",
        "ack p50 ms",
        "ack p99 ms",
        "propose→applied ms",
        "visibility wait ms",
        "WAL fsync ms",
        "WAL fsyncs/s",
        "CPU cores",
        "/auth 503s: lease not current (all runs)",
    ]);
    for (i, id) in out.node_ids.iter().enumerate() {
        let lat = |r: &RevRun, q: f64| {
            r.log
                .ack
                .get(i)
                .cloned()
                .and_then(|mut l| l.percentile_ms(q))
                .unwrap_or(f64::NAN)
        };
        let m =
            |f: &dyn Fn(&crate::prom::Metrics) -> f64| med(out, |r| f(&r.delta.node_metrics(*id)));
        let leader_runs = out.runs.iter().filter(|r| r.leader == *id).count();
        t.row([
            format!("{id} (leader in {leader_runs} of {} runs)", out.runs.len()),
            num(med(out, |r| lat(r, 0.5)), 2),
            num(med(out, |r| lat(r, 0.99)), 2),
            num(m(&|x| 1e3 * x.mean("authd_propose_seconds")), 2),
            num(m(&|x| 1e3 * x.mean("authd_visibility_wait_seconds")), 2),
            num(m(&|x| 1e3 * x.mean("authd_wal_fsync_seconds")), 3),
            int(med(out, |r| {
                ratio(
                    r.delta.node_metrics(*id).count("authd_wal_fsync_seconds"),
                    r.window.as_secs_f64(),
                )
            })),
            num(
                med(out, |r| {
                    ratio(
                        r.delta.cpu.nodes.get(id).map_or(0.0, |d| d.as_secs_f64()),
                        r.window.as_secs_f64(),
                    )
                }),
                2,
            ),
            int(out
                .runs
                .iter()
                .map(|r| {
                    r.delta
                        .node_metrics(*id)
                        .get("authd_auth_stale_refusals_total")
                })
                .sum()),
        ]);
    }
    t
}

pub(super) const HOW_TO_READ: &str = "\
- **revoke-ack**: from writing the revoke request to parsing its answer, on a kept-alive \
connection to the node it was sent to. The node answers once the revocation is committed \
(fsynced on a majority) and applied on every reachable voter, so no node can still accept the \
cookie.
- **stale 200s after ack**: 200 answers to the probes sent after the acknowledgement, on any node: \
must be 0. Probe answers other than 401 (e.g. 503 from a node that fails closed) are counted \
under \"other\" and are not stale.
- **valid before revoke**: the cookie was accepted just before it was revoked (so a 401 after \
is the revocation's doing, not a bad cookie).
- **ack → 1st probe round answered**: time from the ack until all three nodes answered the \
first probe round.
- **background**: the open-loop `/auth` load running meanwhile (answers/s and latency of its \
requests sent in the window; the pacer lag is the generator's lateness).
- **/auth 503s: lease not current**: the node's `authd_auth_stale_refusals_total` over the \
window: credentialed `/auth` requests refused (503, fail closed) because the node's read lease \
was not current; with no node down, each is a valid session refused.
- **Where the time goes**: per node, the latency of the revokes sent to it and its `/metrics` over \
the window: `authd_propose_seconds` (propose → applied), `authd_visibility_wait_seconds` (waiting \
until every reachable voter applied the entry), WAL fsync time and rate; CPU cores includes the \
background load.
- **other cores**: CPU used by other processes on the machine during the window.
";
