//! The availability probe: a session created through the operator API every 250 ms on a node
//! of the connected majority, whatever the faults; `check::check_availability` reads it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::sync::watch;

use super::history::Probe;
use super::load::{Load, OP_TIMEOUT, cause};

/// How often the availability probe writes.
const PROBE_EVERY: Duration = Duration::from_millis(250);

impl Load {
    /// The availability probe: every `PROBE_EVERY`, one session created through a node of the
    /// connected majority (in turn), whatever the faults. Attempts overlap, so one that hangs
    /// on a node does not delay the next.
    pub async fn probe(self: Arc<Self>, majority: watch::Receiver<Option<Vec<u64>>>) {
        let mut turn = 0usize;
        let mut tick = tokio::time::interval(PROBE_EVERY);
        let mut attempts = Vec::new();
        while !self.stopped() {
            tick.tick().await;
            turn += 1;
            let nodes = majority.borrow().clone().unwrap_or_default();
            let id = match nodes.get(turn % nodes.len().max(1)) {
                Some(id) => *id,
                None => match self.targets.get(turn % self.targets.len().max(1)) {
                    Some(t) => t.id,
                    None => return,
                },
            };
            attempts.push(tokio::spawn(self.clone().probe_once(id)));
        }
        futures::future::join_all(attempts).await;
    }

    async fn probe_once(self: Arc<Self>, id: u64) {
        let Some(node) = self.targets.iter().find(|t| t.id == id) else {
            return;
        };
        let start = self.now();
        let body = json!({"user_id": self.probe_user});
        let call = node
            .api
            .signed(Method::POST, "/api/v1/sessions", Some(&body));
        let session = match tokio::time::timeout(OP_TIMEOUT, call).await {
            Ok(Ok(r)) if r.status == 201 => r
                .json()
                .ok()
                .and_then(|v| v["session_id"].as_str().map(str::to_owned)),
            Ok(Ok(r)) => {
                self.record(|h| h.failed("probe", &format!("HTTP {}", r.status)));
                None
            }
            Ok(Err(e)) => {
                self.record(|h| h.failed("probe", &cause(&e)));
                None
            }
            Err(_) => {
                self.record(|h| h.failed("probe", "timeout"));
                None
            }
        };
        let end = self.now();
        self.record(|h| {
            h.probes.push(Probe {
                node: id,
                start,
                end,
                session,
            })
        });
    }
}
