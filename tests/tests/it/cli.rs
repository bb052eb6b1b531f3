//! The operator CLI against a live cluster: `user add --password-stdin`, `cluster status`.

use std::time::Duration;

use anyhow::Result;
use authd_tests::{Cluster, describe, run_authd};
use serde_json::json;

use crate::util::{
    PASSWORD, email_of, has_key_value, no_password_material, uniq, wait_user_visible,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_user_add_with_password_stdin_and_cluster_status() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let stdin = format!("{PASSWORD}\n");

    // user add: JSON with the id on stdout; the user is on every node; no password echoed.
    let name = uniq("cli");
    let email = email_of(&name);
    let out = cluster
        .cli(
            &["user", "add"],
            &["--username", &name, "--email", &email, "--password-stdin"],
            Some(stdin.as_bytes()),
        )
        .await?;
    assert!(out.status.success(), "user add failed\n{}", describe(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow::anyhow!("user add did not print JSON ({e})\n{}", describe(&out)))?;
    let id = printed.get("id").cloned().unwrap_or(json!(null));
    assert!(!id.is_null(), "no id in {printed}");
    no_password_material(&printed)?;
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(PASSWORD),
        "the password is echoed on stderr"
    );
    for node in cluster.node_ids() {
        wait_user_visible(&cluster, node, &name, &id).await?;
    }
    let user = cluster.api(1).get_user(&name).await?.expect(200)?;
    assert_eq!(user["email"], email.as_str());
    assert!(
        !user["roles"].to_string().contains("admin"),
        "user add without --admin made an admin: {user}"
    );

    // --admin.
    let admin = uniq("cliadmin");
    let printed = cluster
        .cli_json(
            &["user", "add"],
            &[
                "--username",
                &admin,
                "--email",
                &email_of(&admin),
                "--admin",
                "--password-stdin",
            ],
            Some(stdin.as_bytes()),
        )
        .await?;
    wait_user_visible(&cluster, 2, &admin, &printed["id"]).await?;
    let user = cluster.api(2).get_user(&admin).await?.expect(200)?;
    assert!(
        user["roles"].to_string().contains("admin"),
        "user add --admin: {user}"
    );

    // A duplicate is refused with a non-zero exit and a message.
    let out = cluster
        .cli(
            &["user", "add"],
            &[
                "--username",
                &name,
                "--email",
                &email_of(&uniq("dup")),
                "--password-stdin",
            ],
            Some(stdin.as_bytes()),
        )
        .await?;
    assert!(
        !out.status.success(),
        "duplicate user add succeeded\n{}",
        describe(&out)
    );
    assert!(
        !out.stderr.is_empty(),
        "duplicate user add failed silently\n{}",
        describe(&out)
    );

    // An empty password is refused and creates nothing.
    let empty = uniq("nopw");
    let out = cluster
        .cli(
            &["user", "add"],
            &[
                "--username",
                &empty,
                "--email",
                &email_of(&empty),
                "--password-stdin",
            ],
            Some(b"\n"),
        )
        .await?;
    assert!(
        !out.status.success(),
        "user add with an empty password succeeded\n{}",
        describe(&out)
    );
    assert_eq!(cluster.api(1).get_user(&empty).await?.status, 404);

    // With the wrong cluster secret the CLI is refused and creates nothing.
    if let Some(cfg) = cluster.config() {
        let mut wrong = cfg.clone();
        wrong.secrets.cluster_secret = Some("not-the-cluster-secret-0123456789abcdef".into());
        std::fs::write(cluster.dir().join("wrong.toml"), wrong.to_toml()?)?;
        let intruder = uniq("intruder");
        let out = run_authd(
            cluster.dir(),
            &[
                "user",
                "add",
                "--config",
                "wrong.toml",
                "--username",
                &intruder,
                "--email",
                &email_of(&intruder),
                "--admin",
                "--password-stdin",
            ],
            Some(stdin.as_bytes()),
            Duration::from_secs(30),
        )
        .await?;
        assert!(
            !out.status.success(),
            "user add with a wrong secret succeeded\n{}",
            describe(&out)
        );
        assert_eq!(
            cluster.api(1).get_user(&intruder).await?.status,
            404,
            "the refused CLI call created a user"
        );
    }

    // cluster status: JSON naming the current leader.
    let leader = cluster.leader().await?;
    let status = cluster.cli_json(&["cluster", "status"], &[], None).await?;
    assert!(
        has_key_value(&status, "leader_id", &json!(leader)),
        "cluster status does not name leader {leader}: {status}"
    );

    // The CLI finds a live node when the first one in the file is down.
    cluster.kill(1)?;
    cluster.leader().await?;
    let late = uniq("late");
    let printed = cluster
        .cli_json(
            &["user", "add"],
            &[
                "--username",
                &late,
                "--email",
                &email_of(&late),
                "--password-stdin",
            ],
            Some(stdin.as_bytes()),
        )
        .await?;
    for node in cluster.live_nodes() {
        wait_user_visible(&cluster, node, &late, &printed["id"]).await?;
    }
    let status = cluster.cli_json(&["cluster", "status"], &[], None).await?;
    assert!(
        status.is_object() || status.is_array(),
        "cluster status with node 1 down: {status}"
    );
    Ok(())
}
