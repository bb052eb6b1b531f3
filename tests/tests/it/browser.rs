//! The accounts pages in a real browser: headless Debian Chromium, driven through WebDriver
//! (fantoccini → a chromedriver this test starts), against a real 3-node cluster.
//!
//! One person's whole story: register on node 1 (every field, captcha solved), follow the
//! mailed link, log in on node 1, see the profile on node 2, end the session from the sessions
//! page on node 3, and be logged out everywhere, in the browser and at `/auth`. A PNG of each
//! page lands in `target/test-artifacts/browser/`.
//!
//! Cookies: browsers do not isolate cookies by port (RFC 6265 §8.5), so the cookies node 1
//! sets for `127.0.0.1` are sent to nodes 2 and 3 on their own ports, as they would be to one
//! host behind a load balancer. The test asserts that Chromium does so (it does not copy
//! cookies between the nodes' origins).
//!
//! Skipped loudly without Chromium on a developer machine; a failure under CI or with
//! `AUTHD_TEST_REQUIRE_CHROMIUM` set (see `authd_tests::webdriver`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use authd_tests::browser::{mailed_links, solve_captcha};
use authd_tests::webdriver::{Chromedriver, Screenshots, browser_or_skip};
use authd_tests::{Cluster, ensure_now, wait_until};
use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::authd_http::{
    COOKIE_NAME, assert_accepted_everywhere, assert_refused_everywhere, web_client, webs,
};
use crate::util::{PASSWORD, email_of, uniq};

/// How long one page may take to appear (a registration or login hashes a password with
/// Argon2id in a debug build on a shared 2-core machine).
const PAGE: Duration = Duration::from_secs(20);

/// The CSRF cookie the pages set (`web/src/pages/mod.rs`; `[cookies] secure` is on here).
const CSRF_COOKIE: &str = "__Host-authd_csrf";

/// A browser window and the screenshots taken of it.
struct Tab {
    client: Client,
    shots: Screenshots,
}

impl Tab {
    async fn goto(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// Waits until the browser shows the page at `base` + `path` (query ignored) titled `h1`.
    async fn wait_page(&self, base: &str, path: &str, h1: &str) -> Result<()> {
        let want = format!("{base}{path}");
        wait_until(
            &format!("the page {want:?} titled {h1:?}"),
            PAGE,
            || async {
                let url = self.client.current_url().await?;
                let at = format!("{}{}", url.origin().ascii_serialization(), url.path());
                ensure_now(at == want, || format!("the browser is at {url}"))?;
                let title = self.text("main h1").await?;
                ensure_now(title == h1, || format!("{url} is titled {title:?}"))
            },
        )
        .await
    }

    async fn text(&self, css: &str) -> Result<String> {
        Ok(self.client.find(Locator::Css(css)).await?.text().await?)
    }

    async fn fill(&self, id: &str, value: &str) -> Result<()> {
        let e = self.client.find(Locator::Id(id)).await?;
        e.clear().await?;
        e.send_keys(value)
            .await
            .with_context(|| format!("typing into #{id}"))
    }

    async fn select(&self, id: &str, value: &str) -> Result<()> {
        self.client
            .find(Locator::Id(id))
            .await?
            .select_by_value(value)
            .await
            .with_context(|| format!("choosing {value:?} in #{id}"))
    }

    async fn click(&self, css: &str) -> Result<()> {
        self.client
            .find(Locator::Css(css))
            .await?
            .click()
            .await
            .with_context(|| format!("clicking {css}"))
    }

    /// The value of a cookie the browser holds for the current page, if any.
    async fn cookie(&self, name: &str) -> Result<Option<String>> {
        let all = self.client.get_all_cookies().await?;
        Ok(all
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned()))
    }

