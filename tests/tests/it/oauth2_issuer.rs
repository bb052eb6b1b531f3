//! The OAuth2 issuer (issue 15), from outside: the metadata is built from configuration
//! only, never from `Host` or `X-Forwarded-Host` (production refusing to start without
//! `[web] issuer` is in `prod_secrets`).

use std::time::Duration;

use anyhow::{Result, ensure};
use authd_tests::Cluster;
use serde_json::Value;

use crate::authd_http::web_client;
use crate::oauth2_util::url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_never_reflects_the_host_header() -> Result<()> {
    let cluster = Cluster::start(1, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let http = web_client()?;
    let addr = cluster.node(1)?.http;
    for host in ["evil.example", "evil.example:443", "localhost"] {
        let r = http
            .get(url(&cluster, 1, "/.well-known/oauth-authorization-server")?)
            .header("host", host)
            .header("x-forwarded-host", "evil.example")
            .send()
            .await?;
        ensure!(r.status() == 200, "metadata: {}", r.status());
        let text = r.text().await?;
        ensure!(!text.contains("evil.example"), "Host reflected: {text}");
        let meta: Value = serde_json::from_str(&text)?;
        // Dev mode without `[web] issuer`: the node's own configured address.
        let iss = format!("http://{addr}");
        ensure!(
            meta["issuer"] == iss.as_str()
                && meta["token_endpoint"] == format!("{iss}/oauth2/token").as_str(),
            "{meta}"
        );
    }
    Ok(())
}
