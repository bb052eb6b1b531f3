//! The repository's own `cluster.toml`, copied to a scratch directory and started as is.
//! It uses the file's fixed ports (8081-8083); every other test uses free ports, and this is
//! the only test on those, so nothing else in this binary competes for them.

use anyhow::Result;
use authd_tests::Cluster;

use crate::util::{create_user, wait_user_visible};

/// Serialises tests on the repository's fixed ports, should another one ever be added.
pub static REPO_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_cluster_toml_three_nodes_a_write_through_any_node_is_visible_on_every_node()
-> Result<()> {
    let _ports = REPO_PORTS.lock().await;
    let cluster = Cluster::start_from_repo_cluster_toml().await?;

    let ids = cluster.node_ids();
    assert_eq!(
        ids,
        vec![1, 2, 3],
        "cluster.toml should define nodes 1, 2, 3"
    );
    for (id, port) in [(1, 8081), (2, 8082), (3, 8083)] {
        let http = cluster.node(id)?.http;
        assert_eq!(http.port(), port, "node {id} http address in cluster.toml");
        assert!(
            http.ip().is_loopback(),
            "node {id} should listen on loopback, not {http}"
        );
    }
    for &id in &ids {
        let info = cluster.info(id).await?;
        assert_eq!(info.node_id, id);
        let mut members: Vec<(u64, String)> = info
            .members
            .iter()
            .map(|m| (m.id, m.http.clone()))
            .collect();
        members.sort();
        let want: Vec<(u64, String)> = ids
            .iter()
            .map(|&i| Ok((i, cluster.node(i)?.http.to_string())))
            .collect::<Result<_>>()?;
        assert_eq!(members, want, "node {id}: members as in cluster.toml");
    }

    let mut users = Vec::new();
    for &id in &ids {
        let name = crate::util::uniq(&format!("via{id}x"));
        let user = create_user(&cluster.api(id), &name).await?;
        users.push((name, user["id"].clone()));
    }
    for (name, user_id) in &users {
        for &id in &ids {
            wait_user_visible(&cluster, id, name, user_id).await?;
        }
    }
    Ok(())
}
