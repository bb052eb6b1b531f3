//! `/register`, `/captcha`, `/verify` over HTTP on a 3-node cluster: success and every error
//! path (CSRF missing or forged, field errors, wrong or reused captcha, taken username, taken
//! e-mail answered like success, unverified login, used, forged and expired links, escaping).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use authd_tests::browser::{Browser, Page, mailed_links, page_key, solve_captcha};
use authd_tests::{Cluster, wait_until};
use authd_web::pages::tokens::Link;

use crate::util::{PASSWORD, uniq};

/// Every field of a valid registration, for `username`.
pub(crate) fn registration(username: &str) -> Vec<(String, String)> {
    [
        ("email", format!("{username}@example.org")),
        ("username", username.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("password2", PASSWORD.to_owned()),
        ("forename", "Ada".to_owned()),
        ("surname", "Lovelace".to_owned()),
        ("affiliation", "Analytical Engines Ltd".to_owned()),
        ("country", "GB".to_owned()),
        ("rank", "2".to_owned()),
        ("groups", "grp_math".to_owned()),
        ("groups", "grp_cs".to_owned()),
        ("default_category", "math.CO".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Load `/register`, then post `fields` with its CSRF token and the captcha answered.
pub(crate) async fn register(
    b: &Browser,
    secret: &[u8],
    fields: &[(String, String)],
) -> Result<Page> {
    let form = b.get("/register").await?;
    let csrf = form.csrf().context("register form has no CSRF token")?;
    let token = form
        .captcha_token()
        .context("register form has no captcha")?;
    let answer = solve_captcha(secret, &token, "127.0.0.1")?;
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend([
        ("csrf_token", csrf.as_str()),
        ("captcha_token", token.as_str()),
        ("captcha_value", answer.as_str()),
    ]);
    b.post("/register", &all).await
}

/// The newest link with `path` mailed to `email` by node `id`.
pub(crate) async fn mailed(cluster: &Cluster, id: u64, email: &str, path: &str) -> Result<String> {
    let dir = cluster.data_dir(id)?;
    let prefix = format!("{}{path}", cluster.base_url(id)?);
    wait_until(
        &format!("a mail with {path} to {email}"),
        Duration::from_secs(10),
        || {
            let found = mailed_links(&dir, email, &prefix).pop();
            async move { found.ok_or_else(|| anyhow::anyhow!("no such mail yet")) }
        },
    )
    .await
}

pub(crate) fn path_of(link: &str) -> &str {
    link.find("/verify").map_or(link, |i| &link[i..])
}

#[tokio::test]
async fn registration_verification_and_their_error_paths() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let secret = cluster.jwt_secret()?;
    let b = Browser::new(&cluster.base_url(1)?)?;
    let name = uniq("reg");
    let fields = registration(&name);

    // The page, its headers, its captcha picture.
    let form = b.get("/register").await?;
    assert_eq!(form.status, 200, "{}", form.describe());
    assert!(
        form.header("content-security-policy")
            .is_some_and(|v| v.contains("frame-ancestors 'none'"))
    );
    assert_eq!(form.header("x-frame-options"), Some("DENY"));
    assert_eq!(form.header("x-content-type-options"), Some("nosniff"));
    assert!(form.header("referrer-policy").is_some());
    let token = form.captcha_token().context("no captcha")?;
    let img = b.get(&format!("/captcha?token={token}")).await?;
    assert_eq!(img.status, 200);
    assert_eq!(img.header("content-type"), Some("image/png"));
    assert!(
        !form
            .body
            .contains(&solve_captcha(&secret, &token, "127.0.0.1")?),
        "the page must not carry the answer"
    );
    assert_eq!(b.get("/captcha?token=forged.1.x").await?.status, 400);
    assert_eq!(b.get("/captcha").await?.status, 400);

    // CSRF: missing, forged, from another browser.
    let plain: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        b.post("/register", &plain).await?.status,
        403,
        "no CSRF token"
    );
    let zeros = "00".repeat(32);
    let mut forged = plain.clone();
    forged.push(("csrf_token", zeros.as_str()));
    assert_eq!(
        b.post("/register", &forged).await?.status,
        403,
        "forged CSRF token"
    );
    let other = Browser::new(&cluster.base_url(1)?)?;
    let mut stolen = plain.clone();
    let csrf = form.csrf().context("no csrf")?;
    stolen.push(("csrf_token", csrf.as_str()));
    assert_eq!(
        other.post("/register", &stolen).await?.status,
        403,
        "a token from another browser"
    );
    assert!(
        cluster.api(1).get_user(&name).await?.status == 404,
        "a refused form changed nothing"
    );

    // Field errors, each tied to its input.
    let bad: Vec<(String, String)> = [
        ("email", "not-an-address"),
        ("username", "abc"),
        ("password", "short"),
        ("password2", "short"),
        ("country", "XX"),
        ("rank", "9"),
        ("default_category", "none"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let r = register(&b, &secret, &bad).await?;
    assert_eq!(r.status, 400, "{}", r.describe());
    for f in [
        "email",
        "username",
        "password",
        "forename",
        "surname",
        "affiliation",
        "country",
        "rank",
        "groups",
        "default_category",
    ] {
        assert!(
            r.field_error(f).is_some(),
            "no error for {f}: {}",
            r.describe()
        );
    }
    assert!(
        r.body.contains("aria-describedby=\"email-error\""),
        "errors are tied to their inputs"
    );
    let mut mismatch = fields.clone();
    mismatch.retain(|(k, _)| k != "password2");
    mismatch.push(("password2".into(), "something-else-entirely".into()));
    let r = register(&b, &secret, &mismatch).await?;
    assert!(r.field_error("password2").is_some(), "{}", r.describe());

    // A wrong captcha answer.
    let form = b.get("/register").await?;
    let mut wrong: Vec<(&str, &str)> = plain.clone();
    let (csrf, token) = (
        form.csrf().context("csrf")?,
        form.captcha_token().context("captcha")?,
    );
    wrong.extend([
        ("csrf_token", csrf.as_str()),
        ("captcha_token", token.as_str()),
        ("captcha_value", "ZZZZZZ"),
    ]);
    let r = b.post("/register", &wrong).await?;
    assert_eq!(r.status, 400);
    assert!(r.field_error("captcha_value").is_some(), "{}", r.describe());
    assert!(!r.body.contains(PASSWORD), "a password is never echoed");

    // Success: unverified account, a mail with a link.
    let r = register(&b, &secret, &fields).await?;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body.contains("Check your e-mail"), "{}", r.describe());
    let user = cluster.api(1).get_user(&name).await?.expect(200)?;
    assert_eq!(user["verified"], false);

    // The same captcha twice: refused (single-use across the cluster).
    let form = b.get("/register").await?;
    let (csrf, token) = (
        form.csrf().context("csrf")?,
        form.captcha_token().context("captcha")?,
    );
    let answer = solve_captcha(&secret, &token, "127.0.0.1")?;
    let second = registration(&uniq("regb"));
    let mut once: Vec<(&str, &str)> = second
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    once.extend([
        ("csrf_token", csrf.as_str()),
        ("captcha_token", token.as_str()),
        ("captcha_value", answer.as_str()),
    ]);
    assert_eq!(b.post("/register", &once).await?.status, 200);
    let again = b.at(&cluster.base_url(2)?).post("/register", &once).await?;
    assert_eq!(
        again.status,
        400,
        "a used captcha on another node: {}",
        again.describe()
    );
    assert!(
        again.field_error("captcha_value").is_some() || again.field_error("username").is_some()
    );

    // Taken username: a field error. Taken e-mail: the same answer as success, and a notice mail.
    let mut dup_name = registration(&name);
    dup_name.retain(|(k, _)| k != "email");
    dup_name.push(("email".into(), format!("{}@example.org", uniq("other"))));
    let r = register(&b, &secret, &dup_name).await?;
    assert_eq!(r.status, 400);
    assert!(r.field_error("username").is_some(), "{}", r.describe());
    let mut dup_mail = registration(&uniq("regc"));
    dup_mail.retain(|(k, _)| k != "email");
    dup_mail.push(("email".into(), format!("{name}@example.org")));
    let r = register(&b, &secret, &dup_mail).await?;
    assert_eq!(
        r.status,
        200,
        "a taken e-mail looks like success: {}",
        r.describe()
    );

    // Not verified yet: login refused with its own message, and a fresh link is sent.
    let r = b.login(&name, PASSWORD).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not verified"), "{}", r.describe());
    assert!(b.cookie("ARXIVNG_SESSION_ID").is_none());

    // The link: forged, expired, good (on another node), reused.
    let email = format!("{name}@example.org");
    let link = mailed(&cluster, 1, &email, "/verify?token=").await?;
    let path = path_of(&link).to_owned();
    let b2 = b.at(&cluster.base_url(2)?);
    let mut forged_path = path.clone();
    let last = forged_path.pop().context("empty link")?;
    forged_path.push(if last == '0' { '1' } else { '0' });
    let r = b2.get(&forged_path).await?;
    assert_eq!(r.status, 400, "{}", r.describe());
    let uid: u64 = user["id"].as_u64().context("numeric id")?;
    let expired = Link::issue(
        &page_key(&secret)?,
        "verify",
        uid,
        1,
        &"ab".repeat(16),
        &email,
    );
    let r = b2.get(&format!("/verify?token={expired}")).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("expired"), "{}", r.describe());
    let r = b2.get(&path).await?;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body.contains("verified"), "{}", r.describe());
    let r = b.at(&cluster.base_url(3)?).get(&path).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("already used"), "{}", r.describe());
    assert_eq!(
        cluster.api(3).get_user(&name).await?.expect(200)?["verified"],
        true
    );

    // Now the login works, on any node.
    let r = b.at(&cluster.base_url(3)?).login(&name, PASSWORD).await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.location.as_deref(), Some("/user"));
    let profile = b.at(&cluster.base_url(2)?).get("/user").await?;
    assert_eq!(profile.status, 200, "{}", profile.describe());
    for shown in [
        name.as_str(),
        "Ada",
        "Lovelace",
        "Analytical Engines Ltd",
        "United Kingdom",
        "Professor",
        "math.CO",
    ] {
        if !profile.body.contains(shown) {
            bail!("profile lacks {shown:?}: {}", profile.describe());
        }
    }
    Ok(())
}

