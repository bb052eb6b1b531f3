//! Polling with a deadline: the only way tests synchronise with the cluster (never a bare
//! sleep).

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

/// How often a condition is re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `check` until it returns `Ok`, for at most `timeout`.
///
/// `Err` means "not yet"; the last one is quoted in the timeout error, so a failing test says
/// what it was waiting for and what it saw (e.g. `timed out after 10s waiting for a leader;
/// last: node 2: connection refused`). One attempt is itself cut off at the deadline.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let last = match tokio::time::timeout(remaining.max(POLL_INTERVAL), check()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if e.downcast_ref::<Fatal>().is_some() => {
                return Err(e.context(format!("while waiting for {what}")));
            }
            Ok(Err(e)) => e,
            Err(_) => anyhow!("the check itself did not finish before the deadline"),
        };
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "timed out after {:.1?} ({attempts} attempts) waiting for {what}; last: {last:#}",
                start.elapsed()
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `Ok(())` if `cond`, else an error with `msg` (for use inside `wait_until` checks).
pub fn ensure_now(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond { Ok(()) } else { Err(anyhow!(msg())) }
}

/// An error that no amount of waiting will fix (e.g. a node died): `wait_until` returns it at
/// once instead of polling until the deadline.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}
