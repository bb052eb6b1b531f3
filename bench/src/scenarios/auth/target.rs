//! What the `/auth` load is aimed at: the `authd` nodes or the bare axum ceiling, with the
//! pre-formatted requests (one per session per node), the check of an answer, and how to read
//! the server's CPU (and, for `authd`, `/metrics`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use authd_tests::Cluster;
use bytes::Bytes;

use crate::http1::{self, Answer};
use crate::procs::CpuSnapshot;
use crate::scenarios::sessions::Session;
use crate::scenarios::{ClusterProbe, ProbeSnapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Authd,
    Ceiling,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Authd => "authd",
            Kind::Ceiling => "ceiling",
        }
    }
}

/// How a window's CPU (and metrics) are read.
pub enum Probe {
    Cluster(ClusterProbe),
    /// Label → PID of a process we started.
    Process(BTreeMap<u64, u32>),
}

impl Probe {
    pub async fn take(&self) -> Result<ProbeSnapshot> {
        match self {
            Probe::Cluster(p) => p.take().await,
            Probe::Process(pids) => Ok(ProbeSnapshot {
                cpu: CpuSnapshot::take(pids)?,
                metrics: BTreeMap::new(),
            }),
        }
    }
}

pub struct Target {
    pub kind: Kind,
    /// (node id, address); a connection's latency class is its node's position here.
    pub nodes: Vec<(u64, SocketAddr)>,
    /// Per node: `GET /auth` with each session's cookie.
    pub requests: Vec<Arc<[Bytes]>>,
    pub probe: Probe,
}

/// `authd`: a 200 must carry the upstream JWT in `Authorization`.
pub fn check_authd(a: &Answer) -> Result<(), String> {
    match (a.status, a.authorization) {
        (200, true) => Ok(()),
        (200, false) => Err("HTTP 200 without an Authorization header".into()),
        (s, _) => Err(format!("HTTP {s}")),
    }
}

/// The ceiling answers a bare 200.
pub fn check_ceiling(a: &Answer) -> Result<(), String> {
    match a.status {
        200 => Ok(()),
        s => Err(format!("HTTP {s}")),
    }
}

fn requests(addr: SocketAddr, sessions: &[Session]) -> Arc<[Bytes]> {
    sessions
        .iter()
        .map(|s| http1::get(addr, "/auth", &[s.header()]))
        .collect::<Vec<_>>()
        .into()
}

impl Target {
    pub fn authd(cluster: &Cluster, sessions: &[Session]) -> Result<Target> {
        let nodes: Vec<(u64, SocketAddr)> = cluster
            .node_ids()
            .into_iter()
            .map(|id| (id, cluster.api(id).addr))
            .collect();
        Ok(Target {
            kind: Kind::Authd,
            requests: nodes.iter().map(|(_, a)| requests(*a, sessions)).collect(),
            nodes,
            probe: Probe::Cluster(ClusterProbe::new(cluster)?),
        })
    }

    pub fn ceiling(addr: SocketAddr, pid: u32, sessions: &[Session]) -> Target {
        Target {
            kind: Kind::Ceiling,
            nodes: vec![(0, addr)],
            requests: vec![requests(addr, sessions)],
            probe: Probe::Process(BTreeMap::from([(0, pid)])),
        }
    }

    pub fn check(&self) -> fn(&Answer) -> Result<(), String> {
        match self.kind {
            Kind::Authd => check_authd,
            Kind::Ceiling => check_ceiling,
        }
    }

    /// Connection `k` goes to node `k mod nodes`: (class, address, requests).
    pub fn conn(&self, k: usize) -> Option<(usize, SocketAddr, Arc<[Bytes]>)> {
        let n = self.nodes.len().max(1);
        let class = k % n;
        let (_, addr) = self.nodes.get(class)?;
        Some((class, *addr, self.requests.get(class)?.clone()))
    }

    /// Node labels in class order ("1", "2", "3"; "hello" for the ceiling).
    pub fn labels(&self) -> Vec<String> {
        match self.kind {
            Kind::Authd => self.nodes.iter().map(|(id, _)| id.to_string()).collect(),
            Kind::Ceiling => vec!["hello".into()],
        }
    }
}
