//! A real browser for the end-to-end tests: Debian's headless Chromium behind a `chromedriver`
//! that the test starts on a free loopback port, and PNG screenshots kept as test artifacts.
//!
//! The WebDriver client itself (fantoccini) is a dev-dependency of the tests; this module only
//! finds the binaries, runs the driver process (its own process group, killed with everything
//! it started on drop), builds the Chromium capabilities and saves screenshots, so the harness
//! library (which the benchmark crate links) gains no dependency.
//!
//! Without Chromium the browser tests are skipped loudly on a developer machine and FAIL when
//! `CI` or `AUTHD_TEST_REQUIRE_CHROMIUM` is set (`.ci/run` installs the Debian packages
//! `chromium` and `chromium-driver` and sets it). `CHROMIUM_BIN` and `CHROMEDRIVER` override
//! where the binaries are looked for.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::{free_ports, workspace_root};

/// The eight bytes every PNG file starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The two binaries a browser test needs.
#[derive(Debug, Clone)]
pub struct BrowserBins {
    /// Chromium (`/usr/bin/chromium`, Debian's launcher script).
    pub chromium: PathBuf,
    /// The matching chromedriver.
    pub chromedriver: PathBuf,
}

fn env_path(var: &str) -> Option<Option<PathBuf>> {
    std::env::var_os(var).map(|p| {
        let p = PathBuf::from(p);
        p.is_file().then_some(p)
    })
}

fn on_path(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(extra.iter().map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` (with what is missing).
pub fn find_browser() -> std::result::Result<BrowserBins, String> {
    let chromium = env_path("CHROMIUM_BIN")
        .unwrap_or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()));
    let chromedriver = env_path("CHROMEDRIVER")
        .unwrap_or_else(|| on_path("chromedriver", &["/usr/bin", "/usr/lib/chromium"]));
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Ok(BrowserBins {
            chromium,
            chromedriver,
        }),
        (c, d) => Err([
            c.is_none()
                .then_some("chromium (/usr/bin/chromium or $CHROMIUM_BIN)"),
            d.is_none()
                .then_some("chromedriver (on PATH or $CHROMEDRIVER)"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ")),
    }
}

/// The browser binaries; `None` to skip `test` (loudly) on a developer machine; an error when
/// `CI` or `AUTHD_TEST_REQUIRE_CHROMIUM` is set, so CI never passes by skipping.
pub fn browser_or_skip(test: &str) -> Result<Option<BrowserBins>> {
    let missing = match find_browser() {
        Ok(b) => return Ok(Some(b)),
        Err(m) => m,
    };
    let required = ["CI", "AUTHD_TEST_REQUIRE_CHROMIUM"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if required {
        bail!(
            "{missing} not installed, and CI / AUTHD_TEST_REQUIRE_CHROMIUM is set: the browser \
             tests must run in CI. Install them (`apt-get install -y --no-install-recommends \
             chromium chromium-driver`; .ci/run does)."
        );
    }
    eprintln!(
        "\n################################################################################\n\
         # SKIPPED: {test}: {missing} not installed.\n\
         # Install: apt-get install -y --no-install-recommends chromium chromium-driver\n\
         # (With CI or AUTHD_TEST_REQUIRE_CHROMIUM set, this is a failure, not a skip.)\n\
         ################################################################################\n"
    );
    Ok(None)
}

/// A `chromedriver` on a free loopback port, with a fresh Chromium profile directory. On drop
/// its whole process group (the driver and every Chromium process it started) is killed.
pub struct Chromedriver {
    child: Option<Child>,
    addr: SocketAddr,
    chromium: PathBuf,
    dir: tempfile::TempDir,
}

impl Chromedriver {
    /// Starts the driver and waits (at most 20 s) until it answers `/status` as ready.
    pub async fn start(bins: &BrowserBins) -> Result<Chromedriver> {
        let port = free_ports(1)?
            .first()
            .copied()
            .ok_or_else(|| anyhow!("no free port for chromedriver"))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let dir = tempfile::Builder::new()
            .prefix("authd-chromium-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("profile"))?;
        let child = Command::new(&bins.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("chromedriver.stderr"),
            )?))
            // Its own process group: Drop kills the driver and the browsers it started, and
            // nothing else.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", bins.chromedriver.display()))?;
        let mut driver = Chromedriver {
            child: Some(child),
            addr,
            chromium: bins.chromium.clone(),
            dir,
        };
        driver.wait_ready(Duration::from_secs(20)).await?;
        Ok(driver)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                bail!(
                    "chromedriver exited at start-up ({status}):\n{}",
                    self.logs()
                );
            }
            let last = match http.get(format!("{}/status", self.url())).send().await {
                Ok(r) => match r.json::<Value>().await {
                    Ok(v) if v.pointer("/value/ready") == Some(&Value::Bool(true)) => {
                        return Ok(());
                    }
                    Ok(v) => format!("/status: {v}"),
                    Err(e) => format!("/status: {e}"),
                },
                Err(e) => format!("{e}"),
            };
            if Instant::now() > deadline {
                bail!(
                    "chromedriver on {} not ready within {timeout:?}; last: {last}\n{}",
                    self.addr,
                    self.logs()
                );
            }
            tokio::time::sleep(crate::wait::POLL_INTERVAL).await;
        }
    }

    /// The WebDriver endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// WebDriver capabilities for headless Chromium as root in a sandbox: no Chromium
    /// sandbox, no GPU, no /dev/shm, no network but what the test asks for, a fresh profile.
    pub fn capabilities(&self) -> Map<String, Value> {
        let profile = self.dir.path().join("profile");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1024,900".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": self.chromium, "args": args }),
        );
        caps
    }

    /// The driver's log and stderr (for failure messages).
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        let log = read("chromedriver.log");
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!(
            "--- chromedriver stderr ---\n{}\n--- chromedriver.log (last 40 lines) ---\n{}",
            read("chromedriver.stderr"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on the process group this harness created for the driver (its
            // pid is the group id, and it is not reaped yet, so the id is still ours).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Numbered PNG screenshots in `target/test-artifacts/<name>/` (emptied of old PNGs first).
pub struct Screenshots {
    dir: PathBuf,
    count: u32,
}

impl Screenshots {
    /// The artifact folder for one test.
    pub fn new(name: &str) -> Result<Screenshots> {
        let dir = workspace_root()
            .join("target")
            .join("test-artifacts")
            .join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for e in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
            if e.path().extension().is_some_and(|x| x == "png") {
                std::fs::remove_file(e.path())?;
            }
        }
        Ok(Screenshots { dir, count: 0 })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves `png` as `NN-label.png`, then checks the file on disk is a non-empty PNG.
    pub fn save(&mut self, label: &str, png: &[u8]) -> Result<PathBuf> {
        self.count += 1;
        let path = self.dir.join(format!("{:02}-{label}.png", self.count));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        let back = std::fs::read(&path)?;
        if back.len() <= PNG_SIGNATURE.len() || !back.starts_with(&PNG_SIGNATURE) {
            bail!(
                "{} is not a PNG ({} bytes, starts {:02x?})",
                path.display(),
                back.len(),
                back.get(..8)
            );
        }
        Ok(path)
    }
}
