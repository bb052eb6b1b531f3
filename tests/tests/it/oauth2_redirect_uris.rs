//! Redirect URIs (issue 15), from outside: the admin API and `authd client add` parse and
//! check every one (lookalike loopback hosts, user information, fragments, other schemes are
//! refused with the rule named), and `/oauth2/authorize` matches exactly, except the port of
//! a loopback IP literal (RFC 8252 §7.3).

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::browser::Browser;
use authd_tests::{Cluster, describe};
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// Register a client with these redirect URIs through the admin API: the status and body.
async fn register(cluster: &Cluster, owner: &str, uris: &[&str]) -> Result<(u16, Value)> {
    let body = json!({"name": "uri check", "owner": owner, "redirect_uris": uris,
        "grant_types": ["authorization_code"], "scopes": ["profile:read"]});
    let r = cluster
        .api(1)
        .signed(Method::POST, "/api/v1/clients", Some(&body))
        .await?;
    Ok((
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::Null),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uris_are_parsed_and_checked_by_the_api_the_cli_and_authorize() -> Result<()> {
    let cluster = Cluster::start(1, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("uriowner");
    let user = create_user(&cluster.api(1), &name).await?;
    wait_user_visible(&cluster, 1, &name, &user["id"]).await?;
    let bad = [
        ("http://localhost.evil.example/cb", "loopback"),
        ("http://127.0.0.1.evil.example/cb", "loopback"),
        ("http://localhost@evil.example/cb", "user information"),
        ("https://user@app.example/cb", "user information"),
        ("https://app.example/cb#top", "fragment"),
        ("http://app.example/cb", "loopback"),
        ("javascript:alert(1)", "private-use"),
        ("/cb", "absolute"),
        ("HTTPS://app.example/cb", "canonical"),
    ];
    for (uri, rule) in bad {
        let (status, body) = register(&cluster, &name, &[uri]).await?;
        let reason = body["reason"].as_str().unwrap_or_default();
        ensure!(
            status == 400 && reason.contains(rule),
            "API accepted or misexplained {uri}: {status} {body}"
        );
        let out = cluster
            .cli(
                &["client", "add"],
                &["--name", "cli", "--owner", &name, "--redirect-uri", uri],
                None,
            )
            .await?;
        ensure!(
            out.status.code() == Some(1) && String::from_utf8_lossy(&out.stderr).contains(rule),
            "CLI on {uri}: {}",
            describe(&out)
        );
    }
    let good = [
        "https://app.example/cb",
        "http://localhost:8080/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:7000/cb",
        "org.example.app:/oauth2/cb",
    ];
    let (status, body) = register(&cluster, &name, &good).await?;
    ensure!(status == 201, "good URIs refused: {status} {body}");
    let id = body["client_id"].as_str().context("client_id")?.to_owned();
    let out = cluster
        .cli(
            &["client", "add"],
            &["--name", "cli", "--owner", &name, "--redirect-uri", good[0]],
            None,
        )
        .await?;
    ensure!(
        out.status.success(),
        "CLI refused {}: {}",
        good[0],
        describe(&out)
    );

    // At authorization: exact match, except the port of a loopback IP literal (RFC 8252 §7.3).
    let browser = Browser::new(&cluster.base_url(1)?)?;
    ensure!(browser.login(&name, PASSWORD).await?.status == 303);
    for (uri, ok) in [
        ("http://127.0.0.1:53111/cb", true),
        ("http://[::1]:53111/cb", true),
        ("https://app.example/cb", true),
        ("http://127.0.0.1.evil.example/cb", false),
        ("http://localhost:9999/cb", false),
        ("https://app.example/cb/", false),
        ("https://app.example:8443/cb", false),
    ] {
        let path = crate::oauth2_util::authorize_path(&[
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", uri),
            ("state", "s"),
            ("code_challenge", crate::oauth2_util::CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let r = browser.get(&path).await?;
        let shown = r.status == 200 && r.body.contains("csrf_token");
        ensure!(shown == ok, "authorize with {uri}: {}", r.describe());
        if !ok {
            ensure!(
                r.location.is_none(),
                "redirected to an unregistered URI {uri}"
            );
        }
    }
    Ok(())
}
