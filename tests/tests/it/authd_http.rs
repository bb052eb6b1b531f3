//! Browser-side helpers for the `/login`, `/logout` and `/auth` tests: a client that does not
//! follow redirects, raw cookie handling, and HS256 JWTs built and checked with the cluster's
//! JWT secret (the tests know it: they wrote the config).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use authd_tests::{Cluster, random_hex};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

/// The NG session cookie's name (`[cookies] name`, default).
pub const COOKIE_NAME: &str = "ARXIVNG_SESSION_ID";

/// A client for the browser-facing routes: no redirects followed, no cookie store, no proxy.
pub fn web_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .build()
        .context("building the web client")
}

/// `application/x-www-form-urlencoded` for one field.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A response with the headers the tests look at.
#[derive(Debug, Clone)]
pub struct WebResp {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl WebResp {
    /// Read a response the tests made themselves.
    pub async fn read_pub(resp: reqwest::Response) -> Result<WebResp> {
        WebResp::read(resp).await
    }

    async fn read(resp: reqwest::Response) -> Result<WebResp> {
        let status = resp.status().as_u16();
        let h = resp.headers();
        let text = |name: reqwest::header::HeaderName| {
            h.get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let location = text(LOCATION);
        let authorization = text(AUTHORIZATION);
        let content_type = text(reqwest::header::CONTENT_TYPE);
        let set_cookie = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let body = resp.text().await.context("reading a response body")?;
        Ok(WebResp {
            status,
            location,
            set_cookie,
            authorization,
            content_type,
            body,
        })
    }

    /// The value the response sets for the NG cookie (`Some("")` when it clears it).
    pub fn cookie_value(&self) -> Option<String> {
        self.set_cookie.iter().find_map(|c| {
            let first = c.split(';').next()?.trim();
            let (k, v) = first.split_once('=')?;
            (k == COOKIE_NAME).then(|| v.to_owned())
        })
    }

    /// The response deletes the NG cookie: empty value and `Max-Age=0` (or an expiry in the past).
    pub fn clears_cookie(&self) -> bool {
        self.set_cookie.iter().any(|c| {
            let mut parts = c.split(';').map(str::trim);
            let first_ok = parts.next() == Some(&format!("{COOKIE_NAME}=")[..]);
            let rest: Vec<String> = parts.map(|p| p.to_ascii_lowercase()).collect();
            let gone = rest.iter().any(|p| p == "max-age=0")
                || rest
                    .iter()
                    .any(|p| p.starts_with("expires=") && p.contains("1970"));
            let path_root = rest.iter().any(|p| p == "path=/");
            first_ok && gone && path_root
        })
    }

    /// The body as JSON (an error quoting it otherwise).
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("HTTP {}: body is not JSON: {:?}", self.status, self.body))
    }

    /// `{"reason": <non-empty string>, ...}`.
    pub fn reason(&self) -> Result<String> {
        let v = self.json()?;
        match v.get("reason") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => bail!(
                "HTTP {}: JSON body lacks a non-empty \"reason\": {}",
                self.status,
                self.body
            ),
        }
    }

    /// The body with every `value="..."` attribute blanked: what a page says, without its
    /// per-browser form token or the echoed input.
    pub fn page_shape(&self) -> String {
        let mut out = String::new();
        let mut rest = self.body.as_str();
        while let Some(i) = rest.find("value=\"") {
            let (head, tail) = rest.split_at(i + 7);
            out.push_str(head);
            rest = tail.find('"').map_or("", |j| &tail[j..]);
        }
        out.push_str(rest);
        out
    }

    /// One line for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "HTTP {} location={:?} set-cookie={:?} authorization={} body={:?}",
            self.status,
            self.location,
            self.set_cookie,
            if self.authorization.is_some() {
                "<present>"
            } else {
                "<absent>"
            },
            self.body.chars().take(300).collect::<String>()
        )
    }
}

/// The browser routes of one node (or of nginx in front of the cluster).
#[derive(Debug, Clone)]
pub struct Web {
    pub base: String,
    client: reqwest::Client,
    /// Re-ask (for up to [`SETTLE`]) while the answer is 503. A node fails closed with 503
    /// while its read lease is not current (just after an election, or when a lease refresh
    /// is late on a loaded machine): a correct answer, but not the one a check on a healthy
    /// cluster is about. A 200 is never retried, so a stale 200 still fails the test.
    retry_unavailable: bool,
}

/// How long a settled `Web` re-asks while a node answers 503.
pub const SETTLE: Duration = Duration::from_secs(5);

