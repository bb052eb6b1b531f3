//! CPU time of processes and threads from `/proc` (Linux only).
//!
//! The harness (`authd_tests::Cluster`) does not expose its children's PIDs, so the nodes
//! are found here: children of this process whose command line is `authd serve --config
//! <that cluster's config> --node N`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// Clock ticks per second of `utime`/`stime` in `/proc/*/stat`.
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// `(comm, utime + stime in ticks)` from the text of a `/proc/.../stat` file.
fn parse_stat(text: &str) -> Result<(String, u64, u32)> {
    // "pid (comm) state ppid ... utime(14) stime(15) ..."; comm may contain spaces and ')'.
    let open = text.find('(').ok_or_else(|| anyhow!("no '(' in stat"))?;
    let close = text.rfind(')').ok_or_else(|| anyhow!("no ')' in stat"))?;
    let comm = text.get(open + 1..close).unwrap_or_default().to_owned();
    let rest: Vec<&str> = text
        .get(close + 1..)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // rest[0] is field 3 (state), so field k is rest[k - 3].
    let field = |k: usize| -> Result<u64> {
        rest.get(k - 3)
            .ok_or_else(|| anyhow!("stat has no field {k}"))?
            .parse::<u64>()
            .with_context(|| format!("stat field {k} is not a number"))
    };
    let ppid = u32::try_from(field(4)?).context("ppid out of range")?;
    Ok((comm, field(14)? + field(15)?, ppid))
}

/// User + system CPU time of a whole process (all its threads, live ones).
pub fn process_cpu(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let (_, ticks, _) = parse_stat(&text).with_context(|| format!("parsing {path}"))?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// Resident set size of a process (`VmRSS` in `/proc/PID/status`), in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow!("no VmRSS in {path}"))?;
    Ok(kib * 1024)
}

/// This process's CPU time (the load generator).
pub fn self_cpu() -> Result<Duration> {
    process_cpu(std::process::id())
}

/// Context switches of live threads: (voluntary, involuntary). Many involuntary ones mean
/// the threads were preempted: more runnable threads than cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Switches {
    pub voluntary: u64,
    pub involuntary: u64,
}

fn parse_switches(status: &str) -> Switches {
    let get = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Switches {
        voluntary: get("voluntary_ctxt_switches:"),
        involuntary: get("nonvoluntary_ctxt_switches:"),
    }
}

/// CPU time per thread name (`comm`, e.g. `tokio-rt-worker`, `authd-wal`) of a process,
/// summed over the threads that share a name, and the context switches of all its threads.
pub fn threads_cpu(pid: u32) -> Result<(BTreeMap<String, Duration>, Switches)> {
    let dir = format!("/proc/{pid}/task");
    let mut out: BTreeMap<String, Duration> = BTreeMap::new();
    let mut switches = Switches::default();
    let tick = clock_ticks();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        // A thread may exit between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Ok((comm, ticks, _)) = parse_stat(&text) else {
            continue;
        };
        *out.entry(comm).or_default() += Duration::from_secs_f64(ticks as f64 / tick);
        if let Ok(status) = std::fs::read_to_string(entry.path().join("status")) {
            let s = parse_switches(&status);
            switches.voluntary += s.voluntary;
            switches.involuntary += s.involuntary;
        }
    }
    Ok((out, switches))
}

/// Node id → PID of every `authd serve` child of this process started with `config`.
pub fn find_nodes(config: &Path) -> Result<BTreeMap<u64, u32>> {
    let me = std::process::id();
    let config = config.to_string_lossy();
    let mut nodes = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").context("listing /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Ok((_, _, ppid)) = parse_stat(&stat) else {
            continue;
        };
        if ppid != me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_ours = args.iter().any(|a| a == "serve") && args.iter().any(|a| *a == *config);
        let node = args
            .iter()
            .position(|a| a == "--node")
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse::<u64>().ok());
        if let (true, Some(node)) = (is_ours, node) {
            nodes.insert(node, pid);
        }
    }
    if nodes.is_empty() {
        bail!("found no `authd serve --config {config}` child process in /proc");
    }
    Ok(nodes)
}

/// The whole machine's CPU time (`/proc/stat`, first line), all cores together.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostCpu {
    /// user + nice + system + irq + softirq.
    pub busy: Duration,
    /// irq + softirq. With tick-based accounting (no `CONFIG_IRQ_TIME_ACCOUNTING`) a tick in a
    /// softirq is also charged to the task it interrupted, so this overlaps the processes' system
    /// time; on loopback HTTP load it is mostly the TCP receive path of the benchmark's traffic.
    pub irq: Duration,
    pub iowait: Duration,
    /// Taken by the hypervisor for other guests.
    pub steal: Duration,
    pub total: Duration,
}

