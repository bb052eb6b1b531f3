//! The run as markdown: `docs/reliability.md` is this, for the long profile.

use std::fmt::Write as _;
use std::time::Duration;

use super::check::{RECOVERY, WRITE_BOUND, kind_name};
use super::history::{CredKind, Revocation};
use super::schedule::FaultKind;
use super::{Outcome, faults_by_kind};

/// The command that regenerates `docs/reliability.md`.
pub const COMMAND: &str = "cargo build --release -p authd-node -p authd-bench && \
nice ./target/release/authd-bench faults --threads 2 --profile long --out docs/reliability.md";

/// The binary the run started, relative to the workspace.
fn binary() -> String {
    let root = crate::process::workspace_root();
    crate::process::authd_bin()
        .map(|b| b.strip_prefix(&root).unwrap_or(&b).display().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// The whole report.
pub fn markdown(o: &Outcome) -> String {
    let h = &o.history;
    let v = &o.verdict;
    let mut s = String::new();
    let verdict = if o.verdict.clean() && o.aborted.is_none() {
        "**PASS**"
    } else {
        "**FAIL**"
    };
    let _ = writeln!(s, "# Reliability under faults\n");
    let _ = writeln!(
        s,
        "Regenerate (about 10-15 minutes on the 2-core machine):\n\n```sh\n{COMMAND}\n```\n"
    );
    let _ = writeln!(
        s,
        "Profile `{}`, seed `{}` (replay: `--seed {}`, or `AUTHD_FAULTS_SEED={} \
         AUTHD_FAULTS_PROFILE={} cargo test -p authd-tests --test it faults`), {} s wall time. \
         Verdict: {verdict}. authd binary: `{}`.\n",
        o.profile.name,
        o.seed,
        o.seed,
        o.seed,
        o.profile.name,
        o.wall.as_secs(),
        binary()
    );
    s.push_str(SETUP);
    let _ = writeln!(s, "\n## Results\n");
    let _ = writeln!(s, "| What | Count |\n|---|---|");
    let c = &h.counts;
    let probes_ok = h.probes.iter().filter(|p| p.session.is_some()).count();
    let rows = [
        (
            "logins (session creations) attempted / acknowledged",
            format!("{} / {}", c.logins.0, c.logins.1),
        ),
        (
            "token grants attempted / acknowledged",
            format!("{} / {}", c.grants.0, c.grants.1),
        ),
        (
            "probe writes (operator session creations) attempted / acknowledged",
            format!("{} / {probes_ok}", h.probes.len()),
        ),
        (
            "revocations attempted / acknowledged / ambiguous (failed or timed out)",
            format!("{} / {} / {}", c.revokes.0, c.revokes.1, c.revokes.2),
        ),
        (
            "`/auth` checks (200 / 401 / other / no answer)",
            auth_counts(o),
        ),
        ("faults injected", h.faults.len().to_string()),
        (
            "acknowledged writes verified on every node after healing",
            v.writes_verified.to_string(),
        ),
        (
            "acknowledged revocations verified refused on every node after healing",
            v.revocations_verified.to_string(),
        ),
        (
            "`/auth` answers that started after their credential's revocation was acknowledged",
            v.after_revoke_checks.to_string(),
        ),
        ("**lost acknowledged writes**", v.lost.len().to_string()),
        (
            "**stale 200s after an acknowledged revocation**",
            v.stale.len().to_string(),
        ),
        (
            "**stretches where a connected majority could not write**",
            v.unavailable.len().to_string(),
        ),
        ("**divergence after healing**", v.diverged.len().to_string()),
    ];
    for (k, val) in rows {
        let _ = writeln!(s, "| {k} | {val} |");
    }
    failures(o, &mut s);
    let _ = writeln!(s, "\n### Faults by kind\n\n| Fault | Injected |\n|---|---|");
    let by_kind = faults_by_kind(h);
    for k in FaultKind::ALL {
        let _ = writeln!(s, "| {k} | {} |", by_kind.get(&k).copied().unwrap_or(0));
    }
    windows(o, &mut s);
    let problems = o.problems();
    if !problems.is_empty() {
        let _ = writeln!(s, "\n## Violations\n\n```text\n{problems}\n```");
    }
    schedule(o, &mut s);
    s
}

/// Failed operations by cause: what the faults did to the load (no check counts them).
fn failures(o: &Outcome, s: &mut String) {
    let _ = writeln!(
        s,
        "\n### Failed operations by cause\n\nExpected under faults (a killed, paused or cut-off \
         node answers nothing, or 503); none of them is a violation.\n\n| Operation: cause | Count |\n|---|---|"
    );
    for (k, n) in &o.history.counts.failures {
        let _ = writeln!(s, "| {k} | {n} |");
    }
}

fn auth_counts(o: &Outcome) -> String {
    let a = &o.history.counts.auth;
    let get = |k: &str| a.get(k).copied().unwrap_or(0);
    let other: u64 = a
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "200" | "401" | "no answer"))
        .map(|(_, n)| *n)
        .sum();
    format!(
        "{} ({} / {} / {other} / {})",
        a.values().sum::<u64>(),
        get("200"),
        get("401"),
        get("no answer")
    )
}

