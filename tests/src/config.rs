//! Writing and reading `cluster.toml` files, and finding free loopback ports.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

/// `[raft]` tuning; `None` leaves the binary's default. Keys the harness does not know go in
/// `extra` (e.g. `lease_ms`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RaftTuning {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_timeout_min_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_timeout_max_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u64>,
    /// Entries kept in the log behind a snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_after_snapshot: Option<u64>,
    #[serde(flatten)]
    pub extra: toml::Table,
}

impl RaftTuning {
    fn is_empty(&self) -> bool {
        self.heartbeat_ms.is_none()
            && self.election_timeout_min_ms.is_none()
            && self.election_timeout_max_ms.is_none()
            && self.snapshot_every.is_none()
            && self.keep_after_snapshot.is_none()
            && self.extra.is_empty()
    }
}

/// `[sessions]`; `None` leaves the binary's default.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionsTuning {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_every_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_user: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_csrf_ttl_secs: Option<u64>,
}

impl SessionsTuning {
    fn is_empty(&self) -> bool {
        self.ttl_secs.is_none()
            && self.expire_every_secs.is_none()
            && self.max_per_user.is_none()
            && self.login_csrf_ttl_secs.is_none()
    }
}

/// `[secrets]`.
#[derive(Debug, Clone, Serialize)]
pub struct Secrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_secret: Option<String>,
    /// The EdDSA keys' seed (inline: the harness runs `dev = true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_seed: Option<String>,
}

/// One `[[nodes]]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct NodeConfig {
    pub id: u64,
    pub http: SocketAddr,
    pub raft: SocketAddr,
    /// Relative to the working directory (the cluster's temp dir).
    pub data_dir: String,
    /// Peer id → where this node dials that peer instead of its `raft` address (a link
    /// proxy, see `crate::links`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raft_via: BTreeMap<String, SocketAddr>,
}

/// A whole `cluster.toml`, as the harness generates it. Tests change it through the `tweak`
/// closure of `Cluster::start`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterConfig {
    pub dev: bool,
    pub secrets: Secrets,
    #[serde(skip_serializing_if = "RaftTuning::is_empty")]
    pub raft: RaftTuning,
    #[serde(skip_serializing_if = "SessionsTuning::is_empty")]
    pub sessions: SessionsTuning,
    /// `[login]` brute-force limits; the binary's defaults when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginTuning>,
    /// `[legacy]`: legacy (tapir) mode when set (see `crate::tapir`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy: Option<LegacySection>,
    /// `[web]` keys (e.g. `jwt_ttl_secs`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub web: toml::Table,
    /// `[mail]` keys (e.g. `max_per_address`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub mail: toml::Table,
    /// `[audit]` keys (e.g. `security_entries`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub audit: toml::Table,
    /// `[signing]` keys (e.g. `upstream_alg = "EdDSA"`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub signing: toml::Table,
    /// `[oauth2]` keys (e.g. `max_families_per_user_client`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub oauth2: toml::Table,
    /// `[register]` keys (e.g. `max_posts_per_ip`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub register: toml::Table,
    /// `[http]` keys (e.g. `header_read_timeout_secs`); the binary's defaults when empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub http: toml::Table,
    pub nodes: Vec<NodeConfig>,
    /// `RUST_LOG` for every node of this cluster (not part of the file); overrides
    /// `AUTHD_TEST_RUST_LOG`.
    #[serde(skip)]
    pub rust_log: Option<String>,
}

/// `[legacy]` (dev mode: inline cookie secret).
#[derive(Debug, Clone, Serialize)]
pub struct LegacySection {
    pub database_url: String,
    pub cookie_secret: String,
    pub session_duration: u64,
}

/// `[login]`.
#[derive(Debug, Clone, Serialize)]
pub struct LoginTuning {
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub window_secs: u64,
    pub lockout_secs: u64,
}

impl ClusterConfig {
    /// `n` nodes (ids 1..=n) on free loopback ports, fresh random secrets, `dev = true`, and
    /// the binary's default Raft timings (the tests exercise what operators run).
    pub fn generate(n: u64) -> Result<ClusterConfig> {
        let ports = free_ports(2 * n as usize)?;
        let mut nodes = Vec::new();
        for (i, pair) in ports.chunks(2).enumerate() {
            let id = i as u64 + 1;
            let (http, raft) = match pair {
                [h, r] => (*h, *r),
                _ => bail!("free_ports returned an odd number of ports"),
            };
            nodes.push(NodeConfig {
                id,
                http: loopback(http),
                raft: loopback(raft),
                data_dir: format!("authd-data/node{id}"),
                raft_via: BTreeMap::new(),
            });
        }
        Ok(ClusterConfig {
            dev: true,
            secrets: Secrets {
                jwt_secret: Some(format!("test-jwt-{}", random_hex(24)?)),
                cluster_secret: Some(format!("test-cluster-{}", random_hex(24)?)),
                signing_key_seed: Some(format!("test-seed-{}", random_hex(24)?)),
            },
            raft: RaftTuning::default(),
            sessions: SessionsTuning::default(),
            login: None,
            legacy: None,
            web: toml::Table::new(),
            mail: toml::Table::new(),
            audit: toml::Table::new(),
            signing: toml::Table::new(),
            oauth2: toml::Table::new(),
            register: toml::Table::new(),
            http: toml::Table::new(),
            rust_log: None,
            nodes,
        })
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).context("rendering the cluster config as TOML")
    }
}

