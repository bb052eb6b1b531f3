//! Read leases: how a node knows it may answer `/auth` from local state, and how a revocation
//! knows when no node can answer from the state before it.
//!
//! **Follower side.** Every quarter lease a follower sends `Lease` to the leader at local time
//! `t0`. The leader answers only after a linearizable read (`ensure_linearizable`: it is still
//! leader per a quorum, and has applied everything committed before the request) with its
//! applied index `c`. The follower may then serve credentialed requests until `t0 + L` as long as
//! its own applied index is ≥ `c`. The lease runs from when the request was *sent*, so a message
//! that sat in a socket while the node was paused (SIGSTOP) can only hand out an expired lease.
//!
//! **Leader side.** The leader renews its own lease the same way: at local time `t0` it
//! confirms leadership with a quorum round (`ensure_linearizable`) and, on success, serves until
//! `t0 + L`. (Not from openraft's published metrics: after a pause they are stale.)
//!
//! **Revocation** (commands that [`authd_raft::Command::narrows_access`]): after the leader has
//! committed and applied entry `I`, it asks every other voter to confirm `applied ≥ I`
//! (`WaitApplied`). For a voter that does not confirm, it waits until `g + L` where `g` is the
//! last time it answered that voter's lease request: any lease granted before `I` was applied
//! then has run out, and any granted after requires `applied ≥ I`. A lease granted by an earlier
//! leader ran out before this leader could be elected, because `L` is shorter than the election
//! timeout (checked at start-up). Clock *rates* must agree within [`DRIFT_MARGIN`]; clocks need
//! not be synchronised. So once the revoke call returns, no node answers 200 for the credential.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authd_raft::network::{Network, Rpc, RpcReply};
use authd_raft::sm_store::StateReader;
use authd_raft::{NodeId, Raft, Visibility};
use openraft::ServerState;

/// Extra wait on top of the lease, covering clock-rate differences between nodes.
pub const DRIFT_MARGIN: f64 = 0.10;
/// How long a non-revoking write waits for a peer to confirm it applied the write.
const SOFT_VISIBILITY: Duration = Duration::from_millis(250);
/// A peer that failed to confirm is not waited for (on soft writes) for this long.
const UNHEALTHY_FOR: Duration = Duration::from_secs(1);

/// Lease state of one node.
pub struct Lease {
    me: NodeId,
    len: Duration,
    epoch: Instant,
    /// Serve credentialed requests until this instant (nanos since `epoch`).
    until: AtomicU64,
    /// ...and only with at least this applied index.
    required: AtomicU64,
    /// The grant before the current one, still honoured until it runs out: a renewal may
    /// require an index this node has not applied yet (writes keep coming), and the older
    /// grant is no less safe for being older (see `extend`).
    prev_until: AtomicU64,
    /// Applied index the previous grant requires.
    prev_required: AtomicU64,
    /// Leader: when it last answered each follower's lease request.
    granted: Mutex<HashMap<NodeId, Instant>>,
    /// Leader: peers that recently failed to confirm a write.
    unhealthy: Mutex<HashMap<NodeId, Instant>>,
    /// Woken at every renewal, for requests waiting out a late one.
    renewed: tokio::sync::Notify,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Lease {
    /// Lease of length `len` for node `me`.
    pub fn new(me: NodeId, len: Duration) -> Lease {
        Lease {
            me,
            len,
            epoch: Instant::now(),
            until: AtomicU64::new(0),
            required: AtomicU64::new(u64::MAX),
            prev_until: AtomicU64::new(0),
            prev_required: AtomicU64::new(u64::MAX),
            granted: Mutex::new(HashMap::new()),
            unhealthy: Mutex::new(HashMap::new()),
            renewed: tokio::sync::Notify::new(),
        }
    }

    /// Resolve at the next renewal of this node's lease (true) or after `timeout` (false).
    /// The caller then checks [`Lease::is_current`] again: a renewal may require an index not
    /// applied yet.
    pub async fn wait_renewal(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.renewed.notified())
            .await
            .is_ok()
    }

    /// Resolve once this node holds a grant whose request was sent after this call: the index
    /// that grant requires (0 on the leader: a leader that confirmed itself after the call
    /// holds every entry committed before it), or `None` when none came within one lease
    /// length (this node cannot reach a leader). Costs no message of its own: it waits for the
    /// keeper's next renewal (every quarter lease). So an index beyond both this and the node's
    /// own log named no committed entry when the call was made.
    pub async fn confirmed_since_now(&self) -> Option<u64> {
        let from = nanos(self.epoch.elapsed()).saturating_add(nanos(self.len));
        let deadline = tokio::time::Instant::now() + self.len;
        loop {
            let renewed = self.renewed.notified();
            tokio::pin!(renewed);
            renewed.as_mut().enable();
            // `until` is the grant's send time plus the lease length; `extend` stores the
            // grant's `required` before it.
            if self.until.load(Ordering::Acquire) >= from {
                return Some(self.required.load(Ordering::Acquire));
            }
            tokio::time::timeout_at(deadline, renewed).await.ok()?;
        }
    }

