//! Real browser sessions for the `/auth` scenarios: users created through the signed operator
//! API (`POST /api/v1/users`), then the login form (`GET /login` for its CSRF token, `POST /login`) on every node
//! in turn, keeping the `ARXIVNG_SESSION_ID` cookie of each 303.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use authd_tests::Cluster;
use base64::Engine as _;
use futures::StreamExt as _;

/// Password of every benchmark user (not a secret: the cluster lives for one run).
const PASSWORD: &str = "bench-password-not-secret-0123";

/// One logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Cookie name, as the node set it (`ARXIVNG_SESSION_ID` by default).
    pub name: String,
    /// Cookie value (the session JWT).
    pub value: String,
}

impl Session {
    /// `Cookie: name=value`, as a request header line.
    pub fn header(&self) -> String {
        format!("Cookie: {}={}", self.name, self.value)
    }

    /// The `session_id` claim of the cookie's JWT (for `DELETE /api/v1/sessions/{id}`); the
    /// signature is not checked here.
    pub fn session_id(&self) -> Result<String> {
        let payload = self
            .value
            .split('.')
            .nth(1)
            .ok_or_else(|| anyhow!("the session cookie is not a JWT"))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .context("decoding the cookie's JWT payload")?;
        let claims: serde_json::Value =
            serde_json::from_slice(&bytes).context("the cookie's JWT payload is not JSON")?;
        match claims.get("session_id") {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            _ => bail!("no session_id in the cookie's JWT: {claims}"),
        }
    }
}

/// Creates `n` users (through the leader) and logs in `sessions` times, round-robin over users
/// and nodes, `concurrency` logins at a time (each login is an Argon2 verification and a Raft
/// write). Returns the sessions in login order.
pub async fn login_many(
    cluster: &Cluster,
    users: usize,
    sessions: usize,
    concurrency: usize,
) -> Result<Vec<Session>> {
    let started = Instant::now();
    let leader = cluster.leader().await?;
    let api = cluster.api(leader);
    let names: Vec<String> = (0..users.max(1)).map(|i| format!("bench{i:04}")).collect();
    let created = futures::stream::iter(names.iter().map(|name| {
        let api = api.clone();
        async move {
            let resp = api
                .create_user(name, &format!("{name}@example.invalid"), PASSWORD, false)
                .await?;
            resp.expect(201)
                .with_context(|| format!("creating user {name}"))
                .map(|_| ())
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<Result<()>>>()
    .await;
    created.into_iter().collect::<Result<Vec<()>>>()?;
    let nodes = cluster.node_ids();
    let logins = (0..sessions).map(|i| {
        let node = nodes.get(i % nodes.len().max(1)).copied().unwrap_or(leader);
        let base = cluster.base_url(node);
        let name = names.get(i % names.len()).cloned().unwrap_or_default();
        async move { login(&base?, &name).await }
    });
    let out: Vec<Result<Session>> = futures::stream::iter(logins)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let out = out.into_iter().collect::<Result<Vec<Session>>>()?;
    eprintln!(
        "authd-bench: {} users, {} sessions logged in ({:.1} s)",
        names.len(),
        out.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// One login through the form at `base` (`GET /login` for the CSRF token, `POST /login`): the
/// session cookie of the 303.
pub async fn login(base: &str, username: &str) -> Result<Session> {
    let browser = authd_tests::browser::Browser::new(base)?;
    let page = browser.login(username, PASSWORD).await?;
    let cookie = page
        .set_cookie
        .iter()
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, v)| !v.is_empty() && !n.ends_with("authd_csrf"))
        .map(|(n, v)| Session {
            name: n.trim().to_owned(),
            value: v.trim().to_owned(),
        });
    match (page.status, cookie) {
        (303, Some(s)) => Ok(s),
        (status, _) => bail!(
            "login of {username} at {base}: HTTP {status} without a session cookie: {}",
            page.body.chars().take(200).collect::<String>()
        ),
    }
}
