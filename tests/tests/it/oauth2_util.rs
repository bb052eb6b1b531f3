//! Helpers of the OAuth2 tests: token-endpoint requests and their RFC 6749 checks, client
//! registration, bearer checks on every node, and the browser side of the consent flow.

use anyhow::{Context, Result, bail, ensure};
use authd_tests::Cluster;
pub use authd_tests::browser::{hidden_fields, query_param};
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

use crate::authd_http::{AuthReq, Web, cookie_header, form_encode};

/// A token-endpoint answer with the headers RFC 6749 cares about.
#[derive(Debug)]
pub struct OAuthResp {
    pub status: u16,
    pub body: Value,
    pub cache_control: Option<String>,
    pub pragma: Option<String>,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<String>,
}

impl OAuthResp {
    /// The `error` code, having checked the status.
    pub fn error(&self, status: u16) -> Result<String> {
        ensure!(self.status == status, "expected {status}: {self:?}");
        ensure!(
            self.cache_control.as_deref() == Some("no-store"),
            "no Cache-Control: no-store: {self:?}"
        );
        self.body["error"]
            .as_str()
            .map(str::to_owned)
            .context("no error field")
    }

    /// The body of a 200, having checked the no-store headers.
    pub fn ok(&self) -> Result<&Value> {
        ensure!(self.status == 200, "expected 200: {self:?}");
        ensure!(
            self.cache_control.as_deref() == Some("no-store")
                && self.pragma.as_deref() == Some("no-cache"),
            "token responses must not be cached: {self:?}"
        );
        Ok(&self.body)
    }

