//! `/login`, `/logout`, `/user`, `/user/edit`, `/user/password`, `/user/sessions` and
//! `/password-reset` over HTTP on a 3-node cluster: owner-only access, CSRF on every form,
//! field errors, and the revocations these pages cause seen by `/auth` on every node.

use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::browser::{Browser, mailed_links, page_key};
use authd_tests::{Cluster, wait_until};
use authd_web::pages::tokens::Link;

use crate::authd_http::{assert_accepted_everywhere, assert_refused_everywhere, web_client, webs};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

const NEW_PASSWORD: &str = "a-brand-new-passphrase-77";

async fn three_nodes_with_user(prefix: &str) -> Result<(Cluster, String, u64)> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq(prefix);
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    let id = user["id"].as_u64().context("numeric user id")?;
    Ok((cluster, name, id))
}

fn session_cookie(b: &Browser) -> Result<String> {
    b.cookie("ARXIVNG_SESSION_ID")
        .context("no session cookie in the jar")
}

#[tokio::test]
async fn login_logout_and_the_owner_pages() -> Result<()> {
    let (cluster, name, _) = three_nodes_with_user("acct").await?;
    let nodes = webs(&cluster, &web_client()?)?;
    let b = Browser::new(&cluster.base_url(1)?)?;

    // Anonymous: owner pages send to the login page, coming back afterwards.
    for path in ["/user", "/user/edit", "/user/password", "/user/sessions"] {
        let r = b.get(path).await?;
        assert_eq!(r.status, 303, "{path}: {}", r.describe());
        let to = r.location.clone().unwrap_or_default();
        assert!(to.starts_with("/login?next_page="), "{path} -> {to}");
    }
    // A login POST without the form's token changes nothing.
    let r = b
        .post("/login", &[("username", &name), ("password", PASSWORD)])
        .await?;
    assert_eq!(r.status, 403, "{}", r.describe());
    assert!(b.cookie("ARXIVNG_SESSION_ID").is_none());

    // Login with a safe next_page goes there; an unsafe one goes to the default.
    let form = b.get("/login?next_page=%2Fuser%2Fsessions").await?;
    let csrf = form.csrf().context("csrf")?;
    assert!(
        form.body
            .contains("name=\"next_page\" value=\"/user/sessions\"")
    );
    let r = b
        .post(
            "/login",
            &[
                ("username", name.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
                ("next_page", "/user/sessions"),
            ],
        )
        .await?;
    assert_eq!(
        r.location.as_deref(),
        Some("/user/sessions"),
        "{}",
        r.describe()
    );
    let cookie = session_cookie(&b)?;
    assert_accepted_everywhere(&nodes, &cookie).await?;
    // Logged in: the login page moves on; an unsafe target is ignored.
    let r = b
        .get("/login?next_page=https%3A%2F%2Fevil.example%2F")
        .await?;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/user"));

    // The profile on another node, the banner's logout form, and every page's headers.
    let b2 = b.at(&cluster.base_url(2)?);
    let profile = b2.get("/user").await?;
    assert_eq!(profile.status, 200, "{}", profile.describe());
    assert!(profile.body.contains(&name));
    assert_eq!(profile.header("x-frame-options"), Some("DENY"));
    assert!(
        profile
            .header("cache-control")
            .is_some_and(|v| v.contains("no-store"))
    );

    // Edit: CSRF, field errors, success seen on node 3.
    let r = b2.post("/user/edit", &[("forename", "X")]).await?;
    assert_eq!(r.status, 403);
    let r = b2
        .submit("/user/edit", "/user/edit", &[("forename", "")])
        .await?;
    assert_eq!(r.status, 400);
    assert!(
        r.field_error("forename").is_some() && r.field_error("country").is_some(),
        "{}",
        r.describe()
    );
    let good = [
        ("forename", "Grace"),
        ("surname", "Hopper"),
        ("suffix", ""),
        ("affiliation", "Navy"),
        ("country", "US"),
        ("rank", "1"),
        ("groups", "grp_cs"),
        ("default_category", "cs.PL"),
        ("homepage_url", "https://example.org/grace"),
    ];
    let r = b2.submit("/user/edit", "/user/edit", &good).await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    let p3 = b.at(&cluster.base_url(3)?).get("/user").await?;
    for shown in ["Grace", "Hopper", "Navy", "United States", "Staff", "cs.PL"] {
        assert!(
            p3.body.contains(shown),
            "node 3 profile lacks {shown}: {}",
            p3.describe()
        );
    }
    let form = b.get("/user/edit").await?;
    assert!(
        form.body.contains("value=\"Grace\""),
        "the edit form is pre-filled"
    );

    // Logout: the banner form needs its token; then the cookie is dead on every node.
    let r = b.post("/logout", &[]).await?;
    assert_eq!(r.status, 403);
    assert_accepted_everywhere(&nodes, &cookie).await?;
    let r = b.submit("/user", "/logout", &[]).await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_refused_everywhere(&nodes, &cookie, "after logout").await?;
    assert_eq!(b.get("/user").await?.status, 303);
    // GET /logout works for anonymous browsers too (reference §4.4).
    assert_eq!(
        Browser::new(&cluster.base_url(3)?)?
            .get("/logout")
            .await?
            .status,
        303
    );
    Ok(())
}

#[tokio::test]
async fn password_change_and_the_sessions_page_end_sessions_everywhere() -> Result<()> {
    let (cluster, name, _) = three_nodes_with_user("sess").await?;
    let nodes = webs(&cluster, &web_client()?)?;
    let phone = Browser::new(&cluster.base_url(2)?)?;
    let laptop = Browser::new(&cluster.base_url(1)?)?;
    let tablet = Browser::new(&cluster.base_url(3)?)?;
    for b in [&phone, &laptop, &tablet] {
        assert_eq!(b.login(&name, PASSWORD).await?.status, 303);
    }
    let (pc, lc, tc) = (
        session_cookie(&phone)?,
        session_cookie(&laptop)?,
        session_cookie(&tablet)?,
    );

    // The sessions page lists all three, marks this one, and ends another one.
    // A session created through another node shows once this node applied it (logins are
    // acknowledged at commit; the cookie carries its index for /auth, the list just catches up).
    let list = wait_until(
        "three sessions on the laptop's list",
        Duration::from_secs(5),
        || {
            let laptop = laptop.clone();
            async move {
                let p = laptop.get("/user/sessions").await?;
                anyhow::ensure!(p.status == 200, "{}", p.describe());
                let rows = p.body.matches("<tr id=\"session-").count();
                anyhow::ensure!(rows == 3, "{rows} rows");
                Ok(p)
            }
        },
    )
    .await?;
    assert!(list.body.contains("This browser"));
    assert!(list.body.contains("127.0.0.1"), "the address is shown");
    let phone_id = phone_session_id(&phone).await?;
    let end = format!("/user/sessions/{phone_id}/end");
    assert_eq!(laptop.post(&end, &[]).await?.status, 403, "no CSRF token");
    assert_accepted_everywhere(&nodes, &pc).await?;
    let r = laptop.submit("/user/sessions", &end, &[]).await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_refused_everywhere(&nodes, &pc, "after ending the phone's session").await?;
    assert_accepted_everywhere(&nodes, &lc).await?;
    // Someone else's (or an unknown) session: 404, nothing ends.
    let r = laptop
        .submit("/user/sessions", "/user/sessions/not-a-session/end", &[])
        .await?;
    assert_eq!(r.status, 404, "{}", r.describe());

    // Password change: current password required, confirmation must match.
    let r = laptop
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", "wrong-one-123"),
                ("new_password", NEW_PASSWORD),
                ("new_password2", NEW_PASSWORD),
            ],
        )
        .await?;
    assert_eq!(r.status, 400);
    assert!(
        r.field_error("current_password").is_some(),
        "{}",
        r.describe()
    );
    let r = laptop
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password2", "different-passphrase-1"),
            ],
        )
        .await?;
    assert!(r.field_error("new_password2").is_some(), "{}", r.describe());
    let r = laptop
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", &name),
                ("new_password2", &name),
            ],
        )
        .await?;
    assert!(
        r.field_error("new_password").is_some(),
        "the username is no password: {}",
        r.describe()
    );
    let r = laptop
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password2", NEW_PASSWORD),
            ],
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.describe());
    // The other session (tablet) ended everywhere; this one lives on.
    assert_refused_everywhere(&nodes, &tc, "after the password change").await?;
    assert_accepted_everywhere(&nodes, &lc).await?;
    let fresh = Browser::new(&cluster.base_url(3)?)?;
    assert_eq!(
        fresh.login(&name, PASSWORD).await?.status,
        400,
        "the old password is gone"
    );
    assert_eq!(fresh.login(&name, NEW_PASSWORD).await?.status, 303);
    let fc = session_cookie(&fresh)?;

    // Log out everywhere: every session ends, this browser's cookie is cleared.
    let r = laptop
        .submit("/user/sessions", "/user/sessions/end-all", &[])
        .await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.location.as_deref(), Some("/login?ended=all"));
    for (c, what) in [(&lc, "laptop"), (&fc, "fresh")] {
        assert_refused_everywhere(&nodes, c, &format!("{what} after log out everywhere")).await?;
    }
    assert!(
        laptop.cookie("ARXIVNG_SESSION_ID").is_none(),
        "the cookie was cleared"
    );
    Ok(())
}

