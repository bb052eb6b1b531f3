//! `cluster.toml`: typed, strict (`deny_unknown_fields`), validated before anything starts.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Why a configuration was refused; printed as one line, exit code 2.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax, unknown key, wrong type.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// Parsed, but inconsistent.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A secret is missing, unreadable or unsafe.
    #[error("{0}")]
    Secret(String),
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Development mode: inline secrets allowed, weak secrets tolerated.
    #[serde(default)]
    pub dev: bool,
    /// Where the secrets come from.
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// Raft timing and snapshot policy.
    #[serde(default)]
    pub raft: RaftTuning,
    /// Session lifetimes.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// NG session cookie attributes.
    #[serde(default)]
    pub cookies: CookiesConfig,
    /// `/auth`, JWT and redirect policy.
    #[serde(default)]
    pub web: WebConfig,
    /// Brute-force limits.
    #[serde(default)]
    pub login: crate::config_accounts::LoginConfig,
    /// Audit log bounds.
    #[serde(default)]
    pub audit: crate::config_audit::AuditConfig,
    /// Per-address limits on registration and captchas.
    #[serde(default)]
    pub register: crate::config_accounts::RegisterConfig,
    /// Outgoing mail.
    #[serde(default)]
    pub mail: crate::config_accounts::MailConfig,
    /// Password hashing pool.
    #[serde(default)]
    pub passwords: crate::config_accounts::PasswordsConfig,
    /// Upstream JWT algorithm and key rotation.
    #[serde(default)]
    pub signing: crate::config_signing::SigningConfig,
    /// OAuth2 family cap and issuance rates.
    #[serde(default)]
    pub oauth2: crate::config_oauth2::OAuth2Config,
    /// Public listener deadlines and connection cap.
    #[serde(default)]
    pub http: crate::config_http::HttpConfig,
    /// The members.
    #[serde(default)]
    pub nodes: Vec<NodeConfig>,
    /// Legacy (tapir) database: on-premises mode when present.
    #[serde(default)]
    pub legacy: Option<crate::legacy::config::LegacyConfig>,
}

/// `[cookies]` (reference §2.6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookiesConfig {
    /// Cookie name.
    pub name: String,
    /// `Domain` attribute (e.g. `arxiv.org`), host-only when absent.
    pub domain: Option<String>,
    /// `Secure`: keep on in production (HTTPS).
    pub secure: bool,
    /// `SameSite`: `Lax`, `Strict` or `None` (None requires secure).
    pub same_site: String,
}

impl Default for CookiesConfig {
    fn default() -> Self {
        CookiesConfig {
            name: "ARXIVNG_SESSION_ID".into(),
            domain: None,
            secure: true,
            same_site: "Lax".into(),
        }
    }
}

/// `[web]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Lifetime of the upstream JWT `/auth` hands out.
    pub jwt_ttl_secs: u64,
    /// `/auth` without a credential answers 401 instead of anonymous 200.
    pub require_auth: bool,
    /// Proxies (e.g. NGINX) whose `X-Real-IP` header names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// After login when no safe `next_page` is given.
    pub default_next_page: String,
    /// `next_page` may point at these hosts and their subdomains (plus any same-site path).
    pub redirect_hosts: Vec<String>,
    /// OAuth2 issuer (RFC 8414), e.g. `https://auth.arxiv.org`; required outside dev mode
    /// (`issuer::resolve`), in dev mode the node's own HTTP address by default.
    pub issuer: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            jwt_ttl_secs: 60,
            require_auth: false,
            trusted_proxies: Vec::new(),
            default_next_page: "/user".into(),
            redirect_hosts: vec!["arxiv.org".into()],
            issuer: None,
        }
    }
}

/// `[secrets]`: files (relative to the config) or, in dev mode only, inline values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// HS256 key for upstream JWTs and the NG cookie.
    pub jwt_secret_file: Option<PathBuf>,
    /// Key for the internal transport and operator requests.
    pub cluster_secret_file: Option<PathBuf>,
    /// Inline JWT secret, `dev = true` only.
    pub jwt_secret: Option<String>,
    /// Inline cluster secret, `dev = true` only.
    pub cluster_secret: Option<String>,
    /// Seed the EdDSA signing keys derive from (required for `upstream_alg = "EdDSA"`).
    pub signing_key_seed_file: Option<PathBuf>,
    /// Inline signing-key seed, `dev = true` only.
    pub signing_key_seed: Option<String>,
}

