//! An anonymous client naming a log index far ahead (`Bearer x.999999999`) gets 401 at once
//! and costs legitimate users nothing behind the shipped nginx: no node waits on an index the
//! client chose, and nginx does not take nodes out of the upstream for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use authd_tests::{Cluster, free_ports};

use crate::authd_http::{AuthReq, Web, cookie_header, web_client, webs};
use crate::nginx::{Nginx, nginx_or_skip, site_config, start_app};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// Attacking tasks, each sending such requests back to back.
const ATTACKERS: usize = 4;
/// Legitimate cookie requests made while they run.
const LEGIT: usize = 150;
/// A node used to wait 500 ms for such an index; an answer that fast did not wait.
const NO_WAIT: Duration = Duration::from_millis(400);

/// Bearer values whose `.idx` suffix names an index no cluster has committed.
fn forged(i: usize) -> String {
    match i % 3 {
        0 => "Bearer x.999999999".to_owned(),
        1 => format!("Bearer {}.{}", "ab".repeat(32), u64::MAX - i as u64),
        _ => format!("Bearer {}.{}", uniq("t"), 1_000_000 + i),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_ahead_indexes_are_unknown_at_once_and_fail_no_legitimate_request() -> Result<()> {
    let Some(bin) = nginx_or_skip()? else {
        return Ok(());
    };
    let cluster = Cluster::start(3, |_| {}).await?;
    let (app_addr, _app) = start_app().await?;
    let listen = authd_tests::config::loopback(*free_ports(1)?.first().context("no port")?);
    let site = site_config(&cluster, app_addr, listen)?;
    let mut nginx = Nginx::start(&bin, &site, listen)?;
    nginx.wait_ready().await?;
    let result = run(&cluster, listen).await;
    if result.is_err() {
        eprintln!("{}", nginx.logs());
    }
    result
}

async fn run(cluster: &Cluster, listen: std::net::SocketAddr) -> Result<()> {
    let client = web_client()?;
    let edge = Web::new(listen, client.clone());
    let name = uniq("flood");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, &name, &user["id"]).await?;
    }
    let cookie = edge.login_ok(&name, PASSWORD).await?;
    let ch = cookie_header(&cookie);

    // Each node directly, then through nginx: 401 at once, never a wait and a 503.
    let mut targets: Vec<Web> = webs(cluster, &client)?
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    for (i, w) in targets.iter().enumerate() {
        let bearer = forged(i);
        let req = AuthReq {
            authorization: Some(&bearer),
            ..AuthReq::default()
        };
        let start = Instant::now();
        let r = w.auth(&req).await?;
        assert_eq!(r.status, 401, "{bearer} on a node: {}", r.describe());
        assert!(
            start.elapsed() < NO_WAIT,
            "{bearer}: answered after {:?}",
            start.elapsed()
        );
    }
    targets.clear();

    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    for a in 0..ATTACKERS {
        let (w, stop) = (Web::new(listen, client.clone()), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut seen: Vec<(u16, Duration)> = Vec::new();
            let mut i = a;
            while !stop.load(Ordering::Relaxed) && seen.len() < 20_000 {
                let bearer = forged(i);
                let req = AuthReq {
                    authorization: Some(&bearer),
                    ..AuthReq::default()
                };
                let start = Instant::now();
                let r = w.get_with("/page", &req).await?;
                seen.push((r.status, start.elapsed()));
                i += ATTACKERS;
            }
            anyhow::Ok(seen)
        }));
    }

    let with_cookie = AuthReq {
        cookie_header: Some(&ch),
        ..AuthReq::default()
    };
    let mut failed = Vec::new();
    for n in 0..LEGIT {
        let r = edge.get_with("/page", &with_cookie).await?;
        if r.status != 200 {
            failed.push((n, r.status));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut attacks = Vec::new();
    for a in attackers {
        attacks.extend(a.await.context("attacker task")??);
    }

    assert!(
        failed.is_empty(),
        "{} of {LEGIT} legitimate requests failed under the flood: {failed:?}",
        failed.len()
    );
    assert!(
        attacks.len() >= ATTACKERS,
        "the attackers sent {} requests",
        attacks.len()
    );
    let not_401: Vec<_> = attacks.iter().filter(|(s, _)| *s != 401).collect();
    assert!(
        not_401.is_empty(),
        "{} of {} forged requests were not 401: {:?}",
        not_401.len(),
        attacks.len(),
        not_401.iter().take(5).collect::<Vec<_>>()
    );
    let slowest = attacks.iter().map(|(_, d)| *d).max().unwrap_or_default();
    assert!(
        slowest < NO_WAIT,
        "a forged request took {slowest:?}: a node waited on it"
    );
    Ok(())
}
