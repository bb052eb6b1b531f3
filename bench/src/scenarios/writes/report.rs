//! The `writes` report: `bench/results/writes.md`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::tables::{cpu_table, median_run, node_table, runs_table};
use super::{DISTURBED_CORES, LevelRun, Outcome};
use crate::report::{MachineInfo, Table, int, num};
use crate::stats::{median, ratio};

/// Target at 64 clients (issue 2).
const TARGET_OPS: f64 = 20_000.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_CLIENTS: usize = 64;

/// Medians over the runs of one level.
pub(super) struct LevelMedian {
    pub(super) clients: usize,
    pub(super) ops: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    errors: u64,
    cpu_us: f64,
    batch_leader: f64,
    batch_all: f64,
    per_fsync: f64,
    loadgen_us: f64,
    cores: f64,
}

fn medians(out: &Outcome) -> Vec<LevelMedian> {
    let levels: BTreeSet<usize> = out.runs.iter().map(|r| r.clients).collect();
    levels
        .into_iter()
        .map(|clients| {
            let rs: Vec<&LevelRun> = out.runs.iter().filter(|r| r.clients == clients).collect();
            let m = |f: &dyn Fn(&LevelRun) -> f64| median(rs.iter().map(|r| f(r)));
            LevelMedian {
                clients,
                ops: m(&|r| r.ops_per_sec),
                p50: m(&|r| r.latency.p50_ms),
                p99: m(&|r| r.latency.p99_ms),
                p999: m(&|r| r.latency.p999_ms),
                errors: rs.iter().map(|r| r.errors).sum(),
                cpu_us: m(&|r| r.node_cpu_us_per_write()),
                batch_leader: m(&|r| r.mean_batch_leader()),
                batch_all: m(&|r| r.mean_batch_all()),
                per_fsync: m(&|r| r.writes_per_leader_fsync()),
                loadgen_us: m(&|r| r.loadgen_cpu_us_per_req()),
                cores: m(&|r| r.cores_busy()),
            }
        })
        .collect()
}

fn summary_table(ms: &[LevelMedian]) -> Table {
    let mut t = Table::new([
        "clients",
        "writes/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "errors",
        "CPU µs/write (all nodes)",
        "mean batch (leader)",
        "mean batch (all nodes)",
        "writes/fsync (leader)",
        "load-gen CPU µs/req",
        "cores busy",
    ]);
    for m in ms {
        t.row([
            m.clients.to_string(),
            int(m.ops),
            num(m.p50, 2),
            num(m.p99, 2),
            num(m.p999, 2),
            m.errors.to_string(),
            num(m.cpu_us, 0),
            num(m.batch_leader, 1),
            num(m.batch_all, 1),
            num(m.per_fsync, 1),
            num(m.loadgen_us, 0),
            num(m.cores, 2),
        ]);
    }
    t
}

