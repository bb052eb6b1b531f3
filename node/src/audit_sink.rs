//! Collects audit events from request handlers and replicates them in batches: a handler
//! never waits for the log, and a burst of events costs a few Raft entries, not one each.
//! Events queued when a node dies before the next flush are lost; the queue is bounded
//! (overflow is counted in `authd_audit_dropped_total`, never blocking a request).

use authd_raft::Command;
use authd_raft::audit::AuditEvent;
use tokio::sync::mpsc;

use crate::proposer::Proposer;

/// Events waiting for a flush.
const QUEUE: usize = 10_000;
/// Events per Raft command.
const BATCH: usize = 500;

/// The handlers' side of the queue.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// A sink whose events go through `proposer`.
    pub fn start(proposer: Proposer) -> AuditSink {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(flush(rx, proposer));
        AuditSink { tx }
    }

    /// Queue one event; never waits.
    pub fn record(&self, event: AuditEvent) {
        if self.tx.try_send(event).is_err() {
            metrics::counter!("authd_audit_dropped_total").increment(1);
        }
    }
}

async fn flush(mut rx: mpsc::Receiver<AuditEvent>, proposer: Proposer) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let events = std::mem::take(&mut batch);
        let n = events.len() as u64;
        match proposer.propose(Command::RecordAudit { events }).await {
            Ok(Ok(_)) => metrics::counter!("authd_audit_recorded_total").increment(n),
            Ok(Err(e)) => tracing::warn!(error = %e, events = n, "audit events refused"),
            Err(e) => {
                metrics::counter!("authd_audit_dropped_total").increment(n);
                tracing::warn!(error = %e, events = n, "audit events not recorded");
            }
        }
    }
}
