//! OAuth2 token endpoint on a real 3-node cluster: client credentials with both client
//! authentication methods, every RFC 6749 §5.2 error, introspection, revocation seen by `/auth`
//! on all nodes at once, client revocation, and the RFC 8414 metadata.

use anyhow::{Context, Result, bail, ensure};
use authd_tests::Cluster;
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::authd_http::{AuthReq, Web, form_encode, jwt_secret, verify_hs256, web_client, webs};
use crate::util::{create_user, uniq};

/// A token-endpoint answer with the headers RFC 6749 cares about.
#[derive(Debug)]
pub struct OAuthResp {
    pub status: u16,
    pub body: Value,
    pub cache_control: Option<String>,
    pub pragma: Option<String>,
    pub www_authenticate: Option<String>,
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
    let (cache_control, pragma, www_authenticate) =
        (h("cache-control"), h("pragma"), h("www-authenticate"));
    let status = r.status().as_u16();
    let text = r.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(OAuthResp {
        status,
        body,
        cache_control,
        pragma,
        www_authenticate,
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

fn url(cluster: &Cluster, node: u64, path: &str) -> Result<String> {
    Ok(format!("http://{}{path}", cluster.node(node)?.http))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_errors_introspection_and_revocation_on_every_node() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let owner = uniq("owner");
    create_user(&cluster.api(1), &owner).await?;
    let (id, secret) = register(
        &cluster,
        1,
        json!({"name": "svc", "owner": owner, "grant_types": ["client_credentials"],
               "scopes": ["public:read", "submission:read"], "url": "https://svc.example",
               "description": "a service"}),
    )
    .await?;
    let secret = secret.context("a confidential client gets a secret")?;
    ensure!(
        secret.len() >= 64,
        "secret has fewer than 256 bits: {}",
        secret.len()
    );
    let token_url = url(&cluster, 2, "/oauth2/token")?;
    let cc = [("grant_type", "client_credentials")];

    // client_secret_basic, narrowed scope.
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "public:read upload:read"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(
        r.field("scope")? == "public:read",
        "requested ∩ client's: {r:?}"
    );
    ensure!(
        r.field("token_type")? == "Bearer" && r.body["expires_in"] == 3600,
        "{r:?}"
    );
    ensure!(
        r.body.get("refresh_token").is_none(),
        "client_credentials gets no refresh token"
    );
    // client_secret_post, default scope = the client's.
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await?;
    ensure!(r.field("scope")? == "public:read submission:read", "{r:?}");
    let token = r.field("access_token")?;

    // The token passes /auth on every node at once; the JWT names the client and the scopes.
    let jwt_key = jwt_secret(&cluster)?;
    for (n, web) in &nodes {
        let (status, jwt) = bearer(web, &token).await?;
        ensure!(status == 200, "node {n}: {status}");
        let claims = verify_hs256(jwt.as_deref().context("JWT")?, &jwt_key)?;
        ensure!(claims["client"]["client_id"] == id.as_str(), "{claims}");
        ensure!(
            claims["user"].is_null(),
            "no user on a client-credentials token: {claims}"
        );
        ensure!(
            claims["authorizations"]["scopes"] == json!(["public:read", "submission:read"]),
            "{claims}"
        );
    }

    // RFC 6749 §5.2, one by one.
    let r = post_form(&http, &token_url, &cc, Some((&id, "wrong"))).await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");
    ensure!(
        r.www_authenticate
            .as_deref()
            .is_some_and(|w| w.starts_with("Basic")),
        "Basic failure needs a challenge: {r:?}"
    );
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong"),
        ],
        None,
    )
    .await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");
    let r = post_form(&http, &token_url, &cc, Some(("nosuchclient", &secret))).await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");
    let r = post_form(&http, &token_url, &cc, None).await?;
    ensure!(
        r.error(401)? == "invalid_client",
        "no credentials at all: {r:?}"
    );
    let r = post_form(
        &http,
        &token_url,
        &[("client_id", &id), ("client_secret", &secret)],
        None,
    )
    .await?;
    ensure!(
        r.error(400)? == "invalid_request",
        "missing grant_type: {r:?}"
    );
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(
        r.error(400)? == "invalid_request",
        "repeated parameter: {r:?}"
    );
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(
        r.error(400)? == "invalid_request",
        "two authentication methods: {r:?}"
    );
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(r.error(400)? == "unsupported_grant_type", "{r:?}");
    let r = post_form(
        &http,
        &token_url,
        &[("grant_type", "authorization_code"), ("code", "x.1")],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(
        r.error(400)? == "unauthorized_client",
        "grant not registered for the client: {r:?}"
    );
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "upload:read"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(r.error(400)? == "invalid_scope", "{r:?}");
    let r = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "not-a-scope"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(r.error(400)? == "invalid_scope", "{r:?}");
    let json_body = http
        .post(&token_url)
        .json(&json!({"grant_type": "client_credentials"}))
        .basic_auth(&id, Some(&secret))
        .send()
        .await?;
    ensure!(
        json_body.status().as_u16() == 400,
        "a JSON body is not a token request"
    );

    // Introspection (RFC 7662): authenticated clients only.
    let intro = url(&cluster, 3, "/oauth2/introspect")?;
    let r = post_form(&http, &intro, &[("token", &token)], Some((&id, &secret))).await?;
    let b = r.ok()?;
    ensure!(
        b["active"] == true
            && b["client_id"] == id.as_str()
            && b["scope"] == "public:read submission:read"
            && b["token_type"] == "access_token",
        "{b}"
    );
    let r = post_form(
        &http,
        &intro,
        &[("token", "garbage.1")],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(
        r.ok()?.as_object().map(|o| o.len()) == Some(1) && r.body["active"] == false,
        "{r:?}"
    );
    let r = post_form(&http, &intro, &[("token", &token)], None).await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");

    // Revocation (RFC 7009) through node 3: refused by /auth on every node once acknowledged.
    let revoke = url(&cluster, 3, "/oauth2/revoke")?;
    let r = post_form(&http, &revoke, &[("token", &token)], Some((&id, &secret))).await?;
    ensure!(r.status == 200, "{r:?}");
    bearer_everywhere(&nodes, &token, 401).await?;
    let r = post_form(&http, &intro, &[("token", &token)], Some((&id, &secret))).await?;
    ensure!(r.ok()?["active"] == false, "{r:?}");
    let r = post_form(
        &http,
        &revoke,
        &[("token", "unknown.5")],
        Some((&id, &secret)),
    )
    .await?;
    ensure!(r.status == 200, "unknown tokens revoke quietly: {r:?}");
    let r = post_form(&http, &revoke, &[("token", "x")], Some((&id, "wrong"))).await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");

    // Revoking the client ends its tokens everywhere, and the client with them.
    let t2 = post_form(&http, &token_url, &cc, Some((&id, &secret)))
        .await?
        .field("access_token")?;
    bearer_everywhere(&nodes, &t2, 200).await?;
    cluster
        .api(1)
        .signed(Method::DELETE, &format!("/api/v1/clients/{id}"), None)
        .await?
        .expect(200)?;
    bearer_everywhere(&nodes, &t2, 401).await?;
    let r = post_form(&http, &token_url, &cc, Some((&id, &secret))).await?;
    ensure!(r.error(401)? == "invalid_client", "a revoked client: {r:?}");

    // RFC 8414 metadata.
    let meta: Value = http
        .get(url(&cluster, 1, "/.well-known/oauth-authorization-server")?)
        .send()
        .await?
        .json()
        .await?;
    let iss = meta["issuer"].as_str().context("issuer")?;
    ensure!(
        meta["token_endpoint"] == format!("{iss}/oauth2/token").as_str(),
        "{meta}"
    );
    ensure!(
        meta["code_challenge_methods_supported"] == json!(["S256"]),
        "{meta}"
    );
    ensure!(
        meta["grant_types_supported"]
            .as_array()
            .is_some_and(|g| g.len() == 3),
        "{meta}"
    );
    Ok(())
}
