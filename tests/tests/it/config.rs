//! A bad config is one clear line on stderr and exit code 2, before anything starts (no data
//! directory, no secret in the message).

use std::time::Duration;

use anyhow::Result;
use authd_tests::{describe, free_ports, run_authd};

const JWT: &str = "cfg-test-jwt-secret-0123456789abcdef";
const CLUSTER: &str = "cfg-test-cluster-secret-0123456789abcdef";

/// A valid 3-node config on free ports; `{SECRETS}` and the markers let cases change parts.
fn valid() -> Result<String> {
    let p = free_ports(6)?;
    Ok(format!(
        r#"dev = true

[secrets]
jwt_secret = "{JWT}"
cluster_secret = "{CLUSTER}"

[raft]
heartbeat_ms = 100

[[nodes]]
id = 1
http = "127.0.0.1:{}"
raft = "127.0.0.1:{}"
data_dir = "authd-data/node1"

[[nodes]]
id = 2
http = "127.0.0.1:{}"
raft = "127.0.0.1:{}"
data_dir = "authd-data/node2"

[[nodes]]
id = 3
http = "127.0.0.1:{}"
raft = "127.0.0.1:{}"
data_dir = "authd-data/node3"
"#,
        p[0], p[1], p[2], p[3], p[4], p[5]
    ))
}

/// Runs `authd serve --config bad.toml --node <node>` on `text` and checks: exit code 2, one
/// non-empty stderr line mentioning every one of `mentions` (case-insensitive), no secret in
/// it, no data directory created.
async fn assert_refused(text: &str, node: &str, mentions: &[&str]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("bad.toml"), text)?;
    let out = run_authd(
        dir.path(),
        &["serve", "--config", "bad.toml", "--node", node],
        None,
        Duration::from_secs(20),
    )
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code for a bad config\n{}",
        describe(&out)
    );
    assert_eq!(
        lines.len(),
        1,
        "want exactly one error line on stderr\n{}",
        describe(&out)
    );
    let line = lines[0].to_ascii_lowercase();
    for m in mentions {
        assert!(
            line.contains(&m.to_ascii_lowercase()),
            "the error should mention {m:?}: {}",
            lines[0]
        );
    }
    for secret in [JWT, CLUSTER] {
        assert!(
            !stderr.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret),
            "a secret is printed"
        );
    }
    assert!(
        !dir.path().join("authd-data").exists(),
        "a refused config created a data directory"
    );
    Ok(())
}

#[tokio::test]
async fn the_valid_base_config_is_accepted() -> Result<()> {
    // Control for the cases below: the same text unchanged starts (and is killed by the
    // timeout instead of exiting 2).
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("ok.toml"), valid()?)?;
    let result = run_authd(
        dir.path(),
        &["serve", "--config", "ok.toml", "--node", "1"],
        None,
        Duration::from_secs(3),
    )
    .await;
    match result {
        Err(e) => assert!(e.to_string().contains("did not exit"), "{e:#}"),
        Ok(out) => panic!("a valid config exited\n{}", describe(&out)),
    }
    Ok(())
}

#[tokio::test]
async fn unknown_top_level_key() -> Result<()> {
    let text = valid()?.replace("dev = true\n", "dev = true\nbogus_knob = 1\n");
    assert_refused(&text, "1", &["bogus_knob"]).await
}

#[tokio::test]
async fn unknown_key_in_a_node() -> Result<()> {
    let text = valid()?.replace("id = 2\n", "id = 2\ncolour = \"blue\"\n");
    assert_refused(&text, "1", &["colour"]).await
}

#[tokio::test]
async fn misspelt_raft_key() -> Result<()> {
    let text = valid()?.replace("heartbeat_ms = 100", "heartbeat = 100");
    assert_refused(&text, "1", &["heartbeat"]).await
}

#[tokio::test]
async fn duplicate_node_id() -> Result<()> {
    let text = valid()?.replace("id = 3\n", "id = 2\n");
    assert_refused(&text, "1", &["duplicate", "2"]).await
}

#[tokio::test]
async fn missing_cluster_secret() -> Result<()> {
    let text = valid()?.replace(&format!("cluster_secret = \"{CLUSTER}\"\n"), "");
    assert_refused(&text, "1", &["cluster_secret"]).await
}

#[tokio::test]
async fn missing_jwt_secret() -> Result<()> {
    let text = valid()?.replace(&format!("jwt_secret = \"{JWT}\"\n"), "");
    assert_refused(&text, "1", &["jwt_secret"]).await
}

#[tokio::test]
async fn unreadable_secret_file() -> Result<()> {
    let text = valid()?.replace(
        &format!("cluster_secret = \"{CLUSTER}\"\n"),
        "cluster_secret_file = \"no-such.secret\"\n",
    );
    assert_refused(&text, "1", &["no-such.secret"]).await
}

#[tokio::test]
async fn inline_secrets_without_dev_mode() -> Result<()> {
    let text = valid()?.replace("dev = true\n", "dev = false\n");
    assert_refused(&text, "1", &["secret"]).await
}

#[tokio::test]
async fn node_not_in_the_file() -> Result<()> {
    assert_refused(&valid()?, "7", &["7"]).await
}

#[tokio::test]
async fn not_toml_at_all() -> Result<()> {
    assert_refused("this is [not toml\n", "1", &["bad.toml"]).await
}

#[tokio::test]
async fn wrong_type() -> Result<()> {
    let text = valid()?.replace("id = 1\n", "id = \"one\"\n");
    assert_refused(&text, "1", &["bad.toml"]).await
}

#[tokio::test]
async fn missing_config_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = run_authd(
        dir.path(),
        &["serve", "--config", "nowhere.toml", "--node", "1"],
        None,
        Duration::from_secs(20),
    )
    .await?;
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nowhere.toml"),
        "{}",
        describe(&out)
    );
    Ok(())
}
