//! Brute-force limits that hold across the cluster: failures counted on one node lock the
//! account (or the address) on every node, with 429, `Retry-After` and the same page whatever
//! the password; other accounts and existing sessions are untouched.

use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::browser::{Browser, Page};
use authd_tests::{Cluster, LoginTuning};

use crate::authd_http::{assert_accepted_everywhere, web_client, webs};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

async fn cluster_with(ip_limit: u32) -> Result<Cluster> {
    let cluster = Cluster::start(3, |c| {
        c.login = Some(LoginTuning {
            max_failures_per_account: 10,
            max_failures_per_ip: ip_limit,
            window_secs: 900,
            lockout_secs: 900,
        });
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    Ok(cluster)
}

async fn user(cluster: &Cluster, prefix: &str) -> Result<String> {
    let name = uniq(prefix);
    let u = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, &name, &u["id"]).await?;
    }
    Ok(name)
}

fn assert_locked(r: &Page, what: &str) -> Result<u64> {
    assert_eq!(r.status, 429, "{what}: {}", r.describe());
    let secs: u64 = r
        .header("retry-after")
        .context("429 without Retry-After")?
        .parse()
        .context("Retry-After is not a number of seconds")?;
    assert!((1..=900).contains(&secs), "{what}: Retry-After {secs}");
    assert!(
        r.body.contains("Too many failed attempts"),
        "{what}: {}",
        r.describe()
    );
    assert!(
        r.set_cookie
            .iter()
            .all(|c| !c.starts_with("ARXIVNG_SESSION_ID="))
    );
    Ok(secs)
}

/// The page without its per-browser form token.
fn shape(p: &Page) -> String {
    p.body
        .split("name=\"csrf_token\"")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn ten_failures_spread_over_three_nodes_lock_the_account_everywhere() -> Result<()> {
    let cluster = cluster_with(1000).await?;
    let nodes = webs(&cluster, &web_client()?)?;
    let victim = user(&cluster, "victim").await?;
    let bystander = user(&cluster, "bystand").await?;
    let ids = cluster.node_ids();
    let browsers: Vec<Browser> = ids
        .iter()
        .map(|id| Browser::new(&cluster.base_url(*id)?))
        .collect::<Result<_>>()?;
    // The victim's own session, from before the attack, keeps working.
    let own = Browser::new(&cluster.base_url(1)?)?;
    assert_eq!(own.login(&victim, PASSWORD).await?.status, 303);
    let own_cookie = own.cookie("ARXIVNG_SESSION_ID").context("no cookie")?;

    for i in 0..10 {
        let b = &browsers[i % browsers.len()];
        let r = b.login(&victim, &format!("guess-number-{i}")).await?;
        assert_eq!(
            r.status,
            400,
            "failure {i} is an ordinary failure: {}",
            r.describe()
        );
    }
    // The 11th attempt is refused on every node, right or wrong password alike.
    let mut pages = Vec::new();
    for b in &browsers {
        let right = b.login(&victim, PASSWORD).await?;
        assert_locked(&right, "right password while locked")?;
        let wrong = b.login(&victim, "still-guessing").await?;
        assert_locked(&wrong, "wrong password while locked")?;
        assert_eq!(
            shape(&right),
            shape(&wrong),
            "the locked page says nothing about the password"
        );
        pages.push(right);
    }
    // By e-mail too: the lock is on the account, not the typed name.
    let r = browsers[1]
        .login(&format!("{victim}@example.org"), PASSWORD)
        .await?;
    assert_locked(&r, "login by e-mail")?;
    // Others are not affected; nor is the victim's existing session.
    assert_eq!(browsers[2].login(&bystander, PASSWORD).await?.status, 303);
    assert_accepted_everywhere(&nodes, &own_cookie).await?;
    Ok(())
}

#[tokio::test]
async fn an_address_with_too_many_failures_is_locked_for_every_account() -> Result<()> {
    let cluster = cluster_with(12).await?;
    let name = user(&cluster, "ipuser").await?;
    let ids = cluster.node_ids();
    // Unknown accounts count like real ones (no enumeration), spread over the nodes.
    for i in 0..12u64 {
        let b = Browser::new(&cluster.base_url(ids[(i as usize) % ids.len()])?)?;
        let r = b.login(&uniq("nobody"), "whatever-1234").await?;
        assert_eq!(r.status, 400, "failure {i}: {}", r.describe());
    }
    for id in ids {
        let r = Browser::new(&cluster.base_url(id)?)?
            .login(&name, PASSWORD)
            .await?;
        assert_locked(
            &r,
            &format!("a valid login from the locked address on node {id}"),
        )?;
    }
    Ok(())
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_ends_locked_on_every_node() -> Result<()> {
    let cluster = cluster_with(1000).await?;
    let victim = user(&cluster, "burst").await?;
    let ids = cluster.node_ids();
    let mut tasks = Vec::new();
    for i in 0..60usize {
        let b = Browser::new(&cluster.base_url(ids[i % ids.len()])?)?;
        let v = victim.clone();
        tasks.push(tokio::spawn(async move {
            b.login(&v, &format!("burst-{i}")).await
        }));
    }
    let mut checked = 0;
    for t in tasks {
        let r = t.await??;
        assert!(matches!(r.status, 400 | 429), "{}", r.describe());
        checked += usize::from(r.status == 400);
    }
    // Attempts in flight count against the limit on each node: a burst gets at most the
    // limit per node checked, never all 60.
    assert!(
        checked <= 30,
        "{checked} of 60 concurrent guesses were checked"
    );
    for id in cluster.node_ids() {
        let r = Browser::new(&cluster.base_url(id)?)?
            .login(&victim, PASSWORD)
            .await?;
        assert_locked(&r, &format!("after the burst, node {id}"))?;
    }
    Ok(())
}