/// `[raft]`: defaults suit a LAN or loopback cluster with fsync.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTuning {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// Election timeout range; keep ≥ 3× the heartbeat.
    pub election_timeout_min_ms: u64,
    /// Upper end of the election timeout range.
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot, for slow followers.
    pub keep_after_snapshot: u64,
    /// Read lease: how long a node answers from local state without hearing from the leader.
    /// Must be below `election_timeout_min_ms` (see `lease.rs`); a revocation waits at most this
    /// long for a node that cannot confirm it.
    pub lease_ms: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_ms: 100,
            election_timeout_min_ms: 800,
            election_timeout_max_ms: 1600,
            snapshot_every: 20_000,
            keep_after_snapshot: 1_000,
            lease_ms: 500,
        }
    }
}

/// `[sessions]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Lifetime of a new session (the original's 36000 s default).
    pub ttl_secs: u64,
    /// How often the leader proposes dropping expired sessions and tokens.
    pub expire_every_secs: u64,
    /// Live sessions one user may hold; a new login ends the oldest beyond it.
    pub max_per_user: u32,
    /// How long a login form's CSRF token (made before any session) is accepted.
    pub login_csrf_ttl_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            ttl_secs: 36_000,
            expire_every_secs: 60,
            max_per_user: 100,
            login_csrf_ttl_secs: 7200,
        }
    }
}

/// One `[[nodes]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Raft node id, > 0, never reused.
    pub id: u64,
    /// Public HTTP listener.
    pub http: SocketAddr,
    /// Internal listener (Raft, write forwarding).
    pub raft: SocketAddr,
    /// Data directory, relative to the working directory.
    pub data_dir: PathBuf,
    /// Peer id → the address this node dials for that peer instead of the peer's `raft`
    /// address: a proxy on the link (the fault-injection tests cut links so). Usually absent.
    #[serde(default)]
    pub raft_via: BTreeMap<String, SocketAddr>,
}

/// A validated configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The parsed file.
    pub file: FileConfig,
    /// Directory of the config file; secret paths are relative to it.
    pub base_dir: PathBuf,
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        Config::parse(&text, path, base_dir)
    }

    /// Parse and validate config text (`path` is for messages only).
    pub fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().replace('\n', " "),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        if file.nodes.is_empty() {
            return Err(invalid("no [[nodes]] defined".into()));
        }
        let mut ids = HashSet::new();
        let mut addrs = HashSet::new();
        for n in &file.nodes {
            if n.id == 0 {
                return Err(invalid("node id 0 is reserved; ids start at 1".into()));
            }
            if !ids.insert(n.id) {
                return Err(invalid(format!("duplicate node id {}", n.id)));
            }
            for a in [n.http, n.raft] {
                if !addrs.insert(a) {
                    return Err(invalid(format!("address {a} is used twice")));
                }
            }
        }
        validate_raft_via(&file.nodes).map_err(invalid)?;
        let r = &file.raft;
        if r.heartbeat_ms == 0 || r.election_timeout_min_ms < 3 * r.heartbeat_ms {
            return Err(invalid(
                "[raft] election_timeout_min_ms must be at least 3 x heartbeat_ms (> 0)".into(),
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(invalid(
                "[raft] election_timeout_max_ms must exceed election_timeout_min_ms".into(),
            ));
        }
        if r.lease_ms <= r.heartbeat_ms || r.lease_ms >= r.election_timeout_min_ms {
            return Err(invalid(
                "[raft] lease_ms must be above heartbeat_ms and below election_timeout_min_ms"
                    .into(),
            ));
        }
        if r.snapshot_every == 0 {
            return Err(invalid("[raft] snapshot_every must be > 0".into()));
        }
        if file.web.jwt_ttl_secs == 0 || file.web.jwt_ttl_secs > 3600 {
            return Err(invalid("[web] jwt_ttl_secs must be 1..=3600".into()));
        }
        if !file.web.default_next_page.starts_with('/') {
            return Err(invalid(
                "[web] default_next_page must be a path starting with /".into(),
            ));
        }
        let c = &file.cookies;
        let cookie_token = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        };
        if !cookie_token(&c.name) || c.domain.as_deref().is_some_and(|d| !cookie_token(d)) {
            return Err(invalid(
                "[cookies] name and domain must be plain tokens (letters, digits, _ - .)".into(),
            ));
        }
        if !matches!(c.same_site.as_str(), "Lax" | "Strict" | "None")
            || (c.same_site == "None" && !c.secure)
        {
            return Err(invalid(
                "[cookies] same_site must be Lax, Strict or None (None needs secure = true)".into(),
            ));
        }
        let s = &file.sessions;
        if s.ttl_secs == 0
            || s.expire_every_secs == 0
            || s.max_per_user == 0
            || s.login_csrf_ttl_secs == 0
        {
            return Err(invalid(
                "[sessions] ttl_secs, expire_every_secs, max_per_user and login_csrf_ttl_secs must be > 0"
                    .into(),
            ));
        }
        crate::config_accounts::validate(&file.login, &file.register, &file.mail, &file.passwords)
            .map_err(invalid)?;
        crate::config_signing::validate(&file.signing).map_err(invalid)?;
        crate::config_oauth2::validate(&file.oauth2).map_err(invalid)?;
        file.audit.validate().map_err(invalid)?;
        file.http.validate().map_err(invalid)?;
        Ok(Config { file, base_dir })
    }

    /// The entry for node `id`.
    pub fn node(&self, id: u64) -> Option<&NodeConfig> {
        self.file.nodes.iter().find(|n| n.id == id)
    }
}