/// What the harness needs to know of a config it did not write.
#[derive(Debug, Clone)]
pub struct ParsedConfig {
    pub nodes: Vec<NodeConfig>,
    /// The cluster secret (inline, or read from `cluster_secret_file` relative to the
    /// config's directory, trailing newlines trimmed), if the file names one.
    pub cluster_secret: Option<Vec<u8>>,
}

/// Reads the nodes and the cluster secret out of a config text. `config_dir` resolves
/// `cluster_secret_file`.
pub fn parse_config(text: &str, config_dir: &Path) -> Result<ParsedConfig> {
    let table: toml::Table = toml::from_str(text).context("parsing the config as TOML")?;
    let mut nodes = Vec::new();
    if let Some(list) = table.get("nodes").and_then(|v| v.as_array()) {
        for node in list {
            let get_str = |key: &str| -> Result<String> {
                node.get(key)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("a [[nodes]] entry lacks a string {key:?}"))
            };
            let id = node
                .get("id")
                .and_then(|v| v.as_integer())
                .ok_or_else(|| anyhow!("a [[nodes]] entry lacks an integer id"))?;
            nodes.push(NodeConfig {
                id: u64::try_from(id).context("negative node id")?,
                http: get_str("http")?.parse().context("bad http address")?,
                raft: get_str("raft")?.parse().context("bad raft address")?,
                data_dir: get_str("data_dir").unwrap_or_default(),
                raft_via: BTreeMap::new(),
            });
        }
    }
    let secrets = table.get("secrets");
    let inline = secrets
        .and_then(|s| s.get("cluster_secret"))
        .and_then(|v| v.as_str())
        .map(|s| s.as_bytes().to_vec());
    let from_file = match secrets
        .and_then(|s| s.get("cluster_secret_file"))
        .and_then(|v| v.as_str())
    {
        Some(file) => {
            let path = config_dir.join(file);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Some(trim_newlines(&bytes).to_vec())
        }
        None => None,
    };
    Ok(ParsedConfig {
        nodes,
        cluster_secret: from_file.or(inline),
    })
}

/// Trailing `\n`/`\r` are not part of a secret file's secret (as the node reads it).
fn trim_newlines(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0
        && bytes
            .get(end - 1)
            .is_some_and(|b| *b == b'\n' || *b == b'\r')
    {
        end -= 1;
    }
    bytes.get(..end).unwrap_or(bytes)
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// `n` distinct loopback ports that were free a moment ago.
///
/// Ports are taken *below* the kernel's ephemeral range when it can be read: a port found by
/// binding port 0 lies inside that range, and in the gap before the node binds it, any
/// outgoing connection of the test (or of another node) may pick it as its source port. No
/// port is handed out twice by one process.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut guard = HANDED_OUT
        .lock()
        .map_err(|_| anyhow!("port registry poisoned"))?;
    let handed_out = guard.get_or_insert_with(HashSet::new);

    let (lo, hi) = non_ephemeral_range();
    let span = u32::from(hi - lo);
    let mut seed = u32::from_le_bytes(random_bytes::<4>()?);
    let mut held = Vec::new(); // keep them bound until all n are found: no duplicates
    let mut ports = Vec::new();
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        if tries > 20_000 {
            bail!("could not find {n} free loopback ports in {lo}..{hi}");
        }
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let port = lo + (seed % span) as u16;
        if handed_out.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(loopback(port)) {
            handed_out.insert(port);
            held.push(listener);
            ports.push(port);
        }
    }
    Ok(ports)
}

/// A port range outside the ephemeral one (`ip_local_port_range`), falling back to a fixed
/// range when it cannot be read.
fn non_ephemeral_range() -> (u16, u16) {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        });
    match low {
        Some(low) if low > 12_000 => (10_000, low - 1),
        _ => (20_000, 30_000),
    }
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| anyhow!("getrandom: {e}"))?;
    Ok(buf)
}

pub fn random_vec(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow!("getrandom: {e}"))?;
    Ok(buf)
}

pub fn random_hex(n_bytes: usize) -> Result<String> {
    Ok(hex::encode(random_vec(n_bytes)?))
}