    /// A string field of the body.
    pub fn field(&self, name: &str) -> Result<String> {
        self.ok()?[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in {self:?}"))
    }
}

/// POST a form to `url`, with HTTP Basic credentials when given.
pub async fn post_form(
    client: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Result<OAuthResp> {
    let mut req = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(fields));
    if let Some((id, secret)) = basic {
        let raw = format!(
            "{}:{}",
            form_encode(&[("x", id)]).trim_start_matches("x="),
            form_encode(&[("x", secret)]).trim_start_matches("x=")
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        req = req.header("authorization", format!("Basic {b64}"));
    }
    let r = req.send().await.with_context(|| format!("POST {url}"))?;
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (cache_control, pragma, www_authenticate, retry_after) = (
        h("cache-control"),
        h("pragma"),
        h("www-authenticate"),
        h("retry-after"),
    );
    let status = r.status().as_u16();
    let text = r.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(OAuthResp {
        status,
        body,
        cache_control,
        pragma,
        www_authenticate,
        retry_after,
    })
}

/// Register a client through node `node`'s admin API; (client_id, secret).
pub async fn register(
    cluster: &Cluster,
    node: u64,
    body: Value,
) -> Result<(String, Option<String>)> {
    let r = cluster
        .api(node)
        .signed(Method::POST, "/api/v1/clients", Some(&body))
        .await?;
    let v = r.expect(201)?;
    let id = v["client_id"].as_str().context("client_id")?.to_owned();
    Ok((id, v["client_secret"].as_str().map(str::to_owned)))
}

/// `/auth` with a bearer token on one node: (status, upstream JWT).
pub async fn bearer(web: &Web, token: &str) -> Result<(u16, Option<String>)> {
    let h = format!("Bearer {token}");
    let r = web
        .auth(&AuthReq {
            authorization: Some(&h),
            ..AuthReq::default()
        })
        .await?;
    Ok((r.status, r.authorization.clone()))
}

/// Every node answers `want` for this token, asked concurrently.
pub async fn bearer_everywhere(nodes: &[(u64, Web)], token: &str, want: u16) -> Result<()> {
    let answers = futures::future::join_all(
        nodes
            .iter()
            .map(|(id, w)| async move { (*id, bearer(w, token).await) }),
    )
    .await;
    for (id, a) in answers {
        let (status, _) = a?;
        if status != want {
            bail!("node {id} answered {status} for the token, expected {want}");
        }
    }
    Ok(())
}

pub fn url(cluster: &Cluster, node: u64, path: &str) -> Result<String> {
    Ok(format!("http://{}{path}", cluster.node(node)?.http))
}

/// GET the authorize URL (path and query) with the cookie: the consent page's form fields.
pub async fn consent_form(web: &Web, cookie: &str, path: &str) -> Result<Vec<(String, String)>> {
    let h = cookie_header(cookie);
    let r = web
        .get_with(
            path,
            &AuthReq {
                cookie_header: Some(&h),
                ..AuthReq::default()
            },
        )
        .await?;
    ensure!(r.status == 200, "consent page: {}", r.describe());
    let fields = hidden_fields(&r.body);
    ensure!(
        fields.iter().any(|(k, _)| k == "csrf_token"),
        "no CSRF token: {}",
        r.body
    );
    Ok(fields)
}

/// POST the consent form with `decision`; the redirect's Location.
pub async fn decide(
    web: &Web,
    cookie: &str,
    fields: &[(String, String)],
    decision: &str,
) -> Result<String> {
    let mut f: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    f.push(("decision", decision));
    let r = web.post_form("/oauth2/authorize", Some(cookie), &f).await?;
    ensure!(r.status == 303, "consent POST: {}", r.describe());
    r.location.context("no Location")
}

pub fn authorize_path(pairs: &[(&str, &str)]) -> String {
    format!(
        "/oauth2/authorize?{}",
        crate::authd_http::form_encode(pairs)
    )
}

/// RFC 7636 appendix B's verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A confidential client with the code and refresh grants, and the way to use it.
#[derive(Clone)]
pub struct CodeClient {
    pub id: String,
    pub secret: String,
    pub redirect_uri: String,
}

impl CodeClient {
    /// Register one owned by `owner` through node 1, allowed `scopes`.
    pub async fn register(
        cluster: &Cluster,
        owner: &str,
        name: &str,
        scopes: &[&str],
    ) -> Result<Self> {
        let redirect_uri = "https://app.example/cb".to_owned();
        let (id, secret) = register(
            cluster,
            1,
            serde_json::json!({"name": name, "owner": owner, "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"], "scopes": scopes}),
        )
        .await?;
        Ok(CodeClient {
            id,
            secret: secret.context("no client secret")?,
            redirect_uri,
        })
    }

    /// The authorize path of a PKCE request.
    pub fn authorize_path(&self) -> String {
        authorize_path(&[
            ("response_type", "code"),
            ("client_id", &self.id),
            ("redirect_uri", &self.redirect_uri),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    }

    /// Consent on `web` as the user of `cookie`: the code.
    pub async fn code(&self, web: &Web, cookie: &str) -> Result<String> {
        let fields = consent_form(web, cookie, &self.authorize_path()).await?;
        let loc = decide(web, cookie, &fields, "approve").await?;
        query_param(&loc, "code").with_context(|| format!("no code in {loc}"))
    }

    /// POST a token request to node `node` with this client's Basic credentials.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        cluster: &Cluster,
        node: u64,
        fields: &[(&str, &str)],
    ) -> Result<OAuthResp> {
        let u = url(cluster, node, "/oauth2/token")?;
        post_form(http, &u, fields, Some((&self.id, &self.secret))).await
    }

    /// Redeem `code` on node `node` with the right verifier and redirect URI.
    pub async fn redeem(
        &self,
        http: &reqwest::Client,
        cluster: &Cluster,
        node: u64,
        code: &str,
    ) -> Result<OAuthResp> {
        let f = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", VERIFIER),
        ];
        self.token(http, cluster, node, &f).await
    }

    /// Consent on `web`, redeem on node `node`: (access token, refresh token).
    pub async fn tokens(
        &self,
        http: &reqwest::Client,
        cluster: &Cluster,
        web: &Web,
        cookie: &str,
        node: u64,
    ) -> Result<(String, String)> {
        let code = self.code(web, cookie).await?;
        let r = self.redeem(http, cluster, node, &code).await?;
        Ok((r.field("access_token")?, r.field("refresh_token")?))
    }

    /// The refresh grant on node `node`.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        cluster: &Cluster,
        node: u64,
        refresh_token: &str,
    ) -> Result<OAuthResp> {
        let f = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token(http, cluster, node, &f).await
    }

    /// On every node at once: the access token gets 401 from `/auth` and the refresh token
    /// `invalid_grant` from the token endpoint.
    pub async fn assert_dead(
        &self,
        http: &reqwest::Client,
        cluster: &Cluster,
        nodes: &[(u64, Web)],
        (access, refresh): &(String, String),
        what: &str,
    ) -> Result<()> {
        bearer_everywhere(nodes, access, 401)
            .await
            .with_context(|| format!("access token {what}"))?;
        let answers =
            futures::future::join_all(nodes.iter().map(|(id, _)| async move {
                (*id, self.refresh(http, cluster, *id, refresh).await)
            }))
            .await;
        for (id, r) in answers {
            let r = r?;
            ensure!(
                r.error(400).ok().as_deref() == Some("invalid_grant"),
                "node {id}: the refresh token {what}: {r:?}"
            );
        }
        Ok(())
    }
}

/// The client of node `n` among `webs`' answer.
pub fn node_web(nodes: &[(u64, Web)], n: u64) -> Result<&Web> {
    nodes
        .iter()
        .find(|(id, _)| *id == n)
        .map(|(_, w)| w)
        .with_context(|| format!("no node {n}"))
}
