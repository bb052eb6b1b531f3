//! Outside dev mode authd refuses to start on secrets that are public, weak or missing: the
//! shipped `cluster.toml` as it is but with `dev = false`, its secrets moved to files or to the
//! environment, inline secrets, too-short ones, none at all, and an inline legacy cookie
//! secret; also without the OAuth2 issuer. Each refusal is exit code 2 with one stderr line
//! naming the secret or key (never a secret's value), before any data directory exists; a
//! control with good secret files starts.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::process::SCRUBBED_ENV;
use authd_tests::{authd_bin, free_ports, workspace_root};

/// Good production secrets (≥ 32 bytes, not in the repository).
const GOOD_JWT: &str = "prod-test-jwt-secret-5f0c2a9e71d34b8a9c6e";
const GOOD_CLUSTER: &str = "prod-test-cluster-secret-8d2e47b1c09f3a56e7";

/// The shipped file's inline value of `key` (in `[secrets]`).
fn shipped(key: &str) -> Result<String> {
    let text = std::fs::read_to_string(workspace_root().join("cluster.toml"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key} = \""))
                .and_then(|r| r.strip_suffix('"'))
        })
        .map(str::to_owned)
        .with_context(|| format!("no inline {key} in the shipped cluster.toml"))
}

/// A production config (`dev = false`) on free ports with `secrets` as its `[secrets]` body,
/// the required `[web] issuer`, and `extra` appended.
fn prod(secrets: &str, extra: &str) -> Result<String> {
    prod_with_web(secrets, "issuer = \"https://auth.example.org\"", extra)
}

/// As [`prod`], with `web` as the `[web]` body.
fn prod_with_web(secrets: &str, web: &str, extra: &str) -> Result<String> {
    let p = free_ports(2)?;
    Ok(format!(
        "dev = false\n[secrets]\n{secrets}\n[web]\n{web}\n{extra}\n[[nodes]]\nid = 1\nhttp = \"127.0.0.1:{}\"\nraft = \"127.0.0.1:{}\"\ndata_dir = \"authd-data/node1\"\n",
        p[0], p[1]
    ))
}

const FILES: &str = "jwt_secret_file = \"jwt.secret\"\ncluster_secret_file = \"cluster.secret\"";

