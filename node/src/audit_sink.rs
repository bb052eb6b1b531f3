//! Collects audit events from request handlers and replicates them in batches: a handler
//! never waits for the log, and events cost at most one Raft entry per 100 ms per node.
//! Repeats of a pending event (same action, actor, target, address and outcome) only raise
//! its count, and each class has its own share of the queue, so a flood of refusals neither
//! grows the queue nor crowds out an admin action. Events queued when a node dies before the
//! next flush are lost; overflow is counted in `authd_audit_dropped_total`, never blocking a
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use authd_raft::Command;
use authd_raft::audit::{AuditBounds, AuditClass, AuditEvent};
use tokio::sync::Notify;

use crate::proposer::Proposer;

/// Distinct events waiting for a flush, per class.
const QUEUE: usize = 10_000;
/// Events per Raft command.
const BATCH: usize = 500;
/// After the first event, wait this long for more: audit writes are not urgent, and one
/// entry per interval keeps them from taking the write path's slots from revocations.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Default)]
struct Pending {
    events: Vec<AuditEvent>,
    /// Merge key → position in `events`.
    index: HashMap<u64, usize>,
    /// Events held per class.
    held: HashMap<AuditClass, usize>,
}

impl Pending {
    fn add(&mut self, event: AuditEvent) -> bool {
        let key = event.merge_key();
        if let Some(k) = key
            && let Some(e) = self.index.get(&k).and_then(|i| self.events.get_mut(*i))
            && e.same_kind(&event)
        {
            e.count = e.count.saturating_add(event.count.max(1));
            return true;
        }
        let held = self.held.entry(event.class).or_default();
        if *held >= QUEUE {
            return false;
        }
        *held += 1;
        if let Some(k) = key {
            self.index.insert(k, self.events.len());
        }
        self.events.push(event);
        true
    }
}

/// The handlers' side of the queue.
#[derive(Clone)]
pub struct AuditSink {
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
}

impl AuditSink {
    /// A sink whose events go through `proposer`, bounded in the log by `bounds`.
    pub fn start(proposer: Proposer, bounds: AuditBounds) -> AuditSink {
        let sink = AuditSink {
            pending: Arc::default(),
            wake: Arc::new(Notify::new()),
        };
        tokio::spawn(flush(sink.clone(), proposer, bounds));
        sink
    }

    /// Queue one event; never waits.
    pub fn record(&self, event: AuditEvent) {
        let queued = self.pending.lock().is_ok_and(|mut p| p.add(event));
        if queued {
            self.wake.notify_one();
        } else {
            metrics::counter!("authd_audit_dropped_total").increment(1);
        }
    }

    fn take(&self) -> Vec<AuditEvent> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p).events)
            .unwrap_or_default()
    }
}

async fn flush(sink: AuditSink, proposer: Proposer, bounds: AuditBounds) {
    loop {
        sink.wake.notified().await;
        tokio::time::sleep(GATHER).await;
        let events = sink.take();
        for chunk in events.chunks(BATCH) {
            let n = chunk.len() as u64;
            let cmd = Command::RecordAudit {
                events: chunk.to_vec(),
                bounds,
            };
            match proposer.propose(cmd).await {
                Ok(Ok(_)) => metrics::counter!("authd_audit_recorded_total").increment(n),
                Ok(Err(e)) => tracing::warn!(error = %e, events = n, "audit events refused"),
                Err(e) => {
                    metrics::counter!("authd_audit_dropped_total").increment(n);
                    tracing::warn!(error = %e, events = n, "audit events not recorded");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(class: AuditClass, target: &str) -> AuditEvent {
        AuditEvent {
            time_ms: 1,
            actor: "-".into(),
            action: "lockout".into(),
            target: target.into(),
            ip: "10.0.0.1".into(),
            outcome: "locked".into(),
            class,
            count: 1,
        }
    }

    #[test]
    fn repeats_raise_a_count_and_each_class_has_its_own_share() {
        let mut p = Pending::default();
        for _ in 0..50_000 {
            assert!(p.add(ev(AuditClass::Security, "ip:10.0.0.1")));
        }
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events.first().map(|e| e.count), Some(50_000));
        for i in 0..QUEUE + 10 {
            p.add(ev(AuditClass::Security, &format!("user:{i}")));
        }
        assert_eq!(p.events.len(), QUEUE);
        assert!(
            p.add(ev(AuditClass::Admin, "role_grant")),
            "admin has its own share"
        );
        assert!(p.add(ev(AuditClass::Admin, "role_grant")));
        assert_eq!(p.events.len(), QUEUE + 2, "admin actions are never merged");
    }
}
