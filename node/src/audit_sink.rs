//! Collects audit events from request handlers and replicates them in batches: a handler
//! never waits for the log, and events cost at most one Raft entry per 100 ms per node.
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
/// After the first event, wait this long for more: audit writes are not urgent, and one
/// entry per interval keeps them from taking the write path's slots from revocations.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

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
        tokio::time::sleep(GATHER).await;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
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