impl HostCpu {
    pub fn read() -> Result<HostCpu> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let line = text.lines().next().unwrap_or_default();
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let f = |i: usize| v.get(i).copied().unwrap_or(0);
        let tick = clock_ticks();
        let d = |t: u64| Duration::from_secs_f64(t as f64 / tick);
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        Ok(HostCpu {
            busy: d(f(0) + f(1) + f(2) + f(5) + f(6)),
            irq: d(f(5) + f(6)),
            iowait: d(f(4)),
            steal: d(f(7)),
            total: d((0..8).map(f).sum()),
        })
    }

    /// `self - e`: the machine's CPU time in between.
    pub fn since(&self, e: &HostCpu) -> HostCpu {
        HostCpu {
            busy: self.busy.saturating_sub(e.busy),
            irq: self.irq.saturating_sub(e.irq),
            iowait: self.iowait.saturating_sub(e.iowait),
            steal: self.steal.saturating_sub(e.steal),
            total: self.total.saturating_sub(e.total),
        }
    }

    /// Fraction of all cores that were busy.
    pub fn busy_fraction(&self) -> f64 {
        crate::stats::ratio(self.busy.as_secs_f64(), self.total.as_secs_f64())
    }
}

/// Waits (up to `max`) until the machine is less than `pct` % busy over half a second, so
/// that a measurement does not start in the middle of someone's build. Returns the last
/// busy percentage seen.
pub async fn wait_quiet(max: Duration, pct: f64) -> Result<f64> {
    let start = std::time::Instant::now();
    loop {
        let a = HostCpu::read()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = 100.0 * HostCpu::read()?.since(&a).busy_fraction();
        if busy < pct || start.elapsed() >= max {
            return Ok(busy);
        }
    }
}

/// CPU of every node (and per thread name) at one instant.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    pub nodes: BTreeMap<u64, Duration>,
    pub threads: BTreeMap<u64, BTreeMap<String, Duration>>,
    pub load_generator: Duration,
    pub host: HostCpu,
    /// Context switches of every node's threads together.
    pub switches: Switches,
}

impl CpuSnapshot {
    pub fn take(pids: &BTreeMap<u64, u32>) -> Result<CpuSnapshot> {
        let mut snap = CpuSnapshot {
            load_generator: self_cpu()?,
            host: HostCpu::read()?,
            ..CpuSnapshot::default()
        };
        for (&node, &pid) in pids {
            snap.nodes.insert(node, process_cpu(pid)?);
            let (threads, sw) = threads_cpu(pid)?;
            snap.threads.insert(node, threads);
            snap.switches.voluntary += sw.voluntary;
            snap.switches.involuntary += sw.involuntary;
        }
        Ok(snap)
    }

    /// `self - earlier`, per node and per thread name (a thread that appeared counts from 0).
    pub fn since(&self, earlier: &CpuSnapshot) -> CpuSnapshot {
        let sub =
            |a: Duration, b: Option<&Duration>| a.saturating_sub(b.copied().unwrap_or_default());
        let nodes = self
            .nodes
            .iter()
            .map(|(n, d)| (*n, sub(*d, earlier.nodes.get(n))))
            .collect();
        let threads = self
            .threads
            .iter()
            .map(|(n, by_name)| {
                let before = earlier.threads.get(n);
                let diff = by_name
                    .iter()
                    .map(|(name, d)| (name.clone(), sub(*d, before.and_then(|b| b.get(name)))))
                    .collect();
                (*n, diff)
            })
            .collect();
        CpuSnapshot {
            nodes,
            threads,
            load_generator: self.load_generator.saturating_sub(earlier.load_generator),
            host: self.host.since(&earlier.host),
            switches: Switches {
                voluntary: self
                    .switches
                    .voluntary
                    .saturating_sub(earlier.switches.voluntary),
                involuntary: self
                    .switches
                    .involuntary
                    .saturating_sub(earlier.switches.involuntary),
            },
        }
    }

    pub fn nodes_total(&self) -> Duration {
        self.nodes.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let text = "42 (a b) c) S 7 1 1 0 -1 0 0 0 0 0 150 50 0 0 20 0 4 0 1 0 0";
        let (comm, ticks, ppid) = parse_stat(text).unwrap_or_default();
        assert_eq!((comm.as_str(), ticks, ppid), ("a b) c", 200, 7));
    }

    #[test]
    fn switches_from_status() {
        let s = parse_switches(
            "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n",
        );
        assert_eq!((s.voluntary, s.involuntary), (12, 3));
    }

    #[test]
    fn own_cpu_is_readable() {
        assert!(self_cpu().is_ok());
    }
}