    /// Hot path: may this node answer a credentialed request from its local state?
    pub fn is_current(&self, applied: Option<u64>) -> bool {
        let Some(applied) = applied else {
            return false;
        };
        let now = nanos(self.epoch.elapsed());
        let holds = |until: &AtomicU64, required: &AtomicU64| {
            now < until.load(Ordering::Acquire) && applied >= required.load(Ordering::Acquire)
        };
        holds(&self.until, &self.required) || holds(&self.prev_until, &self.prev_required)
    }

    /// Install a grant obtained by a request sent at `start`. The previous grant stays in
    /// force until it runs out. Each grant, even mixed with another's index while the
    /// atomics are updated, ends no later than `g + L` for the latest time `g` the leader
    /// answered this node, which is what a revocation waits for when this node does not
    /// confirm it applied the revocation (module docs); a node that confirms has applied it.
    fn extend(&self, start: Instant, required: u64) {
        if nanos(self.epoch.elapsed()) >= self.until.load(Ordering::Acquire) {
            metrics::counter!("authd_lease_gaps_total").increment(1);
        }
        self.prev_required
            .store(self.required.load(Ordering::Acquire), Ordering::Release);
        self.prev_until
            .store(self.until.load(Ordering::Acquire), Ordering::Release);
        self.required.store(required, Ordering::Release);
        let until = nanos(start.saturating_duration_since(self.epoch) + self.len);
        self.until.store(until, Ordering::Release);
        self.renewed.notify_waiters();
    }

    fn lapse(&self) {
        self.until.store(0, Ordering::Release);
        self.prev_until.store(0, Ordering::Release);
    }

    /// Leader: answer a follower's lease request (a linearizable read of the applied index).
    pub async fn grant(
        &self,
        raft: &Raft,
        reader: &StateReader,
        node: NodeId,
    ) -> Result<u64, String> {
        raft.ensure_linearizable()
            .await
            .map_err(|e| format!("not leader: {e}"))?;
        let applied = reader.applied_index().unwrap_or(0);
        if let Ok(mut g) = self.granted.lock() {
            g.insert(node, Instant::now());
        }
        Ok(applied)
    }

