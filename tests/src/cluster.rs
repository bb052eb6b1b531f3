//! A cluster of real `authd serve` processes in a temporary directory.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

use crate::client::{ClusterInfo, NodeApi, http_client};
use crate::config::{ClusterConfig, NodeConfig, parse_config};
use crate::process::{SCRUBBED_ENV, authd_bin, describe, run_authd, workspace_root};
use crate::wait::{Fatal, wait_until};

/// How long start-up (processes up, a leader elected, every node ready) may take.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the harness waits for a leader after a failure.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a one-shot CLI command may run.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

struct Node {
    cfg: NodeConfig,
    child: Mutex<Option<Child>>,
    paused: bool,
    log_path: PathBuf,
    /// Set when the harness killed the node on purpose.
    stopped: bool,
}

/// A running cluster. Node numbers are node ids (1-based, as in the config). Every child is
/// killed when the value is dropped, and the tail of every node's log is printed to stderr
/// (libtest shows it only for a failing test; `set_logs_on_drop(false)` turns it off). Set
/// `AUTHD_TEST_KEEP=1` to keep the directory (config, data, full logs) as well.
pub struct Cluster {
    dir: Option<TempDir>,
    root: PathBuf,
    config_path: PathBuf,
    config: Option<ClusterConfig>,
    nodes: BTreeMap<u64, Node>,
    client: reqwest::Client,
    secret: Vec<u8>,
    logs_on_drop: bool,
    /// `RUST_LOG` given to the nodes instead of `AUTHD_TEST_RUST_LOG`.
    rust_log: Option<String>,
}

