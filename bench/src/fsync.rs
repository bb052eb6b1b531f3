//! The disk baseline: how many appending 4 KiB `write` + `fdatasync` rounds per second the
//! filesystem under the clusters' temp dirs does, one at a time. A Raft write needs at least
//! one fsync on the leader and one on a follower; with no batching the cluster could not beat
//! this figure, so `writes/s ÷ fsyncs/s` is how many writes each fsync carries.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::stats::{Latencies, LatencySummary};

#[derive(Debug, Clone)]
pub struct FsyncBaseline {
    pub fsyncs_per_sec: f64,
    pub latency: LatencySummary,
}

/// Runs the loop for `duration` in a fresh file under the system temp dir (where the harness
/// puts the clusters' data).
pub async fn measure(duration: Duration) -> Result<FsyncBaseline> {
    tokio::task::spawn_blocking(move || measure_blocking(duration))
        .await
        .context("the fsync baseline thread failed")?
}

fn measure_blocking(duration: Duration) -> Result<FsyncBaseline> {
    let dir = tempfile::Builder::new()
        .prefix("authd-bench-fsync-")
        .tempdir()
        .context("creating a temp dir for the fsync baseline")?;
    let path = dir.path().join("fsync.dat");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let block = vec![0xa5u8; 4096];
    let mut lat = Latencies::with_capacity(64 * 1024);
    let start = Instant::now();
    while start.elapsed() < duration {
        let t = Instant::now();
        file.write_all(&block)
            .with_context(|| format!("writing {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("fdatasync {}", path.display()))?;
        lat.record(t.elapsed());
    }
    let elapsed = start.elapsed();
    let n = lat.len();
    Ok(FsyncBaseline {
        fsyncs_per_sec: n as f64 / elapsed.as_secs_f64(),
        latency: LatencySummary::of(&mut lat),
    })
}