#[tokio::test]
async fn user_input_is_escaped_everywhere_it_is_shown() -> Result<()> {
    let cluster = Cluster::start(1, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let secret = cluster.jwt_secret()?;
    let b = Browser::new(&cluster.base_url(1)?)?;
    let name = uniq("xss");
    let mut fields = registration(&name);
    fields.retain(|(k, _)| k != "forename" && k != "affiliation");
    fields.push(("forename".into(), "<script>alert(1)</script>".into()));
    fields.push((
        "affiliation".into(),
        "\"><img src=x onerror=alert(2)>".into(),
    ));
    let r = register(&b, &secret, &fields).await?;
    assert_eq!(r.status, 200, "{}", r.describe());
    let link = mailed(
        &cluster,
        1,
        &format!("{name}@example.org"),
        "/verify?token=",
    )
    .await?;
    assert_eq!(b.get(path_of(&link)).await?.status, 200);
    assert_eq!(b.login(&name, PASSWORD).await?.status, 303);
    let profile = b.get("/user").await?;
    assert!(
        profile
            .body
            .replace("&#60;", "&lt;")
            .replace("&#62;", "&gt;")
            .contains("&lt;script&gt;alert(1)"),
        "{}",
        profile.describe()
    );
    assert!(!profile.body.contains("<script>"));
    assert!(!profile.body.contains("<img src=x"));
    // A failed login echoes the typed name, escaped.
    let anon = Browser::new(&cluster.base_url(1)?)?;
    let r = anon.login("<b>bold</b>", "wrong-password").await?;
    assert!(
        r.body
            .replace("&#60;", "&lt;")
            .replace("&#62;", "&gt;")
            .contains("&lt;b&gt;bold")
            && !r.body.contains("<b>bold"),
        "{}",
        r.describe()
    );
    Ok(())
}
