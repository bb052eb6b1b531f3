//! A small HTTP client for one node: signed operator requests, typed helpers for the
//! endpoints the tests use, and the `/api/v1/cluster` view.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The header the operator API authenticates with.
pub const SIGNATURE_HEADER: &str = "X-Authd-Signature";

/// How long one request may take before the client gives up (a paused or dead node must not
/// hang a test forever).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The signature the server checks: the CLI's own implementation.
pub use authd_web::cli_auth::sign;

/// The value of `X-Authd-Signature` for one request, written from the contract alone:
/// `t=<unix seconds>,sig=hex(HMAC-SHA256(secret, "authd-cli-v1\n{t}\n{METHOD}\n{path_and_query}\n{hex(sha256(body))}"))`.
/// The tests check that `sign` (what the CLI uses) agrees with it.
pub fn sign_per_contract(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    body: &[u8],
    unix_secs: u64,
) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    let message = format!("authd-cli-v1\n{unix_secs}\n{method}\n{path_and_query}\n{body_hash}");
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    format!("t={unix_secs},sig={sig}")
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One shared connection pool for a test (or a benchmark): cheap to clone.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(256)
        .build()
        .context("building the HTTP client")
}

/// A response, already read: status and body text.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("HTTP {}: body is not JSON: {:?}", self.status, self.body))
    }

    /// The body as JSON if the status is `want`, else an error that shows what came back.
    pub fn expect(&self, want: u16) -> Result<Value> {
        if self.status != want {
            return Err(anyhow!(
                "expected HTTP {want}, got {}: {}",
                self.status,
                self.body
            ));
        }
        self.json()
    }

    /// A string field of the JSON body (numbers are rendered as text).
    pub fn field(&self, name: &str) -> Result<String> {
        let v = self.json()?;
        match v.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            other => Err(anyhow!(
                "field {name:?} missing or not a string/number ({other:?}) in {}",
                self.body
            )),
        }
    }
}

/// One member as `/api/v1/cluster` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub id: u64,
    pub raft: String,
    pub http: String,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterInfo {
    pub node_id: u64,
    pub role: String,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub last_applied: Option<u64>,
    #[serde(default)]
    pub committed: Option<u64>,
    #[serde(default)]
    pub snapshot_index: Option<u64>,
    #[serde(default)]
    pub purged_index: Option<u64>,
    pub members: Vec<Member>,
}

impl ClusterInfo {
    pub fn is_leader(&self) -> bool {
        self.role == "leader"
    }
    pub fn applied(&self) -> u64 {
        self.last_applied.unwrap_or(0)
    }
}

/// A client for one node's public HTTP listener.
#[derive(Debug, Clone)]
pub struct NodeApi {
    pub node_id: u64,
    pub addr: SocketAddr,
    client: reqwest::Client,
    secret: Vec<u8>,
}

impl NodeApi {
    pub fn new(node_id: u64, addr: SocketAddr, client: reqwest::Client, secret: Vec<u8>) -> Self {
        NodeApi {
            node_id,
            addr,
            client,
            secret,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// The same node, signing with another secret (to test refusals).
    pub fn with_secret(&self, secret: &[u8]) -> NodeApi {
        NodeApi {
            secret: secret.to_vec(),
            ..self.clone()
        }
    }

    /// A request with an explicit signature header value (or none), for refusal tests.
    pub async fn raw(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        signature: Option<String>,
    ) -> Result<Resp> {
        let mut req = self
            .client
            .request(method.clone(), self.url(path_and_query));
        if let Some(sig) = signature {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("node {}: {method} {path_and_query}", self.node_id))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.with_context(|| {
            format!(
                "node {}: reading the body of {method} {path_and_query}",
                self.node_id
            )
        })?;
        Ok(Resp { status, body })
    }

    /// An unsigned request.
    pub async fn get(&self, path_and_query: &str) -> Result<Resp> {
        self.raw(Method::GET, path_and_query, None, None).await
    }

    /// A request signed with this client's secret, the current time and the exact body bytes.
    pub async fn signed(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Resp> {
        let bytes = match body {
            Some(v) => Some(serde_json::to_vec(v)?),
            None => None,
        };
        let sig = sign(
            &self.secret,
            method.as_str(),
            path_and_query,
            bytes.as_deref().unwrap_or(&[]),
            unix_now(),
        );
        self.raw(method, path_and_query, bytes, Some(sig)).await
    }

    pub async fn healthz(&self) -> Result<u16> {
        Ok(self.get("/healthz").await?.status)
    }

    pub async fn readyz(&self) -> Result<u16> {
        Ok(self.get("/readyz").await?.status)
    }

    pub async fn metrics(&self) -> Result<Resp> {
        self.get("/metrics").await
    }

    /// The operator's view (signed): with the members and their addresses.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let resp = self.signed(Method::GET, "/api/v1/cluster", None).await?;
        let v = resp.expect(200)?;
        serde_json::from_value(v).with_context(|| {
            format!(
                "node {}: /api/v1/cluster has an unexpected shape: {}",
                self.node_id, resp.body
            )
        })
    }

    /// `POST /api/v1/users`, returned as is (status + body).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password: &str,
        admin: bool,
    ) -> Result<Resp> {
        let body =
            json!({"username": username, "email": email, "password": password, "admin": admin});
        self.signed(Method::POST, "/api/v1/users", Some(&body))
            .await
    }

    /// `GET /api/v1/users/{id or username}`.
    pub async fn get_user(&self, key: &str) -> Result<Resp> {
        self.signed(Method::GET, &format!("/api/v1/users/{key}"), None)
            .await
    }

    /// `POST /api/v1/sessions`; `user_id` is passed through as the JSON value the user was
    /// created with (string or number).
    pub async fn create_session(&self, user_id: &Value, ttl_secs: Option<u64>) -> Result<Resp> {
        let mut body = json!({"user_id": user_id});
        if let (Some(ttl), Some(obj)) = (ttl_secs, body.as_object_mut()) {
            obj.insert("ttl_secs".into(), json!(ttl));
        }
        self.signed(Method::POST, "/api/v1/sessions", Some(&body))
            .await
    }

    pub async fn get_session(&self, id: &str) -> Result<Resp> {
        self.signed(Method::GET, &format!("/api/v1/sessions/{id}"), None)
            .await
    }

    pub async fn delete_session(&self, id: &str) -> Result<Resp> {
        self.signed(Method::DELETE, &format!("/api/v1/sessions/{id}"), None)
            .await
    }
}
