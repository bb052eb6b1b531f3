//! Legacy mode against real databases (SQLite and MariaDB), real processes, real HTTP: the
//! login matrix of reference §4.3, the rows and cookie written, `/auth` on every node for
//! sessions made by either side, logout both ways, and a legacy logout honoured within 1 s.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use authd_legacy::{Flag, TapirCookie, TapirStore};
use authd_tests::tapir::TapirDb;
use authd_tests::{unix_now, wait_until};

use crate::authd_http::{
    Web, assert_accepted_everywhere, jwt_secret, verify_hs256, web_client, webs,
};
use crate::legacy_util::{
    DURATION, TAPIR, auth_tapir, auth_with, cookie_of, ensure_login_refused, legacy_cluster,
    legacy_site_cookie, login_both, logout_with, set_cookie_line, wait_row_ended,
};
use crate::util::uniq;

const PW: &str = "thepassword";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_mode_on_sqlite() -> Result<()> {
    scenario(TapirDb::sqlite().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_mode_on_mariadb() -> Result<()> {
    match TapirDb::mariadb().await? {
        Some(t) => scenario(t).await,
        None => Ok(()),
    }
}

async fn scenario(t: TapirDb) -> Result<()> {
    let (cluster, secret) = legacy_cluster(&t.url).await?;
    let client = web_client()?;
    let webs = webs(&cluster, &client)?;
    let w = match webs.first() {
        Some((_, w)) => w.clone(),
        None => bail!("no nodes"),
    };
    let alice = uniq("a");
    let alice_id = t.add_user(&alice, PW, true).await?;
    t.exec(format!(
        "INSERT INTO arXiv_endorsements (endorsee_id, archive, subject_class, flag_valid, type, point_value)
         VALUES ({alice_id}, 'cs', 'LG', 1, 'user', 10)"
    ))
    .await?;
    login_matrix(&t, &w, &alice).await?;

    // Username login: both cookies, one row with end_time 0, the cookie's fields right.
    let r = w.login(&alice, PW, None).await?;
    ensure!(r.status == 303, "login: {}", r.describe());
    let tapir = cookie_of(&r, TAPIR).unwrap_or_default();
    let c = TapirCookie::verify(&tapir, secret.as_bytes(), unix_now(), DURATION)?;
    ensure!(
        c.user_id == alice_id && c.capabilities == 4 && c.ip == "127.0.0.1",
        "{c:?}"
    );
    ensure!(
        c.issued_at.abs_diff(unix_now()) < 60,
        "issued_at {}",
        c.issued_at
    );
    let row = t.db.session(c.session_id).await?;
    ensure!(
        row.is_some_and(|r| r.end_time == 0 && r.user_id == alice_id as i64),
        "{row:?}"
    );
    ensure!(t.db.audit_ip(c.session_id).await?.as_deref() == Some("127.0.0.1"));
    let line = set_cookie_line(&r, TAPIR)
        .unwrap_or_default()
        .to_ascii_lowercase();
    for attr in ["httponly", "path=/", &format!("max-age={}", DURATION - 1)] {
        ensure!(
            line.split(';').any(|p| p.trim() == attr),
            "{attr} missing: {line}"
        );
    }
    ensure!(
        t.db.sessions_of(alice_id).await?.len() == 1,
        "only successful logins write rows"
    );

    // E-mail login; the legacy-created session is accepted on every node with either cookie.
    let (ng, tapir) = login_both(&w, &format!("{alice}@example.org"), PW).await?;
    assert_accepted_everywhere(&webs, &ng).await?;
    for (id, web) in &webs {
        let r = auth_tapir(web, &tapir).await?;
        ensure!(
            r.status == 200 && r.authorization.is_some(),
            "node {id}: {}",
            r.describe()
        );
    }
    // The upstream JWT carries the legacy authorizations: policy class 2 scopes, the classic
    // capability code and the endorsements computed from the tapir tables.
    let r = auth_tapir(&w, &tapir).await?;
    let claims = verify_hs256(&r.authorization.unwrap_or_default(), &jwt_secret(&cluster)?)?;
    let a = &claims["authorizations"];
    ensure!(
        a["classic"] == 4 && a["endorsements"] == serde_json::json!(["cs.LG"]),
        "{claims}"
    );
    let scopes = a["scopes"].as_array().cloned().unwrap_or_default();
    ensure!(scopes.contains(&"submission:create".into()), "{claims}");
    ensure!(
        claims["user"]["user_id"].as_str() == Some(alice_id.to_string().as_str()),
        "{claims}"
    );

    // authd logout (NG cookie) ends the tapir row too, and the tapir cookie with it.
    let tid = TapirCookie::unpack(&tapir, secret.as_bytes())?.session_id;
    let r = w.logout(&ng).await?;
    ensure!(
        r.status == 303 && cookie_of(&r, TAPIR).as_deref() == Some(""),
        "{}",
        r.describe()
    );
    wait_row_ended(
        &t,
        tid,
        "the tapir row ended by authd logout",
        Duration::from_secs(5),
    )
    .await?;
    refused_everywhere(&webs, &tapir).await?;

    // Logout with only the tapir cookie ends the authd session too.
    let (ng2, tapir2) = login_both(&webs[1].1, &alice, PW).await?;
    let r = logout_with(&w, &client, &format!("{TAPIR}={tapir2}")).await?;
    ensure!(r.status == 303, "{}", r.describe());
    crate::authd_http::assert_refused_everywhere(&webs, &ng2, "ended by tapir logout").await?;
    let tid2 = TapirCookie::unpack(&tapir2, secret.as_bytes())?.session_id;
    ensure!(
        t.db.session(tid2).await?.is_some_and(|r| r.end_time != 0),
        "row 2 not ended"
    );

    legacy_site_sessions(&t, &webs, &secret, alice_id).await?;
    concurrent_logins(&t, &webs, &alice, alice_id).await?;
    cluster.check_alive()?;
    Ok(())
}

/// Every refused login: 400, one generic message, no cookie, no row.
async fn login_matrix(t: &TapirDb, w: &Web, alice: &str) -> Result<()> {
    let mut cases: Vec<(String, String, &str)> = vec![
        (alice.into(), "wrong".into(), "wrong password"),
        (uniq("nobody"), PW.into(), "unknown user"),
        (format!("{alice}é"), PW.into(), "non-ASCII username"),
        (alice.into(), "thépassword".into(), "non-ASCII password"),
        ("a".repeat(256), PW.into(), "over-long username"),
    ];
    for (flag, value, what) in [
        (Flag::Banned, true, "banned"),
        (Flag::Deleted, true, "deleted"),
        (Flag::Approved, false, "unapproved"),
        (Flag::NicknameValid, false, "invalid nickname"),
        (Flag::Verified, false, "unverified"),
    ] {
        let nick = uniq("u");
        let id = t.add_user(&nick, PW, true).await?;
        t.set_flag(id, flag, value).await?;
        cases.push((format!("{nick}@example.org"), PW.into(), what));
        cases.push((nick, PW.into(), what));
    }
    for (login, password, what) in cases {
        let r = w.login(&login, &password, None).await?;
        ensure_login_refused(&r, 400, "Invalid username or password.", what)?;
    }
    Ok(())
}

async fn refused_everywhere(webs: &[(u64, Web)], tapir: &str) -> Result<()> {
    for (id, w) in webs {
        let r = auth_tapir(w, tapir).await?;
        ensure!(
            r.status == 401 && r.authorization.is_none(),
            "node {id}: {}",
            r.describe()
        );
        ensure!(
            set_cookie_line(&r, TAPIR).is_some(),
            "node {id}: no clearing: {}",
            r.describe()
        );
    }
    Ok(())
}

/// The legacy site's own logins: accepted once checked; its logout honoured within 1 s.
async fn legacy_site_sessions(
    t: &TapirDb,
    webs: &[(u64, Web)],
    secret: &str,
    user: u64,
) -> Result<()> {
    let now = unix_now();
    let sid = t.db.create_session(user, now, "10.0.0.9").await?;
    let cookie = legacy_site_cookie(sid, user, now, secret);
    // Asked on every node at once, every answer as it comes: the first request with a new
    // cookie is answered 200 on any node (checked once, then waited for locally), never 503.
    let firsts = futures::future::join_all(webs.iter().map(|(id, w)| {
        let (w, cookie) = (w.clone().raw(), cookie.clone());
        async move { (*id, auth_tapir(&w, &cookie).await) }
    }))
    .await;
    for (id, r) in firsts {
        let r = r?;
        ensure!(
            r.status == 200 && r.authorization.is_some(),
            "node {id}: {}",
            r.describe()
        );
    }
    for (id, w) in webs {
        let r = auth_tapir(w, &cookie).await?;
        ensure!(
            r.status == 200 && r.authorization.is_some(),
            "node {id}: {}",
            r.describe()
        );
    }
    // Forged, malformed, wrong-user and duplicate values: refused, never a 500; the first valid wins.
    let w = &webs[0].1;
    let forged = legacy_site_cookie(sid, user, now, "not-the-secret");
    let wrong_user = legacy_site_cookie(sid, user + 1, now, secret);
    for bad in [
        forged.as_str(),
        "1:2:3",
        "x:y:z:w:v:u",
        &"9".repeat(400),
        wrong_user.as_str(),
    ] {
        let r = auth_tapir(w, bad).await?;
        ensure!(r.status == 401, "{bad:?}: {}", r.describe());
    }
    let r = auth_with(
        w,
        &format!("{TAPIR}={forged}; {TAPIR}=junk; {TAPIR}={cookie}"),
    )
    .await?;
    ensure!(
        r.status == 200,
        "duplicates tried in order: {}",
        r.describe()
    );

    // Legacy logout: end_time set by the legacy site; every node refuses within 1 s.
    t.db.end_session(sid, unix_now()).await?;
    let start = Instant::now();
    wait_until(
        "legacy logout honoured on every node",
        Duration::from_secs(1),
        || async {
            for (id, w) in webs {
                let r = auth_tapir(&w.clone().raw(), &cookie).await?;
                ensure!(r.status == 401, "node {id}: {}", r.describe());
            }
            Ok(())
        },
    )
    .await?;
    eprintln!(
        "legacy logout honoured everywhere after {:?}",
        start.elapsed()
    );

    // A banned user's legacy session is not accepted (flags re-checked, unlike the original).
    let nick = uniq("b");
    let banned = t.add_user(&nick, PW, true).await?;
    t.set_flag(banned, Flag::Banned, true).await?;
    let bsid = t.db.create_session(banned, now, "10.0.0.9").await?;
    let r = auth_tapir(w, &legacy_site_cookie(bsid, banned, now, secret)).await?;
    ensure!(r.status == 401, "banned: {}", r.describe());
    Ok(())
}

/// 100 concurrent logins across the nodes: 100 distinct tapir rows.
async fn concurrent_logins(t: &TapirDb, webs: &[(u64, Web)], login: &str, user: u64) -> Result<()> {
    let before = t.db.sessions_of(user).await?.len();
    let futs = (0..100).map(|i| {
        let w = webs[i % webs.len()].1.clone();
        async move { login_both(&w, login, PW).await }
    });
    let mut ids = BTreeSet::new();
    for r in futures::future::join_all(futs).await {
        let (_, tapir) = r?;
        ids.insert(tapir.split(':').next().unwrap_or_default().to_owned());
    }
    ensure!(ids.len() == 100, "{} distinct tapir sessions", ids.len());
    let after = t.db.sessions_of(user).await?.len();
    ensure!(after == before + 100, "rows: {before} -> {after}");
    Ok(())
}
