//! The mixed load: logins, token grants, revocations and `/auth` checks on every node, plus an
//! availability probe that writes through the nodes of the connected majority. Every answer
//! goes into the shared [`History`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use serde_json::json;

use super::history::{AuthObs, CredKind, Credential, History, Revocation};
use super::rng::Rng;
use crate::browser::Browser;
use crate::client::NodeApi;
use crate::cluster::Cluster;

/// One request's deadline: a paused node must not hold a worker for long.
pub const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// A worker's pause after a failed operation.
const BACKOFF: Duration = Duration::from_millis(100);
/// Password of the load's users (the cluster lives for one run).
const PASSWORD: &str = "faults-password-not-secret-0123";
/// Users the load logs in as.
const USERS: usize = 6;

/// Why an operation failed, in a few words.
pub(super) fn cause(e: &anyhow::Error) -> String {
    match e.chain().find_map(|c| c.downcast_ref::<reqwest::Error>()) {
        Some(r) => reqwest_class(r).to_owned(),
        None => e.to_string().chars().take(60).collect(),
    }
}

/// A transport error's class.
fn reqwest_class(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else {
        "transport error"
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// One node as the load sees it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Node id.
    pub id: u64,
    /// `http://host:port`.
    pub base: String,
    /// Signed operator API.
    pub api: NodeApi,
}

/// Shared state of the load tasks.
pub struct Load {
    /// Every node.
    pub targets: Vec<Target>,
    http: reqwest::Client,
    users: Vec<String>,
    pub(super) probe_user: u64,
    client: (String, String),
    /// The run's record.
    pub history: Arc<Mutex<History>>,
    /// Time zero of the history.
    pub t0: Instant,
    stop: AtomicBool,
}

impl Load {
    /// Creates the users and the OAuth2 client the load needs, through the leader.
    pub async fn setup(cluster: &Cluster, t0: Instant) -> Result<Arc<Load>> {
        let leader = cluster.leader().await?;
        let api = cluster.api(leader);
        let mut users = Vec::new();
        let mut probe_user = 0;
        for i in 0..=USERS {
            let name = format!("faults{i}");
            let v = api
                .create_user(&name, &format!("{name}@example.invalid"), PASSWORD, false)
                .await?
                .expect(201)
                .with_context(|| format!("creating user {name}"))?;
            probe_user = v["id"].as_u64().context("a user id")?;
            users.push(name);
        }
        users.pop(); // the last one is the probe's
        let body = json!({"name": "faults", "owner": "faults0",
                          "grant_types": ["client_credentials"], "scopes": ["public:read"]});
        let v = api
            .signed(Method::POST, "/api/v1/clients", Some(&body))
            .await?
            .expect(201)?;
        let client = (
            v["client_id"].as_str().context("client_id")?.to_owned(),
            v["client_secret"]
                .as_str()
                .context("client_secret")?
                .to_owned(),
        );
        let targets = cluster
            .node_ids()
            .into_iter()
            .map(|id| {
                Ok(Target {
                    id,
                    base: cluster.base_url(id)?,
                    api: cluster.api(id),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(OP_TIMEOUT)
            .build()?;
        Ok(Arc::new(Load {
            targets,
            http,
            users,
            probe_user,
            client,
            history: Arc::default(),
            t0,
            stop: AtomicBool::new(false),
        }))
    }

    /// Asks every task to finish its current operation and stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Now, on the history's clock.
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    pub(super) fn record<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut h)
    }

    /// One load worker: a seeded mix of operations until stopped. After a failure it pauses
    /// for `BACKOFF` (pacing: a killed node fails at once, and spinning on it would only burn
    /// the CPU the nodes share with the test).
    pub async fn worker(self: Arc<Self>, mut rng: Rng) {
        while !self.stopped() {
            let node = rng.pick(&self.targets).cloned();
            let Some(node) = node else { return };
            let ok = match rng.below(100) {
                0..12 => self.login(&node, &mut rng).await,
                12..22 => self.grant(&node).await,
                22..32 => self.revoke(&node, &mut rng).await,
                _ => {
                    let cred = self.record(|h| h.checkable(rng.next_u64()));
                    match cred {
                        Some(cred) => self.auth(&node, cred).await != 0,
                        None => true,
                    }
                }
            };
            if !ok {
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }

    async fn login(&self, node: &Target, rng: &mut Rng) -> bool {
        let Some(user) = rng.pick(&self.users) else {
            return true;
        };
        self.record(|h| h.counts.logins.0 += 1);
        let attempt = async {
            let page = Browser::new(&node.base)?.login(user, PASSWORD).await?;
            let cookie = page
                .set_cookie
                .iter()
                .filter_map(|v| v.split(';').next()?.split_once('='))
                .find(|(n, v)| !v.is_empty() && !n.ends_with("authd_csrf"))
                .map(|(n, v)| format!("{}={}", n.trim(), v.trim()));
            match (page.status, cookie) {
                (303, Some(c)) => Ok(c),
                (s, _) => bail!("HTTP {s}"),
            }
        };
        match tokio::time::timeout(OP_TIMEOUT, attempt).await {
            Ok(Ok(cookie)) => {
                self.acked(CredKind::Session, cookie, node.id);
                return true;
            }
            Ok(Err(e)) => self.record(|h| h.failed("login", &cause(&e))),
            Err(_) => self.record(|h| h.failed("login", "timeout")),
        }
        false
    }

    async fn grant(&self, node: &Target) -> bool {
        self.record(|h| h.counts.grants.0 += 1);
        let form = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.client.0.as_str()),
            ("client_secret", self.client.1.as_str()),
        ]);
        let answer = async {
            let r = self
                .http
                .post(format!("{}/oauth2/token", node.base))
                .header(reqwest::header::CONTENT_TYPE, FORM)
                .body(form)
                .send()
                .await?;
            if r.status() != 200 {
                bail!("HTTP {}", r.status().as_u16());
            }
            let v: serde_json::Value = r.json().await?;
            v["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no access_token"))
        };
        match answer.await {
            Ok(token) => {
                self.acked(CredKind::Token, token, node.id);
                true
            }
            Err(e) => {
                self.record(|h| h.failed("grant", &cause(&e)));
                false
            }
        }
    }

    fn acked(&self, kind: CredKind, secret: String, node: u64) {
        let acked = self.now();
        self.record(|h| {
            match kind {
                CredKind::Session => h.counts.logins.1 += 1,
                CredKind::Token => h.counts.grants.1 += 1,
            }
            h.creds.push(Credential {
                kind,
                secret,
                node,
                acked,
                revocation: Revocation::None,
            });
        });
    }

    /// Revokes a live credential (logout or RFC 7009 revoke); once acknowledged, asks `/auth`
    /// on every node at once, where a 200 would be a stale answer.
    async fn revoke(&self, node: &Target, rng: &mut Rng) -> bool {
        let r = rng.next_u64();
        let started = self.now();
        let picked = self.record(|h| {
            let i = h.revocable(r)?;
            let c = h.creds.get_mut(i)?;
            c.revocation = Revocation::Pending { started };
            h.counts.revokes.0 += 1;
            Some((i, c.kind, c.secret.clone()))
        });
        let Some((i, kind, secret)) = picked else {
            return true;
        };
        let answer = match kind {
            CredKind::Session => self
                .http
                .get(format!("{}/logout", node.base))
                .header(reqwest::header::COOKIE, &secret)
                .send()
                .await
                .map(|r| r.status().as_u16()),
            CredKind::Token => self
                .http
                .post(format!("{}/oauth2/revoke", node.base))
                .header(reqwest::header::CONTENT_TYPE, FORM)
                .body(form(&[
                    ("token", secret.as_str()),
                    ("client_id", self.client.0.as_str()),
                    ("client_secret", self.client.1.as_str()),
                ]))
                .send()
                .await
                .map(|r| r.status().as_u16()),
        };
        let acked = self.now();
        let want = if kind == CredKind::Session { 303 } else { 200 };
        let ok = matches!(answer, Ok(s) if s == want);
        self.record(|h| {
            match &answer {
                Ok(s) if *s != want => h.failed("revoke", &format!("HTTP {s}")),
                Err(e) => h.failed("revoke", reqwest_class(e)),
                _ => {}
            }
            if let Some(c) = h.creds.get_mut(i) {
                c.revocation = if ok {
                    h.counts.revokes.1 += 1;
                    Revocation::Acked { started, acked }
                } else {
                    h.counts.revokes.2 += 1;
                    Revocation::Ambiguous { started }
                };
            }
        });
        if ok {
            let all = self.targets.iter().map(|t| self.auth(t, i));
            futures::future::join_all(all).await;
        }
        ok
    }

    /// `GET /auth` with credential `cred` on `node`, recorded; the status (0: no answer).
    pub async fn auth(&self, node: &Target, cred: usize) -> u16 {
        let Some((kind, secret)) =
            self.record(|h| h.creds.get(cred).map(|c| (c.kind, c.secret.clone())))
        else {
            return 0;
        };
        let mut req = self.http.get(format!("{}/auth", node.base));
        req = match kind {
            CredKind::Session => req.header(reqwest::header::COOKIE, secret),
            CredKind::Token => req.bearer_auth(secret),
        };
        let start = self.now();
        let sent = req.send().await;
        let status = sent.as_ref().map_or(0, |r| r.status().as_u16());
        self.record(|h| {
            if let Err(e) = &sent {
                h.failed("auth", reqwest_class(e));
            }
            h.count_auth(status);
            h.auth.push(AuthObs {
                cred,
                node: node.id,
                start,
                status,
            });
        });
        status
    }
}