/// The phone's own session id, read from its sessions page ("This browser" row).
async fn phone_session_id(phone: &Browser) -> Result<String> {
    let page = phone.get("/user/sessions").await?;
    let row = page
        .body
        .split("<tr id=\"session-")
        .skip(1)
        .find(|r| r.contains("This browser"))
        .context("no current-session row")?;
    Ok(row.split('"').next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn password_reset_by_mailed_link() -> Result<()> {
    let (cluster, name, uid) = three_nodes_with_user("reset").await?;
    let nodes = webs(&cluster, &web_client()?)?;
    let email = format!("{name}@example.org");
    let owner = Browser::new(&cluster.base_url(1)?)?;
    assert_eq!(owner.login(&name, PASSWORD).await?.status, 303);
    let old_cookie = session_cookie(&owner)?;

    let b = Browser::new(&cluster.base_url(2)?)?;
    let r = b.post("/password-reset", &[("email", &email)]).await?;
    assert_eq!(r.status, 403, "CSRF required");
    let r = b
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", "not an address")],
        )
        .await?;
    assert!(r.field_error("email").is_some(), "{}", r.describe());
    // Known and unknown addresses get the same answer.
    let known = b
        .submit("/password-reset", "/password-reset", &[("email", &email)])
        .await?;
    let unknown = b
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", "nobody-here@example.org")],
        )
        .await?;
    assert_eq!(known.status, 200);
    assert_eq!(unknown.status, 200);
    let strip = |s: &str, e: &str| {
        s.replace(e, "EMAIL")
            .split("csrf_token")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        strip(&known.body, &email),
        strip(&unknown.body, "nobody-here@example.org")
    );
    let dir = cluster.data_dir(2)?;
    let prefix = format!("{}/password-reset?token=", cluster.base_url(2)?);
    let link = wait_until("the reset mail", Duration::from_secs(10), || {
        let l = mailed_links(&dir, &email, &prefix).pop();
        async move { l.context("no mail yet") }
    })
    .await?;
    assert!(mailed_links(&dir, "nobody-here@example.org", &prefix).is_empty());
    let path = &link[link.find("/password-reset").unwrap_or(0)..];

    // The link's form, a mismatch, then the change; all sessions end.
    let b3 = b.at(&cluster.base_url(3)?);
    let form = b3.get(path).await?;
    assert_eq!(form.status, 200, "{}", form.describe());
    let token = path.trim_start_matches("/password-reset?token=");
    let csrf = form.csrf().context("csrf")?;
    let r = b3
        .post(
            "/password-reset",
            &[
                ("token", token),
                ("new_password", NEW_PASSWORD),
                ("new_password2", "nope-nope-nope"),
                ("csrf_token", &csrf),
            ],
        )
        .await?;
    assert_eq!(r.status, 400);
    let r = b3
        .post(
            "/password-reset",
            &[
                ("token", token),
                ("new_password", NEW_PASSWORD),
                ("new_password2", NEW_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_refused_everywhere(&nodes, &old_cookie, "after a password reset").await?;
    assert_eq!(owner.login(&name, PASSWORD).await?.status, 400);
    assert_eq!(
        Browser::new(&cluster.base_url(1)?)?
            .login(&name, NEW_PASSWORD)
            .await?
            .status,
        303
    );

    // Used, forged and expired links are refused.
    let r = b3.get(path).await?;
    assert_eq!(r.status, 400, "a used link: {}", r.describe());
    let r = b3
        .post(
            "/password-reset",
            &[
                ("token", token),
                ("new_password", PASSWORD),
                ("new_password2", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await?;
    assert_eq!(r.status, 400, "a used link cannot set the password again");
    let expired = Link::issue(
        &page_key(&cluster.jwt_secret()?)?,
        "reset",
        uid,
        1,
        &"cd".repeat(16),
        "x",
    );
    let r = b3.get(&format!("/password-reset?token={expired}")).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("expired"), "{}", r.describe());
    assert_eq!(b3.get("/password-reset?token=garbage").await?.status, 400);
    Ok(())
}

#[tokio::test]
async fn every_mutating_form_refuses_a_missing_or_forged_token() -> Result<()> {
    let cluster = Cluster::start(1, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("csrf");
    create_user(&cluster.api(1), &name).await?;
    let b = Browser::new(&cluster.base_url(1)?)?;
    assert_eq!(b.login(&name, PASSWORD).await?.status, 303);
    let cookie = session_cookie(&b)?;
    let nodes = webs(&cluster, &web_client()?)?;
    let forged = "ab".repeat(32);
    for path in [
        "/login",
        "/logout",
        "/register",
        "/user/edit",
        "/user/password",
        "/password-reset",
        "/user/sessions/end-all",
        "/user/sessions/any/end",
    ] {
        for token in [None, Some(forged.as_str())] {
            let mut fields = vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password2", NEW_PASSWORD),
                ("email", "someone@example.org"),
            ];
            if let Some(t) = token {
                fields.push(("csrf_token", t));
            }
            let r = b.post(path, &fields).await?;
            assert_eq!(
                r.status,
                403,
                "{path} with token {token:?}: {}",
                r.describe()
            );
        }
    }
    // Nothing changed: the session lives, the password is the old one.
    assert_accepted_everywhere(&nodes, &cookie).await?;
    let other = Browser::new(&cluster.base_url(1)?)?;
    assert_eq!(other.login(&name, PASSWORD).await?.status, 303);
    Ok(())
}
