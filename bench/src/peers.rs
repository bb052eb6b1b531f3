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
    /// Where the figures come from: measured in this run, or reused from an earlier one.
    pub source: String,
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
                (&["versions"], false),
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
        source: "measured at the end of this benchmark run".into(),
    })
}

fn peer_name(peer: Peer) -> String {
    format!("{peer:?}").to_lowercase()
}

/// The `--peers` baselines of a scenario: each is run (and its summary kept in
/// `<out>/peer-<name>.md`), or with `--reuse-peers` read back from that file if it is there,
/// so that one measurement serves several reports.
pub async fn collect(common: &crate::scenarios::Common) -> Vec<PeerResult> {
    let mut out = Vec::new();
    for &peer in &common.peers {
        let cached = common.out.join(format!("peer-{}.md", peer_name(peer)));
        if common.reuse_peers
            && let Ok(summary) = std::fs::read_to_string(&cached)
        {
            let when = crate::report::file_date(&cached);
            out.push(PeerResult {
                peer,
                script: cached.clone(),
                summary,
                source: format!("reused from `{}` (measured {when})", cached.display()),
            });
            continue;
        }
        match run(peer, common.runs).await {
            Ok(p) => {
                if let Err(e) = std::fs::write(&cached, &p.summary) {
                    eprintln!("authd-bench: keeping {}: {e}", cached.display());
                }
                out.push(p);
            }
            Err(e) => eprintln!("authd-bench: peer baseline {peer:?} failed: {e:#}"),
        }
    }
    out
}

impl PeerResult {
    pub fn to_markdown(&self) -> String {
        format!(
            "### {:?} (from `{}`, medians as the script prints them; {})\n\n{}\n",
            self.peer,
            self.script
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.source,
            self.summary.trim()
        )
    }

    /// Redis's single-instance GET and SET medians (no pipelining), as one sentence, if this is
    /// the Redis baseline and its summary has them.
    pub fn redis_quote(&self) -> Option<String> {
        if self.peer != Peer::Redis {
            return None;
        }
        let row = |test: &str| -> Option<(String, String, String)> {
            self.summary.lines().find_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                match cells.as_slice() {
                    ["", "single", "-P 1", t, rps, p50, p99, ..] if *t == test => {
                        Some(((*rps).to_owned(), (*p50).to_owned(), (*p99).to_owned()))
                    }
                    _ => None,
                }
            })
        };
        let version = self
            .summary
            .lines()
            .find(|l| l.starts_with("Redis server"))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("v=")))
            .map(|v| format!(" {}", v.trim_start_matches("v=")))
            .unwrap_or_default();
        let (g, s) = (row("GET")?, row("SET")?);
        let fmt = |(rps, p50, p99): (String, String, String)| {
            format!("**{} req/s** (p50 {p50} ms, p99 {p99} ms)", fmt_int(&rps))
        };
        Some(format!(
            "Redis{version} on this machine (single instance, no persistence, `redis-benchmark` with \
             50 clients, no pipelining, medians of `peer-baselines.sh redis`): GET {}, SET {}. \
             Its summary is under \"Peer baseline\" below ({}).",
            fmt(g),
            fmt(s),
            self.source
        ))
    }
}

fn fmt_int(s: &str) -> String {
    s.parse::<f64>()
        .map(crate::report::int)
        .unwrap_or_else(|_| s.to_owned())
}
