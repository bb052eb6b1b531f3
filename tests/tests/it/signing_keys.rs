//! EdDSA upstream tokens and key rotation (issue 7) on a real 3-node cluster: `/auth` signs
//! with the ring's active key and names it in `kid`; `GET /.well-known/jwks.json` on every
//! node shows a rotated-in key before it signs (checked in one round right after the CLI
//! returns); tokens signed before the rotation still verify after it until they expire; the
//! old key leaves the JWKS only once its last token has expired; a restarted node signs with
//! the same key as the others.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_auth::signing::{Ed25519Signer, JwkSet, PublicKeys};
use authd_auth::tokens::UpstreamSession;
use authd_tests::{Cluster, Fatal, ensure_now, unix_now, wait_until};
use serde_json::Value;

use crate::authd_http::{Web, jwt_secret, verify_hs256, web_client, webs};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

const JWT_TTL: u64 = 10;

async fn jwks(http: &reqwest::Client, cluster: &Cluster, id: u64) -> Result<JwkSet> {
    let url = format!("{}/.well-known/jwks.json", cluster.base_url(id)?);
    let r = http.get(&url).send().await?;
    ensure!(r.status() == 200, "jwks on node {id}: {}", r.status());
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ensure!(cache.contains("max-age"), "jwks cache-control: {cache:?}");
    Ok(r.json().await?)
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

/// `/auth` on `web` for `cookie`: the upstream JWT and the `kid` it names.
async fn upstream(web: &Web, cookie: &str) -> Result<(String, String)> {
    let r = web.auth_cookie(cookie).await?;
    ensure!(r.status == 200, "{}", r.describe());
    let jwt = r.authorization.context("no Authorization")?;
    let h = jsonwebtoken::decode_header(&jwt)?;
    ensure!(h.alg == jsonwebtoken::Algorithm::EdDSA, "alg {:?}", h.alg);
    Ok((jwt, h.kid.context("no kid")?))
}

async fn cli(cluster: &Cluster, node: u64, cmd: &[&str], args: &[&str]) -> Result<Value> {
    let n = node.to_string();
    let mut a = vec!["--node", n.as_str()];
    a.extend_from_slice(args);
    cluster.cli_json(cmd, &a, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_tokens_rotate_without_a_gap_and_old_keys_outlive_their_tokens() -> Result<()> {
    let mut cluster = Cluster::start(3, |c| {
        c.signing.insert("upstream_alg".into(), "EdDSA".into());
        c.signing.insert("max_clock_skew_secs".into(), 1.into());
        c.web.insert("jwt_ttl_secs".into(), (JWT_TTL as i64).into());
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;

    // The leader seeds the ring: one key, the same on every node.
    let k1 = wait_until(
        "a signing key on every node",
        Duration::from_secs(20),
        || async {
            let mut all = Vec::new();
            for id in cluster.node_ids() {
                all.push(kids(&jwks(&http, &cluster, id).await?));
            }
            let first = all.first().cloned().unwrap_or_default();
            ensure_now(first.len() == 1 && all.iter().all(|k| *k == first), || {
                format!("rings: {all:?}")
            })?;
            first.into_iter().next().context("no key")
        },
    )
    .await?;

    let name = uniq("keys");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    let cookie = nodes
        .first()
        .context("no node")?
        .1
        .login_ok(&name, PASSWORD)
        .await?;
    let keys = PublicKeys::from_jwks(&jwks(&http, &cluster, 3).await?);
    for (id, w) in &nodes {
        let (jwt, kid) = upstream(w, &cookie).await?;
        ensure!(kid == k1, "node {id} signed with {kid}, the ring has {k1}");
        let s = UpstreamSession::decode_eddsa(&keys, &jwt, 0)?;
        ensure!(s.user.map(|u| u.username) == Some(name.clone()), "claims");
        // Not an HS256 token: the shared secret does not verify it.
        ensure!(
            verify_hs256(&jwt, &jwt_secret(&cluster)?).is_err(),
            "HS256 accepted"
        );
    }
    // Whoever holds the HS256 secret (every service) cannot mint an EdDSA token: the keys
    // derive from the separate signing-key seed, not from the JWT secret.
    let (jwt, kid) = upstream(&nodes.first().context("no node")?.1, &cookie).await?;
    let claims = UpstreamSession::decode_eddsa(&keys, &jwt, 0)?;
    let forger = Ed25519Signer::derive(&jwt_secret(&cluster)?, &kid)?;
    let forged = forger.sign(&claims)?;
    ensure!(
        UpstreamSession::decode_eddsa(&keys, &forged, 0).is_err(),
        "a token signed with a key derived from the JWT secret verified"
    );

    // Rotate through node 2, the new key signing 3 s from now.
    let (old_jwt, _) = upstream(&nodes.first().context("no node")?.1, &cookie).await?;
    let rotated = cli(&cluster, 2, &["keys", "rotate"], &["--activate-in", "3"]).await?;
    let k2 = rotated["kid"].as_str().context("kid")?.to_owned();
    ensure!(rotated["status"] == "next", "{rotated}");
    // Published on every node before the call returned, and not signing anywhere yet.
    let (sets, tokens) = futures::future::join(
        futures::future::join_all(
            cluster
                .node_ids()
                .into_iter()
                .map(|id| jwks(&http, &cluster, id)),
        ),
        futures::future::join_all(nodes.iter().map(|(_, w)| upstream(w, &cookie))),
    )
    .await;
    for set in sets {
        let k = kids(&set?);
        ensure!(
            k.contains(&k1) && k.contains(&k2),
            "jwks right after rotate: {k:?}"
        );
    }
    for t in tokens {
        let (_, kid) = t?;
        ensure!(
            kid == k1,
            "signed with {kid} before the new key's activation"
        );
    }
    let listed = cli(&cluster, 3, &["keys", "list"], &[]).await?;
    ensure!(listed.to_string().contains("\"next\""), "{listed}");

    // Every node switches to k2.
    wait_until(
        "every node signs with the new key",
        Duration::from_secs(20),
        || async {
            for (id, w) in &nodes {
                let kid = upstream(w, &cookie).await?.1;
                ensure_now(kid == k2, || format!("node {id} signs with {kid}"))?;
            }
            Ok(())
        },
    )
    .await?;
    // The token signed before the rotation still verifies with the JWKS served now.
    let keys = PublicKeys::from_jwks(&jwks(&http, &cluster, 1).await?);
    UpstreamSession::decode_eddsa(&keys, &old_jwt, 0)
        .context("a pre-rotation token must verify until it expires")?;
    let old_exp = UpstreamSession::decode_eddsa(&keys, &old_jwt, 0)?.exp;

    // A restarted node signs with the ring's key too (the ring is in the log and snapshots).
    cluster.kill(3)?;
    cluster.restart(3)?;
    cluster.wait_caught_up(Duration::from_secs(30)).await?;
    let n3 = Web::new(cluster.node(3)?.http, http.clone()).settled();
    ensure!(upstream(&n3, &cookie).await?.1 == k2, "restarted node 3");

    // k1 stays published until its last token expired, then leaves every node's JWKS.
    wait_until(
        "the old key leaves the JWKS",
        Duration::from_secs(40),
        || async {
            let mut still = Vec::new();
            for id in cluster.node_ids() {
                let k = kids(&jwks(&http, &cluster, id).await?);
                if k.contains(&k1) {
                    still.push(id);
                } else if unix_now() < old_exp {
                    let msg =
                        format!("node {id} dropped {k1} before its token (exp {old_exp}) expired");
                    return Err(Fatal(msg).into());
                }
            }
            ensure_now(still.is_empty(), || {
                format!("{k1} still on nodes {still:?}")
            })
        },
    )
    .await?;

    // Bad input changes nothing.
    let out = cluster
        .cli(
            &["keys", "rotate"],
            &["--node", "1", "--activate-in", "99999999"],
            None,
        )
        .await?;
    ensure!(
        !out.status.success(),
        "an activation years away was accepted"
    );
    let k = kids(&jwks(&http, &cluster, 1).await?);
    ensure!(k == vec![k2.clone()], "after a refused rotation: {k:?}");
    Ok(())
}
