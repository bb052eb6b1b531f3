//! Helpers for the legacy (tapir) tests: a cluster in legacy mode and its cookies.

use anyhow::{Context, Result, bail};
use authd_legacy::TapirCookie;
use authd_tests::{Cluster, LegacySection, LoginTuning, random_hex};

use crate::authd_http::{AuthReq, Web, WebResp};

/// The default `[legacy] cookie_name`.
pub const TAPIR: &str = "tapir_session";
/// `[legacy] session_duration` in these tests.
pub const DURATION: u64 = 7200;

/// A 3-node cluster in legacy mode on `url`, and the legacy cookie secret it shares.
pub async fn legacy_cluster(url: &str) -> Result<(Cluster, String)> {
    let secret = format!("legacy-{}", random_hex(16)?);
    let (u, s) = (url.to_owned(), secret.clone());
    let cluster = Cluster::start(3, move |c| {
        // 100 concurrent logins from one address are the point of one test, not an attack.
        c.login = Some(LoginTuning {
            max_failures_per_account: 1000,
            max_failures_per_ip: 10_000,
            window_secs: 900,
            lockout_secs: 900,
        });
        c.legacy = Some(LegacySection {
            database_url: u.clone(),
            cookie_secret: s.clone(),
            session_duration: DURATION,
        });
    })
    .await?;
    Ok((cluster, secret))
}

/// The full `Set-Cookie` line a response sets for `name`.
pub fn set_cookie_line<'a>(r: &'a WebResp, name: &str) -> Option<&'a str> {
    r.set_cookie
        .iter()
        .map(String::as_str)
        .find(|c| c.split_once('=').is_some_and(|(k, _)| k.trim() == name))
}

/// The value a response sets for cookie `name`.
pub fn cookie_of(r: &WebResp, name: &str) -> Option<String> {
    let line = set_cookie_line(r, name)?;
    let first = line.split(';').next()?;
    first.split_once('=').map(|(_, v)| v.trim().to_owned())
}

/// A successful login: (NG cookie, tapir cookie).
pub async fn login_both(w: &Web, login: &str, password: &str) -> Result<(String, String)> {
    let r = w.login(login, password, None).await?;
    if r.status != 303 {
        bail!("legacy login of {login}: {}", r.describe());
    }
    let ng = cookie_of(&r, crate::authd_http::COOKIE_NAME).filter(|v| !v.is_empty());
    let tapir = cookie_of(&r, TAPIR).filter(|v| !v.is_empty());
    match (ng, tapir) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => bail!(
            "legacy login of {login} did not set both cookies: {}",
            r.describe()
        ),
    }
}

/// `/auth` with only the given raw `Cookie` header.
pub async fn auth_with(w: &Web, cookie_header: &str) -> Result<WebResp> {
    w.auth(&AuthReq {
        cookie_header: Some(cookie_header),
        ..AuthReq::default()
    })
    .await
}

/// `/auth` with one tapir cookie.
pub async fn auth_tapir(w: &Web, value: &str) -> Result<WebResp> {
    auth_with(w, &format!("{TAPIR}={value}")).await
}

/// `GET /logout` with a raw `Cookie` header.
pub async fn logout_with(
    w: &Web,
    client: &reqwest::Client,
    cookie_header: &str,
) -> Result<WebResp> {
    let resp = client
        .get(format!("{}/logout", w.base))
        .header(reqwest::header::COOKIE, cookie_header)
        .send()
        .await
        .context("GET /logout")?;
    crate::authd_http::WebResp::read_pub(resp).await
}

/// A cookie as the legacy site would issue it for its own login (row `session_id`).
pub fn legacy_site_cookie(session_id: u64, user_id: u64, issued_at: u64, secret: &str) -> String {
    TapirCookie {
        session_id,
        user_id,
        ip: "10.0.0.9".into(),
        issued_at,
        capabilities: 4,
    }
    .pack(secret.as_bytes())
}

/// Wait until the tapir row `session_id` shows an end time (a logout written to the database).
pub async fn wait_row_ended(
    t: &authd_tests::tapir::TapirDb,
    session_id: u64,
    what: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    use authd_legacy::TapirStore;
    authd_tests::wait_until(what, timeout, || async {
        match t.db.session(session_id).await? {
            Some(r) if r.end_time != 0 => Ok(()),
            other => bail!("{other:?}"),
        }
    })
    .await
}

/// A login that must fail: `status`, no cookie set, `text` on the page.
pub fn ensure_login_refused(r: &WebResp, status: u16, text: &str, what: &str) -> Result<()> {
    anyhow::ensure!(r.status == status, "{what}: {}", r.describe());
    anyhow::ensure!(
        r.set_cookie.is_empty(),
        "{what}: cookies set: {:?}",
        r.set_cookie
    );
    anyhow::ensure!(r.body.contains(text), "{what}: {}", r.body);
    Ok(())
}
