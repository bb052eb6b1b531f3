//! The operator CLI's side: signed requests to a live node (never the data files).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::Target;
use crate::config::Config;
use crate::secrets;

/// HTTP base URLs to try, in order, and the secret to sign with.
pub struct Endpoint {
    urls: Vec<String>,
    secret: Vec<u8>,
}

/// The quick-start node (`authd serve` with no arguments).
pub const QUICKSTART_HTTP: &str = "127.0.0.1:8080";
/// Its raft listener.
pub const QUICKSTART_RAFT: &str = "127.0.0.1:8090";
/// Its data directory.
pub const QUICKSTART_DIR: &str = "authd-data";

impl Endpoint {
    /// Resolve `--config`/`--node` (config errors are returned as [`crate::config::ConfigError`]).
    pub fn resolve(t: &Target) -> Result<Endpoint, crate::config::ConfigError> {
        match &t.config {
            None => {
                let s = secrets::load_or_create_dev(Path::new(QUICKSTART_DIR))?;
                Ok(Endpoint {
                    urls: vec![format!("http://{QUICKSTART_HTTP}")],
                    secret: s.cluster,
                })
            }
            Some(path) => {
                let cfg = Config::load(path)?;
                let s = secrets::load(&cfg)?;
                let urls = cfg
                    .file
                    .nodes
                    .iter()
                    .filter(|n| t.node.is_none_or(|id| id == n.id))
                    .map(|n| format!("http://{}", n.http))
                    .collect::<Vec<_>>();
                if urls.is_empty() {
                    return Err(crate::config::ConfigError::Invalid {
                        path: PathBuf::from(path),
                        message: format!("node {:?} is not in the configuration", t.node),
                    });
                }
                Ok(Endpoint {
                    urls,
                    secret: s.cluster,
                })
            }
        }
    }

    /// Send a signed request to the first node that answers; return its JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let bytes = body
            .map(|b| serde_json::to_vec(&b))
            .transpose()?
            .unwrap_or_default();
        let mut last_err = anyhow!("no node configured");
        for base in &self.urls {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            let sig = authd_web::cli_auth::sign(&self.secret, method.as_str(), path, &bytes, now);
            let req = client
                .request(method.clone(), format!("{base}{path}"))
                .header(authd_web::cli_auth::HEADER, sig)
                .header("content-type", "application/json")
                .body(bytes.clone());
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    let value: Value =
                        serde_json::from_str(&text).unwrap_or(json!({ "body": text }));
                    if !status.is_success() {
                        let reason = value
                            .get("reason")
                            .and_then(Value::as_str)
                            .unwrap_or("request failed");
                        bail!("{base}: {status}: {reason}");
                    }
                    return Ok(value);
                }
                Err(e) => last_err = anyhow!("{base}: {e}"),
            }
        }
        Err(last_err)
    }
}

/// `authd user add`
pub async fn user_add(
    ep: &Endpoint,
    username: &str,
    email: &str,
    admin: bool,
) -> anyhow::Result<Value> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&password);
    if password.is_empty() {
        bail!("empty password on standard input");
    }
    let body =
        json!({ "username": username, "email": email, "password": password, "admin": admin });
    ep.call(reqwest::Method::POST, "/api/v1/users", Some(body))
        .await
}

/// `authd cluster status`
pub async fn cluster_status(ep: &Endpoint) -> anyhow::Result<Value> {
    ep.call(reqwest::Method::GET, "/api/v1/cluster", None).await
}

/// Send a membership change to the leader (found through any node's cluster status).
async fn to_leader(
    ep: &Endpoint,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let status = cluster_status(ep).await?;
    let leader = status
        .get("leader_id")
        .and_then(Value::as_u64)
        .context("the cluster has no leader right now")?;
    let http = status
        .get("members")
        .and_then(Value::as_array)
        .and_then(|ms| {
            ms.iter()
                .find(|m| m.get("id").and_then(Value::as_u64) == Some(leader))
        })
        .and_then(|m| m.get("http"))
        .and_then(Value::as_str)
        .context("the leader is not in the membership")?;
    let leader_ep = Endpoint {
        urls: vec![format!("http://{http}")],
        secret: ep.secret.clone(),
    };
    leader_ep.call(method, path, body).await
}

/// `authd cluster add-node`
pub async fn add_node(ep: &Endpoint, id: u64, raft: &str, http: &str) -> anyhow::Result<Value> {
    let body = json!({ "id": id, "raft": raft, "http": http });
    to_leader(
        ep,
        reqwest::Method::POST,
        "/api/v1/cluster/members",
        Some(body),
    )
    .await
}

/// `authd cluster remove-node`
pub async fn remove_node(ep: &Endpoint, id: u64) -> anyhow::Result<Value> {
    to_leader(
        ep,
        reqwest::Method::DELETE,
        &format!("/api/v1/cluster/members/{id}"),
        None,
    )
    .await
}

/// `authd client add`
pub async fn client_add(ep: &Endpoint, body: Value) -> anyhow::Result<Value> {
    ep.call(reqwest::Method::POST, "/api/v1/clients", Some(body))
        .await
}

/// `authd client list`: follows `next` until the last page.
pub async fn client_list(ep: &Endpoint) -> anyhow::Result<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/clients?limit=500&after={a}"),
            None => "/api/v1/clients?limit=500".to_owned(),
        };
        let page = ep.call(reqwest::Method::GET, &path, None).await?;
        if let Some(items) = page.get("items").and_then(Value::as_array) {
            all.extend(items.iter().cloned());
        }
        match page.get("next").and_then(Value::as_str) {
            Some(n) if n.bytes().all(|b| b.is_ascii_hexdigit()) => after = Some(n.to_owned()),
            _ => break,
        }
    }
    Ok(json!({ "items": all }))
}

/// `authd client revoke`
pub async fn client_revoke(ep: &Endpoint, client: &str) -> anyhow::Result<Value> {
    if !client
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("client id {client:?} is not a valid identifier");
    }
    ep.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/clients/{client}"),
        None,
    )
    .await
}