/// `(table for stdout, whole report)`.
pub fn render(out: &Outcome) -> (String, String) {
    let ms = medians(out);
    let table = summary_table(&ms).to_markdown();
    let c = &out.args.common;
    let mut s = String::new();
    let _ = writeln!(s, "# authd benchmark: `writes`\n");
    let _ = writeln!(
        s,
        "Session-create commands (`POST /api/v1/sessions`, signed with the cluster secret) through a \
         fresh {}-node loopback cluster per measurement, durable (WAL fdatasync before acknowledging), \
         requests rotated over all nodes (followers forward to the leader). Closed loop: each \
         client has one request outstanding; keep-alive HTTP/1.1.\n",
        out.args.nodes
    );
    let window = match c.count {
        Some(n) => format!("{n} requests"),
        None => format!("{} s", c.duration),
    };
    let _ = writeln!(
        s,
        "Runs: {} per level (each figure is the median over runs; errors are summed), warm-up {} s, \
         window {window}. Command: `cargo run --release -p authd-bench -- writes --runs {} {} --clients {}{}`.\n",
        c.runs,
        c.warmup,
        c.runs,
        c.count
            .map(|n| format!("--count {n}"))
            .unwrap_or_else(|| format!("--duration {}", c.duration)),
        out.args
            .clients
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        if out.args.nodes == 3 {
            String::new()
        } else {
            format!(" --nodes {}", out.args.nodes)
        },
    );
    let _ = writeln!(s, "## Results\n\n{table}");
    let disturbed = out.runs.iter().filter(|r| r.disturbed()).count();
    if disturbed > 0 {
        let _ = writeln!(
            s,
            "{disturbed} of {} measurements were disturbed (other processes or the hypervisor took more \
             than {DISTURBED_CORES} cores during the window, even after `--retry-disturbed` {} more \
             tries; marked ⚠ under \"Every run\"). The medians include them.\n",
            out.runs.len(),
            c.retry_disturbed
        );
    }
    let _ = writeln!(s, "## Target\n\n{}\n", verdict(&ms));
    let _ = writeln!(
        s,
        "## Disk baseline (same filesystem)\n\n{}",
        fsync_section(out, &ms)
    );
    let _ = writeln!(
        s,
        "\nFor reference, `DESIGN.md` quotes etcd (3 nodes, loopback, this machine) at ~8.2k puts/s at \
         64 clients, p99 ~20 ms, ~170 µs CPU per put (not re-measured here unless `--peers etcd`).\n"
    );
    let _ = writeln!(s, "## Every run\n\n{}", runs_table(&out.runs).to_markdown());
    let _ = writeln!(s, "## Where the time goes (median run of each level)\n");
    for m in &ms {
        if let Some(r) = median_run(&out.runs, m) {
            let _ = writeln!(s, "{}", node_table(r).to_markdown());
            let _ = writeln!(s, "{}", cpu_table(r).to_markdown());
        }
    }
    let errors: Vec<String> = out
        .runs
        .iter()
        .filter_map(|r| {
            r.first_error
                .as_ref()
                .map(|e| format!("- run {}, {} clients: `{e}`", r.run, r.clients))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(
            s,
            "## First error of each run that had errors\n\n{}\n",
            errors.join("\n")
        );
    }
    for p in &out.peers {
        let _ = writeln!(s, "## Peer baseline\n\n{}", p.to_markdown());
    }
    let _ = writeln!(s, "## How to read this\n\n{}", HOW_TO_READ);
    let _ = writeln!(s, "## Machine\n\n{}", MachineInfo::collect().to_markdown());
    let _ = writeln!(s, "authd binary: {}\n", out.binary);
    (table, s)
}

fn verdict(ms: &[LevelMedian]) -> String {
    let goal = format!(
        "≥ {} writes/s at {TARGET_CLIENTS} clients with p99 < {TARGET_P99_MS} ms (issue 2).",
        int(TARGET_OPS)
    );
    match ms.iter().find(|m| m.clients == TARGET_CLIENTS) {
        None => format!("{goal} Not measured in this run (no {TARGET_CLIENTS}-client level)."),
        Some(m) => {
            let ops_ok = m.ops >= TARGET_OPS;
            let p99_ok = m.p99 < TARGET_P99_MS;
            format!(
                "{goal}\n\nMeasured: {} writes/s ({}, {} of the target) and p99 {} ms ({}).",
                int(m.ops),
                if ops_ok { "met" } else { "**not met**" },
                num(100.0 * m.ops / TARGET_OPS, 0) + " %",
                num(m.p99, 2),
                if p99_ok { "met" } else { "**not met**" }
            )
        }
    }
}

fn fsync_section(out: &Outcome, ms: &[LevelMedian]) -> String {
    let all = |f: &dyn Fn(&LevelRun) -> f64| median(out.runs.iter().map(f));
    let mut s = format!(
        "Appending 4 KiB `write` + `fdatasync`, one at a time, for 3 s just before each level's cluster \
         starts (this VM's disk is noisy: the figure moves between runs, hence paired ratios): \
         **{} fsyncs/s** (p50 {} ms, p99 {} ms; median of {} measurements).\n\n",
        int(all(&|r| r.fsync.fsyncs_per_sec)),
        num(all(&|r| r.fsync.latency.p50_ms), 3),
        num(all(&|r| r.fsync.latency.p99_ms), 3),
        out.runs.len()
    );
    let mut t = Table::new([
        "clients",
        "writes/s",
        "fsync baseline /s",
        "writes ÷ fsync baseline",
        "writes per leader WAL fsync",
        "leader WAL fsync ms (in run)",
    ]);
    for m in ms {
        let rs: Vec<&LevelRun> = out.runs.iter().filter(|r| r.clients == m.clients).collect();
        let md = |f: &dyn Fn(&LevelRun) -> f64| median(rs.iter().map(|r| f(r)));
        t.row([
            m.clients.to_string(),
            int(m.ops),
            int(md(&|r| r.fsync.fsyncs_per_sec)),
            num(md(&|r| ratio(r.ops_per_sec, r.fsync.fsyncs_per_sec)), 2),
            num(m.per_fsync, 1),
            num(
                md(&|r| {
                    1e3 * r
                        .delta
                        .node_metrics(r.leader)
                        .mean("authd_wal_fsync_seconds")
                }),
                3,
            ),
        ]);
    }
    s.push_str(&t.to_markdown());
    s
}

const HOW_TO_READ: &str = "\
- **writes/s**: successful (201) session creations per second in the window. **p50/p99/p999**: \
latency of those requests as the client saw it (send to last body byte), exact percentiles.
- **errors**: requests in the window that did not answer 201 (or failed in transport), summed over runs.
- **CPU µs/write (all nodes)**: user+system CPU of the `authd` processes in the window \
(`/proc/PID/stat`) divided by the writes. On 2 cores, ≥ 20k writes/s leaves ≤ 100 µs for the three \
nodes *and* the load generator. If `cores busy` ≈ the core count, the cluster is CPU-bound; if it \
is well below while writes/fsync is small, it is fsync/latency-bound.
- **mean batch**: `authd_proposal_batch_commands` sum/count in the window (commands per Raft \
proposal) on the leader's proposer, and over all nodes' proposers (followers batch before they forward).
- **writes/fsync (leader)**: writes divided by the leader's WAL fsyncs (`authd_wal_fsync_seconds` \
count) in the window: the group-commit factor actually achieved.
- **load-gen CPU µs/req**: this benchmark's own CPU per request; it shares the cores with the nodes.
- **ctx switches/write**: context switches of all node threads per write, voluntary (a thread \
waited: each hop between threads costs one or two) + involuntary (preempted: more runnable \
threads than cores).
- **other cores / steal cores**: CPU used in the window by everything else on the machine, and \
taken by the hypervisor; a run with a large figure there was disturbed. **busy before %**: how busy \
the machine was when the measurement started (it waits up to `--quiet-max` s for < `--quiet-pct` %).
- **Where the time goes**: per node, the latency of the writes the load generator sent to it \
(a follower forwards to the leader, then waits until it has applied the entry itself), its \
proposer's batches and their propose→applied time, its WAL (fsyncs/s, mean fsync, records per \
WAL write), and apply time per entry. Then CPU per write by thread name: `tokio-rt-worker` is the \
node's async runtime (HTTP, JSON, HMAC check, proposer, Raft, transport, apply), `authd-wal` the \
log writer thread (write + fdatasync), `authd` the main thread.
";
