//! OAuth2 token endpoint on a real 3-node cluster: client credentials with both client
//! authentication methods, every RFC 6749 §5.2 error, introspection, revocation seen by `/auth`
//! on all nodes at once, client revocation, and the RFC 8414 metadata.

use anyhow::{Context, Result, ensure};
use authd_tests::Cluster;
use reqwest::Method;
use serde_json::{Value, json};

use crate::authd_http::{jwt_secret, verify_hs256, web_client, webs};
use crate::oauth2_util::{bearer, bearer_everywhere, post_form, register, url};
use crate::util::{create_user, uniq};

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
