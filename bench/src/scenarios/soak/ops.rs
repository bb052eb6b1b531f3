//! The soak's write operations and the pools that keep its live data bounded.
//!
//! Every creation (a login through the form, a session created through the signed API, a
//! token grant) adds its credential to a FIFO pool; once a pool holds more than its cap, each
//! new credential pushes the oldest one out, and that one is ended (`DELETE
//! /api/v1/sessions/{id}`, `POST /oauth2/revoke`). So revocations run at the creation rate and
//! the live data stays at the cap. A failed revocation puts the credential back at the front
//! of its pool (it is retried with the next creation), so a fault never leaks live data.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use authd_tests::{Cluster, NodeApi};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use crate::scenarios::sessions;

/// The operations of the mix (`/auth` is driven separately, see `auth_load.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `GET /auth` with a valid cookie (open loop on every node).
    Auth,
    /// `GET /login` + `POST /login` (an Argon2id verification and a replicated session).
    Login,
    /// Signed `POST /api/v1/sessions`.
    Create,
    /// Signed `DELETE /api/v1/sessions/{id}` of the oldest pooled session.
    EndSession,
    /// `POST /oauth2/token` (client credentials).
    Grant,
    /// `POST /oauth2/revoke` of the oldest pooled token.
    RevokeToken,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 6] = [
        Op::Auth,
        Op::Login,
        Op::Create,
        Op::EndSession,
        Op::Grant,
        Op::RevokeToken,
    ];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Op::Auth => "auth",
            Op::Login => "login",
            Op::Create => "create",
            Op::EndSession => "end-session",
            Op::Grant => "grant",
            Op::RevokeToken => "revoke-token",
        }
    }
}

/// A pooled credential; `retried` once a revocation of it failed (a 404 then means an
/// earlier attempt did end it).
type Pooled = (String, bool);

/// What the operations need: node addresses, the signed API, the OAuth2 client, the pools.
pub struct Ctx {
    apis: Vec<NodeApi>,
    bases: Vec<String>,
    http: reqwest::Client,
    token_urls: Arc<[reqwest::Url]>,
    revoke_urls: Arc<[reqwest::Url]>,
    basic: HeaderValue,
    users: Vec<(String, u64)>,
    sessions: Mutex<VecDeque<Pooled>>,
    tokens: Mutex<VecDeque<Pooled>>,
    /// Pool caps: (sessions, tokens).
    pub caps: (usize, usize),
    next: AtomicU64,
}

/// The result of one operation: `Ok(Some(credential))` for a creation to pool.
pub type Outcome = Result<Option<String>, String>;

impl Ctx {
    /// `users` are (username, id) of accounts with the benchmark password; `basic` is the
    /// OAuth2 client's `Authorization: Basic` value.
    pub fn new(
        cluster: &Cluster,
        users: Vec<(String, u64)>,
        basic: HeaderValue,
        caps: (usize, usize),
    ) -> Result<Ctx> {
        let ids = cluster.node_ids();
        Ok(Ctx {
            apis: ids.iter().map(|id| cluster.api(*id)).collect(),
            bases: ids
                .iter()
                .map(|id| cluster.base_url(*id))
                .collect::<Result<_>>()?,
            http: crate::scenarios::bench_client(256)?,
            token_urls: crate::scenarios::node_urls(cluster, "/oauth2/token")?,
            revoke_urls: crate::scenarios::node_urls(cluster, "/oauth2/revoke")?,
            basic,
            users,
            sessions: Mutex::default(),
            tokens: Mutex::default(),
            caps,
            next: AtomicU64::new(0),
        })
    }

    /// The same nodes and users with another OAuth2 client and empty, uncapped pools (the
    /// calibration's: it measures creations and revocations apart).
    pub fn calibration(&self, basic: HeaderValue) -> Ctx {
        Ctx {
            apis: self.apis.clone(),
            bases: self.bases.clone(),
            http: self.http.clone(),
            token_urls: self.token_urls.clone(),
            revoke_urls: self.revoke_urls.clone(),
            basic,
            users: self.users.clone(),
            sessions: Mutex::default(),
            tokens: Mutex::default(),
            caps: (usize::MAX, usize::MAX),
            next: AtomicU64::new(0),
        }
    }

    /// Pooled (sessions, tokens).
    pub fn pooled(&self) -> (usize, usize) {
        let len = |m: &Mutex<VecDeque<Pooled>>| m.lock().map(|q| q.len()).unwrap_or(0);
        (len(&self.sessions), len(&self.tokens))
    }

    fn pool(&self, op: Op) -> &Mutex<VecDeque<Pooled>> {
        match op {
            Op::Grant | Op::RevokeToken => &self.tokens,
            _ => &self.sessions,
        }
    }

