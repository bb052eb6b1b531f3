//! The black-box test harness for authd: real `authd serve` processes on loopback ports, a
//! signed HTTP client, process control (kill -9, SIGSTOP/SIGCONT, restart) and polling
//! helpers. The integration tests (`tests/it/`) and the benchmark crate use it.
//!
//! ```ignore
//! # async fn demo() -> anyhow::Result<()> {
//! use authd_tests::{Cluster, wait_until};
//! let mut cluster = Cluster::start(3, |cfg| cfg.raft.snapshot_every = Some(500)).await?;
//! let leader = cluster.leader().await?;
//! cluster.kill(leader)?;
//! let new_leader = cluster.leader().await?; // agreed by the live nodes
//! # Ok(()) }
//! ```
//!
//! The binary comes from `$AUTHD_BIN`, else `authd` next to the test executable
//! (`target/debug/authd`); build it first (`cargo build -p authd-node`, or `.ci/run`).
//! `AUTHD_TEST_KEEP=1` keeps each cluster's directory (config, data, `nodeN.log`);
//! `AUTHD_TEST_RUST_LOG` sets the nodes' `RUST_LOG`.

pub mod browser;
pub mod client;
pub mod cluster;
pub mod config;
pub mod faults;
pub mod links;
pub mod process;
pub mod tapir;
pub mod wait;
pub mod webdriver;

pub use client::{
    ClusterInfo, Member, NodeApi, Resp, sign, sign_per_contract, unix_now, unix_now_ms,
};
pub use cluster::Cluster;
pub use config::{
    ClusterConfig, LegacySection, LoginTuning, NodeConfig, RaftTuning, Secrets, SessionsTuning,
    free_ports, random_hex, random_vec,
};
pub use links::{Links, Rule};
pub use process::{authd_bin, describe, run_authd, workspace_root};
pub use wait::{Fatal, ensure_now, wait_until};
