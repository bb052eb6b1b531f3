//! Brute-force protection that holds across the cluster: failed logins are counted per
//! account and per client address in replicated state, so switching nodes does not reset them.
//!
//! Failures are aggregated: a failed attempt joins the node's pending counts, one task turns
//! whatever piled up into a single `RecordLoginFailures` command, and the attempt is answered
//! once that command is applied on every reachable node. A flood costs a handful of log
//! entries, and the next attempt on any node already sees the count. Attempts still being
//! checked are counted too, so a burst cannot slip many guesses past the limit at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authd_raft::Command;
use authd_raft::guard::FailureCount;
use authd_raft::sm_store::StateReader;
use tokio::sync::{Notify, oneshot};

use crate::actors::now_ms;
use crate::proposer::Proposer;

/// Limits from `[login]`.
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// Failures per account within the window that lock it.
    pub account_limit: u32,
    /// Failures per client address within the window that lock it.
    pub ip_limit: u32,
    /// Counting window.
    pub window_ms: u64,
    /// How long a lock lasts.
    pub lock_ms: u64,
}

/// The keys one attempt is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKeys {
    account: String,
    ip: Option<String>,
}

impl AttemptKeys {
    /// An existing account counts by its id (so username, e-mail and every spelling that
    /// finds it share a count); an unknown name counts by its folded form, so it locks exactly
    /// like a real one (no enumeration).
    pub fn new(account_id: Option<u64>, login: &str, ip: Option<&str>) -> AttemptKeys {
        let account = match account_id {
            Some(id) => format!("user:{id}"),
            None => format!("login:{}", login.trim().to_lowercase()),
        };
        AttemptKeys {
            account,
            ip: ip.map(authd_web::rate_limit::ip_key_str),
        }
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.account).chain(self.ip.as_ref())
    }
}

#[derive(Default)]
struct Pending {
    counts: HashMap<String, u32>,
    waiters: Vec<oneshot::Sender<()>>,
    in_flight: HashMap<String, u32>,
    /// Counts handed to a proposal that has not returned yet (not yet in the local state).
    flushing: HashMap<String, u32>,
}

/// The node's side of the replicated counters.
pub struct LoginGuard {
    policy: LoginPolicy,
    reader: StateReader,
    pending: Mutex<Pending>,
    wake: Notify,
}

/// Why an attempt may not be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The locked key (`user:<id>`, `login:<name>` or `ip:<address>`): what the lockout is of.
    pub key: String,
    /// Seconds until it may be tried again.
    pub retry_after_secs: u64,
}

/// Holds an attempt's place among those being checked; released on drop.
pub struct Attempt {
    guard: Arc<LoginGuard>,
    keys: AttemptKeys,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Ok(mut p) = self.guard.pending.lock() {
            for k in self.keys.all() {
                if let Some(n) = p.in_flight.get_mut(k) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        p.in_flight.remove(k);
                    }
                }
            }
        }
    }
}

impl LoginGuard {
    /// A guard whose flushes go through `proposer`.
    pub fn start(policy: LoginPolicy, reader: StateReader, proposer: Proposer) -> Arc<LoginGuard> {
        let g = Arc::new(LoginGuard {
            policy,
            reader,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
        });
        tokio::spawn(flusher(g.clone(), proposer));
        g
    }

    fn limit(&self, key: &str) -> u32 {
        if key.starts_with("ip:") {
            self.policy.ip_limit
        } else {
            self.policy.account_limit
        }
    }

    /// The attempt's place, or which key refuses it for how long.
    pub fn begin(self: &Arc<Self>, keys: AttemptKeys) -> Result<Attempt, Refused> {
        let now = now_ms();
        let view = self.reader.load();
        let guards = view.state.guards();
        let refused = |key: &String, retry_after_secs| Refused {
            key: key.clone(),
            retry_after_secs,
        };
        let mut p = self.pending.lock().map_err(|_| refused(&keys.account, 1))?;
        for k in keys.all() {
            let record = guards.failures(k);
            if let Some(until) = record.and_then(|f| f.locked_until(now)) {
                return Err(refused(k, until.saturating_sub(now).div_ceil(1000).max(1)));
            }
            let recorded = record.map_or(0, |f| f.count_within(now, self.policy.window_ms));
            let local =
                p.counts.get(k).copied().unwrap_or(0) + p.flushing.get(k).copied().unwrap_or(0);
            let checking = p.in_flight.get(k).copied().unwrap_or(0);
            if recorded + local + checking >= self.limit(k) {
                // The limit is reached once these finish: wait for their outcome.
                return Err(refused(k, 1));
            }
        }
        for k in keys.all() {
            *p.in_flight.entry(k.clone()).or_default() += 1;
        }
        drop(p);
        Ok(Attempt {
            guard: self.clone(),
            keys,
        })
    }

    /// Count a failure; resolves once it is recorded cluster-wide (or after a bounded wait).
    pub async fn failed(&self, attempt: Attempt) {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            for k in attempt.keys.all() {
                *p.counts.entry(k.clone()).or_default() += 1;
            }
            p.waiters.push(tx);
        }
        drop(attempt);
        self.wake.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
    }

    /// After a success: forget the account's failures, if it had any.
    pub fn succeeded(&self, attempt: &Attempt, proposer: &Proposer) {
        let key = attempt.keys.account.clone();
        let had = self.reader.load().state.guards().failures(&key).is_some();
        if had {
            let proposer = proposer.clone();
            tokio::spawn(async move {
                let _ = proposer.propose(Command::ClearLoginFailures { key }).await;
            });
        }
    }
}

async fn flusher(g: Arc<LoginGuard>, proposer: Proposer) {
    loop {
        g.wake.notified().await;
        let (counts, waiters) = match g.pending.lock() {
            Ok(mut p) => {
                let counts = std::mem::take(&mut p.counts);
                for (k, n) in &counts {
                    *p.flushing.entry(k.clone()).or_default() += n;
                }
                (counts, std::mem::take(&mut p.waiters))
            }
            Err(_) => return,
        };
        if counts.is_empty() {
            continue;
        }
        let flushed = counts.clone();
        let counts: Vec<FailureCount> = counts
            .into_iter()
            .map(|(key, count)| FailureCount {
                limit: g.limit(&key),
                key,
                count,
            })
            .collect();
        let n = counts.len();
        let cmd = Command::RecordLoginFailures {
            now_ms: now_ms(),
            window_ms: g.policy.window_ms,
            lock_ms: g.policy.lock_ms,
            counts,
        };
        match proposer.propose(cmd).await {
            Ok(Ok(authd_raft::Applied::Locked(locked))) if locked > 0 => {
                tracing::warn!(locked, "login failures locked accounts or addresses");
                metrics::counter!("authd_login_lockouts_total").increment(locked);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, keys = n, "login failures not recorded"),
        }
        if let Ok(mut p) = g.pending.lock() {
            for (k, n) in flushed {
                if let Some(f) = p.flushing.get_mut(&k) {
                    *f = f.saturating_sub(n);
                    if *f == 0 {
                        p.flushing.remove(&k);
                    }
                }
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}
