//! `wrk` (Debian's, C, one thread per process) as a cross-check of the load generator: one
//! `wrk -t1` per node with its share of the connections, a Lua script rotating over the
//! session cookies (requests pre-formatted in `init`) and printing exact-enough percentiles
//! (wrk's histogram has 1 µs buckets) in `done`. Its CPU comes from `getrusage(RUSAGE_CHILDREN)`
//! around the runs (nothing else of ours exits meanwhile).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// What one wrk process reported.
#[derive(Debug, Clone, Default)]
pub struct WrkOut {
    pub requests: u64,
    pub duration: Duration,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// connect/read/write/timeout errors and non-2xx answers.
    pub errors: u64,
}

/// All wrk processes of one measurement together.
#[derive(Debug, Clone, Default)]
pub struct WrkRun {
    pub per_node: Vec<WrkOut>,
    /// CPU of the wrk processes.
    pub cpu: Duration,
}

impl WrkRun {
    pub fn requests(&self) -> u64 {
        self.per_node.iter().map(|o| o.requests).sum()
    }
    pub fn ops_per_sec(&self) -> f64 {
        self.per_node
            .iter()
            .map(|o| o.requests as f64 / o.duration.as_secs_f64().max(1e-9))
            .sum()
    }
    pub fn errors(&self) -> u64 {
        self.per_node.iter().map(|o| o.errors).sum()
    }
    /// The worst node's percentile (wrk's histograms cannot be merged from its output).
    pub fn worst(&self, f: impl Fn(&WrkOut) -> f64) -> f64 {
        self.per_node.iter().map(f).fold(f64::NAN, f64::max)
    }
}

/// The Lua script: rotate over `cookies` (full `Cookie:` values), report in `done`.
pub fn script(cookies: &[String]) -> String {
    let mut s = String::from("local cookies = {\n");
    for c in cookies {
        let _ = writeln!(s, "  {c:?},");
    }
    s.push_str(
        r#"}
local reqs = {}
local i = 0
init = function(args)
  for k, c in ipairs(cookies) do
    reqs[k] = wrk.format("GET", "/auth", { ["Cookie"] = c })
  end
end
request = function()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50=%d p99=%d p999=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.connect + e.read + e.write + e.status + e.timeout))
end
"#,
    );
    s
}

fn parse(out: &str) -> Result<WrkOut> {
    let line = out
        .lines()
        .find(|l| l.starts_with("BENCH "))
        .ok_or_else(|| anyhow!("wrk printed no BENCH line: {out}"))?;
    let mut o = WrkOut::default();
    for kv in line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "0"));
        let v: u64 = v.parse().with_context(|| format!("wrk: {kv}"))?;
        let ms = v as f64 / 1e3;
        match k {
            "requests" => o.requests = v,
            "duration_us" => o.duration = Duration::from_micros(v),
            "p50" => o.p50_ms = ms,
            "p99" => o.p99_ms = ms,
            "p999" => o.p999_ms = ms,
            "errors" => o.errors = v,
            _ => {}
        }
    }
    Ok(o)
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs one `wrk -t1 -c<conns>` per `(addr, conns)` at once for `secs` seconds (blocking:
/// call it from `spawn_blocking`).
pub fn run(
    targets: &[(SocketAddr, usize)],
    script_path: &std::path::Path,
    secs: u64,
) -> Result<WrkRun> {
    let cpu0 = children_cpu();
    let mut children = Vec::new();
    for (addr, conns) in targets {
        let child = Command::new("wrk")
            .args([
                "-t1",
                &format!("-c{}", (*conns).max(1)),
                &format!("-d{}s", secs.max(1)),
            ])
            .args(["--timeout", "10s", "-s"])
            .arg(script_path)
            .arg(format!("http://{addr}/auth"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting wrk (apt-get install -y wrk)")?;
        children.push(child);
    }
    let mut per_node = Vec::new();
    for child in children {
        let out = child.wait_with_output().context("waiting for wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "wrk failed ({}): {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        per_node.push(parse(&text)?);
    }
    Ok(WrkRun {
        per_node,
        cpu: children_cpu().saturating_sub(cpu0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_done_line() {
        let o = parse("Running 1s test\nBENCH requests=10 duration_us=1000000 p50=80 p99=900 p999=1500 errors=2\n")
            .ok()
            .map(|o| (o.requests, o.p99_ms, o.errors));
        assert_eq!(o, Some((10, 0.9, 2)));
        assert!(script(&["A=b".into()]).contains("\"A=b\","));
    }
}
