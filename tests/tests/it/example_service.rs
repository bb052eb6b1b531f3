//! The example downstream service (`examples/downstream`, built on `authd_auth::service`)
//! behind the real nginx with the shipped config and a 3-node cluster: logged-in users reach
//! what their scopes and ownership allow, nobody else does, and a logout is honoured at once.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::{Cluster, free_ports};

use crate::authd_http::{AuthReq, Web, cookie_header, jwt_secret, web_client};
use crate::nginx::{Nginx, nginx_or_skip, site_config};
use crate::util::{PASSWORD, create_user, id_text, uniq, wait_user_visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_behind_nginx_enforces_scopes_and_ownership() -> Result<()> {
    example_behind_nginx(false).await
}

/// The same with EdDSA upstream tokens: the service holds no secret, only authd's JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_verifies_eddsa_tokens_with_the_jwks() -> Result<()> {
    example_behind_nginx(true).await
}

async fn example_behind_nginx(eddsa: bool) -> Result<()> {
    let Some(bin) = nginx_or_skip()? else {
        return Ok(());
    };
    let cluster = Cluster::start(3, |c| {
        if eddsa {
            c.signing.insert("upstream_alg".into(), "EdDSA".into());
        }
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    // The example service, in this process, on a free port, with the cluster's JWT secret
    // (HS256) or node 2's JWKS (EdDSA).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app_addr = listener.local_addr()?;
    let verifier = if eddsa {
        let url = format!("{}/.well-known/jwks.json", cluster.base_url(2)?);
        authd_example::jwks_verifier(url)
    } else {
        authd_auth::service::Verifier::new(&jwt_secret(&cluster)?)
    };
    let app = authd_example::app(verifier);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let listen = authd_tests::config::loopback(*free_ports(1)?.first().context("no port")?);
    let mut nginx = Nginx::start(&bin, &site_config(&cluster, app_addr, listen)?, listen)?;
    nginx.wait_ready().await?;
    let result = async {
        let name = uniq("downstream");
        let user = create_user(&cluster.api(1), &name).await?;
        for id in cluster.node_ids() {
            wait_user_visible(&cluster, id, &name, &user["id"]).await?;
        }
        let uid = id_text(&user["id"])?;
        let http = web_client()?;
        let edge = Web::new(listen, http.clone());
        let cookie = edge.login_ok(&name, PASSWORD).await?;
        let h = cookie_header(&cookie);
        let with = AuthReq {
            cookie_header: Some(&h),
            ..AuthReq::default()
        };
        let r = edge.get_with("/", &AuthReq::default()).await?;
        ensure!(
            r.status == 200 && r.body.contains("hello anonymous"),
            "{}",
            r.describe()
        );
        let r = edge.get_with("/", &with).await?;
        ensure!(
            r.status == 200 && r.body.contains(&format!("hello {name}")),
            "{}",
            r.describe()
        );
        let r = edge.get_with("/submit/1", &with).await?;
        ensure!(
            r.status == 200 && r.body.contains("submission accepted"),
            "{}",
            r.describe()
        );
        let r = edge.get_with("/submit/1", &AuthReq::default()).await?;
        ensure!(r.status == 401, "anonymous submit: {}", r.describe());
        let own = format!("/{uid}/profile");
        let r = edge.get_with(&own, &with).await?;
        ensure!(r.status == 200, "own profile: {}", r.describe());
        let r = edge.get_with("/999999/profile", &with).await?;
        ensure!(r.status == 403, "someone else's profile: {}", r.describe());

        // A logout through nginx: the next request is anonymous to the service at once.
        let r = edge.logout(&cookie).await?;
        ensure!(r.status == 303, "{}", r.describe());
        let r = edge.get_with("/submit/1", &with).await?;
        ensure!(r.status == 401, "after logout: {}", r.describe());
        Ok(())
    }
    .await;
    server.abort();
    if result.is_err() {
        eprintln!("nginx log:\n{}", nginx.logs());
    }
    result
}
