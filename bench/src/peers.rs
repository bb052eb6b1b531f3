//! Optional peer baselines (`--peers redis,etcd`): the shared scripts next to the repository
//! (`../shared/peer-baselines.sh`, `../shared/etcd-baseline.sh`), run as they are and quoted
//! in the report. They `apt-get install` their tools, so they never run by default.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    /// Redis GET/SET (single and cluster) via `peer-baselines.sh redis`.
    Redis,
    /// A 3-node etcd cluster, puts at 64 clients, via `etcd-baseline.sh`.
    Etcd,
}

/// The summary a peer script printed, as markdown.
#[derive(Debug, Clone)]
pub struct PeerResult {
    pub peer: Peer,
    pub script: PathBuf,
    pub summary: String,
}

fn shared_dir() -> PathBuf {
    authd_tests::workspace_root().join("..").join("shared")
}

async fn script(
    path: &PathBuf,
    args: &[&str],
    env: &[(&str, String)],
    capture: bool,
) -> Result<String> {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(path)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd.stdout(if capture {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    for (k, v) in env {
        cmd.env(k, v);
    }
    eprintln!("authd-bench: running {} {}", path.display(), args.join(" "));
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {}", path.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({})",
            path.display(),
            args.join(" "),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs one peer's script (install, measure, summary) with `runs` rounds.
pub async fn run(peer: Peer, runs: usize) -> Result<PeerResult> {
    let scratch = tempfile::Builder::new()
        .prefix("authd-bench-peer-")
        .tempdir()
        .context("creating a scratch dir")?;
    let w = scratch.path().to_string_lossy().into_owned();
    let env = vec![("W", w), ("RUNS", runs.to_string())];
    let (path, steps): (PathBuf, Vec<(&[&str], bool)>) = match peer {
        Peer::Redis => (
            shared_dir().join("peer-baselines.sh"),
            vec![
                (&["install"], false),
                (&["redis"], false),
                (&["summary"], true),
            ],
        ),
        Peer::Etcd => (
            shared_dir().join("etcd-baseline.sh"),
            vec![
                (&["install"], false),
                (&["build"], false),
                (&["bench"], false),
                (&["summary"], true),
            ],
        ),
    };
    if !path.is_file() {
        bail!("{} is not there", path.display());
    }
    let mut env = env;
    if peer == Peer::Etcd {
        // Only the figures the writes report compares with: 3 nodes, 1 and 64 clients.
        env.push((
            "CONFIGS",
            "n3-put-c1:3:put:1:leader n3-put-c64:3:put:64:leader n3-put-c64-allep:3:put:64:all"
                .into(),
        ));
    }
    let mut summary = String::new();
    for (args, capture) in steps {
        let out = script(&path, args, &env, capture).await?;
        if capture {
            summary = out;
        }
    }
    Ok(PeerResult {
        peer,
        script: path,
        summary,
    })
}

impl PeerResult {
    pub fn to_markdown(&self) -> String {
        format!(
            "### {:?} (from `{}`, medians as the script prints them)\n\n{}\n",
            self.peer,
            self.script
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.summary.trim()
        )
    }
}
