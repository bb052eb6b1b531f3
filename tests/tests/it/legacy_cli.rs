//! `authd legacy init-schema`: creates the tapir tables in an empty database, refuses one that
//! has them, and refuses outside dev mode.

use std::time::Duration;

use anyhow::{Result, ensure};
use authd_legacy::{LegacyDb, TapirStore};
use authd_tests::run_authd;

const NODES: &str =
    "[[nodes]]\nid = 1\nhttp = \"127.0.0.1:1\"\nraft = \"127.0.0.1:2\"\ndata_dir = \"d\"\n";

#[tokio::test]
async fn legacy_init_schema_creates_then_refuses() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("tapir.db");
    let legacy = format!(
        "[legacy]\ndatabase_url = \"sqlite://{}\"\ncookie_secret = \"k\"\n",
        db_path.display()
    );
    let cfg = |dev: bool| {
        format!(
            "dev = {dev}\n[secrets]\njwt_secret = \"a\"\ncluster_secret = \"b\"\n{legacy}{NODES}"
        )
    };
    std::fs::write(dir.path().join("dev.toml"), cfg(true))?;
    std::fs::write(dir.path().join("prod.toml"), cfg(false))?;
    let run = |file: &'static str| {
        let cwd = dir.path().to_owned();
        async move {
            run_authd(
                &cwd,
                &["legacy", "init-schema", "--config", file],
                None,
                Duration::from_secs(30),
            )
            .await
        }
    };

    let prod = run("prod.toml").await?;
    ensure!(!prod.status.success(), "outside dev mode: {prod:?}");
    ensure!(
        !db_path.exists()
            || !LegacyDb::connect_lazy(&format!("sqlite://{}", db_path.display()))?
                .has_schema()
                .await?
    );

    let first = run("dev.toml").await?;
    ensure!(first.status.success(), "first run: {first:?}");
    let db = LegacyDb::connect_lazy(&format!("sqlite://{}", db_path.display()))?;
    ensure!(db.has_schema().await?, "tables created");

    let second = run("dev.toml").await?;
    let err = String::from_utf8_lossy(&second.stderr);
    ensure!(
        !second.status.success() && err.contains("already exist"),
        "second run: {second:?}"
    );
    Ok(())
}