impl Cluster {
    /// `n` nodes on free loopback ports; `tweak` may change the generated config (Raft
    /// tuning, secrets, ...) before it is written. Returns once every node is ready and they
    /// agree on a leader.
    ///
    /// Should another process take one of the chosen ports before a node binds it, the
    /// cluster is started again on other ports (at most twice).
    pub async fn start(n: u64, tweak: impl Fn(&mut ClusterConfig)) -> Result<Cluster> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut config = ClusterConfig::generate(n)?;
            tweak(&mut config);
            let text = config.to_toml()?;
            let mut cluster = Cluster::spawn_with(&text, &[], config.rust_log.clone())?;
            cluster.config = Some(config);
            match cluster.wait_ready(START_TIMEOUT).await {
                Ok(_) => return Ok(cluster),
                Err(e) if attempt < 3 && cluster.any_port_taken() => {
                    eprintln!(
                        "authd-tests: a port was taken ({e:#}); starting again on other ports"
                    );
                    cluster.set_logs_on_drop(false);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Some node's log says it could not bind its address.
    fn any_port_taken(&self) -> bool {
        self.nodes
            .keys()
            .any(|&id| self.logs(id).contains("in use"))
    }

    /// Starts every node of a config given as text (written as `cluster.toml` in a fresh temp
    /// dir, with `files` next to it, e.g. secret files), and waits until they are ready.
    pub async fn start_from_config(text: &str, files: &[(&str, &[u8])]) -> Result<Cluster> {
        let cluster = Cluster::spawn_from_config(text, files)?;
        cluster.wait_ready(START_TIMEOUT).await?;
        Ok(cluster)
    }

    /// A scratch copy of the repository's `cluster.toml` (and of every relative `*_file` it
    /// names), all of its nodes started, ready. It uses the file's own ports (8081-8083):
    /// do not run two of these at once.
    pub async fn start_from_repo_cluster_toml() -> Result<Cluster> {
        let root = workspace_root();
        let path = root.join("cluster.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let table: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut names = Vec::new();
        collect_file_refs(&toml::Value::Table(table), &mut names);
        let mut files = Vec::new();
        for name in &names {
            let p = Path::new(name);
            if p.is_relative() {
                let bytes = std::fs::read(root.join(p))
                    .with_context(|| format!("reading {name}, named in cluster.toml"))?;
                files.push((name.clone(), bytes));
            }
        }
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        Cluster::start_from_config(&text, &refs).await
    }

    /// Like `start_from_config` without waiting for readiness.
    pub fn spawn_from_config(text: &str, files: &[(&str, &[u8])]) -> Result<Cluster> {
        Cluster::spawn_with(text, files, None)
    }

    fn spawn_with(
        text: &str,
        files: &[(&str, &[u8])],
        rust_log: Option<String>,
    ) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("authd-test-")
            .tempdir()
            .context("creating a temp dir")?;
        let root = dir.path().to_path_buf();
        for (name, bytes) in files {
            let path = root.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        let config_path = root.join("cluster.toml");
        std::fs::write(&config_path, text).context("writing cluster.toml")?;
        let parsed = parse_config(text, &root)?;
        let secret = parsed.cluster_secret.ok_or_else(|| {
            anyhow!("the config names no cluster secret the harness can sign with")
        })?;
        let nodes = parsed
            .nodes
            .into_iter()
            .map(|cfg| {
                let log_path = root.join(format!("node{}.log", cfg.id));
                (
                    cfg.id,
                    Node {
                        cfg,
                        child: Mutex::new(None),
                        paused: false,
                        log_path,
                        stopped: true,
                    },
                )
            })
            .collect();
        let mut cluster = Cluster {
            dir: Some(dir),
            root,
            config_path,
            config: None,
            nodes,
            client: http_client()?,
            secret,
            logs_on_drop: true,
            rust_log,
        };
        for id in cluster.node_ids() {
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    /// Whether dropping the cluster prints the tail of each node's log (default: yes).
    pub fn set_logs_on_drop(&mut self, on: bool) {
        self.logs_on_drop = on;
    }

    // ---- accessors -------------------------------------------------------------------------

    /// The cluster's working directory (the nodes' cwd; data dirs and logs live here).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The generated config (`None` when started from a given text).
    pub fn config(&self) -> Option<&ClusterConfig> {
        self.config.as_ref()
    }

    pub fn node_ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn node(&self, id: u64) -> Result<&NodeConfig> {
        self.nodes
            .get(&id)
            .map(|n| &n.cfg)
            .ok_or_else(|| anyhow!("no node {id}"))
    }

    /// The cluster secret the harness signs with.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The JWT secret of the generated config (signs cookies; page keys derive from it).
    pub fn jwt_secret(&self) -> Result<Vec<u8>> {
        self.config
            .as_ref()
            .and_then(|c| c.secrets.jwt_secret.clone())
            .map(String::into_bytes)
            .ok_or_else(|| anyhow!("this cluster's JWT secret is not inline in its config"))
    }

    /// A node's data directory (its mail outbox is `outbox/` inside).
    pub fn data_dir(&self, id: u64) -> Result<PathBuf> {
        Ok(self.root.join(&self.node(id)?.data_dir))
    }

    /// `http://host:port` of a node's public listener.
    pub fn base_url(&self, id: u64) -> Result<String> {
        Ok(format!("http://{}", self.node(id)?.http))
    }

    /// The shared HTTP client (one connection pool).
    pub fn http(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// A client for node `id` that signs with the cluster secret.
    pub fn api(&self, id: u64) -> NodeApi {
        let addr = self
            .nodes
            .get(&id)
            .map(|n| n.cfg.http)
            .unwrap_or_else(|| crate::config::loopback(1));
        NodeApi::new(id, addr, self.client.clone(), self.secret.clone())
    }

    /// Nodes that run and are not paused.
    pub fn live_nodes(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| !n.stopped && !n.paused)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|n| !n.stopped)
    }

    // ---- processes -------------------------------------------------------------------------

    /// Starts node `id` (it must not be running).
    pub fn spawn(&mut self, id: u64) -> Result<()> {
        let bin = authd_bin()?;
        let config_path = self.config_path.clone();
        let root = self.root.clone();
        let node = self
            .nodes
            .get_mut(&id)
            .ok_or_else(|| anyhow!("no node {id}"))?;
        if !node.stopped {
            bail!("node {id} is already running");
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .with_context(|| format!("opening {}", node.log_path.display()))?;
        writeln!(log, "=== authd-tests: starting node {id} ===")?;
        let log_err = log.try_clone()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--node")
            .arg(id.to_string())
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .env("NO_COLOR", "1");
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        match self
            .rust_log
            .clone()
            .map_or_else(|| std::env::var("AUTHD_TEST_RUST_LOG"), Ok)
        {
            Ok(filter) => cmd.env("RUST_LOG", filter),
            Err(_) => cmd.env_remove("RUST_LOG"),
        };
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {} for node {id}", bin.display()))?;
        *lock(&node.child) = Some(child);
        node.stopped = false;
        node.paused = false;
        Ok(())
    }

    /// SIGKILL node `id` and reap it.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        let node = self
            .nodes
            .get_mut(&id)
            .ok_or_else(|| anyhow!("no node {id}"))?;
        if let Some(mut child) = lock(&node.child).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        append_marker(
            &node.log_path,
            &format!("=== authd-tests: killed node {id} (SIGKILL) ==="),
        );
        node.stopped = true;
        node.paused = false;
        Ok(())
    }

    /// SIGKILL every running node, all signals sent before any is reaped ("all at once").
    pub fn kill_all(&mut self) -> Result<()> {
        let mut children = Vec::new();
        for node in self.nodes.values_mut() {
            if let Some(mut child) = lock(&node.child).take() {
                let _ = child.kill();
                children.push(child);
            }
            node.stopped = true;
            node.paused = false;
        }
        for mut child in children {
            let _ = child.wait();
        }
        for (id, node) in &self.nodes {
            append_marker(
                &node.log_path,
                &format!("=== authd-tests: killed node {id} (SIGKILL, all) ==="),
            );
        }
        Ok(())
    }

    /// SIGTERM node `id` and wait up to `timeout` for it to exit by itself; its exit status.
    pub async fn terminate(
        &mut self,
        id: u64,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus> {
        self.signal(id, libc::SIGTERM)?;
        let what = format!("node {id} to exit after SIGTERM");
        let status = wait_until(&what, timeout, || async {
            let node = self.nodes.get(&id).ok_or_else(|| anyhow!("no node {id}"))?;
            match lock(&node.child).as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Ok(status),
                Some(Err(e)) => Err(Fatal(format!("waiting for node {id}: {e}")).into()),
                _ => bail!("node {id} still runs"),
            }
        })
        .await?;
        if let Some(node) = self.nodes.get_mut(&id) {
            lock(&node.child).take();
            node.stopped = true;
            append_marker(
                &node.log_path,
                &format!("=== authd-tests: node {id} exited after SIGTERM ({status}) ==="),
            );
        }
        Ok(status)
    }

    /// Kill (if running) and start node `id` again with the same config and data dir.
    pub fn restart(&mut self, id: u64) -> Result<()> {
        if self.is_running(id) {
            self.kill(id)?;
        }
        self.spawn(id)
    }

    /// SIGSTOP node `id`: it keeps its sockets but answers nothing.
    pub fn pause(&mut self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGSTOP)?;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.paused = true;
        }
        Ok(())
    }

    /// SIGCONT node `id`.
    pub fn resume(&mut self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGCONT)?;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.paused = false;
        }
        Ok(())
    }

