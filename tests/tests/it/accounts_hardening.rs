//! The accounts pages against hostile input on real clusters: `next_page` values that
//! normalise to another site, who may read the data directory, registration that tells
//! nobody which addresses have accounts and costs no hashing for a spent captcha, per-address
//! limits, and the password-change form as a password oracle.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::browser::{Browser, Page, solve_captcha};
use authd_tests::config::LoginTuning;
use authd_tests::{Cluster, wait_until};

use crate::pages_mail::counter;
use crate::pages_register::registration;
use crate::util::{PASSWORD, create_user, email_of, uniq, wait_user_visible};

/// `next_page` values that normalise to a protocol-relative (another site's) URL.
const NORMALISED_AWAY: &[&str] = &[
    "/.//evil.com",
    "/..//evil.com",
    "/%2e%2e//evil.com",
    "/a/..//evil.com/x",
    "//evil.com",
    "/\\evil.com",
];

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every `Location` is a single-`/` path on this site.
fn same_site(loc: Option<&str>) -> bool {
    loc.is_some_and(|l| l.starts_with('/') && !l.starts_with("//") && !l.starts_with("/\\"))
}

async fn redirects_stay_on_the_site(b: &Browser, name: &str) -> Result<()> {
    for bad in NORMALISED_AWAY {
        let r = b.get(&format!("/logout?next_page={}", encode(bad))).await?;
        ensure!(r.status == 303, "logout {bad:?}: {}", r.describe());
        ensure!(
            r.location.as_deref() == Some("/login"),
            "logout {bad:?} -> {:?}",
            r.location
        );
    }
    let long = format!("/abs/{}", "1".repeat(300));
    let r = b.get(&format!("/logout?next_page={long}")).await?;
    ensure!(
        r.location.as_deref() == Some("/login"),
        "long: {:?}",
        r.location
    );
    let r = b.get("/logout?next_page=%2Fabs%2F1").await?;
    ensure!(r.location.as_deref() == Some("/abs/1"), "{:?}", r.location);

    let r = b.login(name, PASSWORD).await?;
    ensure!(r.status == 303, "login: {}", r.describe());
    for bad in NORMALISED_AWAY.iter().copied().chain([long.as_str()]) {
        let r = b.get(&format!("/login?next_page={}", encode(bad))).await?;
        ensure!(r.status == 303, "login page {bad:?}: {}", r.describe());
        ensure!(
            r.location.as_deref() == Some("/user") && same_site(r.location.as_deref()),
            "logged-in /login {bad:?} -> {:?}",
            r.location
        );
    }
    Ok(())
}

/// Every directory under `dir` is 0700 and every file 0600.
fn private_tree(dir: &Path, seen: &mut usize) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_dir() {
        ensure!(mode == 0o700, "{} is {mode:o}", dir.display());
        for e in std::fs::read_dir(dir)? {
            private_tree(&e?.path(), seen)?;
        }
    } else if meta.is_file() {
        ensure!(mode == 0o600, "{} is {mode:o}", dir.display());
        *seen += 1;
    }
    Ok(())
}

#[tokio::test]
async fn hostile_redirects_and_private_data_files() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("hard");
    let user = create_user(&cluster.api(1), &name).await?;
    wait_user_visible(&cluster, 1, &name, &user["id"]).await?;

    let b = Browser::new(&cluster.base_url(1)?)?;
    redirects_stay_on_the_site(&b, &name).await?;

    // A reset mail in the outbox (a live link), then every file is the owner's alone.
    let anon = Browser::new(&cluster.base_url(1)?)?;
    let r = anon
        .submit(
            "/password-reset",
            "/password-reset",
            &[("email", &email_of(&name))],
        )
        .await?;
    ensure!(r.status == 200, "reset request: {}", r.describe());
    let outbox = cluster.data_dir(1)?.join("outbox");
    wait_until("a mail in the outbox", Duration::from_secs(10), || {
        let n = std::fs::read_dir(&outbox).map_or(0, |d| d.count());
        async move {
            if n > 0 {
                Ok(())
            } else {
                Err(anyhow::anyhow!("empty"))
            }
        }
    })
    .await?;
    for id in cluster.node_ids() {
        let dir = cluster.data_dir(id)?;
        let mut files = 0;
        private_tree(&dir, &mut files).with_context(|| format!("node {id}"))?;
        ensure!(files > 0, "node {id}: no files under {}", dir.display());
    }
    Ok(())
}

/// A registration form loaded and its captcha answered, to post once or (spent) again.
struct Solved {
    csrf: String,
    token: String,
    answer: String,
}

async fn solved(b: &Browser, secret: &[u8]) -> Result<Solved> {
    let form = b.get("/register").await?;
    let csrf = form.csrf().context("csrf")?;
    let token = form.captcha_token().context("captcha")?;
    let answer = solve_captcha(secret, &token, "127.0.0.1")?;
    Ok(Solved {
        csrf,
        token,
        answer,
    })
}

/// Post a registration of `username` with `email` and the captcha `s`.
async fn post_registration(b: &Browser, s: &Solved, username: &str, email: &str) -> Result<Page> {
    let mut fields = registration(username);
    for (k, v) in &mut fields {
        if k == "email" {
            *v = email.to_owned();
        }
    }
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend([
        ("csrf_token", s.csrf.as_str()),
        ("captcha_token", s.token.as_str()),
        ("captcha_value", s.answer.as_str()),
    ]);
    b.post("/register", &all).await
}

