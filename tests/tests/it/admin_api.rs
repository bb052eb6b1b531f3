//! The admin API accepts `Authorization: Bearer <access token>` with admin scopes (DESIGN.md
//! "Admin API"): no credential 401, a non-admin token 403, a read-only admin token may read but
//! not change, an admin token may do both on any node, and a revoked one is refused at once.

use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::Cluster;
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// Mints a token through the signed API; its `access_token`.
pub(crate) async fn mint(cluster: &Cluster, body: Value) -> Result<String> {
    let r = cluster
        .api(1)
        .signed(Method::POST, "/api/v1/tokens", Some(&body))
        .await?;
    let v = r.expect(200).or_else(|_| r.expect(201))?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token")
}

async fn call(
    cluster: &Cluster,
    node: u64,
    method: Method,
    path: &str,
    auth: Option<&str>,
) -> Result<(u16, Value)> {
    let mut req = cluster.http().request(method, cluster.api(node).url(path));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

#[tokio::test]
async fn admin_api_takes_admin_bearer_tokens_and_refuses_everything_else() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let admin = uniq("admin");
    let r = cluster
        .api(1)
        .create_user(&admin, &format!("{admin}@example.org"), PASSWORD, true)
        .await?;
    let admin_json = r.expect(201)?;
    let plain = uniq("plain");
    let plain_json = create_user(&cluster.api(1), &plain).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &admin, &admin_json["id"]).await?;
        wait_user_visible(&cluster, id, &plain, &plain_json["id"]).await?;
    }
    let admin_token = mint(&cluster, json!({"user": admin})).await?;
    let reader_token = mint(&cluster, json!({"user": admin, "scopes": ["admin:read:*"]})).await?;
    let plain_token = mint(&cluster, json!({"user": plain})).await?;
    let get_plain = format!("/api/v1/users/{plain}");
    let suspend = format!("/api/v1/users/{plain}/suspend");

    // No credential, a malformed one, an unknown token.
    let (s, body) = call(&cluster, 2, Method::GET, &get_plain, None).await?;
    assert_eq!(s, 401, "{body}");
    assert!(
        body["error"].is_string() && body["reason"].is_string(),
        "{body}"
    );
    assert_eq!(
        call(&cluster, 2, Method::GET, &get_plain, Some("Basic eDp5"))
            .await?
            .0,
        401
    );
    assert_eq!(
        call(
            &cluster,
            2,
            Method::GET,
            &get_plain,
            Some("Bearer not-a-token")
        )
        .await?
        .0,
        401
    );

    // A user's token without admin scopes: 403 with the JSON error shape.
    let plain_auth = format!("Bearer {plain_token}");
    let (s, body) = call(&cluster, 3, Method::GET, &get_plain, Some(&plain_auth)).await?;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"], "forbidden", "{body}");

    // Read-only admin: reads on any node, cannot change anything.
    let reader_auth = format!("Bearer {reader_token}");
    for node in cluster.node_ids() {
        let (s, body) = call(&cluster, node, Method::GET, &get_plain, Some(&reader_auth)).await?;
        assert_eq!(s, 200, "node {node}: {body}");
        assert_eq!(body["username"], plain.as_str());
    }
    let (s, body) = call(&cluster, 2, Method::POST, &suspend, Some(&reader_auth)).await?;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        call(&cluster, 1, Method::GET, &get_plain, Some(&reader_auth))
            .await?
            .1["suspended"],
        false
    );

    // Full admin: may change, through any node.
    let admin_auth = format!("Bearer {admin_token}");
    let (s, body) = call(&cluster, 3, Method::POST, &suspend, Some(&admin_auth)).await?;
    assert_eq!(s, 200, "{body}");
    for node in cluster.node_ids() {
        let (_, u) = call(&cluster, node, Method::GET, &get_plain, Some(&admin_auth)).await?;
        assert_eq!(u["suspended"], true, "node {node}: {u}");
    }
    // The suspended user's own token is gone with the suspension.
    assert_eq!(
        call(&cluster, 1, Method::GET, &get_plain, Some(&plain_auth))
            .await?
            .0,
        401
    );

    // Signing keys: a reader lists them but cannot rotate; an admin rotates, and the new key
    // is in the public JWKS at once; a malformed body changes nothing.
    let (s, body) = call(&cluster, 2, Method::GET, "/api/v1/keys", Some(&reader_auth)).await?;
    assert!(s == 200 && body.is_array(), "{s} {body}");
    let rotate = |auth: &str, body: &str| {
        cluster
            .http()
            .post(cluster.api(1).url("/api/v1/keys/rotate"))
            .header("Authorization", auth.to_owned())
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let r = rotate(&reader_auth, r#"{"activate_in_secs": 60}"#).await?;
    assert_eq!(r.status().as_u16(), 403);
    let r = rotate(&admin_auth, r#"{"activate_in_secs": "soon"}"#).await?;
    assert_eq!(r.status().as_u16(), 400);
    let r = rotate(&admin_auth, r#"{"activate_in_secs": 60}"#).await?;
    assert_eq!(r.status().as_u16(), 200);
    let key: Value = r.json().await?;
    assert_eq!(key["status"], "next", "{key}");
    let (s, jwks) = call(&cluster, 3, Method::GET, "/.well-known/jwks.json", None).await?;
    assert_eq!(s, 200);
    assert!(
        jwks["keys"].as_array().is_some_and(|k| k
            .iter()
            .any(|k| k["kid"] == key["kid"] && k["kty"] == "OKP")),
        "{jwks}"
    );

    // Revoking the admin token takes effect on every node before the call returns.
    let r = cluster
        .api(2)
        .signed(
            Method::POST,
            "/api/v1/tokens/revoke",
            Some(&json!({"token": admin_token})),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    for node in cluster.node_ids() {
        let (s, _) = call(&cluster, node, Method::GET, &get_plain, Some(&admin_auth)).await?;
        assert_eq!(s, 401, "node {node} still takes a revoked admin token");
    }
    Ok(())
}

#[tokio::test]
async fn users_sessions_and_roles_are_listed_and_roles_defined_through_the_api() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let api = cluster.api(2);
    let prefix = uniq("list");
    let mut names = Vec::new();
    for i in 0..5 {
        let n = format!("{prefix}{i}");
        create_user(&cluster.api(1), &n).await?;
        names.push(n);
    }
    for id in cluster.node_ids() {
        let last = names.last().context("names")?;
        let u = cluster.api(1).get_user(last).await?.expect(200)?;
        wait_user_visible(&cluster, id, last, &u["id"]).await?;
    }
    // Search with pagination: two pages of 3 and 2, in id order, nothing else matching.
    let p1 = api
        .signed(
            Method::GET,
            &format!("/api/v1/users?q={prefix}&limit=3"),
            None,
        )
        .await?
        .expect(200)?;
    let items = p1["items"].as_array().context("items")?;
    assert_eq!(items.len(), 3, "{p1}");
    let cursor = p1["next"].as_str().context("next")?;
    let p2 = api
        .signed(
            Method::GET,
            &format!(
                "/api/v1/users?q={}&limit=3&after={cursor}",
                prefix.to_uppercase()
            ),
            None,
        )
        .await?
        .expect(200)?;
    assert_eq!(p2["items"].as_array().map(Vec::len), Some(2), "{p2}");
    assert!(p2["next"].is_null());
    let all: Vec<String> = items
        .iter()
        .chain(p2["items"].as_array().into_iter().flatten())
        .filter_map(|u| u["username"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(all, names);
    assert!(
        !p1.to_string().contains("argon2"),
        "no password hashes in lists"
    );

    // A user's sessions.
    let first = names.first().context("first")?;
    let web = crate::authd_http::Web::new(cluster.api(1).addr, crate::authd_http::web_client()?);
    web.login_ok(first, PASSWORD).await?;
    // A login is acknowledged at commit: the listing node shows it once it applied it.
    let path = format!("/api/v1/users/{first}/sessions");
    let s = authd_tests::wait_until(
        "the new session in the listing",
        Duration::from_secs(5),
        || {
            let (api, path) = (cluster.api(1), path.clone());
            async move {
                let s = api.signed(Method::GET, &path, None).await?.expect(200)?;
                anyhow::ensure!(s["items"].as_array().map(Vec::len) == Some(1), "{s}");
                Ok(s)
            }
        },
    )
    .await?;
    assert!(s["items"][0]["session_id"].is_string(), "{s}");

    // Roles: the seeded ones, a new one, granted, carried by /auth on every node.
    let roles = api
        .signed(Method::GET, "/api/v1/roles", None)
        .await?
        .expect(200)?;
    for seeded in ["admin", "moderator", "user"] {
        assert!(
            roles.to_string().contains(&format!("\"{seeded}\"")),
            "{roles}"
        );
    }
    let body = json!({"scopes": ["fulltext:read", "fulltext:create"]});
    let r = api
        .signed(Method::PUT, "/api/v1/roles/librarian", Some(&body))
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    for (name, body) in [
        ("bad name!", json!({"scopes": []})),
        ("ok", json!({"scopes": ["not a scope"]})),
    ] {
        let path = format!("/api/v1/roles/{}", name.replace(' ', "%20"));
        let r = api.signed(Method::PUT, &path, Some(&body)).await?;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
    }
    cluster
        .cli_json(
            &["role", "grant"],
            &["--user", first, "--role", "librarian"],
            None,
        )
        .await?;
    let cookie = web.login_ok(first, PASSWORD).await?;
    let nodes = crate::authd_http::webs(&cluster, &crate::authd_http::web_client()?)?;
    let h = crate::authd_http::cookie_header(&cookie);
    for (id, w) in &nodes {
        let r = w
            .clone()
            .settled()
            .auth(&crate::authd_http::AuthReq {
                cookie_header: Some(&h),
                scopes: Some("fulltext:read"),
                ..Default::default()
            })
            .await?;
        assert_eq!(r.status, 200, "node {id}: {}", r.describe());
    }
    Ok(())
}
