//! The legacy database goes away mid-test (a private `mariadbd`, killed): login answers 503
//! with a clear page (never 500), existing sessions keep working from replicated state, a
//! logout still ends the authd session at once and the tapir row once the database is back,
//! and everything recovers by itself.

use std::time::Duration;

use anyhow::{Result, ensure};
use authd_legacy::{TapirCookie, TapirStore};
use authd_tests::tapir::{PrivateMariaDb, TapirDb};
use authd_tests::{unix_now, wait_until};

use crate::authd_http::{assert_accepted_everywhere, assert_refused_everywhere, web_client, webs};
use crate::legacy_util::{
    auth_tapir, ensure_login_refused, legacy_cluster, legacy_site_cookie, login_both,
    wait_row_ended,
};
use crate::util::uniq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_stopped_mid_test() -> Result<()> {
    let Some(mut server) = PrivateMariaDb::start().await? else {
        return Ok(());
    };
    let t = TapirDb::on_server(&server.server_url()).await?;
    let (cluster, secret) = legacy_cluster(&t.url).await?;
    let client = web_client()?;
    let webs = webs(&cluster, &client)?;
    let w = webs[0].1.clone();
    let nick = uniq("o");
    let user = t.add_user(&nick, "thepassword", true).await?;
    let (ng_a, tapir_a) = login_both(&w, &nick, "thepassword").await?;
    let (ng_b, tapir_b) = login_both(&webs[2].1, &nick, "thepassword").await?;
    let now = unix_now();
    let seen = legacy_site_cookie(
        t.db.create_session(user, now, "10.0.0.9").await?,
        user,
        now,
        &secret,
    );
    ensure!(
        auth_tapir(&w, &seen).await?.status == 200,
        "legacy-site session before the outage"
    );
    let unseen = legacy_site_cookie(
        t.db.create_session(user, now, "10.0.0.9").await?,
        user,
        now,
        &secret,
    );

    server.stop()?;
    t.db.close().await;

    // Login: 503 with a page saying so; no cookie; never a 500.
    for (id, web) in &webs {
        let r = web.login(&nick, "thepassword", None).await?;
        let what = format!("node {id}");
        ensure_login_refused(&r, 503, "briefly unavailable; nothing was changed", &what)?;
    }
    // Existing sessions keep working, with either cookie.
    assert_accepted_everywhere(&webs, &ng_a).await?;
    for (id, web) in &webs {
        for c in [&tapir_a, &seen] {
            let r = auth_tapir(web, c).await?;
            ensure!(r.status == 200, "node {id}: {}", r.describe());
        }
        // A legacy cookie never checked before cannot be checked now: 503, not 200, not 500.
        let r = auth_tapir(&web.clone().raw(), &unseen).await?;
        ensure!(
            r.status == 503,
            "node {id}: unseen cookie: {}",
            r.describe()
        );
    }
    // Logout still ends the authd session at once; the tapir row waits for the database.
    let r = w.logout(&ng_b).await?;
    ensure!(
        r.status == 303,
        "logout during the outage: {}",
        r.describe()
    );
    assert_refused_everywhere(&webs, &ng_b, "logged out during the outage").await?;
    for (id, web) in &webs {
        let r = auth_tapir(web, &tapir_b).await?;
        ensure!(
            r.status == 401,
            "node {id}: tapir cookie of the ended login: {}",
            r.describe()
        );
    }

    server.resume().await?;
    let t = TapirDb::reopen(&t.url)?;
    wait_until("login works again", Duration::from_secs(30), || async {
        let r = w.login(&nick, "thepassword", None).await?;
        ensure!(r.status == 303, "{}", r.describe());
        Ok(())
    })
    .await?;
    let tid_b = TapirCookie::unpack(&tapir_b, secret.as_bytes())?.session_id;
    wait_row_ended(
        &t,
        tid_b,
        "the deferred tapir logout is written",
        Duration::from_secs(10),
    )
    .await?;
    let r = auth_tapir(&w, &unseen).await?;
    ensure!(
        r.status == 200,
        "unseen cookie after recovery: {}",
        r.describe()
    );
    cluster.check_alive()?;
    for id in cluster.node_ids() {
        ensure!(!cluster.logs(id).contains("panicked"), "node {id} panicked");
    }
    Ok(())
}
