//! Interoperability: the third-party `oauth2` crate (ramosbugs/oauth2-rs) drives authd.
//!
//! - A full authorization-code + PKCE flow against a 3-node cluster, with the test as the
//!   browser (login form, authorize, consent with its CSRF token, code from the redirect), then
//!   the crate's refresh.
//! - A client-credentials token from the crate that passes `/auth` through the real nginx with
//!   the shipped config, the upstream receiving a JWT naming the client.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, Result, bail, ensure};
use authd_tests::{Cluster, free_ports};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::json;

use crate::authd_http::{AuthReq, Web, jwt_secret, verify_hs256, web_client, webs};
use crate::nginx::{Nginx, nginx_or_skip, site_config, start_app};
use crate::oauth2_util::{bearer_everywhere, decide, hidden_fields, query_param, register};
use crate::util::{PASSWORD, create_user, uniq};

/// Why the adapter could not carry a request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

/// The crate's async HTTP client trait, carried by the tests' reqwest (no redirects followed).
fn http_client(
    client: reqwest::Client,
) -> impl Fn(HttpRequest) -> Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>> {
    move |req: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
                .map_err(|e| HttpError(e.to_string()))?;
            let mut b = client.request(method, parts.uri.to_string()).body(body);
            for (k, v) in &parts.headers {
                b = b.header(k.as_str(), v.as_bytes());
            }
            let r = b.send().await.map_err(|e| HttpError(e.to_string()))?;
            let mut out = oauth2::http::Response::builder().status(r.status().as_u16());
            for (k, v) in r.headers() {
                out = out.header(k.as_str(), v.as_bytes());
            }
            let bytes = r.bytes().await.map_err(|e| HttpError(e.to_string()))?;
            out.body(bytes.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_crate_authorization_code_with_pkce_across_three_nodes() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let name = uniq("interop");
    create_user(&cluster.api(1), &name).await?;
    let cb = "http://127.0.0.1:9/callback";
    let (id, secret) = register(
        &cluster,
        1,
        json!({"name": "oauth2-rs", "owner": name,
        "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [cb],
        "scopes": ["profile:read", "submission:read"]}),
    )
    .await?;
    let node = |n: u64| -> Result<String> { Ok(format!("http://{}", cluster.node(n)?.http)) };
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.context("secret")?))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", node(1)?))?)
        .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", node(3)?))?)
        .set_redirect_uri(RedirectUrl::new(cb.to_owned())?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: authorize (node 1) → login form (node 2) → back to authorize → consent.
    let path = format!(
        "{}?{}",
        auth_url.path(),
        auth_url.query().unwrap_or_default()
    );
    let w1 = &nodes.first().context("node 1")?.1;
    let w2 = &nodes.get(1).context("node 2")?.1;
    let r = w1.get_with(&path, &AuthReq::anonymous()).await?;
    let login_loc = r
        .location
        .context("anonymous authorize must redirect to the login page")?;
    let next = query_param(&format!("http://x{login_loc}"), "next_page").context("next_page")?;
    let form = w2.get_with(&login_loc, &AuthReq::anonymous()).await?;
    ensure!(
        form.status == 200 && form.body.contains("next_page"),
        "login form: {}",
        form.describe()
    );
    let r = w2.login(&name, PASSWORD, Some(&next)).await?;
    let cookie = r.cookie_value().context("login cookie")?;
    let back = r.location.clone().context("login redirect")?;
    ensure!(
        back == next,
        "login sends the browser back to authorize: {back} vs {next}"
    );
    let h = crate::authd_http::cookie_header(&cookie);
    let page = w1
        .get_with(
            &back,
            &AuthReq {
                cookie_header: Some(&h),
                ..AuthReq::default()
            },
        )
        .await?;
    ensure!(page.status == 200, "consent: {}", page.describe());
    let loc = decide(w2, &cookie, &hidden_fields(&page.body), "approve").await?;
    ensure!(
        query_param(&loc, "state").as_deref() == Some(state.secret().as_str()),
        "state echoed: {loc}"
    );
    let code = query_param(&loc, "code").context("code")?;

    // The crate exchanges the code (client_secret_basic, its default) on node 3.
    let hc = http_client(http.clone());
    let tok = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&hc)
        .await
        .map_err(|e| anyhow::anyhow!("code exchange: {e:?}"))?;
    let scopes: Vec<String> = tok
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    ensure!(scopes == ["profile:read"], "{scopes:?}");
    bearer_everywhere(&nodes, tok.access_token().secret(), 200).await?;
    // And refreshes it, with client_secret_post this time.
    let refresh = tok.refresh_token().context("refresh token")?;
    let post_client = client.clone().set_auth_type(AuthType::RequestBody);
    let tok2 = post_client
        .exchange_refresh_token(refresh)
        .request_async(&hc)
        .await
        .map_err(|e| anyhow::anyhow!("refresh: {e:?}"))?;
    bearer_everywhere(&nodes, tok2.access_token().secret(), 200).await?;
    // The crate parses authd's RFC 6749 errors: reusing the refresh token is invalid_grant.
    match post_client
        .exchange_refresh_token(refresh)
        .request_async(&hc)
        .await
    {
        Err(oauth2::RequestTokenError::ServerResponse(e)) => {
            ensure!(
                *e.error() == oauth2::basic::BasicErrorResponseType::InvalidGrant,
                "{e:?}"
            );
        }
        other => bail!("refresh-token reuse must fail with invalid_grant: {other:?}"),
    }
    bearer_everywhere(&nodes, tok2.access_token().secret(), 401).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_crate_client_credentials_token_passes_auth_through_nginx() -> Result<()> {
    let Some(bin) = nginx_or_skip()? else {
        return Ok(());
    };
    let cluster = Cluster::start(3, |_| {}).await?;
    let (app_addr, app) = start_app().await?;
    let listen = authd_tests::config::loopback(*free_ports(1)?.first().context("no port")?);
    let mut nginx = Nginx::start(&bin, &site_config(&cluster, app_addr, listen)?, listen)?;
    nginx.wait_ready().await?;
    let result = async {
        let owner = uniq("svc");
        create_user(&cluster.api(1), &owner).await?;
        let (id, secret) = register(
            &cluster,
            2,
            json!({"name": "svc", "owner": owner,
            "grant_types": ["client_credentials"], "scopes": ["submission:create", "public:read"]}),
        )
        .await?;
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.context("secret")?))
            .set_token_uri(TokenUrl::new(format!("http://{listen}/oauth2/token"))?);
        let http = web_client()?;
        let tok = client
            .exchange_client_credentials()
            .add_scope(Scope::new("submission:create".into()))
            .request_async(&http_client(http.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("client credentials through nginx: {e:?}"))?;
        let edge = Web::new(listen, http.clone());
        let auth = format!("Bearer {}", tok.access_token().secret());
        let r = edge
            .get_with(
                "/submit/42",
                &AuthReq {
                    authorization: Some(&auth),
                    ..AuthReq::default()
                },
            )
            .await?;
        ensure!(
            r.status == 200,
            "a protected location with the token: {}",
            r.describe()
        );
        let got = app
            .all()
            .into_iter()
            .rev()
            .find(|x| x.uri == "/submit/42")
            .context("upstream saw nothing")?;
        let claims = verify_hs256(
            got.authorization.as_deref().context("no JWT upstream")?,
            &jwt_secret(&cluster)?,
        )?;
        ensure!(claims["client"]["client_id"] == id.as_str(), "{claims}");
        ensure!(
            claims["authorizations"]["scopes"] == json!(["submission:create"]),
            "{claims}"
        );
        let r = edge
            .get_with(
                "/submit/42",
                &AuthReq {
                    authorization: Some("Bearer nope.1"),
                    ..AuthReq::default()
                },
            )
            .await?;
        ensure!(
            r.status == 401,
            "a bad token through nginx: {}",
            r.describe()
        );
        Ok(())
    }
    .await;
    if result.is_err() {
        eprintln!("{}", nginx.logs());
    }
    result
}
