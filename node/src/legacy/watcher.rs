//! The leader's legacy loop, every 200 ms:
//! - legacy logouts: tapir rows whose `end_time` was set (by the legacy site) and that are
//!   linked to a live authd session → one `EndTapirSessions` command (revocation), so `/auth`
//!   stops accepting them well within a second;
//! - write-back: tapir rows in the outbox (authd logout, end session, suspension) get
//!   `end_time = now - 1`, then leave the outbox. While the database is down both wait.

use std::sync::Arc;
use std::time::Duration;

use authd_legacy::TapirStore;
use authd_raft::{Command, Raft};
use openraft::ServerState;

use super::LegacyMode;
use crate::actors::now_ms;

const PERIOD: Duration = Duration::from_millis(200);
/// Rows whose end time is this far before the last successful poll are looked at again
/// (late commits on the legacy side, clock differences).
const SLACK_SECS: u64 = 60;

/// Run the loop for the life of the process (it acts only while this node leads).
pub fn spawn_watcher(mode: Arc<LegacyMode>, raft: Raft) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // First look back over every session that could still be live.
        let mut since = (now_ms() / 1000).saturating_sub(mode.duration_secs);
        let mut healthy = true;
        loop {
            tick.tick().await;
            if raft.metrics().borrow().state != ServerState::Leader {
                continue;
            }
            let ok = mode.watch_once(&mut since).await;
            if ok != healthy {
                if ok {
                    tracing::info!("legacy database reachable again");
                } else {
                    tracing::warn!("legacy database unreachable: legacy logouts wait");
                }
                healthy = ok;
            }
        }
    });
}

impl LegacyMode {
    /// One round; whether the database answered.
    async fn watch_once(&self, since: &mut u64) -> bool {
        let now = now_ms() / 1000;
        let ended = match self
            .db
            .ended_between(since.saturating_sub(SLACK_SECS), now)
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e, "legacy watcher");
                return false;
            }
        };
        let linked: Vec<u64> = {
            let view = self.deps.reader.load();
            let links = view.state.tapir();
            ended
                .into_iter()
                .filter(|id| links.session_of(*id).is_some())
                .collect()
        };
        if !linked.is_empty() {
            let n = linked.len();
            match self
                .deps
                .ended(Command::EndTapirSessions {
                    tapir_ids: linked,
                    by_legacy: true,
                })
                .await
            {
                Ok(ended) => {
                    tracing::info!(sessions = ended, rows = n, "legacy logouts replicated")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "legacy logouts not replicated yet");
                    return true;
                }
            }
        }
        *since = now;
        let outbox = self.deps.reader.load().state.tapir().outbox();
        if outbox.is_empty() {
            return true;
        }
        let mut written = Vec::new();
        for id in outbox {
            match self.db.end_session(id, now).await {
                Ok(_) => written.push(id),
                Err(_) => break,
            }
        }
        let any = !written.is_empty();
        if any
            && let Err(e) = self
                .deps
                .ended(Command::TapirEndsWritten { tapir_ids: written })
                .await
        {
            tracing::warn!(error = %e, "legacy write-back not recorded yet");
        }
        any
    }
}
