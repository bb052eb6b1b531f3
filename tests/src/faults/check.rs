//! The checker: from the history, and from the healed cluster, every violation of the
//! guarantees: an acknowledged write lost, a 200 after an acknowledged revocation, a majority
//! that could not write, nodes that do not converge.

use std::time::Duration;

use anyhow::{Result, bail};
use futures::StreamExt;

use super::history::{CredKind, History, Revocation};
use super::load::Load;
use crate::cluster::Cluster;
use crate::wait::wait_until;

/// After the connected majority changes, how long it may take to write again (an election
/// is at most 1.6 s with the default timings; a restarted node may still be starting).
pub const RECOVERY: Duration = Duration::from_secs(8);
/// The longest a connected majority may go without an acknowledged write once recovered.
pub const WRITE_BOUND: Duration = Duration::from_secs(8);
/// How long the healed cluster may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);

/// What the checks found; every list empty means the guarantees held.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Acknowledged writes missing afterwards (or answered wrongly) on some node.
    pub lost: Vec<String>,
    /// `/auth` 200s that started after the credential's revocation was acknowledged.
    pub stale: Vec<String>,
    /// Stretches where a connected majority could not write within the bound.
    pub unavailable: Vec<String>,
    /// Nodes that did not converge after healing, or crashed.
    pub diverged: Vec<String>,
    /// Acknowledged, unrevoked writes verified on every node (sessions, tokens, probe sessions).
    pub writes_verified: u64,
    /// Acknowledged revocations verified refused on every node afterwards.
    pub revocations_verified: u64,
    /// `/auth` answers that started after a revocation's ack (each had to be a refusal).
    pub after_revoke_checks: u64,
    /// Gaps without an acknowledged probe write longer than a second: (start, length).
    pub windows: Vec<(Duration, Duration)>,
}

impl Verdict {
    /// True when no guarantee was broken.
    pub fn clean(&self) -> bool {
        self.lost.is_empty()
            && self.stale.is_empty()
            && self.unavailable.is_empty()
            && self.diverged.is_empty()
    }
}

/// No 200 from `/auth` for a credential whose revocation was acknowledged before the request
/// started, on any node.
pub fn check_stale(h: &History, v: &mut Verdict) {
    for o in &h.auth {
        let Some(c) = h.creds.get(o.cred) else {
            continue;
        };
        let Revocation::Acked { acked, .. } = c.revocation else {
            continue;
        };
        if o.start <= acked {
            continue;
        }
        v.after_revoke_checks += 1;
        if o.status == 200 {
            v.stale.push(format!(
                "{:?} #{} revoked (ack at {:.3}s) got 200 from node {} for a request started at {:.3}s",
                c.kind,
                o.cred,
                acked.as_secs_f64(),
                o.node,
                o.start.as_secs_f64()
            ));
        }
    }
}

/// Whenever a connected majority exists, it writes: the first acknowledged probe within
/// `RECOVERY` of a majority forming, then no gap over `WRITE_BOUND` for as long as some
/// majority stays connected (a leader kill inside such a stretch costs one election). Also lists every gap
/// between acknowledged probes over a second (the unavailability windows).
pub fn check_availability(h: &History, end: Duration, v: &mut Verdict) {
    let mut acks: Vec<(Duration, Duration)> = h
        .probes
        .iter()
        .filter(|p| p.session.is_some())
        .map(|p| (p.start, p.end))
        .collect();
    acks.sort();
    let mut last = Duration::ZERO;
    for &(_, done) in &acks {
        if done.saturating_sub(last) > Duration::from_secs(1) {
            v.windows.push((last, done - last));
        }
        last = last.max(done);
    }
    if end.saturating_sub(last) > Duration::from_secs(1) {
        v.windows.push((last, end - last));
    }
    for (from, until) in majority_stretches(h, end) {
        // Acks of probes started in this stretch.
        let done: Vec<Duration> = acks
            .iter()
            .filter(|(s, _)| *s >= from && *s < until)
            .map(|(_, e)| *e)
            .collect();
        let mut mark = from;
        let mut bound = RECOVERY;
        for d in done.iter().copied().chain(std::iter::once(until)) {
            if d.saturating_sub(mark) > bound {
                v.unavailable.push(format!(
                    "a majority was connected from {:.1}s to {:.1}s, but no write was acknowledged \
                     between {:.1}s and {:.1}s (faults then: {})",
                    from.as_secs_f64(),
                    until.as_secs_f64(),
                    mark.as_secs_f64(),
                    d.as_secs_f64(),
                    faults_between(h, mark, d)
                ));
                break;
            }
            mark = d;
            bound = WRITE_BOUND;
        }
    }
}

