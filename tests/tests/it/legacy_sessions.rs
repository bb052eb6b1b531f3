//! Sessions and cookies in legacy mode, on real MariaDB: the pages honour a `tapir_session`
//! like `/auth` does; legacy sessions of different users in one request are not a login;
//! logout also empties the classic site's `submit_session` and `tapir_permanent`; and the
//! brute-force counter of an account not imported yet is keyed on the tapir account, so every
//! spelling the database matches (nickname, e-mail, other case) shares it.

use std::time::Duration;

use anyhow::{Result, ensure};
use authd_legacy::TapirStore;
use authd_tests::tapir::TapirDb;
use authd_tests::{Cluster, LegacySection, random_hex, unix_now};

use crate::authd_http::{AuthReq, Web, WebResp, web_client, webs};
use crate::legacy_util::{
    DURATION, TAPIR, legacy_site_cookie, login_both, logout_with, set_cookie_line,
};
use crate::util::uniq;

const PW: &str = "thepassword";

async fn page(w: &Web, path: &str, cookie: &str) -> Result<WebResp> {
    w.get_with(
        path,
        &AuthReq {
            cookie_header: Some(cookie),
            ..AuthReq::default()
        },
    )
    .await
}

fn clears(r: &WebResp, name: &str) -> bool {
    r.set_cookie.iter().any(|c| {
        c.starts_with(&format!("{name}=;")) && c.to_ascii_lowercase().contains("max-age=0")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_pages_planted_sessions_logout_cookies_and_lockout_per_account() -> Result<()> {
    let Some(t) = TapirDb::mariadb().await? else {
        return Ok(());
    };
    let secret = format!("legacy-{}", random_hex(16)?);
    let (url, s) = (t.url.clone(), secret.clone());
    // Default `[login]` limits: 10 failures lock an account.
    let cluster = Cluster::start(3, move |c| {
        c.legacy = Some(LegacySection {
            database_url: url.clone(),
            cookie_secret: s.clone(),
            session_duration: DURATION,
        });
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let w = &nodes[0].1;

    // A session from the classic site's own login is a login on the pages too.
    let nick = uniq("lp");
    let id = t.add_user(&nick, PW, true).await?;
    let now = unix_now();
    let sid = t.db.create_session(id, now, "10.0.0.9").await?;
    let classic = format!("{TAPIR}={}", legacy_site_cookie(sid, id, now, &secret));
    let r = page(w, "/login?next_page=%2Fuser%2Fsessions", &classic).await?;
    ensure!(
        r.status == 303 && r.location.as_deref() == Some("/user/sessions"),
        "GET /login with a legacy session moves on: {}",
        r.describe()
    );
    let r = page(&nodes[1].1, "/user", &classic).await?;
    ensure!(
        r.status == 200 && r.body.contains(&nick),
        "{}",
        r.describe()
    );

    // Legacy sessions of two users in one request: not a login, on /auth or the pages.
    let other = uniq("lq");
    t.add_user(&other, PW, true).await?;
    let (_, other_tapir) = login_both(w, &other, PW).await?;
    let both = format!("{classic}; {TAPIR}={other_tapir}");
    let r = page(&nodes[2].1, "/auth", &both).await?;
    ensure!(r.status == 401, "planted legacy session: {}", r.describe());
    let r = page(&nodes[2].1, "/user", &both).await?;
    ensure!(r.status == 303, "the pages see no login: {}", r.describe());
    let r = page(&nodes[2].1, "/auth", &classic).await?;
    ensure!(r.status == 200, "alone it still works: {}", r.describe());

    // Logout empties the classic site's cookies too.
    let r = logout_with(w, &client, &classic).await?;
    ensure!(r.status == 303, "{}", r.describe());
    for name in [TAPIR, "submit_session", "tapir_permanent"] {
        ensure!(clears(&r, name), "logout clears {name}: {}", r.describe());
    }
    ensure!(
        set_cookie_line(&r, "submit_session").is_some_and(|c| !c.contains("Domain=")),
        "submit_session is host-only, as the classic site sets it"
    );

    // Lockout per account: 10 wrong passwords by nickname lock the e-mail and other spellings.
    let target = uniq("lk");
    t.add_user(&target, PW, true).await?;
    for i in 0..10 {
        let r = w.login(&target, "wrong-password", None).await?;
        ensure!(r.status == 400, "wrong password {i}: {}", r.describe());
    }
    for spelling in [format!("{target}@example.org"), target.to_uppercase()] {
        let r = nodes[1].1.login(&spelling, PW, None).await?;
        ensure!(
            r.status == 429,
            "{spelling} shares the locked account's counter: {}",
            r.describe()
        );
    }
    Ok(())
}
