//! Who sees and who changes the Raft membership: `GET /api/v1/cluster` gives anyone the health
//! fields only, and operators (cluster secret) and admins the members with their addresses;
//! membership changes take the cluster secret, never a bearer token (DESIGN "Interfaces",
//! issue 15). Also the original's health probe, `GET /auth_status`.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use authd_tests::Cluster;
use authd_tests::wait::wait_until;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::mint;
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// The fields an anonymous caller gets, and no others.
const PUBLIC_FIELDS: [&str; 5] = ["last_applied", "leader_id", "node_id", "role", "term"];

/// A request with an optional `Authorization`, unsigned; status, body text.
async fn call(
    cluster: &Cluster,
    node: u64,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, String)> {
    let mut req = cluster.http().request(method, cluster.api(node).url(path));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await?;
    Ok((resp.status().as_u16(), resp.text().await?))
}

/// Every address (raft and http) of every node, as text.
fn addresses(cluster: &Cluster) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in cluster.node_ids() {
        let n = cluster.node(id)?;
        out.push(n.raft.to_string());
        out.push(n.http.to_string());
    }
    Ok(out)
}

fn member_ids(v: &Value) -> Result<BTreeSet<u64>> {
    v["members"]
        .as_array()
        .with_context(|| format!("no members in {v}"))?
        .iter()
        .map(|m| {
            m["id"]
                .as_u64()
                .with_context(|| format!("member without id: {m}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_view_is_reduced_for_anonymous_callers_and_auth_status_says_ok() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let admin = uniq("cadmin");
    let admin_json = cluster
        .api(1)
        .create_user(&admin, &format!("{admin}@example.org"), PASSWORD, true)
        .await?
        .expect(201)?;
    let plain = uniq("cplain");
    let plain_json = create_user(&cluster.api(1), &plain).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &admin, &admin_json["id"]).await?;
        wait_user_visible(&cluster, id, &plain, &plain_json["id"]).await?;
    }
    let reader = format!(
        "Bearer {}",
        mint(&cluster, json!({"user": admin, "scopes": ["admin:read:*"]})).await?
    );
    let user = format!("Bearer {}", mint(&cluster, json!({"user": plain})).await?);
    let all: BTreeSet<u64> = cluster.node_ids().into_iter().collect();

    for id in cluster.node_ids() {
        // Anyone: the five health fields, no member, no address.
        let (s, body) = call(&cluster, id, Method::GET, "/api/v1/cluster", None, None).await?;
        ensure!(s == 200, "node {id}: anonymous /api/v1/cluster {s}: {body}");
        let v: Value = serde_json::from_str(&body)?;
        let keys: Vec<&str> = v
            .as_object()
            .context("not an object")?
            .keys()
            .map(String::as_str)
            .collect();
        ensure!(
            keys == PUBLIC_FIELDS,
            "node {id}: anonymous view has {keys:?}"
        );
        for a in addresses(&cluster)? {
            ensure!(
                !body.contains(&a),
                "node {id}: anonymous view names {a}: {body}"
            );
        }

        // The operator (the CLI's signature) and an admin token: the members.
        let signed = cluster
            .api(id)
            .signed(Method::GET, "/api/v1/cluster", None)
            .await?;
        ensure!(
            member_ids(&signed.expect(200)?)? == all,
            "node {id}: {}",
            signed.body
        );
        let (s, body) = call(
            &cluster,
            id,
            Method::GET,
            "/api/v1/cluster",
            Some(&reader),
            None,
        )
        .await?;
        ensure!(s == 200, "node {id}: admin view {s}: {body}");
        let v: Value = serde_json::from_str(&body)?;
        ensure!(member_ids(&v)? == all, "node {id}: admin view {body}");
        ensure!(
            v["members"][0]["raft"].is_string(),
            "node {id}: no raft address in the admin view: {body}"
        );

        // A credential that is there but not good enough is refused, not downgraded.
        let (s, body) = call(
            &cluster,
            id,
            Method::GET,
            "/api/v1/cluster",
            Some(&user),
            None,
        )
        .await?;
        ensure!(
            s == 403 && !body.contains("members"),
            "node {id}: user token {s}: {body}"
        );

        // The original's health probe.
        let (s, body) = call(&cluster, id, Method::GET, "/auth_status", None, None).await?;
        ensure!(
            s == 200 && body == "OK",
            "node {id}: /auth_status {s} {body:?}"
        );
    }

    // `authd cluster status` (the CLI, signed) still shows the members.
    let out = cluster.cli_json(&["cluster", "status"], &[], None).await?;
    ensure!(member_ids(&out)? == all, "cluster status: {out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_take_the_cluster_secret_and_no_bearer_token() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let admin = uniq("madmin");
    let admin_json = cluster
        .api(1)
        .create_user(&admin, &format!("{admin}@example.org"), PASSWORD, true)
        .await?
        .expect(201)?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &admin, &admin_json["id"]).await?;
    }
    // Every admin scope there is (as an OAuth client delegated `admin:write:*` would hold).
    let token = mint(
        &cluster,
        json!({"user": admin, "scopes": ["admin:read:*", "admin:write:*"]}),
    )
    .await?;
    let bearer = format!("Bearer {token}");
    let leader = cluster.leader().await?;
    let other = cluster
        .node_ids()
        .into_iter()
        .find(|&id| id != leader)
        .context("no follower")?;
    let newcomer = json!({"id": 9, "raft": "127.0.0.1:9", "http": "127.0.0.1:10"});
    let remove = format!("/api/v1/cluster/members/{other}");
    for id in cluster.node_ids() {
        for (method, path, body) in [
            (Method::DELETE, remove.as_str(), None),
            (Method::POST, "/api/v1/cluster/members", Some(&newcomer)),
        ] {
            let (s, text) = call(&cluster, id, method.clone(), path, Some(&bearer), body).await?;
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            ensure!(
                s == 403 && v["error"] == "forbidden" && v["reason"].is_string(),
                "node {id}: {method} {path} with an admin token: {s} {text}"
            );
        }
    }
    let all: BTreeSet<u64> = cluster.node_ids().into_iter().collect();
    let ids: BTreeSet<u64> = cluster
        .info(leader)
        .await?
        .members
        .iter()
        .map(|m| m.id)
        .collect();
    ensure!(ids == all, "an admin token changed the membership: {ids:?}");

    // The operator's CLI (cluster secret) may.
    let out = cluster
        .cli_json(
            &["cluster", "remove-node"],
            &["--id", &other.to_string()],
            None,
        )
        .await?;
    let want: BTreeSet<u64> = all.iter().copied().filter(|&id| id != other).collect();
    ensure!(member_ids(&out)? == want, "remove-node answered {out}");
    cluster.kill(other)?;
    for id in want.iter().copied() {
        wait_until(
            &format!("node {id} to see node {other} removed"),
            Duration::from_secs(20),
            || async {
                let ids: BTreeSet<u64> = cluster
                    .info(id)
                    .await?
                    .members
                    .iter()
                    .map(|m| m.id)
                    .collect();
                if ids != want {
                    bail!("members {ids:?}");
                }
                Ok(())
            },
        )
        .await?;
    }
    Ok(())
}