/// What `/auth` is asked with.
#[derive(Debug, Clone, Default)]
pub struct AuthReq<'a> {
    /// The whole `Cookie` header value.
    pub cookie_header: Option<&'a str>,
    /// The whole `Authorization` header value.
    pub authorization: Option<&'a str>,
    /// `X-Required-Scopes`.
    pub scopes: Option<&'a str>,
}

impl<'a> AuthReq<'a> {
    pub fn anonymous() -> Self {
        AuthReq::default()
    }
}

pub fn cookie_header(value: &str) -> String {
    format!("{COOKIE_NAME}={value}")
}

impl Web {
    /// Every answer as it comes (for nginx, and for the paused-node checks that count 503s).
    pub fn new(addr: SocketAddr, client: reqwest::Client) -> Web {
        Web {
            base: format!("http://{addr}"),
            client,
            retry_unavailable: false,
        }
    }

    /// This node, re-asking while it answers 503 (see `retry_unavailable`).
    pub fn settled(mut self) -> Web {
        self.retry_unavailable = true;
        self
    }

    /// This node, every answer as it comes.
    pub fn raw(mut self) -> Web {
        self.retry_unavailable = false;
        self
    }

    /// `GET /login` for a form token, then `POST /login` with it; `next_page` is sent only
    /// when given.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        next: Option<&str>,
    ) -> Result<WebResp> {
        let (csrf_cookie, token) = self.form_token("/login").await?;
        let mut fields = vec![
            ("username", username),
            ("password", password),
            ("csrf_token", token.as_str()),
        ];
        if let Some(n) = next {
            fields.push(("next_page", n));
        }
        let resp = self
            .client
            .post(format!("{}/login", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(COOKIE, csrf_cookie)
            .body(form_encode(&fields))
            .send()
            .await
            .with_context(|| format!("POST {}/login", self.base))?;
        WebResp::read(resp).await
    }

    /// A page's CSRF cookie (fresh browser) as `name=value`, and its form token.
    pub async fn form_token(&self, path: &str) -> Result<(String, String)> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {}{path}", self.base))?;
        let page = WebResp::read(resp).await?;
        let cookie = page
            .set_cookie
            .iter()
            .filter_map(|c| c.split(';').next())
            .find(|c| c.starts_with("authd_csrf=") || c.starts_with("__Host-authd_csrf="))
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{path} set no CSRF cookie: {}", page.describe()))?;
        let marker = "name=\"csrf_token\" value=\"";
        let token = page
            .body
            .split_once(marker)
            .and_then(|(_, rest)| rest.split('"').next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{path} has no form token: {}", page.describe()))?;
        Ok((cookie, token))
    }

    /// Logs in (303 with a cookie required) and returns the cookie value.
    pub async fn login_ok(&self, username: &str, password: &str) -> Result<String> {
        let r = self.login(username, password, None).await?;
        if r.status != 303 {
            bail!("login of {username} at {}: {}", self.base, r.describe());
        }
        match r.cookie_value() {
            Some(v) if !v.is_empty() => Ok(v),
            _ => bail!(
                "login of {username} at {} set no session cookie: {}",
                self.base,
                r.describe()
            ),
        }
    }

    /// `GET /logout` with the cookie.
    pub async fn logout(&self, cookie: &str) -> Result<WebResp> {
        let resp = self
            .client
            .get(format!("{}/logout", self.base))
            .header(COOKIE, cookie_header(cookie))
            .send()
            .await
            .with_context(|| format!("GET {}/logout", self.base))?;
        WebResp::read(resp).await
    }

    /// `GET <path>` with the given credentials (for `/auth`, or any path through nginx).
    pub async fn get_with(&self, path: &str, req: &AuthReq<'_>) -> Result<WebResp> {
        let start = std::time::Instant::now();
        loop {
            let r = self.get_once(path, req).await?;
            if r.status == 503 && self.retry_unavailable && start.elapsed() < SETTLE {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            return Ok(r);
        }
    }

    async fn get_once(&self, path: &str, req: &AuthReq<'_>) -> Result<WebResp> {
        let mut b = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = req.cookie_header {
            b = b.header(COOKIE, c);
        }
        if let Some(a) = req.authorization {
            b = b.header(AUTHORIZATION, a);
        }
        if let Some(s) = req.scopes {
            b = b.header("X-Required-Scopes", s);
        }
        let resp = b
            .send()
            .await
            .with_context(|| format!("GET {}{path}", self.base))?;
        WebResp::read(resp).await
    }

    /// `POST <path>` with a form body and, when given, the NG cookie (the OAuth2 consent form).
    pub async fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Result<WebResp> {
        let mut b = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form_encode(fields));
        if let Some(c) = cookie {
            b = b.header(COOKIE, cookie_header(c));
        }
        let resp = b
            .send()
            .await
            .with_context(|| format!("POST {}{path}", self.base))?;
        WebResp::read(resp).await
    }

    pub async fn auth(&self, req: &AuthReq<'_>) -> Result<WebResp> {
        self.get_with("/auth", req).await
    }

    /// `/auth` with just the NG cookie.
    pub async fn auth_cookie(&self, cookie: &str) -> Result<WebResp> {
        let h = cookie_header(cookie);
        self.auth(&AuthReq {
            cookie_header: Some(&h),
            ..AuthReq::default()
        })
        .await
    }
}

/// One settled `Web` per node of the cluster, in node-id order.
pub fn webs(cluster: &Cluster, client: &reqwest::Client) -> Result<Vec<(u64, Web)>> {
    cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            Ok((
                id,
                Web::new(cluster.node(id)?.http, client.clone()).settled(),
            ))
        })
        .collect()
}