    /// Pools a created credential; returns the revocations to run if the pool is over its cap
    /// (at most two per creation, so a pool that grew while revocations failed shrinks back).
    pub fn add(&self, op: Op, credential: String) -> Vec<(Op, Pooled)> {
        let (pool, cap, revoke) = match op {
            Op::Grant => (&self.tokens, self.caps.1, Op::RevokeToken),
            _ => (&self.sessions, self.caps.0, Op::EndSession),
        };
        let Ok(mut q) = pool.lock() else {
            return Vec::new();
        };
        q.push_back((credential, false));
        let mut out = Vec::new();
        while q.len() > cap && out.len() < 2 {
            out.extend(q.pop_front().map(|p| (revoke, p)));
        }
        out
    }

    /// The oldest pooled credential for `revoke` (calibration drains the pools this way).
    pub fn take_oldest(&self, revoke: Op) -> Option<Pooled> {
        self.pool(revoke).lock().ok()?.pop_front()
    }

    /// Puts back a credential whose revocation failed, to be ended next.
    pub fn put_back(&self, revoke: Op, credential: String) {
        if let Ok(mut q) = self.pool(revoke).lock() {
            q.push_front((credential, true));
        }
    }

    fn node(&self) -> usize {
        let n = self.apis.len().max(1) as u64;
        usize::try_from(self.next.fetch_add(1, Ordering::Relaxed) % n).unwrap_or(0)
    }

    /// Runs one creation (`Login`, `Create`, `Grant`) on the next node in turn.
    pub async fn create(&self, op: Op) -> Outcome {
        let k = self.node();
        let seq = self.next.load(Ordering::Relaxed) as usize;
        let (name, uid) = self
            .users
            .get(seq % self.users.len().max(1))
            .cloned()
            .ok_or_else(|| "no users".to_owned())?;
        match op {
            Op::Login => {
                let base = self.bases.get(k).ok_or("no node")?;
                let s = sessions::login(base, &name)
                    .await
                    .map_err(|e| format!("node #{k}: {e:#}"))?;
                s.session_id().map(Some).map_err(|e| format!("{e:#}"))
            }
            Op::Create => {
                let api = self.apis.get(k).ok_or("no node")?;
                let resp = api
                    .create_session(&serde_json::json!(uid), None)
                    .await
                    .map_err(|e| format!("node #{k}: {e:#}"))?;
                if resp.status != 201 {
                    return Err(format!("node #{k}: HTTP {}", resp.status));
                }
                resp.field("session_id")
                    .map(Some)
                    .map_err(|e| format!("{e:#}"))
            }
            Op::Grant => {
                let body = self
                    .form(&self.token_urls, k, Bytes::from_static(GRANT_BODY))
                    .await?;
                let v: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| format!("token answer: {e}"))?;
                v.get("access_token")
                    .and_then(|t| t.as_str())
                    .map(|t| Some(t.to_owned()))
                    .ok_or_else(|| format!("node #{k}: 200 without an access token"))
            }
            _ => Err(format!("{} is not a creation", op.name())),
        }
    }

    /// Ends a pooled credential (`EndSession`, `RevokeToken`) on the next node in turn.
    pub async fn revoke(&self, op: Op, (credential, retried): &Pooled) -> Outcome {
        let k = self.node();
        match op {
            Op::EndSession => {
                let api = self.apis.get(k).ok_or("no node")?;
                let resp = api
                    .delete_session(credential)
                    .await
                    .map_err(|e| format!("node #{k}: {e:#}"))?;
                match resp.status {
                    200 => Ok(None),
                    404 if *retried => Ok(None),
                    s => Err(format!("node #{k}: HTTP {s}")),
                }
            }
            Op::RevokeToken => {
                let body = format!("token={credential}");
                self.form(&self.revoke_urls, k, Bytes::from(body))
                    .await
                    .map(|_| None)
            }
            _ => Err(format!("{} is not a revocation", op.name())),
        }
    }

    /// A form `POST` with the client's Basic credentials; the body of a 200.
    async fn form(&self, urls: &[reqwest::Url], k: usize, body: Bytes) -> Result<Bytes, String> {
        let url = urls.get(k).cloned().ok_or("no node URL")?;
        let sent = crate::scenarios::token::worker::form_post(&self.http, url, &self.basic, body)
            .send()
            .await
            .map_err(|e| format!("node #{k}: {}", error_chain(&e)))?;
        crate::scenarios::expect_status(Ok(sent), k, StatusCode::OK).await
    }
}

/// An error and its sources ("error sending request: ...: Connection refused"), so the
/// report can tell its kind.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// The client-credentials grant the soak asks for.
const GRANT_BODY: &[u8] = b"grant_type=client_credentials&scope=public%3Aread";

/// The ids of the benchmark users `bench0000..` that `sessions::login_many` created.
pub async fn user_ids(api: &NodeApi, users: usize) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for i in 0..users.max(1) {
        let name = format!("bench{i:04}");
        let resp = api.get_user(&name).await?;
        let v = resp
            .expect(200)
            .with_context(|| format!("reading {name}"))?;
        let id = v
            .get("id")
            .and_then(|v| v.as_u64())
            .with_context(|| format!("no numeric id for {name}: {v}"))?;
        out.push((name, id));
    }
    Ok(out)
}