/// Runs `authd serve` on `text` with `files` beside it and `env` set; the exit code (`None`
/// when it was still running after `wait`, i.e. it started) and stderr.
async fn run(
    text: &str,
    files: &[(&str, &str)],
    env: &[(&str, &str)],
    wait: Duration,
) -> Result<(Option<i32>, String, bool)> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("c.toml"), text)?;
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body)?;
    }
    let mut cmd = tokio::process::Command::new(authd_bin()?);
    cmd.args(["serve", "--config", "c.toml", "--node", "1"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let child = cmd.spawn()?;
    let out = tokio::time::timeout(wait, child.wait_with_output()).await;
    let data_dir = dir.path().join("authd-data").exists();
    match out {
        Ok(out) => {
            let out = out?;
            Ok((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                data_dir,
            ))
        }
        Err(_) => Ok((None, String::new(), data_dir)),
    }
}

/// Refused: exit 2, one stderr line mentioning each of `mentions`, none of `secrets`, and no
/// data directory.
async fn refused(
    text: &str,
    files: &[(&str, &str)],
    env: &[(&str, &str)],
    mentions: &[&str],
    secrets: &[&str],
) -> Result<()> {
    let (code, stderr, data_dir) = run(text, files, env, Duration::from_secs(20)).await?;
    ensure!(code == Some(2), "exit {code:?}, want 2: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    ensure!(lines.len() == 1, "want one stderr line: {stderr}");
    let line = stderr.to_ascii_lowercase();
    for m in mentions {
        ensure!(
            line.contains(&m.to_ascii_lowercase()),
            "should mention {m:?}: {stderr}"
        );
    }
    for s in secrets {
        ensure!(!stderr.contains(s), "a secret is printed: {stderr}");
    }
    ensure!(!data_dir, "a refused config created a data directory");
    Ok(())
}

#[tokio::test]
async fn production_starts_with_good_secret_files() -> Result<()> {
    // Control: the refusals below are about the secrets, not the rest of the config.
    let files = [("jwt.secret", GOOD_JWT), ("cluster.secret", GOOD_CLUSTER)];
    let (code, stderr, _) = run(&prod(FILES, "")?, &files, &[], Duration::from_secs(3)).await?;
    ensure!(
        code.is_none(),
        "a good production config exited {code:?}: {stderr}"
    );
    Ok(())
}

/// The OAuth2 metadata is built from the issuer only (never from `Host`), so production must
/// name it: without `[web] issuer`, or with one that is no URL, authd refuses to start.
#[tokio::test]
async fn production_refuses_to_start_without_an_oauth2_issuer() -> Result<()> {
    let files = [("jwt.secret", GOOD_JWT), ("cluster.secret", GOOD_CLUSTER)];
    let none = prod_with_web(FILES, "", "")?;
    refused(&none, &files, &[], &["[web] issuer", "dev = false"], &[]).await?;
    let bad = prod_with_web(FILES, "issuer = \"auth.example.org\"", "")?;
    refused(&bad, &files, &[], &["[web] issuer", "absolute url"], &[]).await
}

#[tokio::test]
async fn the_shipped_cluster_toml_is_refused_outside_dev_mode() -> Result<()> {
    let text = std::fs::read_to_string(workspace_root().join("cluster.toml"))?;
    ensure!(
        text.contains("\ndev = true\n"),
        "the shipped file is in dev mode"
    );
    let text = text.replace("\ndev = true\n", "\ndev = false\n");
    let (jwt, cluster) = (shipped("jwt_secret")?, shipped("cluster_secret")?);
    refused(&text, &[], &[], &["dev = true"], &[&jwt, &cluster]).await
}

#[tokio::test]
async fn the_shipped_secrets_are_refused_from_files_and_from_the_environment() -> Result<()> {
    let (jwt, cluster) = (shipped("jwt_secret")?, shipped("cluster_secret")?);
    let text = prod(FILES, "")?;
    let files = [
        ("jwt.secret", GOOD_JWT),
        ("cluster.secret", cluster.as_str()),
    ];
    refused(
        &text,
        &files,
        &[],
        &["cluster_secret", "repository"],
        &[&cluster],
    )
    .await?;
    let files = [
        ("jwt.secret", jwt.as_str()),
        ("cluster.secret", GOOD_CLUSTER),
    ];
    refused(&text, &files, &[], &["jwt_secret", "repository"], &[&jwt]).await?;
    let files = [("jwt.secret", GOOD_JWT), ("cluster.secret", GOOD_CLUSTER)];
    let env = [("AUTHD_JWT_SECRET", jwt.as_str())];
    refused(&text, &files, &env, &["jwt_secret", "repository"], &[&jwt]).await
}

#[tokio::test]
async fn inline_short_and_missing_secrets_are_refused() -> Result<()> {
    let inline = format!("jwt_secret = \"{GOOD_JWT}\"\ncluster_secret = \"{GOOD_CLUSTER}\"");
    let secrets = [GOOD_JWT, GOOD_CLUSTER];
    refused(&prod(&inline, "")?, &[], &[], &["dev = true"], &secrets).await?;
    let short = "0123456789abcdef0123456789abcde"; // 31 bytes
    let files = [("jwt.secret", short), ("cluster.secret", GOOD_CLUSTER)];
    refused(
        &prod(FILES, "")?,
        &files,
        &[],
        &["jwt_secret", "shorter than 32"],
        &[short],
    )
    .await?;
    refused(&prod("", "")?, &[], &[], &["no cluster_secret"], &[]).await?;
    let only_cluster = "cluster_secret_file = \"cluster.secret\"";
    let files = [("cluster.secret", GOOD_CLUSTER)];
    refused(
        &prod(only_cluster, "")?,
        &files,
        &[],
        &["no jwt_secret"],
        &[],
    )
    .await
}

#[tokio::test]
async fn an_inline_legacy_cookie_secret_is_refused_outside_dev_mode() -> Result<()> {
    let cookie = "legacy-cookie-secret-0123456789abcdef0123";
    let legacy =
        format!("[legacy]\ndatabase_url = \"sqlite:tapir.db\"\ncookie_secret = \"{cookie}\"");
    let files = [("jwt.secret", GOOD_JWT), ("cluster.secret", GOOD_CLUSTER)];
    refused(
        &prod(FILES, &legacy)?,
        &files,
        &[],
        &["cookie_secret", "dev = true"],
        &[cookie],
    )
    .await
}

#[tokio::test]
async fn eddsa_keys_need_their_own_seed_outside_dev_mode() -> Result<()> {
    // Every service holds the JWT secret: EdDSA keys derived from it would let any of them
    // mint tokens, so EdDSA needs a separate seed, and no secret may double as another.
    const SEED: &str = "prod-test-signing-seed-0b7e5d1c93a24f68aa";
    let eddsa = "[signing]\nupstream_alg = \"EdDSA\"";
    let files = [("jwt.secret", GOOD_JWT), ("cluster.secret", GOOD_CLUSTER)];
    refused(
        &prod(FILES, eddsa)?,
        &files,
        &[],
        &["EdDSA", "signing_key_seed_file", "AUTHD_SIGNING_KEY_SEED"],
        &[],
    )
    .await?;
    let with_seed = format!("{FILES}\nsigning_key_seed_file = \"signing.seed\"");
    let reused = [
        ("jwt.secret", GOOD_JWT),
        ("cluster.secret", GOOD_CLUSTER),
        ("signing.seed", GOOD_JWT),
    ];
    refused(
        &prod(&with_seed, eddsa)?,
        &reused,
        &[],
        &["signing_key_seed must differ"],
        &[GOOD_JWT],
    )
    .await?;
    let same = [("jwt.secret", GOOD_JWT), ("cluster.secret", GOOD_JWT)];
    refused(&prod(FILES, "")?, &same, &[], &["must differ"], &[GOOD_JWT]).await?;
    // Control: its own seed, from a file or the environment, starts.
    let good = [
        ("jwt.secret", GOOD_JWT),
        ("cluster.secret", GOOD_CLUSTER),
        ("signing.seed", SEED),
    ];
    let (code, stderr, _) = run(
        &prod(&with_seed, eddsa)?,
        &good,
        &[],
        Duration::from_secs(3),
    )
    .await?;
    ensure!(
        code.is_none(),
        "EdDSA with a seed file exited {code:?}: {stderr}"
    );
    let env = [("AUTHD_SIGNING_KEY_SEED", SEED)];
    let (code, stderr, _) = run(&prod(FILES, eddsa)?, &files, &env, Duration::from_secs(3)).await?;
    ensure!(
        code.is_none(),
        "EdDSA with the seed in the environment exited {code:?}: {stderr}"
    );
    Ok(())
}