/// The cluster's JWT secret (inline in the generated config).
pub fn jwt_secret(cluster: &Cluster) -> Result<Vec<u8>> {
    cluster
        .config()
        .and_then(|c| c.secrets.jwt_secret.clone())
        .map(String::into_bytes)
        .ok_or_else(|| anyhow!("the cluster config has no inline jwt_secret"))
}

/// Verifies an HS256 JWT with `secret` (signature, `alg`, required `exp` not in the past) and
/// returns its claims.
pub fn verify_hs256(token: &str, secret: &[u8]) -> Result<Value> {
    let header = jsonwebtoken::decode_header(token).context("JWT header")?;
    if header.alg != Algorithm::HS256 {
        bail!("JWT alg is {:?}, not HS256", header.alg);
    }
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret), &v)
        .context("verifying the JWT with the cluster's jwt secret")?;
    Ok(data.claims)
}

/// The claims of an HS256 JWT, signature checked but not expiry (to tamper with a cookie).
pub fn claims_unchecked_exp(token: &str, secret: &[u8]) -> Result<Value> {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    Ok(
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret), &v)
            .context("decoding a JWT")?
            .claims,
    )
}

/// Signs `claims` as an HS256 JWT.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> Result<String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .context("signing a JWT")
}

/// A random id like authd's (128 bits, hex).
pub fn random_id() -> String {
    random_hex(16).unwrap_or_else(|_| "0123456789abcdef0123456789abcdef".into())
}

/// Asks `/auth` with `cookie` on every given node at once.
pub async fn auth_everywhere(webs: &[(u64, Web)], cookie: &str) -> Vec<(u64, Result<WebResp>)> {
    let futs = webs
        .iter()
        .map(|(id, w)| async move { (*id, w.auth_cookie(cookie).await) });
    futures::future::join_all(futs).await
}

/// Asserts, with one concurrent round of requests, that every node answers 200 with an
/// upstream JWT for `cookie` (a live session; proves the later 401s are not vacuous).
///
/// No polling for a fresh login either: the cookie names the log index that created the
/// session, and a node that has not applied it yet waits for it (or answers 503, which a
/// settled `Web` asks again). A 401 would make the browser drop a brand-new session cookie.
pub async fn assert_accepted_everywhere(webs: &[(u64, Web)], cookie: &str) -> Result<()> {
    let mut errors = Vec::new();
    for (id, r) in auth_everywhere(webs, cookie).await {
        match r {
            Ok(r) if r.status == 200 && r.authorization.is_some() => {}
            Ok(r) => errors.push(format!("node {id}: {}", r.describe())),
            Err(e) => errors.push(format!("node {id}: {e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "a live session cookie was not accepted (200 with an upstream JWT) everywhere:\n  {}",
            errors.join("\n  ")
        );
    }
    Ok(())
}

/// Asserts, with one concurrent round of requests, that every node refuses `cookie` with 401
/// and clears it. No polling: a revocation that has been acknowledged must hold at once.
pub async fn assert_refused_everywhere(
    webs: &[(u64, Web)],
    cookie: &str,
    what: &str,
) -> Result<()> {
    let mut errors = Vec::new();
    for (id, r) in auth_everywhere(webs, cookie).await {
        match r {
            Ok(r) if r.status == 401 && r.authorization.is_none() && r.clears_cookie() => {
                if let Err(e) = r.reason() {
                    errors.push(format!("node {id}: {e:#}"));
                }
            }
            Ok(r) => errors.push(format!("node {id}: {}", r.describe())),
            Err(e) => errors.push(format!("node {id}: {e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "{what}: expected 401 with a clearing Set-Cookie from every node, got:\n  {}",
            errors.join("\n  ")
        );
    }
    Ok(())
}
