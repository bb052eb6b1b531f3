//! The revoker: one session at a time, check that the cookie works, revoke it through one node
//! (rotating), time the acknowledgement, then probe `/auth` with the revoked cookie on every
//! node at once, a few rounds, right after the acknowledgement. Each node has a connection for
//! revokes and one for probes, beside the background load's connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;

use crate::http1::{self, Answer, Conn};
use crate::scenarios::sessions::Session;
use crate::stats::Latencies;

/// How a session is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// `GET /logout` with the session's cookie (answers 303).
    Logout,
    /// `DELETE /api/v1/sessions/{id}`, signed with the cluster secret (answers 200).
    Delete,
}

/// What the revoker saw.
#[derive(Debug, Default)]
pub struct RevokeLog {
    /// Revoke-ack latency per node (index in node order) of the acknowledged revokes.
    pub ack: Vec<Latencies>,
    pub acked: u64,
    pub revoke_errors: u64,
    pub first_revoke_error: Option<String>,
    /// Cookies checked just before their revoke, and those not accepted (200 + JWT) then.
    pub checked: u64,
    pub not_valid_before: u64,
    pub first_not_valid: Option<String>,
    pub probes: u64,
    /// Probe answers by status (transport errors under 0).
    pub probe_status: BTreeMap<u16, u64>,
    /// 200s for a session after its revoke was acknowledged: must stay 0.
    pub stale: u64,
    /// The first few stale answers: (session #, node index, µs after the ack).
    pub stale_examples: Vec<(usize, usize, u128)>,
    /// Time from the ack to the answer of the first probe round (all nodes), per session.
    pub first_round: Latencies,
}

pub struct Revoker {
    nodes: Vec<SocketAddr>,
    revoke: Vec<Conn>,
    probe: Vec<Conn>,
    via: Via,
    secret: Vec<u8>,
    rounds: usize,
}

impl Revoker {
    pub async fn connect(
        nodes: Vec<SocketAddr>,
        via: Via,
        secret: &[u8],
        rounds: usize,
    ) -> Result<Revoker> {
        let mut revoke = Vec::new();
        let mut probe = Vec::new();
        for a in &nodes {
            revoke.push(Conn::open(*a).await?);
            probe.push(Conn::open(*a).await?);
        }
        Ok(Revoker {
            nodes,
            revoke,
            probe,
            via,
            secret: secret.to_vec(),
            rounds: rounds.max(1),
        })
    }

    fn revoke_request(&self, addr: SocketAddr, s: &Session) -> Result<Bytes, String> {
        Ok(match self.via {
            Via::Logout => http1::get(addr, "/logout", &[s.header()]),
            Via::Delete => {
                let id = s.session_id().map_err(|e| format!("{e:#}"))?;
                let path = format!("/api/v1/sessions/{id}");
                let sig = authd_web::cli_auth::sign(
                    &self.secret,
                    "DELETE",
                    &path,
                    b"",
                    authd_tests::unix_now(),
                );
                let header = format!("{}: {sig}", authd_web::cli_auth::HEADER);
                http1::request("DELETE", addr, &path, &[header], b"")
            }
        })
    }

    fn acked(&self, a: &Answer) -> bool {
        match self.via {
            Via::Logout => a.status == 303,
            Via::Delete => a.status == 200,
        }
    }

    /// Revokes `sessions[i]` through node `i mod n`, for every `i`, logging into `log`.
    pub async fn run(&mut self, sessions: &[Session], log: &mut RevokeLog) {
        let n = self.nodes.len().max(1);
        log.ack.resize_with(n, Latencies::default);
        for (i, s) in sessions.iter().enumerate() {
            let node = i % n;
            let probe_reqs: Vec<Bytes> = self
                .nodes
                .iter()
                .map(|a| http1::get(*a, "/auth", &[s.header()]))
                .collect();
            // The cookie works before the revoke (checked on the next node).
            let check = (node + 1) % n;
            if let (Some(c), Some(r)) = (self.probe.get_mut(check), probe_reqs.get(check)) {
                log.checked += 1;
                match c.roundtrip(r).await {
                    Ok(Answer {
                        status: 200,
                        authorization: true,
                        ..
                    }) => {}
                    other => {
                        log.not_valid_before += 1;
                        log.first_not_valid
                            .get_or_insert_with(|| format!("session #{i}: {other:?}"));
                    }
                }
            }
            let Some(addr) = self.nodes.get(node).copied() else {
                continue;
            };
            let req = match self.revoke_request(addr, s) {
                Ok(r) => r,
                Err(e) => {
                    log.revoke_errors += 1;
                    log.first_revoke_error.get_or_insert(e);
                    continue;
                }
            };
            let Some(conn) = self.revoke.get_mut(node) else {
                continue;
            };
            let sent = Instant::now();
            let answer = conn.roundtrip(&req).await;
            let acked_at = Instant::now();
            match answer {
                Ok(a) if self.acked(&a) => {
                    log.acked += 1;
                    if let Some(l) = log.ack.get_mut(node) {
                        l.record(acked_at - sent);
                    }
                }
                other => {
                    log.revoke_errors += 1;
                    log.first_revoke_error
                        .get_or_insert_with(|| format!("session #{i} via node #{node}: {other:?}"));
                    continue;
                }
            }
            self.probe_all(i, &probe_reqs, acked_at, log).await;
        }
    }

    /// `rounds` rounds of one `/auth` probe per node, all nodes at once.
    async fn probe_all(
        &mut self,
        i: usize,
        reqs: &[Bytes],
        acked_at: Instant,
        log: &mut RevokeLog,
    ) {
        for round in 0..self.rounds {
            let answers = futures::future::join_all(
                self.probe
                    .iter_mut()
                    .zip(reqs)
                    .map(|(c, r)| async move { (c.roundtrip(r).await, Instant::now()) }),
            )
            .await;
            if round == 0
                && let Some(last) = answers.iter().map(|(_, t)| *t).max()
            {
                log.first_round.record(last.duration_since(acked_at));
            }
            for (node, (answer, at)) in answers.into_iter().enumerate() {
                log.probes += 1;
                let status = answer.as_ref().map_or(0, |a| a.status);
                *log.probe_status.entry(status).or_default() += 1;
                if status == 200 {
                    log.stale += 1;
                    if log.stale_examples.len() < 10 {
                        let after = at.duration_since(acked_at);
                        log.stale_examples.push((i, node, after.as_micros()));
                    }
                }
            }
        }
    }
}

/// Merged ack latencies of every node.
pub fn all_acks(log: &RevokeLog) -> Latencies {
    let mut all = Latencies::default();
    for l in &log.ack {
        all.merge(l.clone());
    }
    all
}

/// Small helper for reports: µs → ms.
pub fn us_to_ms(us: u128) -> f64 {
    Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX)).as_secs_f64() * 1e3
}