/// Every `raft_via` key names another node of the cluster.
fn validate_raft_via(nodes: &[NodeConfig]) -> Result<(), String> {
    for n in nodes {
        for peer in n.raft_via.keys() {
            let known = peer
                .parse::<u64>()
                .is_ok_and(|p| p != n.id && nodes.iter().any(|m| m.id == p));
            if !known {
                return Err(format!(
                    "node {}: raft_via key {peer:?} is not the id of another node",
                    n.id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const GOOD: &str = r#"
dev = true
[secrets]
cluster_secret = "x"
[[nodes]]
id = 1
http = "127.0.0.1:8081"
raft = "127.0.0.1:9081"
data_dir = "d1"
"#;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("c.toml"), PathBuf::new())
    }

    #[test]
    fn good_config_parses_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.file.raft.heartbeat_ms, 100);
        assert_eq!(c.node(1).map(|n| n.http.port()), Some(8081));
    }

    #[test]
    fn refuses_unknown_keys_duplicates_and_bad_timing() {
        let unknown = GOOD.replace("dev = true", "dev = true\nbogus = 1");
        assert!(parse(&unknown).unwrap_err().to_string().contains("bogus"));
        let dup = format!(
            "{GOOD}\n[[nodes]]\nid = 1\nhttp = \"127.0.0.1:1\"\nraft = \"127.0.0.1:2\"\ndata_dir = \"d\"\n"
        );
        assert!(
            parse(&dup)
                .unwrap_err()
                .to_string()
                .contains("duplicate node id 1")
        );
        let same_addr = format!(
            "{GOOD}\n[[nodes]]\nid = 2\nhttp = \"127.0.0.1:8081\"\nraft = \"127.0.0.1:2\"\ndata_dir = \"d\"\n"
        );
        assert!(
            parse(&same_addr)
                .unwrap_err()
                .to_string()
                .contains("used twice")
        );
        let timing = format!("{GOOD}\n[raft]\nheartbeat_ms = 100\nelection_timeout_min_ms = 200\n");
        assert!(parse(&timing).is_err());
        assert!(
            parse("dev = true")
                .unwrap_err()
                .to_string()
                .contains("no [[nodes]]")
        );
        assert!(parse("dev = ").is_err());
    }

    #[test]
    fn session_bounds_have_defaults_and_refuse_zero() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.file.sessions.max_per_user, 100);
        assert_eq!(c.file.sessions.login_csrf_ttl_secs, 7200);
        for key in ["max_per_user", "login_csrf_ttl_secs"] {
            let bad = format!("{GOOD}\n[sessions]\n{key} = 0\n");
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains("[sessions]") && e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn oauth2_bounds_have_defaults_and_refuse_zero() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.file.oauth2.max_families_per_user_client, 5);
        for key in [
            "max_families_per_user_client",
            "user_grant_burst",
            "client_grants_per_sec",
        ] {
            let bad = format!("{GOOD}\n[oauth2]\n{key} = 0\n");
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains("[oauth2]") && e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn raft_via_names_other_nodes_only() {
        let two = format!(
            "{GOOD}\n[[nodes]]\nid = 2\nhttp = \"127.0.0.1:8082\"\nraft = \"127.0.0.1:9082\"\ndata_dir = \"d2\"\n"
        );
        let via = |key: &str| {
            two.replace(
                "data_dir = \"d1\"",
                &format!("data_dir = \"d1\"\nraft_via = {{ {key} = \"127.0.0.1:19012\" }}"),
            )
        };
        let c = parse(&via("2")).unwrap();
        assert_eq!(
            c.node(1)
                .and_then(|n| n.raft_via.get("2"))
                .map(|a| a.port()),
            Some(19012)
        );
        for bad in ["1", "3", "x"] {
            let e = parse(&via(bad)).unwrap_err().to_string();
            assert!(e.contains("raft_via"), "{bad}: {e}");
        }
    }
}
