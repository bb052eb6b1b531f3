//! Bearer access tokens through `/auth`: minted on one node, honoured at once on every node,
//! scope-checked, and refused everywhere the moment their revocation is acknowledged.

use anyhow::{Context, Result, bail, ensure};
use authd_tests::Cluster;
use reqwest::Method;
use serde_json::{Value, json};

use crate::authd_http::{AuthReq, Web, jwt_secret, verify_hs256, web_client, webs};
use crate::util::{create_user, uniq, wait_user_visible};

const ROUNDS: usize = 10;

async fn mint(cluster: &Cluster, node: u64, body: Value) -> Result<(u16, Value)> {
    let r = cluster
        .api(node)
        .signed(Method::POST, "/api/v1/tokens", Some(&body))
        .await?;
    Ok((r.status, r.json().unwrap_or(Value::Null)))
}

async fn bearer(web: &Web, token: &str, scopes: Option<&str>) -> Result<(u16, Option<String>)> {
    let h = format!("Bearer {token}");
    let r = web
        .auth(&AuthReq {
            authorization: Some(&h),
            scopes,
            ..AuthReq::default()
        })
        .await?;
    Ok((r.status, r.authorization.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_work_everywhere_and_revocation_is_immediate_everywhere() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let client = web_client()?;
    let nodes: Vec<(u64, Web)> = webs(&cluster, &client)?
        .into_iter()
        .map(|(id, w)| (id, w.settled()))
        .collect();
    let name = uniq("bearer");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    let secret = jwt_secret(&cluster)?;

    // Scopes the user does not hold are refused at mint time.
    let (status, body) = mint(
        &cluster,
        1,
        json!({"user": name, "scopes": ["fulltext:read"]}),
    )
    .await?;
    ensure!(status == 400, "minting an ungranted scope: {status} {body}");

    for round in 0..ROUNDS {
        let mint_on = cluster.node_ids()[round % 3];
        let revoke_on = cluster.node_ids()[(round + 1) % 3];
        let (status, body) = mint(
            &cluster,
            mint_on,
            json!({"user": name, "scopes": ["submission:create"], "ttl_secs": 600}),
        )
        .await?;
        ensure!(
            status == 201,
            "round {round}: mint on node {mint_on}: {status} {body}"
        );
        ensure!(
            body["token_type"] == "Bearer" && body["expires_in"] == 600,
            "round {round}: {body}"
        );
        let token = body["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned();

        // Right after the mint returned: every node answers 200 with a JWT naming the user.
        for (id, web) in &nodes {
            let (status, jwt) = bearer(web, &token, None).await?;
            ensure!(
                status == 200,
                "round {round}: node {id} answered {status} for a fresh token"
            );
            let claims = verify_hs256(jwt.as_deref().context("no Authorization on 200")?, &secret)?;
            ensure!(
                claims["user"]["username"] == name.as_str(),
                "round {round}: claims {claims}"
            );
            ensure!(
                claims["authorizations"]["scopes"] == json!(["submission:create"]),
                "the JWT carries exactly the token's scopes: {claims}"
            );
            let (status, _) = bearer(web, &token, Some("submission:read")).await?;
            ensure!(
                status == 403,
                "round {round}: node {id}: scope outside the token must be 403, got {status}"
            );
        }

        let r = cluster
            .api(revoke_on)
            .signed(
                Method::POST,
                "/api/v1/tokens/revoke",
                Some(&json!({"token": token})),
            )
            .await?;
        ensure!(
            r.status == 200,
            "round {round}: revoke on node {revoke_on}: {}",
            r.status
        );
        // Acknowledged: no node may answer 200 any more (asked concurrently).
        let answers = futures::future::join_all(nodes.iter().map(|(id, w)| {
            let t = token.clone();
            async move { (*id, bearer(w, &t, None).await) }
        }))
        .await;
        for (id, a) in answers {
            let (status, _) = a?;
            if status != 401 {
                bail!("round {round}: node {id} answered {status} for a revoked token");
            }
        }
    }
    Ok(())
}
