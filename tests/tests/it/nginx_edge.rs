//! What the shipped nginx config serves and logs: the live tokens of mailed links
//! (`/verify?token=…`, `/password-reset?token=…`) reach no log, nginx's or authd's; the
//! operator routes (`/api/v1/cluster`) are not served at the edge; the original's
//! `/auth_status` probe is.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::browser::Browser;
use authd_tests::{Cluster, free_ports, wait_until};

use crate::nginx::{Nginx, nginx_or_skip, site_config, start_app};
use crate::pages_register::{mailed, register, registration};
use crate::util::uniq;

/// A cluster (at `trace` level: its most talkative) behind a running nginx with the shipped
/// config; the edge's address.
async fn edge(rust_log: Option<&str>) -> Result<Option<(Cluster, Nginx, std::net::SocketAddr)>> {
    let Some(bin) = nginx_or_skip()? else {
        return Ok(None);
    };
    let cluster = Cluster::start(3, |c| c.rust_log = rust_log.map(str::to_owned)).await?;
    let (app_addr, _app) = start_app().await?;
    let listen = authd_tests::config::loopback(*free_ports(1)?.first().context("no port")?);
    let site = site_config(&cluster, app_addr, listen)?;
    let mut nginx = Nginx::start(&bin, &site, listen)?;
    nginx.wait_ready().await?;
    Ok(Some((cluster, nginx, listen)))
}

/// The path and query of a mailed link.
fn path_and_query<'a>(link: &'a str, path: &str) -> &'a str {
    link.find(path).and_then(|i| link.get(i..)).unwrap_or(link)
}

fn token_of(link: &str) -> Result<String> {
    let t = link.rsplit("token=").next().unwrap_or_default();
    ensure!(t.len() >= 16, "no token in the mailed link {link:?}");
    Ok(t.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_link_tokens_reach_no_log_through_the_shipped_nginx() -> Result<()> {
    let Some((cluster, nginx, listen)) = edge(Some("trace")).await? else {
        return Ok(());
    };
    let result = run(&cluster, &nginx, listen).await;
    if result.is_err() {
        eprintln!(
            "{}\n--- all nginx logs ---\n{}",
            nginx.logs(),
            nginx.all_logs()
        );
    }
    result
}

async fn run(cluster: &Cluster, nginx: &Nginx, listen: std::net::SocketAddr) -> Result<()> {
    // Live tokens: a verification link and a reset link, mailed by node 1.
    let name = uniq("edgelog");
    let email = format!("{name}@example.org");
    let b = Browser::new(&cluster.base_url(1)?)?;
    let r = register(&b, &cluster.jwt_secret()?, &registration(&name)).await?;
    ensure!(r.status == 200, "register: {}", r.describe());
    let verify = mailed(cluster, 1, &email, "/verify?token=").await?;
    let r = b
        .submit("/password-reset", "/password-reset", &[("email", &email)])
        .await?;
    ensure!(r.status == 200, "reset request: {}", r.describe());
    let reset = mailed(cluster, 1, &email, "/password-reset?token=").await?;
    let tokens = [token_of(&verify)?, token_of(&reset)?];

    // The user follows both links through nginx; the reset page's next request carries the
    // link as its Referer.
    let base = format!("http://{listen}");
    let user = Browser::new(&base)?;
    let r = user.get(path_and_query(&reset, "/password-reset?")).await?;
    ensure!(r.status == 200, "reset link at the edge: {}", r.describe());
    let r = user.get(path_and_query(&verify, "/verify?")).await?;
    ensure!(r.status == 200, "verify link at the edge: {}", r.describe());
    let referred = reqwest::Client::new()
        .get(format!("{base}/static/authd.css"))
        .header(
            "Referer",
            format!("{base}{}", path_and_query(&reset, "/password-reset?")),
        )
        .send()
        .await?;
    ensure!(
        referred.status() == 200,
        "stylesheet: {}",
        referred.status()
    );

    // nginx writes a request's log line when it ends: all three are there...
    let logged = wait_until(
        "nginx to log the three requests",
        Duration::from_secs(10),
        || {
            let text = nginx.all_logs();
            async move {
                for path in [
                    "GET /password-reset",
                    "GET /verify",
                    "GET /static/authd.css",
                ] {
                    ensure!(text.contains(path), "no {path:?} line yet");
                }
                Ok(text)
            }
        },
    )
    .await?;
    // ... and no token is in them, nor in any node's log.
    for t in &tokens {
        ensure!(
            !logged.contains(t.as_str()),
            "nginx logged a live token:\n{logged}"
        );
        for id in cluster.node_ids() {
            ensure!(
                !cluster.logs(id).contains(t.as_str()),
                "node {id} logged a live token"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_serves_auth_status_but_not_the_operator_routes() -> Result<()> {
    let Some((cluster, nginx, listen)) = edge(None).await? else {
        return Ok(());
    };
    let client = reqwest::Client::new();
    let base = format!("http://{listen}");
    let checks = async {
        let r = client.get(format!("{base}/auth_status")).send().await?;
        let status = r.status().as_u16();
        let body = r.text().await?;
        ensure!(
            status == 200 && body == "OK",
            "/auth_status: {status} {body:?}"
        );
        for (method, path) in [
            (reqwest::Method::GET, "/api/v1/cluster"),
            (reqwest::Method::POST, "/api/v1/cluster/members"),
            (reqwest::Method::DELETE, "/api/v1/cluster/members/1"),
        ] {
            let r = client
                .request(method.clone(), format!("{base}{path}"))
                .send()
                .await?;
            let status = r.status().as_u16();
            let body = r.text().await?;
            ensure!(
                status == 404,
                "{method} {path} at the edge: {status} {body}"
            );
            for id in cluster.node_ids() {
                let n = cluster.node(id)?;
                ensure!(
                    !body.contains(&n.raft.to_string()) && !body.contains(&n.http.to_string()),
                    "{path} at the edge names node {id}'s address"
                );
            }
        }
        Ok(())
    };
    let result = checks.await;
    if result.is_err() {
        eprintln!("{}", nginx.logs());
    }
    result
}