    /// A PNG of the whole page, from the top: the window is shrunk, then stretched to the
    /// height of the page's content (at most 4000 px) and scrolled back up.
    async fn shot(&mut self, label: &str) -> Result<()> {
        self.client.set_window_size(1024, 600).await?;
        let sizes = self
            .client
            .execute(
                "return [Math.ceil(document.documentElement.scrollHeight), \
                         window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await?;
        let px = |i: usize| {
            sizes
                .get(i)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let height = px(0).clamp(600, 4000) + px(1);
        self.client
            .set_window_size(1024, u32::try_from(height)?)
            .await?;
        self.client
            .execute("window.scrollTo(0, 0);", vec![])
            .await?;
        let png = self.client.screenshot().await?;
        let path = self.shots.save(label, &png)?;
        eprintln!("screenshot: {}", path.display());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_register_verify_login_and_log_out_everywhere() -> Result<()> {
    let Some(bins) = browser_or_skip("browser_register_verify_login_and_log_out_everywhere")?
    else {
        return Ok(());
    };
    let started = Instant::now();
    let cluster = Cluster::start(3, |_| {}).await?;
    let driver = Chromedriver::start(&bins).await?;
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(driver.capabilities())
        .connect(&driver.url())
        .await
        .map_err(|e| anyhow!("starting a Chromium session: {e}\n{}", driver.logs()))?;
    let mut tab = Tab {
        client: client.clone(),
        shots: Screenshots::new("browser")?,
    };
    let result = story(&mut tab, &cluster).await;
    if result.is_err() {
        let url = tab.client.current_url().await.map(|u| u.to_string());
        eprintln!("the browser was at {url:?}");
        let _ = tab.shot("failure").await;
    }
    let closed = client.close().await;
    let shots = tab.shots.dir().display().to_string();
    result.map_err(|e| anyhow!("{e:#}\n{}", driver.logs()))?;
    closed.context("closing the browser")?;
    eprintln!(
        "browser story passed in {:.1?}; screenshots in {shots}",
        started.elapsed()
    );
    Ok(())
}

async fn story(tab: &mut Tab, cluster: &Cluster) -> Result<()> {
    let [n1, n2, n3] = [1, 2, 3].map(|id| cluster.base_url(id));
    let (n1, n2, n3) = (n1?, n2?, n3?);
    let username = uniq("br");
    let email = email_of(&username);

    // ---- Register on node 1: every field, the captcha solved with the cluster's key.
    tab.goto(&format!("{n1}/register")).await?;
    tab.wait_page(&n1, "/register", "Register for arXiv")
        .await?;
    tab.fill("email", &email).await?;
    tab.fill("username", &username).await?;
    tab.fill("password", PASSWORD).await?;
    tab.fill("password2", PASSWORD).await?;
    tab.fill("forename", "Ada").await?;
    tab.fill("surname", "Lovelace").await?;
    tab.fill("affiliation", "Analytical Engines Ltd").await?;
    tab.select("country", "GB").await?;
    tab.select("rank", "3").await?;
    tab.click("input[name='groups'][value='grp_cs']").await?;
    tab.click("input[name='groups'][value='grp_math']").await?;
    tab.select("default_category", "cs.LG").await?;
    let token = tab
        .client
        .find(Locator::Css("input[name='captcha_token']"))
        .await?
        .attr("value")
        .await?
        .ok_or_else(|| anyhow!("the captcha token input has no value"))?;
    let answer = solve_captcha(&cluster.jwt_secret()?, &token, "127.0.0.1")?;
    // The picture must have loaded (CSP `img-src 'self'`): a real browser would show nothing.
    let img_width = tab
        .client
        .execute(
            "const i = document.querySelector('img[src^=\"/captcha\"]'); \
             return i && i.complete ? i.naturalWidth : 0;",
            vec![],
        )
        .await?;
    ensure_now(img_width.as_u64().unwrap_or(0) > 0, || {
        format!("the captcha picture did not load in the browser (naturalWidth {img_width})")
    })?;
    tab.fill("captcha_value", &answer).await?;
    tab.shot("register").await?;
    tab.click("main form button[type='submit']").await?;
    tab.wait_page(&n1, "/register", "Check your e-mail").await?;
    let said = tab.text("main").await?;
    ensure_now(said.contains(&email), || {
        format!("the check-your-mail page does not name {email}: {said:?}")
    })?;
    tab.shot("check-mail").await?;

    // ---- The mailed link, opened in the same browser.
    let data1 = cluster.data_dir(1)?;
    let link = wait_until("the verification mail in node 1's outbox", PAGE, || async {
        mailed_links(&data1, &email, "http://")
            .into_iter()
            .find(|l| l.contains("/verify?token="))
            .ok_or_else(|| anyhow!("no /verify link mailed to {email} yet"))
    })
    .await?;
    ensure_now(link.starts_with(&format!("{n1}/verify?")), || {
        format!("the link does not point at node 1 ({n1}): {link}")
    })?;
    tab.goto(&link).await?;
    tab.wait_page(&n1, "/verify", "Verify your e-mail address")
        .await?;
    let said = tab.text("main").await?;
    ensure_now(said.contains("your e-mail address is verified"), || {
        format!("the verify page does not say verified: {said:?}")
    })?;
    tab.shot("verified").await?;

    // ---- Log in on node 1 through the form: the profile page.
    tab.click("main a[href='/login']").await?;
    tab.wait_page(&n1, "/login", "Log in to arXiv").await?;
    tab.fill("username", &username).await?;
    tab.fill("password", PASSWORD).await?;
    tab.shot("login").await?;
    tab.click("main form button[type='submit']").await?;
    tab.wait_page(&n1, "/user", "Your account").await?;
    check_profile(tab, &username, &email).await?;
    tab.shot("profile-node1").await?;
    let session = tab
        .cookie(COOKIE_NAME)
        .await?
        .ok_or_else(|| anyhow!("logged in, but the browser holds no {COOKIE_NAME} cookie"))?;
    ensure_now(tab.cookie(CSRF_COOKIE).await?.is_some(), || {
        format!("the browser holds no {CSRF_COOKIE} cookie")
    })?;
    let http = web_client()?;
    let nodes = webs(cluster, &http)?;
    assert_accepted_everywhere(&nodes, &session).await?;

    // ---- Node 2: the same browser, the same cookies (no port isolation), the profile.
    tab.goto(&format!("{n2}/user")).await?;
    tab.wait_page(&n2, "/user", "Your account").await.context(
        "node 2 did not show the profile: Chromium no longer sends 127.0.0.1's cookies to \
             another port? (the test relies on cookies not being port-bound)",
    )?;
    check_profile(tab, &username, &email).await?;
    ensure_now(
        tab.cookie(COOKIE_NAME).await?.as_deref() == Some(&session),
        || "node 2's origin sees another session cookie".into(),
    )?;
    tab.shot("profile-node2").await?;

    // ---- Node 3: the sessions page lists this one; "Log out everywhere".
    tab.goto(&format!("{n3}/user/sessions")).await?;
    tab.wait_page(&n3, "/user/sessions", "Your sessions")
        .await?;
    let rows = tab
        .client
        .find_all(Locator::Css("table.sessions tbody tr"))
        .await?;
    ensure_now(rows.len() == 1, || {
        format!(
            "expected exactly this browser's session, found {} rows",
            rows.len()
        )
    })?;
    let row = rows
        .first()
        .ok_or_else(|| anyhow!("no session row"))?
        .text()
        .await?;
    ensure_now(
        row.contains("This browser") && row.contains("127.0.0.1") && row.contains("Chrome"),
        || format!("the session row is not this browser's: {row:?}"),
    )?;
    tab.shot("sessions-node3").await?;
    tab.click("#end-all").await?;
    tab.wait_page(&n3, "/login", "Log in to arXiv").await?;
    let notice = tab.text("main .notice").await?;
    ensure_now(notice.contains("logged out everywhere"), || {
        format!("no confirmation after logging out everywhere: {notice:?}")
    })?;
    tab.shot("logged-out").await?;
    ensure_now(tab.cookie(COOKIE_NAME).await?.is_none(), || {
        format!("logging out everywhere left the {COOKIE_NAME} cookie in the browser")
    })?;

    // ---- Logged out everywhere: even with the old cookie put back, every node's /user
    // sends the browser to the login page, and every /auth refuses it.
    for base in [&n1, &n2, &n3] {
        tab.goto(&format!("{base}/login")).await?;
        let mut old = Cookie::new(COOKIE_NAME, session.clone());
        old.set_path("/");
        // fantoccini sends a missing domain as `null`, which chromedriver refuses.
        old.set_domain("127.0.0.1");
        old.set_http_only(true);
        old.set_same_site(cookie::SameSite::Lax);
        tab.client.add_cookie(old).await?;
        ensure_now(
            tab.cookie(COOKIE_NAME).await?.as_deref() == Some(&session),
            || "the old cookie could not be put back".into(),
        )?;
        tab.goto(&format!("{base}/user")).await?;
        tab.wait_page(base, "/login", "Log in to arXiv")
            .await
            .with_context(|| format!("{base}/user with the ended session"))?;
    }
    assert_refused_everywhere(&nodes, &session, "the ended session at /auth").await?;
    Ok(())
}

/// The profile page shows this account.
async fn check_profile(tab: &Tab, username: &str, email: &str) -> Result<()> {
    let shown = tab.text("#p-username").await?;
    let mail = tab.text("#p-email").await?;
    let banner = tab.text("header.banner").await?;
    if shown != username || !mail.starts_with(email) || mail.contains("not verified") {
        bail!("the profile shows username {shown:?}, e-mail {mail:?} (want {username}, {email})");
    }
    if !banner.contains(username) {
        bail!("the banner does not say who is logged in: {banner:?}");
    }
    Ok(())
}
