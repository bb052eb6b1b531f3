//! Helpers shared by the test modules.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use authd_tests::{Cluster, NodeApi, random_hex, wait_until};
use serde_json::Value;

/// Default deadline for "a write becomes visible on another node".
pub const VISIBLE: Duration = Duration::from_secs(15);

/// A password good enough for any policy.
pub const PASSWORD: &str = "correct-horse-battery-staple-42";

/// A fresh lowercase username with a readable prefix.
pub fn uniq(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        random_hex(5).unwrap_or_else(|_| "00000".into())
    )
}

pub fn email_of(username: &str) -> String {
    format!("{username}@example.org")
}

/// Creates a user through `api` and returns its JSON (201 required).
pub async fn create_user(api: &NodeApi, username: &str) -> Result<Value> {
    let resp = api
        .create_user(username, &email_of(username), PASSWORD, false)
        .await?;
    let user = resp
        .expect(201)
        .map_err(|e| anyhow!("creating {username} through node {}: {e:#}", api.node_id))?;
    check_user_json(&user, username)?;
    Ok(user)
}

/// The user JSON has the contract's fields, the right name, and no trace of a password.
pub fn check_user_json(user: &Value, username: &str) -> Result<()> {
    for field in ["id", "username", "email", "roles"] {
        if user.get(field).is_none() {
            bail!("user JSON lacks {field:?}: {user}");
        }
    }
    if user["username"] != username {
        bail!(
            "user JSON names {} instead of {username}: {user}",
            user["username"]
        );
    }
    if user["email"] != email_of(username).as_str() {
        bail!(
            "user JSON has email {} instead of {}: {user}",
            user["email"],
            email_of(username)
        );
    }
    no_password_material(user)
}

/// Neither the password nor a hash of it, under any key.
pub fn no_password_material(v: &Value) -> Result<()> {
    let text = v.to_string();
    if text.contains(PASSWORD) || text.contains("$argon2") {
        bail!("a password or password hash leaks in {text}");
    }
    if let Some(key) = find_key(v, &|k| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k.contains("hash")
    }) {
        bail!("key {key:?} should not be served: {text}");
    }
    Ok(())
}

fn find_key(v: &Value, pred: &dyn Fn(&str) -> bool) -> Option<String> {
    match v {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if pred(k) {
                Some(k.clone())
            } else {
                find_key(v, pred)
            }
        }),
        Value::Array(a) => a.iter().find_map(|v| find_key(v, pred)),
        _ => None,
    }
}

/// Some object anywhere in `v` has `key: want`.
pub fn has_key_value(v: &Value, key: &str, want: &Value) -> bool {
    match v {
        Value::Object(map) => {
            map.get(key) == Some(want) || map.values().any(|v| has_key_value(v, key, want))
        }
        Value::Array(a) => a.iter().any(|v| has_key_value(v, key, want)),
        _ => false,
    }
}

/// An id from a JSON body as path text (ids may be strings or numbers).
pub fn id_text(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => bail!("not an id: {other}"),
    }
}

/// Waits until node `node` serves user `username` with the given id.
pub async fn wait_user_visible(
    cluster: &Cluster,
    node: u64,
    username: &str,
    id: &Value,
) -> Result<()> {
    let api = cluster.api(node);
    wait_until(
        &format!("user {username} on node {node}"),
        VISIBLE,
        || async {
            cluster.check_alive()?;
            let user = api.get_user(username).await?.expect(200)?;
            if &user["id"] != id {
                bail!(
                    "node {node} serves {username} with id {} instead of {id}",
                    user["id"]
                );
            }
            no_password_material(&user)
        },
    )
    .await
}

/// Waits until node `node` answers `status` for session `id`.
pub async fn wait_session_status(
    cluster: &Cluster,
    node: u64,
    id: &str,
    status: u16,
) -> Result<()> {
    let api = cluster.api(node);
    wait_until(
        &format!("session {id} -> HTTP {status} on node {node}"),
        VISIBLE,
        || async {
            cluster.check_alive()?;
            let resp = api.get_session(id).await?;
            if resp.status != status {
                bail!("HTTP {}: {}", resp.status, resp.body);
            }
            Ok(())
        },
    )
    .await
}