/// The body with per-response tokens and the given address blanked out.
fn normalised(p: &Page, email: &str) -> String {
    let mut body = p.body.replace(email, "EMAIL");
    for t in [p.csrf(), p.captcha_token()].into_iter().flatten() {
        let enc: String = url::form_urlencoded::byte_serialize(t.as_bytes()).collect();
        body = body.replace(&t, "TOKEN").replace(&enc, "TOKEN");
    }
    body
}

#[tokio::test]
async fn registration_reveals_no_accounts_hashes_nothing_spent_and_is_limited() -> Result<()> {
    const MAX_POSTS: usize = 6;
    const MAX_CAPTCHAS: usize = 3;
    let cluster = Cluster::start(1, |c| {
        c.register
            .insert("max_posts_per_ip".into(), (MAX_POSTS as i64).into());
        c.register
            .insert("max_captchas_per_ip".into(), (MAX_CAPTCHAS as i64).into());
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let secret = cluster.jwt_secret()?;
    let taken = uniq("taken");
    let user = create_user(&cluster.api(1), &taken).await?;
    wait_user_visible(&cluster, 1, &taken, &user["id"]).await?;
    let taken_email = email_of(&taken);
    let new_email = email_of(&uniq("fresh"));
    let b = Browser::new(&cluster.base_url(1)?)?;

    // Fresh captchas: a registered and a new address get the same answer (posts 1, 2).
    let name = uniq("newname");
    let first = solved(&b, &secret).await?;
    let on_taken = post_registration(&b, &first, &name, &taken_email).await?;
    let on_new = post_registration(&b, &solved(&b, &secret).await?, &name, &new_email).await?;
    ensure!(on_taken.status == 200, "taken: {}", on_taken.describe());
    ensure!(
        on_new.status == on_taken.status,
        "new: {}",
        on_new.describe()
    );
    ensure!(
        normalised(&on_taken, &taken_email) == normalised(&on_new, &new_email),
        "bodies differ:\n{}\n---\n{}",
        on_taken.body,
        on_new.body
    );

    // A spent captcha: the same 400 for both addresses, and no password hashing (posts 3-6).
    let hashes = counter(&cluster, 1, "authd_password_hashes_total").await?;
    ensure!(hashes > 0.0, "the hash counter counts registrations");
    let other = uniq("other");
    let spent_taken = post_registration(&b, &first, &other, &taken_email).await?;
    let spent_new = post_registration(&b, &first, &other, &new_email).await?;
    ensure!(spent_taken.status == 400, "{}", spent_taken.describe());
    ensure!(spent_new.status == 400, "{}", spent_new.describe());
    ensure!(
        normalised(&spent_taken, &taken_email) == normalised(&spent_new, &new_email),
        "spent-captcha bodies differ"
    );
    for _ in 0..MAX_POSTS - 4 {
        let r = post_registration(&b, &first, &other, &new_email).await?;
        ensure!(r.status == 400, "spent captcha: {}", r.describe());
    }
    let after = counter(&cluster, 1, "authd_password_hashes_total").await?;
    ensure!(
        after == hashes,
        "posts with a spent captcha hashed: {hashes} -> {after}"
    );

    // Over the per-address limits: 429 with Retry-After, before any work.
    let r = post_registration(&b, &first, &other, &new_email).await?;
    ensure!(r.status == 429, "register over the limit: {}", r.describe());
    ensure!(r.header("retry-after").is_some(), "{}", r.describe());
    let token = &first.token;
    for _ in 0..MAX_CAPTCHAS {
        let r = b.get(&format!("/captcha?token={}", encode(token))).await?;
        ensure!(r.status == 200, "captcha: {}", r.describe());
    }
    let r = b.get(&format!("/captcha?token={}", encode(token))).await?;
    ensure!(r.status == 429, "captcha over the limit: {}", r.describe());
    ensure!(r.header("retry-after").is_some(), "{}", r.describe());
    Ok(())
}

#[tokio::test]
async fn wrong_current_passwords_lock_the_account_like_failed_logins() -> Result<()> {
    const LIMIT: u32 = 3;
    let cluster = Cluster::start(1, |c| {
        c.login = Some(LoginTuning {
            max_failures_per_account: LIMIT,
            max_failures_per_ip: 100,
            window_secs: 900,
            lockout_secs: 900,
        });
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("chpw");
    let user = create_user(&cluster.api(1), &name).await?;
    wait_user_visible(&cluster, 1, &name, &user["id"]).await?;
    let b = Browser::new(&cluster.base_url(1)?)?;
    ensure!(b.login(&name, PASSWORD).await?.status == 303, "login");
    let change = |current: &'static str| {
        let b = &b;
        async move {
            b.submit(
                "/user/password",
                "/user/password",
                &[
                    ("current_password", current),
                    ("new_password", "another-long-passphrase-1"),
                    ("new_password2", "another-long-passphrase-1"),
                ],
            )
            .await
        }
    };
    for i in 0..LIMIT {
        let r = change("not-the-password").await?;
        ensure!(
            r.status == 400,
            "wrong current password {i}: {}",
            r.describe()
        );
    }
    let r = change("not-the-password").await?;
    ensure!(r.status == 429, "after the limit: {}", r.describe());
    ensure!(r.header("retry-after").is_some(), "{}", r.describe());
    // The account is locked for login too, even with the right password.
    let fresh = Browser::new(&cluster.base_url(1)?)?;
    let r = fresh.login(&name, PASSWORD).await?;
    ensure!(r.status == 429, "login after the limit: {}", r.describe());
    Ok(())
}