    fn signal(&self, id: u64, sig: libc::c_int) -> Result<()> {
        let node = self.nodes.get(&id).ok_or_else(|| anyhow!("no node {id}"))?;
        let guard = lock(&node.child);
        let child = guard
            .as_ref()
            .ok_or_else(|| anyhow!("node {id} is not running"))?;
        let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(pid, sig) };
        if rc != 0 {
            bail!(
                "kill({pid}, {sig}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// An error (a `Fatal` one: `wait_until` gives up at once) if a node the harness did not stop has exited.
    pub fn check_alive(&self) -> Result<()> {
        for (id, node) in &self.nodes {
            if node.stopped {
                continue;
            }
            let mut guard = lock(&node.child);
            if let Some(child) = guard.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Fatal(format!(
                    "node {id} exited unexpectedly ({status}); its log ends with:\n{}",
                    self.log_tail(*id, 40)
                ))
                .into());
            }
        }
        Ok(())
    }

    // ---- logs ------------------------------------------------------------------------------

    /// Node `id`'s stdout and stderr so far (all its runs), ANSI colours removed.
    pub fn logs(&self, id: u64) -> String {
        self.nodes
            .get(&id)
            .and_then(|n| std::fs::read(&n.log_path).ok())
            .map(|b| strip_ansi(&String::from_utf8_lossy(&b)))
            .unwrap_or_default()
    }

    pub fn log_path(&self, id: u64) -> Option<PathBuf> {
        self.nodes.get(&id).map(|n| n.log_path.clone())
    }

