//! The ceiling of the `auth` scenario: a bare axum handler that answers `GET /auth` (and any
//! other path) with 200 and an empty body, in its own process (`authd-bench hello`) with its
//! own multi-threaded tokio runtime of 2 workers, like an `authd` node's on this 2-core box.
//! It is loaded exactly like `authd`, by the same generator, in the same run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

/// `authd-bench hello`: serve until killed.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: any free port); the bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

async fn ok() -> StatusCode {
    StatusCode::OK
}

/// The server process's main (it builds its own runtime).
pub fn serve(args: &Args) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()
        .context("building the hello runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        println!("listening on {addr}");
        let app = Router::new().route("/auth", get(ok)).fallback(get(ok));
        axum::serve(listener, app).await.context("serving")
    })
}

/// A running `authd-bench hello` child; killed (by its PID) when dropped.
pub struct Hello {
    child: Child,
    pub addr: SocketAddr,
}

impl Hello {
    /// Starts this executable as `hello --workers N` and waits for its address.
    pub fn spawn(workers: usize) -> Result<Hello> {
        let exe = std::env::current_exe().context("finding the benchmark executable")?;
        let mut child = Command::new(&exe)
            .args(["hello", "--workers", &workers.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} hello", exe.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the hello server has no stdout"))?;
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let addr = read
            .context("reading the hello server's address")
            .and_then(|_| {
                line.trim()
                    .strip_prefix("listening on ")
                    .ok_or_else(|| anyhow!("the hello server said {line:?}"))?
                    .parse::<SocketAddr>()
                    .with_context(|| format!("parsing {line:?}"))
            });
        match addr {
            Ok(addr) => Ok(Hello { child, addr }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running?
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow!("the hello server exited ({status})")),
            Err(e) => Err(anyhow!("checking the hello server: {e}")),
        }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
