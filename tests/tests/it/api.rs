//! The operator API and the health/status endpoints on a 3-node cluster: signatures, users,
//! sessions, errors, any node serving any request.

use std::time::Duration;

use anyhow::{Result, bail};
use authd_tests::{
    Cluster, ensure_now, sign, sign_per_contract, unix_now, unix_now_ms, wait_until,
};
use reqwest::Method;
use serde_json::json;

use crate::util::{
    PASSWORD, create_user, email_of, id_text, uniq, wait_session_status, wait_user_visible,
};

#[test]
fn the_cli_signature_matches_the_written_contract() {
    let secret = b"0123456789abcdef0123456789abcdef";
    for (method, path, body) in [
        ("POST", "/api/v1/users", &b"{\"username\":\"x\"}"[..]),
        ("GET", "/api/v1/users/alice?x=1", &b""[..]),
        ("DELETE", "/api/v1/sessions/abc", &b""[..]),
    ] {
        assert_eq!(
            sign(secret, method, path, body, 1_700_000_000),
            sign_per_contract(secret, method, path, body, 1_700_000_000),
            "{method} {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_api_users_sessions_and_errors_on_every_node() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let ids = cluster.node_ids();

    // Health, readiness, status and metrics on every node.
    for &id in &ids {
        let api = cluster.api(id);
        assert_eq!(api.healthz().await?, 200, "node {id} /healthz");
        assert_eq!(api.readyz().await?, 200, "node {id} /readyz");
        let info = api.cluster_info().await?;
        assert_eq!(info.node_id, id);
        let mut members: Vec<u64> = info.members.iter().map(|m| m.id).collect();
        members.sort_unstable();
        assert_eq!(members, ids, "node {id} members");
        let metrics = api.metrics().await?;
        assert_eq!(metrics.status, 200, "node {id} /metrics");
        assert!(
            metrics.body.contains("# TYPE"),
            "node {id} /metrics is not Prometheus text: {}",
            metrics.body
        );
        // The Raft gauges the issue asks for: term, commit and applied index.
        for fragment in ["term", "commit", "applied"] {
            let found = metrics.body.lines().any(|l| {
                !l.starts_with('#')
                    && l.split([' ', '{'])
                        .next()
                        .is_some_and(|name| name.contains(fragment))
            });
            assert!(found, "node {id} /metrics has no *{fragment}* metric");
        }
    }

    // The replicated state's size on every node, before the user below.
    let mut before = Vec::new();
    for &id in &ids {
        before.push(state_bytes(&cluster, id).await?);
    }

    // A user through a follower, visible on all nodes by username and by id.
    let leader = cluster.leader().await?;
    let follower = ids.iter().copied().find(|&i| i != leader).unwrap_or(leader);
    let name = uniq("alice");
    let user = create_user(&cluster.api(follower), &name).await?;
    let user_id = user["id"].clone();
    for &id in &ids {
        wait_user_visible(&cluster, id, &name, &user_id).await?;
        let by_id = cluster
            .api(id)
            .get_user(&id_text(&user_id)?)
            .await?
            .expect(200)?;
        assert_eq!(by_id["username"], name.as_str(), "node {id}: lookup by id");
    }
    // ... grows on every node with it (the gauge is re-measured every 5 s).
    for (&id, &b) in ids.iter().zip(&before) {
        wait_until(
            "authd_state_encoded_bytes grows",
            Duration::from_secs(30),
            || async {
                let now = state_bytes(&cluster, id).await?;
                ensure_now(now > b, || format!("node {id}: {now} bytes, was {b}"))
            },
        )
        .await?;
    }
    let missing = cluster.api(leader).get_user(&uniq("nobody")).await?;
    assert_eq!(missing.status, 404, "unknown user: {}", missing.body);

    // Duplicate username through every node: 409 conflict, and the original is unchanged.
    for &id in &ids {
        let resp = cluster
            .api(id)
            .create_user(&name, &email_of(&uniq("other")), PASSWORD, false)
            .await?;
        assert_eq!(
            resp.status, 409,
            "duplicate through node {id}: {}",
            resp.body
        );
        assert_eq!(
            resp.json()?["error"],
            "conflict",
            "duplicate through node {id}: {}",
            resp.body
        );
        assert!(
            resp.json()?.get("reason").is_some(),
            "409 without a reason: {}",
            resp.body
        );
    }
    let again = cluster.api(leader).get_user(&name).await?.expect(200)?;
    assert_eq!(again["email"], email_of(&name).as_str());

    // Admin flag.
    let admin_name = uniq("root");
    let admin = cluster
        .api(leader)
        .create_user(&admin_name, &email_of(&admin_name), PASSWORD, true)
        .await?
        .expect(201)?;
    assert!(
        admin["roles"].to_string().contains("admin"),
        "admin user without an admin role: {admin}"
    );
    assert!(
        !user["roles"].to_string().contains("admin"),
        "plain user with an admin role: {user}"
    );

    // Bad input: 400 (not 422, not 500) with an error body, and nothing created.
    let api = cluster.api(follower);
    let bad_name = uniq("bad");
    let bad_bodies = [
        json!({"username": bad_name, "email": email_of(&bad_name)}), // no password
        json!({"username": "", "email": "x@example.org", "password": PASSWORD, "admin": false}),
        json!({"username": bad_name, "email": "not-an-email", "password": PASSWORD, "admin": false}),
        json!({"username": bad_name, "email": email_of(&bad_name), "password": "", "admin": false}),
        json!({"username": 42, "email": email_of(&bad_name), "password": PASSWORD, "admin": false}),
        json!([1, 2, 3]),
    ];
    for body in &bad_bodies {
        let resp = api
            .signed(Method::POST, "/api/v1/users", Some(body))
            .await?;
        assert_eq!(resp.status, 400, "bad input {body}: {}", resp.body);
        assert!(
            resp.json()?.get("error").is_some(),
            "400 without an error code: {}",
            resp.body
        );
    }
    let not_json = b"{\"username\": ".to_vec();
    let sig = sign(
        cluster.secret(),
        "POST",
        "/api/v1/users",
        &not_json,
        unix_now(),
    );
    let resp = api
        .raw(Method::POST, "/api/v1/users", Some(not_json), Some(sig))
        .await?;
    assert_eq!(resp.status, 400, "truncated JSON: {}", resp.body);
    assert_eq!(
        api.get_user(&bad_name).await?.status,
        404,
        "bad input created a user"
    );

    // Sessions: create on one node, read on all, delete on another, gone everywhere.
    let session = cluster
        .api(ids[0])
        .create_session(&user_id, None)
        .await?
        .expect(201)?;
    let sid = id_text(&session["session_id"])?;
    assert!(
        session["expires_ms"]
            .as_u64()
            .is_some_and(|e| e > unix_now_ms()),
        "expires_ms: {session}"
    );
    for &id in &ids {
        wait_session_status(&cluster, id, &sid, 200).await?;
    }
    let ended = cluster
        .api(ids[2])
        .delete_session(&sid)
        .await?
        .expect(200)?;
    assert_eq!(ended["ended"], 1, "DELETE answer: {ended}");
    for &id in &ids {
        wait_session_status(&cluster, id, &sid, 404).await?;
    }
    let unknown = cluster.api(leader).get_session(&uniq("nosession")).await?;
    assert_eq!(unknown.status, 404, "unknown session: {}", unknown.body);
    let for_nobody = cluster
        .api(leader)
        .create_session(&json!(uniq("nouser")), None)
        .await?;
    assert!(
        (400..500).contains(&for_nobody.status),
        "a session for an unknown user: HTTP {} {}",
        for_nobody.status,
        for_nobody.body
    );

    // A short-lived session expires on every node, by the time in its entry.
    let before = unix_now_ms();
    let short = cluster
        .api(leader)
        .create_session(&user_id, Some(2))
        .await?
        .expect(201)?;
    let after = unix_now_ms();
    let expires = short["expires_ms"].as_u64().unwrap_or(0);
    assert!(
        expires >= before + 2000 - 1000 && expires <= after + 2000 + 1000,
        "ttl 2 s gave expires_ms {expires} for a request between {before} and {after}"
    );
    let short_id = id_text(&short["session_id"])?;
    for &id in &ids {
        wait_session_status(&cluster, id, &short_id, 404).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_api_refuses_missing_bad_stale_and_tampered_signatures() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let api = cluster.api(1);
    let name = uniq("mallory");
    let body =
        json!({"username": name, "email": email_of(&name), "password": PASSWORD, "admin": true});
    let bytes = serde_json::to_vec(&body)?;
    let path = "/api/v1/users";
    let now = unix_now();
    let secret = cluster.secret().to_vec();
    let other = json!({"username": uniq("x"), "email": "x@example.org", "password": PASSWORD, "admin": false});
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no signature", None),
        ("empty header", Some(String::new())),
        ("garbage header", Some("hello".into())),
        (
            "wrong secret",
            Some(sign(
                b"not-the-cluster-secret-0123456789",
                "POST",
                path,
                &bytes,
                now,
            )),
        ),
        (
            "an hour old",
            Some(sign(&secret, "POST", path, &bytes, now - 3600)),
        ),
        (
            "an hour ahead",
            Some(sign(&secret, "POST", path, &bytes, now + 3600)),
        ),
        (
            "other method",
            Some(sign(&secret, "PUT", path, &bytes, now)),
        ),
        (
            "other path",
            Some(sign(&secret, "POST", "/api/v1/sessions", &bytes, now)),
        ),
        (
            "other body",
            Some(sign(
                &secret,
                "POST",
                path,
                &serde_json::to_vec(&other)?,
                now,
            )),
        ),
        ("truncated sig", {
            let s = sign(&secret, "POST", path, &bytes, now);
            Some(s[..s.len() - 2].to_string())
        }),
    ];
    for (what, header) in cases {
        for &id in &cluster.node_ids() {
            let resp = cluster
                .api(id)
                .raw(Method::POST, path, Some(bytes.clone()), header.clone())
                .await?;
            assert_eq!(resp.status, 401, "{what} through node {id}: {}", resp.body);
        }
    }
    // Reads of user data need a signature too.
    let unsigned_read = api.get(&format!("/api/v1/users/{name}")).await?;
    assert_eq!(
        unsigned_read.status, 401,
        "unsigned GET user: {}",
        unsigned_read.body
    );
    // None of that created the user; a good signature does (positive control).
    assert_eq!(
        api.get_user(&name).await?.status,
        404,
        "a refused request created the user"
    );
    let sig = sign(&secret, "POST", path, &bytes, unix_now());
    let resp = api
        .raw(Method::POST, path, Some(bytes.clone()), Some(sig))
        .await?;
    assert_eq!(
        resp.status, 201,
        "a correctly signed request: {}",
        resp.body
    );
    wait_until(
        "the user to be readable",
        Duration::from_secs(10),
        || async {
            let r = api.get_user(&name).await?;
            if r.status != 200 {
                bail!("HTTP {}", r.status);
            }
            Ok(())
        },
    )
    .await?;
    Ok(())
}

/// Node `id`'s `authd_state_encoded_bytes` gauge (waits for its first measurement).
async fn state_bytes(cluster: &Cluster, id: u64) -> Result<f64> {
    wait_until(
        "authd_state_encoded_bytes on /metrics",
        Duration::from_secs(30),
        || async {
            let body = cluster.api(id).metrics().await?.body;
            let v = body.lines().find_map(|l| {
                l.strip_prefix("authd_state_encoded_bytes ")
                    .and_then(|v| v.trim().parse::<f64>().ok())
            });
            v.filter(|v| *v > 0.0)
                .ok_or_else(|| anyhow::anyhow!("node {id}: no authd_state_encoded_bytes yet"))
        },
    )
    .await
}