/// Maximal stretches of time during which some majority was up and connected (which nodes
/// form it may change within a stretch, e.g. when the leader is killed).
fn majority_stretches(h: &History, end: Duration) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut open = None;
    for (at, majority) in &h.topology {
        match (majority.is_some(), open) {
            (true, None) => open = Some(*at),
            (false, Some(from)) => {
                out.push((from, *at));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        out.push((from, end));
    }
    out
}

/// The faults active at some point in `[from, to]`, for messages.
fn faults_between(h: &History, from: Duration, to: Duration) -> String {
    let names: Vec<String> = h
        .faults
        .iter()
        .filter(|f| f.start <= to && f.end >= from)
        .map(|f| {
            format!(
                "{} {:?} at {:.1}s-{:.1}s",
                f.kind,
                f.nodes,
                f.start.as_secs_f64(),
                f.end.as_secs_f64()
            )
        })
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The healed cluster: every node ready, all at the same applied index, and every
/// acknowledged write present (and every acknowledged revocation in force) on every node.
pub async fn check_converged(cluster: &Cluster, load: &Load, v: &mut Verdict) -> Result<()> {
    cluster.wait_ready(CONVERGE).await?;
    cluster.wait_caught_up(CONVERGE).await?;
    let ids = cluster.node_ids();
    wait_until("every node at the same applied index", CONVERGE, || async {
        let mut applied = Vec::new();
        for &id in &ids {
            applied.push(cluster.info(id).await?.applied());
        }
        if applied.windows(2).any(|w| w.first() != w.get(1)) {
            bail!("applied indexes differ: {applied:?}");
        }
        Ok(())
    })
    .await?;
    // Every node must serve credentialed requests (hold a read lease) before the one-shot
    // checks: the newest acknowledged credential that was never revoked must pass everywhere.
    let h = load
        .history
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(canary) = (0..h.creds.len()).rev().find(|&i| {
        h.creds
            .get(i)
            .is_some_and(|c| c.revocation == Revocation::None)
    }) {
        wait_until(
            "every node to accept a live credential",
            CONVERGE,
            || async {
                let mut statuses = Vec::new();
                for t in &load.targets {
                    statuses.push(load.auth(t, canary).await);
                }
                if statuses.iter().all(|s| *s == 200) {
                    Ok(())
                } else {
                    bail!("answers {statuses:?}")
                }
            },
        )
        .await?;
    }
    check_credentials(load, &h, v).await;
    check_probe_sessions(load, &h, v).await;
    Ok(())
}

/// Every credential on every node. A definite answer (200 or 401) is final, never retried; a
/// node that is not sure it is current answers 503 (or nothing), and is asked again until it
/// answers or `CONVERGE` runs out.
async fn check_credentials(load: &Load, h: &History, v: &mut Verdict) {
    let deadline = tokio::time::Instant::now() + CONVERGE;
    let definite = |t, i| async move {
        loop {
            let s = load.auth(t, i).await;
            if matches!(s, 200 | 401) || tokio::time::Instant::now() >= deadline {
                return s;
            }
            tokio::time::sleep(crate::wait::POLL_INTERVAL).await;
        }
    };
    let rounds = futures::stream::iter(0..h.creds.len())
        .map(|i| async move {
            let answers = futures::future::join_all(
                load.targets
                    .iter()
                    .map(|t| async move { (t.id, definite(t, i).await) }),
            )
            .await;
            (i, answers)
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (i, answers) in rounds {
        let Some(c) = h.creds.get(i) else { continue };
        let statuses: Vec<(u64, u16)> = answers;
        let want = match c.revocation {
            Revocation::None => Some(200),
            Revocation::Acked { .. } => Some(401),
            Revocation::Ambiguous { .. } | Revocation::Pending { .. } => None,
        };
        let first = statuses.first().map(|(_, s)| *s);
        let agree = statuses.iter().all(|(_, s)| Some(*s) == first);
        let what = format!(
            "{:?} #{i} (created on node {} at {:.3}s, revocation {:?}): /auth answers {statuses:?}",
            c.kind,
            c.node,
            c.acked.as_secs_f64(),
            c.revocation
        );
        match want {
            Some(200) if statuses.iter().all(|(_, s)| *s == 200) => v.writes_verified += 1,
            Some(401) if statuses.iter().all(|(_, s)| *s == 401) => v.revocations_verified += 1,
            Some(_) if statuses.iter().all(|(_, s)| matches!(s, 200 | 401)) => v.lost.push(what),
            Some(_) => v.diverged.push(what),
            None if agree && matches!(first, Some(200 | 401)) => {}
            None => v.diverged.push(what),
        }
    }
}

/// Every acknowledged probe session exists on every node.
async fn check_probe_sessions(load: &Load, h: &History, v: &mut Verdict) {
    let ids: Vec<String> = h.probes.iter().filter_map(|p| p.session.clone()).collect();
    let results = futures::stream::iter(ids)
        .map(|id| async move {
            let mut missing = Vec::new();
            for t in &load.targets {
                match t.api.get_session(&id).await {
                    Ok(r) if r.status == 200 => {}
                    Ok(r) => missing.push((t.id, r.status)),
                    Err(_) => missing.push((t.id, 0)),
                }
            }
            (id, missing)
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (id, missing) in results {
        if missing.is_empty() {
            v.writes_verified += 1;
        } else {
            v.lost
                .push(format!("probe session {id}: missing on {missing:?}"));
        }
    }
}

/// Kind names for reports.
pub fn kind_name(k: CredKind) -> &'static str {
    match k {
        CredKind::Session => "session",
        CredKind::Token => "token",
    }
}
