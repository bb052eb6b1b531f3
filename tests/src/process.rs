//! Finding the `authd` binary and running it once (CLI commands, bad configs).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::AsyncWriteExt;

/// Environment variables that would override a test's secrets: never passed to a child.
pub const SCRUBBED_ENV: &[&str] = &[
    "AUTHD_JWT_SECRET",
    "AUTHD_CLUSTER_SECRET",
    "AUTHD_LEGACY_COOKIE_SECRET",
    "AUTHD_SIGNING_KEY_SEED",
];

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// The `authd` binary: `$AUTHD_BIN`, else `authd` next to the running executable (so a
/// release benchmark uses the release binary and a custom target dir works), else
/// `<workspace>/target/debug/authd`.
pub fn authd_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_bin().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn find_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("AUTHD_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("AUTHD_BIN={} is not a file", path.display());
        }
        return Ok(path);
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(mut dir) = exe.parent().map(Path::to_path_buf)
    {
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        candidates.push(dir.join("authd"));
    }
    candidates.push(workspace_root().join("target/debug/authd"));
    for c in &candidates {
        if c.is_file() {
            warn_if_stale(c);
            return Ok(c.clone());
        }
    }
    bail!(
        "the authd binary is missing (looked at {}); build it first with \
         `cargo build -p authd-node` (or `cargo build --workspace --bins`), or set AUTHD_BIN",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `cargo test -p authd-tests` does not rebuild another package's binary: say so when the
/// binary is older than the sources it is built from.
fn warn_if_stale(bin: &Path) {
    let Ok(bin_time) = bin.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let root = workspace_root();
    let newest = ["node", "web", "raft", "auth", "legacy"]
        .iter()
        .filter_map(|c| newest_mtime(&root.join(c).join("src")))
        .max();
    if newest.is_some_and(|n| n > bin_time) {
        eprintln!(
            "authd-tests: WARNING: {} is older than the sources; run `cargo build -p authd-node` \
             (or .ci/run) to test the current code",
            bin.display()
        );
    }
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().ok().and_then(|m| m.modified().ok())
        };
        newest = newest.max(t);
    }
    newest
}

/// Runs `authd ARGS` in `cwd` with `stdin` and waits at most `timeout` for it to exit (it is
/// killed if it does not, and that is an error).
pub async fn run_authd(
    cwd: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let bin = authd_bin()?;
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).await.context("writing stdin")?;
        drop(pipe); // EOF
    }
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.with_context(|| format!("waiting for authd {}", args.join(" "))),
        Err(_) => Err(anyhow!(
            "`authd {}` did not exit within {timeout:?} (killed)",
            args.join(" ")
        )),
    }
}

/// Output as text, for assertions and messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