/// Unavailability windows: gaps over a second between acknowledged probe writes.
fn windows(o: &Outcome, s: &mut String) {
    let w = &o.verdict.windows;
    let total: Duration = w.iter().map(|(_, d)| *d).sum();
    let longest = w.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let _ = writeln!(
        s,
        "\n### Unavailability windows\n\nGaps of more than 1 s between acknowledged probe writes \
         (one attempt every 250 ms through a node of the connected majority): {} windows, \
         {} s in total, the longest {} s. A window is a violation only while a majority was \
         connected: more than {} s to the first write after a majority formed, or more than \
         {} s between writes for as long as some majority stayed connected.\n",
        w.len(),
        secs(total),
        secs(longest),
        RECOVERY.as_secs(),
        WRITE_BOUND.as_secs()
    );
    let _ = writeln!(s, "| From (s) | Length (s) | Fault then |\n|---|---|---|");
    for (from, len) in w {
        let fault = o
            .history
            .faults
            .iter()
            .find(|f| f.start <= *from + *len && f.end + Duration::from_secs(2) >= *from)
            .map_or("none (calm)".to_owned(), |f| f.kind.to_string());
        let _ = writeln!(s, "| {} | {} | {fault} |", secs(*from), secs(*len));
    }
}

/// The schedule as it ran.
fn schedule(o: &Outcome, s: &mut String) {
    let _ = writeln!(
        s,
        "\n## The schedule as it ran\n\n| # | Start (s) | Held (s) | Fault | Nodes | Leader then |\n|---|---|---|---|---|---|"
    );
    for (i, f) in o.history.faults.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:?} | {} |",
            i + 1,
            secs(f.start),
            secs(f.end.saturating_sub(f.start)),
            f.kind,
            f.nodes,
            f.leader
        );
    }
    let creds = &o.history.creds;
    let count = |k: CredKind, revoked: bool| {
        creds
            .iter()
            .filter(|c| c.kind == k && (c.revocation != Revocation::None) == revoked)
            .count()
    };
    let _ = writeln!(
        s,
        "\nCredentials at the end: {} {}s live, {} revoked; {} {}s live, {} revoked.",
        count(CredKind::Session, false),
        kind_name(CredKind::Session),
        count(CredKind::Session, true),
        count(CredKind::Token, false),
        kind_name(CredKind::Token),
        count(CredKind::Token, true),
    );
}

const SETUP: &str = "\
## What runs

Three `authd` nodes on loopback with the default Raft timings (heartbeat 100 ms, election \
timeout 800-1600 ms, read lease 500 ms) and fsync on. Every node reaches its peers through a \
TCP proxy of the test's own, one per ordered pair of nodes (config `raft_via`), which can drop \
or delay each direction of each link. The harness is `tests/src/faults/`, the proxies \
`tests/src/links.rs`.

**Load** (seeded): workers pick a node at random and then log in through `POST /login` \
(12 %), grant an OAuth2 client-credentials token (10 %), revoke a live credential (10 %: \
`GET /logout` for a session, `POST /oauth2/revoke` for a token) or check a credential with \
`GET /auth` (68 %; half of them one of the last revoked credentials). After every \
acknowledged revocation the worker asks `/auth` on all three nodes at once. An availability \
probe creates a session through the operator API every 250 ms on a node of the connected \
majority. Every request has a 3 s deadline.

**Faults** (seeded schedule): each fault holds for a while, is healed (restart, SIGCONT, links \
restored), then the cluster runs undisturbed for a while before the next one. Kinds: kill -9 \
the leader or a follower (restarted on the same data), SIGSTOP the leader or a follower, \
isolate the leader or a follower (every link cut both ways), cut the link between the leader \
and one follower (the third node still sees both), drop one direction between the leader and \
a follower, delay every link by 20-150 ms, cut every link (no majority), kill -9 all three \
(restarted together).

**Checks**:

1. *No acknowledged write lost*: after healing, every acknowledged session and token that was \
   never revoked passes `/auth` on every node, and every acknowledged probe session is listed \
   by `GET /api/v1/sessions/{id}` on every node.
2. *No 200 after an acknowledged revocation*: every `/auth` request that *started* after the \
   revocation's acknowledgement, on any node, during the run and after it, is refused; after \
   healing every acknowledged revocation is refused on every node. A revocation that failed or \
   timed out is ambiguous: it may or may not have happened, but all nodes must agree.
3. *The cluster serves whenever a majority is up and connected*: from the probe writes, as \
   described under the windows below.
4. *Convergence*: after healing, every node is ready, names the same leader and reaches the \
   same applied index, and the checks above hold on every node.
";