    /// The last `n` lines of node `id`'s log.
    pub fn log_tail(&self, id: u64, n: usize) -> String {
        let logs = self.logs(id);
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    // ---- cluster state ---------------------------------------------------------------------

    /// `/api/v1/cluster` of node `id`.
    pub async fn info(&self, id: u64) -> Result<ClusterInfo> {
        self.api(id).cluster_info().await
    }

    /// The leader, once every live node agrees on it (waits up to `LEADER_TIMEOUT`).
    pub async fn leader(&self) -> Result<u64> {
        let live = self.live_nodes();
        self.leader_among(&live, LEADER_TIMEOUT).await
    }

    /// Waits until every node in `ids` names the same leader, that leader is one of `ids`,
    /// and it calls itself leader (so a dead or paused former leader never counts).
    pub async fn leader_among(&self, ids: &[u64], timeout: Duration) -> Result<u64> {
        let what = format!("nodes {ids:?} to agree on a leader");
        wait_until(&what, timeout, || self.agreed_leader(ids)).await
    }

    async fn agreed_leader(&self, ids: &[u64]) -> Result<u64> {
        self.check_alive()?;
        let mut agreed: Option<u64> = None;
        let mut infos = Vec::new();
        for &id in ids {
            let info = self.info(id).await?;
            let leader = info.leader_id.ok_or_else(|| {
                anyhow!(
                    "node {id} knows no leader (role {}, term {})",
                    info.role,
                    info.term
                )
            })?;
            if let Some(prev) = agreed
                && prev != leader
            {
                bail!("nodes disagree on the leader: {prev} vs {leader} (node {id})");
            }
            agreed = Some(leader);
            infos.push(info);
        }
        let leader = agreed.ok_or_else(|| anyhow!("no nodes to ask"))?;
        match infos.iter().find(|i| i.node_id == leader) {
            None => bail!("nodes {ids:?} still name node {leader}, which is not one of them"),
            Some(info) if !info.is_leader() => {
                bail!("node {leader} is named leader but says it is {}", info.role)
            }
            Some(_) => Ok(leader),
        }
    }

    /// Every live node serves (`/healthz` 200), is ready (`/readyz` 200) and they agree on a
    /// leader.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<u64> {
        let live = self.live_nodes();
        wait_until(
            "every node healthy, ready and agreeing on a leader",
            timeout,
            || async {
                self.check_alive()?;
                for &id in &live {
                    let api = self.api(id);
                    let h = api.healthz().await?;
                    if h != 200 {
                        bail!("node {id}: /healthz {h}");
                    }
                    let r = api.readyz().await?;
                    if r != 200 {
                        bail!("node {id}: /readyz {r}");
                    }
                }
                self.agreed_leader(&live).await
            },
        )
        .await
    }

    /// Waits until every live node has applied at least what the leader had applied when
    /// this was called.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<u64> {
        let leader = self.leader().await?;
        let target = self.info(leader).await?.applied();
        let live = self.live_nodes();
        wait_until(
            &format!("every live node to apply index {target}"),
            timeout,
            || async {
                self.check_alive()?;
                for &id in &live {
                    let applied = self.info(id).await?.applied();
                    if applied < target {
                        bail!("node {id} has applied {applied} < {target}");
                    }
                }
                Ok(target)
            },
        )
        .await
    }

    // ---- the CLI ---------------------------------------------------------------------------

    /// Runs `authd <command...> --config <this cluster's config> <args...>` in the cluster's
    /// directory, with `stdin`.
    pub async fn cli(
        &self,
        command: &[&str],
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<std::process::Output> {
        let config = self.config_path.to_string_lossy().into_owned();
        let mut all: Vec<&str> = command.to_vec();
        all.push("--config");
        all.push(&config);
        all.extend_from_slice(args);
        run_authd(&self.root, &all, stdin, CLI_TIMEOUT).await
    }

    /// Like `cli`, but an error unless it exits 0; returns stdout parsed as JSON.
    pub async fn cli_json(
        &self,
        command: &[&str],
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<serde_json::Value> {
        let out = self.cli(command, args, stdin).await?;
        if !out.status.success() {
            bail!("`authd {}` failed:\n{}", command.join(" "), describe(&out));
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "`authd {}` did not print JSON:\n{}",
                command.join(" "),
                describe(&out)
            )
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let print = self.logs_on_drop || std::thread::panicking();
        for node in self.nodes.values_mut() {
            if let Some(mut child) = lock(&node.child).take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            node.stopped = true;
        }
        if print {
            for id in self.nodes.keys() {
                eprintln!(
                    "----- node {id} log (last 60 lines) -----\n{}",
                    self.log_tail(*id, 60)
                );
            }
        }
        if std::env::var_os("AUTHD_TEST_KEEP").is_some()
            && let Some(dir) = self.dir.take()
        {
            let path = dir.keep();
            eprintln!("authd-tests: kept {}", path.display());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn append_marker(path: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

fn collect_file_refs(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                match v {
                    toml::Value::String(s) if k.ends_with("_file") => out.push(s.clone()),
                    other => collect_file_refs(other, out),
                }
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| collect_file_refs(v, out)),
        _ => {}
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
