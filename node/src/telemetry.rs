//! Logs (tracing) and metrics (Prometheus text) for the process.

use std::time::Duration;

use authd_raft::Raft;
use authd_raft::log_store::CommittedHandle;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use openraft::ServerState;

/// openraft logs every unreachable peer on every quorum round at ERROR (one per lease renewal
/// while a node is down); its core's messages are off by default, the rest at WARN.
const DEFAULT_FILTER: &str =
    "info,openraft=warn,openraft::core::raft_core=off,openraft::replication=error";

/// Structured logs to stderr; `RUST_LOG` overrides the default filter.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Install the Prometheus recorder; `/metrics` renders from the returned handle.
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `authd_state_encoded_bytes`: the replicated state's snapshot-encoded size, so operators (and
/// the `growth` benchmark) see what the state holds per node. Measured every `every` on the
/// published view, off the apply path, and only when something was applied since: O(state)
/// work, so not on every apply.
pub fn export_state_size(reader: authd_raft::sm_store::StateReader, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut measured_at = None;
        loop {
            tick.tick().await;
            let view = reader.load();
            if measured_at == Some(view.last_applied) {
                continue;
            }
            measured_at = Some(view.last_applied);
            let len = tokio::task::spawn_blocking(move || {
                authd_raft::sm_store::encoded_state_len(&view.state)
            })
            .await;
            match len {
                Ok(Ok(len)) => metrics::gauge!("authd_state_encoded_bytes").set(len as f64),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not measure the state's size"),
                Err(e) => tracing::warn!(error = %e, "state size task failed"),
            }
        }
    });
}

/// Mirror Raft's own metrics into gauges whenever they change.
pub fn export_raft_gauges(raft: Raft, committed: CommittedHandle) {
    let mut rx = raft.metrics();
    tokio::spawn(async move {
        loop {
            {
                let m = rx.borrow_and_update();
                metrics::gauge!("authd_raft_term").set(m.current_term as f64);
                metrics::gauge!("authd_raft_last_log_index")
                    .set(m.last_log_index.unwrap_or(0) as f64);
                metrics::gauge!("authd_raft_applied_index")
                    .set(m.last_applied.map_or(0, |l| l.index) as f64);
                metrics::gauge!("authd_raft_committed_index")
                    .set(committed.get().unwrap_or(0) as f64);
                metrics::gauge!("authd_raft_is_leader").set(if m.state == ServerState::Leader {
                    1.0
                } else {
                    0.0
                });
                metrics::gauge!("authd_raft_snapshot_index")
                    .set(m.snapshot.map_or(0, |l| l.index) as f64);
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
}
