//! What the run saw: every acknowledged write with its ack time, every revocation with its
//! ack time, every `/auth` answer with its start time, every availability probe and every
//! change of which nodes form a connected majority. Times are offsets from the run's start,
//! measured in the test process (request start before sending, ack after the answer).

use std::collections::BTreeMap;
use std::time::Duration;

use super::schedule::FaultKind;

/// What a credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredKind {
    /// An NG session cookie from `POST /login`.
    Session,
    /// An OAuth2 client-credentials access token.
    Token,
}

/// Where a credential's revocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Never asked.
    None,
    /// Asked, no answer yet.
    Pending { started: Duration },
    /// Answered with success at `acked`.
    Acked { started: Duration, acked: Duration },
    /// Failed or timed out: it may or may not have happened.
    Ambiguous { started: Duration },
}

/// A credential whose creation was acknowledged.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Session or token.
    pub kind: CredKind,
    /// `Cookie` header value or bearer token.
    pub secret: String,
    /// The node that created it.
    pub node: u64,
    /// When the creation was acknowledged.
    pub acked: Duration,
    /// Its revocation.
    pub revocation: Revocation,
}

/// One `/auth` answer (status 0: no answer).
#[derive(Debug, Clone, Copy)]
pub struct AuthObs {
    /// Index into `History::creds`.
    pub cred: usize,
    /// The node asked.
    pub node: u64,
    /// Request start.
    pub start: Duration,
    /// Status (0: error or timeout).
    pub status: u16,
}

/// One availability probe: a session created through the operator API.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The node asked.
    pub node: u64,
    /// Request start.
    pub start: Duration,
    /// Answer time.
    pub end: Duration,
    /// The created session's id, when acknowledged.
    pub session: Option<String>,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct FaultEvent {
    /// What.
    pub kind: FaultKind,
    /// On which nodes (for a link: `[from, to]`).
    pub nodes: Vec<u64>,
    /// Leader when it was injected.
    pub leader: u64,
    /// Injected at.
    pub start: Duration,
    /// Healed at.
    pub end: Duration,
}

/// Operation counts.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// `POST /login` attempts / acknowledged.
    pub logins: (u64, u64),
    /// Token grants attempted / acknowledged.
    pub grants: (u64, u64),
    /// Revocations attempted / acknowledged / ambiguous (failed or timed out).
    pub revokes: (u64, u64, u64),
    /// `/auth` checks by answer: 200, 401, other status, no answer.
    pub auth: BTreeMap<String, u64>,
    /// Failed operations by kind and cause (`"login: timeout"`, `"grant: 503"`, ...).
    pub failures: BTreeMap<String, u64>,
}

/// Everything recorded during a run.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Acknowledged credentials.
    pub creds: Vec<Credential>,
    /// `/auth` answers.
    pub auth: Vec<AuthObs>,
    /// Availability probes.
    pub probes: Vec<Probe>,
    /// Injected faults.
    pub faults: Vec<FaultEvent>,
    /// (time, the connected majority then, if any): one entry per change.
    pub topology: Vec<(Duration, Option<Vec<u64>>)>,
    /// Operation counts.
    pub counts: Counts,
}

impl History {
    /// Counts an `/auth` answer by its class.
    pub fn count_auth(&mut self, status: u16) {
        let class = match status {
            0 => "no answer".to_owned(),
            200 | 401 => status.to_string(),
            other => format!("{other}"),
        };
        *self.counts.auth.entry(class).or_default() += 1;
    }

    /// Counts a failed operation.
    pub fn failed(&mut self, op: &str, cause: &str) {
        *self
            .counts
            .failures
            .entry(format!("{op}: {cause}"))
            .or_default() += 1;
    }

    /// A credential to revoke: acknowledged, never revoked, picked by `r`.
    pub fn revocable(&self, r: u64) -> Option<usize> {
        let live: Vec<usize> = (0..self.creds.len())
            .filter(|&i| self.creds.get(i).map(|c| c.revocation) == Some(Revocation::None))
            .collect();
        live.get(usize::try_from(r).ok()? % live.len().max(1))
            .copied()
    }

    /// A credential to check with `/auth`: half of the time one of the last revoked ones
    /// (where a stale 200 would show), otherwise any.
    pub fn checkable(&self, r: u64) -> Option<usize> {
        if self.creds.is_empty() {
            return None;
        }
        let revoked: Vec<usize> = (0..self.creds.len())
            .filter(|&i| {
                self.creds
                    .get(i)
                    .is_some_and(|c| c.revocation != Revocation::None)
            })
            .collect();
        let half = r.is_multiple_of(2);
        let r = usize::try_from(r / 2).unwrap_or(0);
        if half && !revoked.is_empty() {
            let recent = revoked
                .get(revoked.len().saturating_sub(8)..)
                .unwrap_or(&revoked);
            recent.get(r % recent.len().max(1)).copied()
        } else {
            Some(r % self.creds.len())
        }
    }
}
