//! No secret reaches a log: a full run on a 3-node cluster at the most verbose level
//! (`RUST_LOG=trace` on every node), then every node's log is searched for every password,
//! client secret, code, access/refresh token, session cookie, upstream JWT, CSRF token, mailed
//! link token and the cluster's JWT and cluster secrets used in the run.

use anyhow::{Context, Result, ensure};
use authd_tests::Cluster;
use authd_tests::browser::Browser;
use reqwest::Method;
use serde_json::json;

use crate::authd_http::{web_client, webs};
use crate::oauth2_util::{
    authorize_path, bearer, consent_form, decide, post_form, query_param, register,
};
use crate::pages_register::{mailed, path_of, register as register_page, registration};
use crate::util::{PASSWORD, uniq};

const CHANGED: &str = "changed-passphrase-in-the-run-91";
const RESET: &str = "reset-passphrase-in-the-run-37";
const CB: &str = "https://app.example/cb";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Everything secret seen in the run, with what it is.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: &str, value: impl Into<String>) -> Result<()> {
        let value = value.into();
        ensure!(
            value.len() >= 8,
            "{what} is too short to search for: {value:?}"
        );
        self.0.push((what.to_owned(), value));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_of_a_full_run_at_trace_level() -> Result<()> {
    let cluster = Cluster::start(3, |c| c.rust_log = Some("trace".into())).await?;
    let mut seen = Seen::default();
    let cfg = cluster.config().context("generated config")?;
    seen.add("jwt secret", cfg.secrets.jwt_secret.clone().context("jwt")?)?;
    seen.add(
        "cluster secret",
        cfg.secrets.cluster_secret.clone().context("cluster")?,
    )?;
    for p in [PASSWORD, CHANGED, RESET] {
        seen.add("password", p)?;
    }
    let jwt_key = cluster.jwt_secret()?;
    let nodes = webs(&cluster, &web_client()?)?;
    let web = |i: usize| nodes.get(i).map(|(_, w)| w).context("node");

    // Register (CSRF + captcha), verify by the mailed link, log in.
    let name = uniq("leak");
    let email = format!("{name}@example.org");
    let b = Browser::new(&cluster.base_url(1)?)?;
    let r = register_page(&b, &jwt_key, &registration(&name)).await?;
    ensure!(r.status == 200, "register: {}", r.describe());
    seen.add(
        "csrf cookie",
        b.cookie("__Host-authd_csrf")
            .or_else(|| b.cookie("authd_csrf"))
            .context("csrf cookie")?,
    )?;
    seen.add("csrf token", b.get("/login").await?.csrf().context("csrf")?)?;
    let link = mailed(&cluster, 1, &email, "/verify?token=").await?;
    seen.add(
        "verify link",
        link.rsplit("token=").next().unwrap_or_default(),
    )?;
    let r = b.at(&cluster.base_url(2)?).get(path_of(&link)).await?;
    ensure!(r.status == 200, "verify: {}", r.describe());
    let r = b.at(&cluster.base_url(3)?).login(&name, PASSWORD).await?;
    ensure!(r.status == 303, "login: {}", r.describe());
    let cookie = b.cookie("ARXIVNG_SESSION_ID").context("session cookie")?;
    seen.add("session cookie", cookie.clone())?;
    let jwt = web(0)?
        .auth_cookie(&cookie)
        .await?
        .authorization
        .context("upstream JWT")?;
    seen.add("upstream JWT", jwt)?;

    // Change the password (a CSRF token bound to the session), then reset it by mail.
    let form = b.get("/user/password").await?;
    seen.add("csrf token", form.csrf().context("csrf")?)?;
    let r = b
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", CHANGED),
                ("new_password2", CHANGED),
            ],
        )
        .await?;
    ensure!(r.status == 200, "password change: {}", r.describe());
    let other = Browser::new(&cluster.base_url(2)?)?;
    let r = other
        .submit("/password-reset", "/password-reset", &[("email", &email)])
        .await?;
    ensure!(r.status == 200, "reset request: {}", r.describe());
    let link = mailed(&cluster, 2, &email, "/password-reset?token=").await?;
    let token = link.rsplit("token=").next().unwrap_or_default().to_owned();
    seen.add("reset link", token.clone())?;
    let form = other.get(&format!("/password-reset?token={token}")).await?;
    let csrf = form.csrf().context("reset csrf")?;
    seen.add("csrf token", csrf.clone())?;
    let fields = [
        ("token", token.as_str()),
        ("new_password", RESET),
        ("new_password2", RESET),
        ("csrf_token", &csrf),
    ];
    let r = other.post("/password-reset", &fields).await?;
    ensure!(r.status < 400, "reset: {}", r.describe());
    let r = other.login(&name, RESET).await?;
    ensure!(r.status == 303, "login after reset: {}", r.describe());
    let cookie = other
        .cookie("ARXIVNG_SESSION_ID")
        .context("session cookie")?;
    seen.add("session cookie", cookie.clone())?;

    // OAuth2: a confidential client (its secret), client_credentials by Basic and by body,
    // the code grant with consent, refresh; each token used on /auth.
    let (id, secret) = register(
        &cluster,
        1,
        json!({"name": "leaky", "owner": name,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "redirect_uris": [CB], "scopes": ["profile:read"], "url": "https://app.example"}),
    )
    .await?;
    let secret = secret.context("client secret")?;
    seen.add("client secret", secret.clone())?;
    let http = web_client()?;
    let token_url = format!("http://{}/oauth2/token", cluster.node(2)?.http);
    let cc = [("grant_type", "client_credentials")];
    let r = post_form(&http, &token_url, &cc, Some((&id, &secret))).await?;
    seen.add("access token", r.field("access_token")?)?;
    let body = [
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
    ];
    let r = post_form(&http, &token_url, &body, None).await?;
    seen.add("access token", r.field("access_token")?)?;
    let path = authorize_path(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("redirect_uri", CB),
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let consent = consent_form(web(0)?, &cookie, &path).await?;
    for (k, v) in &consent {
        if k == "csrf_token" {
            seen.add("consent csrf token", v.clone())?;
        }
    }
    let loc = decide(web(1)?, &cookie, &consent, "approve").await?;
    let code = query_param(&loc, "code").context("code")?;
    seen.add("authorization code", code.clone())?;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let r = post_form(&http, &token_url, &exchange, Some((&id, &secret))).await?;
    let refresh = r.field("refresh_token")?;
    seen.add("access token", r.field("access_token")?)?;
    seen.add("refresh token", refresh.clone())?;
    let again = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let r = post_form(&http, &token_url, &again, Some((&id, &secret))).await?;
    let access = r.field("access_token")?;
    seen.add("access token", access.clone())?;
    seen.add("refresh token", r.field("refresh_token")?)?;
    let (status, jwt) = bearer(web(2)?, &access).await?;
    ensure!(status == 200, "bearer on /auth: {status}");
    seen.add("upstream JWT", jwt.context("JWT")?)?;

    // An admin token, minted by the operator API (signed with the cluster secret) and used.
    let r = cluster
        .api(1)
        .signed(Method::POST, "/api/v1/tokens", Some(&json!({"user": name})))
        .await?;
    let v = r.expect(200).or_else(|_| r.expect(201))?;
    let admin = v["access_token"]
        .as_str()
        .context("admin token")?
        .to_owned();
    seen.add("admin token", admin.clone())?;
    let (status, _) = bearer(web(1)?, &admin).await?;
    ensure!(status == 200, "admin token on /auth: {status}");

    let mut leaks = Vec::new();
    for node in cluster.node_ids() {
        let log = cluster.logs(node);
        ensure!(
            log.contains("TRACE"),
            "node {node} did not log at trace level"
        );
        for (what, value) in &seen.0 {
            if log.contains(value.as_str()) {
                leaks.push(format!("node {node}: {what}"));
            }
        }
    }
    // The replicated state keeps digests, never a credential a client presents: the WAL and
    // snapshots hold none of them either (the mail outbox, whose links are meant to be there,
    // is not searched).
    let mut files = Vec::new();
    collect_files(&cluster.dir().join("authd-data"), &mut files)?;
    for path in files {
        let bytes = std::fs::read(&path)?;
        for (what, value) in &seen.0 {
            if bytes.windows(value.len()).any(|w| w == value.as_bytes()) {
                leaks.push(format!("{}: {what}", path.display()));
            }
        }
    }
    ensure!(
        leaks.is_empty(),
        "secrets in the logs or the data: {leaks:?}"
    );
    Ok(())
}

/// Every file under `dir`, mail outboxes excluded.
fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if !path.ends_with("outbox") {
                collect_files(&path, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}