    /// Keep this node's lease fresh (runs for the life of the node).
    pub fn spawn_keeper(self: std::sync::Arc<Self>, raft: Raft, network: Network) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.len / 4);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.refresh(&raft, &network).await;
            }
        });
    }

    async fn refresh(&self, raft: &Raft, network: &Network) {
        let (state, leader, single, leader_addr) = {
            let m = raft.metrics();
            let m = m.borrow();
            let mem = m.membership_config.membership();
            let single = mem.voter_ids().count() == 1 && mem.voter_ids().any(|v| v == self.me);
            let addr = m
                .current_leader
                .and_then(|l| mem.get_node(&l).map(|n| n.raft.clone()));
            (m.state, m.current_leader, single, addr)
        };
        let now = Instant::now();
        match state {
            ServerState::Leader if single => self.extend(now, 0),
            ServerState::Leader => {
                // Metrics may predate a pause (SIGSTOP): never extend from them. Confirm
                // leadership with a fresh quorum round and count the lease from before it.
                let t0 = Instant::now();
                match tokio::time::timeout(self.len, raft.ensure_linearizable()).await {
                    Ok(Ok(_)) => self.extend(t0, 0),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "leader lease not renewed");
                        self.lapse();
                    }
                    Err(_) => self.lapse(),
                }
            }
            _ => {
                let (Some(leader), Some(addr)) = (leader, leader_addr) else {
                    return;
                };
                if leader == self.me {
                    return;
                }
                let t0 = Instant::now();
                match network
                    .peer(&addr)
                    .call(&Rpc::Lease { node_id: self.me }, self.len)
                    .await
                {
                    Ok(RpcReply::Lease(Ok(required))) => self.extend(t0, required),
                    Ok(RpcReply::Lease(Err(e))) => tracing::debug!(error = %e, "lease refused"),
                    Ok(other) => {
                        tracing::warn!(reply = other.kind(), "unexpected reply to a lease request")
                    }
                    Err(e) => tracing::debug!(error = %e, "lease request failed"),
                }
            }
        }
        metrics::histogram!("authd_lease_renew_seconds").record(now.elapsed().as_secs_f64());
        metrics::gauge!("authd_lease_current").set(
            if self.is_current(raft.metrics().borrow().last_applied.map(|l| l.index)) {
                1.0
            } else {
                0.0
            },
        );
    }

    /// Leader, after applying entry `index`: return once every other voter has applied it or
    /// (if `strict`) can no longer serve older state. Soft waits skip peers known to be down.
    pub async fn wait_visible(
        &self,
        raft: &Raft,
        network: &Network,
        index: u64,
        visibility: Visibility,
    ) {
        let strict = match visibility {
            Visibility::Committed => return,
            Visibility::Everywhere => false,
            Visibility::Revoked => true,
        };
        let peers: Vec<(NodeId, String)> = {
            let m = raft.metrics();
            let m = m.borrow();
            let mem = m.membership_config.membership();
            mem.voter_ids()
                .filter(|v| *v != self.me)
                .filter_map(|v| mem.get_node(&v).map(|n| (v, n.raft.clone())))
                .collect()
        };
        let started = Instant::now();
        let waits = peers.into_iter().map(|(id, addr)| async move {
            if !strict && self.is_unhealthy(id) {
                return;
            }
            let timeout = if strict { self.len } else { SOFT_VISIBILITY };
            let rpc = Rpc::WaitApplied {
                index,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(500),
            };
            match network
                .peer(&addr)
                .call(&rpc, timeout + Duration::from_millis(50))
                .await
            {
                Ok(RpcReply::WaitApplied(Ok(_))) => self.mark(id, true),
                _ => {
                    self.mark(id, false);
                    if strict {
                        self.wait_out_lease(id, started).await;
                    }
                }
            }
        });
        futures::future::join_all(waits).await;
        metrics::histogram!("authd_visibility_wait_seconds", "strict" => if strict { "yes" } else { "no" })
            .record(started.elapsed().as_secs_f64());
    }

    async fn wait_out_lease(&self, node: NodeId, since: Instant) {
        let last = self.granted.lock().ok().and_then(|g| g.get(&node).copied());
        let Some(last) = last else { return };
        let deadline = last + self.len.mul_f64(1.0 + DRIFT_MARGIN);
        if deadline > Instant::now() {
            tracing::info!(
                node,
                waited_ms = since.elapsed().as_millis() as u64,
                "peer did not confirm a revocation; waiting out its lease"
            );
            tokio::time::sleep_until(deadline.into()).await;
        }
    }

    fn is_unhealthy(&self, node: NodeId) -> bool {
        self.unhealthy
            .lock()
            .ok()
            .and_then(|u| u.get(&node).copied())
            .is_some_and(|t| t.elapsed() < UNHEALTHY_FOR)
    }

    fn mark(&self, node: NodeId, healthy: bool) {
        if let Ok(mut u) = self.unhealthy.lock() {
            if healthy {
                u.remove(&node);
            } else {
                u.insert(node, Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_grant_serves_while_a_renewal_waits_for_its_index() {
        let l = Lease::new(1, Duration::from_secs(60));
        let now = Instant::now();
        assert!(!l.is_current(Some(100)), "no grant yet");
        l.extend(now, 10);
        assert!(l.is_current(Some(10)));
        assert!(!l.is_current(Some(9)));
        assert!(!l.is_current(None));
        l.extend(now, 20);
        assert!(
            l.is_current(Some(15)),
            "the previous grant (10) still holds"
        );
        l.extend(now, 30);
        assert!(
            !l.is_current(Some(15)),
            "grants older than the previous one are gone"
        );
        assert!(l.is_current(Some(20)));
        l.lapse();
        assert!(!l.is_current(Some(1_000)), "a lapse ends both grants");
    }

    #[tokio::test]
    async fn a_waiting_request_wakes_at_the_next_renewal_and_not_before() {
        let l = std::sync::Arc::new(Lease::new(1, Duration::from_secs(60)));
        assert!(
            !l.wait_renewal(Duration::from_millis(20)).await,
            "no renewal"
        );
        let waiter = tokio::spawn({
            let l = l.clone();
            async move { l.wait_renewal(Duration::from_secs(30)).await }
        });
        // The waiter is parked once it yields; renew until it has seen one.
        while !waiter.is_finished() {
            l.extend(Instant::now(), 0);
            tokio::task::yield_now().await;
        }
        assert!(matches!(waiter.await, Ok(true)));
        assert!(l.is_current(Some(0)));
    }

    #[test]
    fn an_expired_grant_serves_nothing() {
        let l = Lease::new(1, Duration::ZERO);
        l.extend(Instant::now(), 0);
        l.extend(Instant::now(), 0);
        assert!(
            !l.is_current(Some(5)),
            "both grants ended when they were made"
        );
    }
}
