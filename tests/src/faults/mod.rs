//! The seeded fault-injection suite (issue 8): a 3-node cluster whose node-to-node links run
//! through [`Links`] proxies, a mixed load ([`load`]), a fault schedule derived from a seed
//! ([`schedule`]) and a checker ([`check`]) that asserts DESIGN.md's guarantees afterwards.
//!
//! `AUTHD_FAULTS_SEED` replays a run (its schedule and load choices; which node is leader
//! still depends on the run), `AUTHD_FAULTS_PROFILE` picks `short` (CI) or `long`.

pub mod check;
pub mod history;
pub mod load;
pub mod probe;
pub mod report;
pub mod rng;
pub mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use tokio::sync::watch;

use crate::cluster::Cluster;
use crate::links::{Links, Rule};
use check::Verdict;
use history::{FaultEvent, History};
use load::Load;
use rng::Rng;
use schedule::{Episode, FaultKind, Profile};

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The profile.
    pub profile: Profile,
    /// The seed (replay with `AUTHD_FAULTS_SEED`).
    pub seed: u64,
    /// The record.
    pub history: History,
    /// The checks' findings.
    pub verdict: Verdict,
    /// Wall time of the whole run (start-up to the last check).
    pub wall: Duration,
    /// Set when the run itself broke off (a node crashed, no leader, no convergence).
    pub aborted: Option<String>,
}

impl Outcome {
    /// `Err` listing every violation, with the seed to replay it.
    pub fn ensure_clean(&self) -> Result<()> {
        if self.verdict.clean() && self.aborted.is_none() {
            return Ok(());
        }
        Err(anyhow!(
            "fault suite failed (profile {}, seed {}; replay with AUTHD_FAULTS_SEED={} \
             AUTHD_FAULTS_PROFILE={}):\n{}",
            self.profile.name,
            self.seed,
            self.seed,
            self.profile.name,
            self.problems()
        ))
    }

    /// Every violation, one per line (the first 20 of each kind).
    pub fn problems(&self) -> String {
        let v = &self.verdict;
        let mut out = Vec::new();
        if let Some(a) = &self.aborted {
            out.push(format!("aborted: {a}"));
        }
        for (what, list) in [
            ("lost", &v.lost),
            ("stale", &v.stale),
            ("unavailable", &v.unavailable),
            ("diverged", &v.diverged),
        ] {
            out.extend(list.iter().take(20).map(|l| format!("{what}: {l}")));
        }
        out.join("\n")
    }
}

/// The seed from `AUTHD_FAULTS_SEED`, else a fresh random one.
pub fn seed_from_env() -> Result<u64> {
    match std::env::var("AUTHD_FAULTS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .with_context(|| format!("AUTHD_FAULTS_SEED={s:?} is not a number")),
        Err(_) => Ok(u64::from_le_bytes(crate::config::random_bytes::<8>()?)),
    }
}

/// Runs `profile` with `seed` on a fresh cluster and checks the guarantees.
pub async fn run(profile: Profile, seed: u64) -> Result<Outcome> {
    let started = Instant::now();
    let (mut cluster, links) = Cluster::start_linked(3, |cfg| {
        // The probe writes a session of one user every 250 ms: above the per-user cap, older
        // probe sessions would end (by design) and look lost to the checker.
        cfg.sessions.max_per_user = Some(u32::MAX);
    })
    .await?;
    let load = Load::setup(&cluster, Instant::now()).await?;
    let (majority_tx, majority_rx) = watch::channel(None);
    let mut run = Run {
        load: load.clone(),
        majority: majority_tx,
        rng: Rng::new(seed).fork(1),
    };
    run.topology_changed(&cluster, &links);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(load.clone().probe(majority_rx)));
    let base = Rng::new(seed);
    for w in 0..profile.workers {
        tasks.push(tokio::spawn(load.clone().worker(base.fork(100 + w as u64))));
    }
    let mut aborted = None;
    for (i, ep) in profile.schedule(seed).iter().enumerate() {
        if let Err(e) = run.episode(&mut cluster, &links, ep).await {
            aborted = Some(format!("episode {} ({}): {e:#}", i + 1, ep.kind));
            break;
        }
    }
    load.stop();
    for t in tasks {
        let _ = t.await;
    }
    let end = load.now();
    heal_all(&mut cluster, &links)?;
    let mut verdict = Verdict::default();
    if let Err(e) = check::check_converged(&cluster, &load, &mut verdict).await {
        verdict
            .diverged
            .push(format!("the healed cluster did not converge: {e:#}"));
    }
    let history = load
        .history
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    check::check_stale(&history, &mut verdict);
    check::check_availability(&history, end, &mut verdict);
    let outcome = Outcome {
        profile,
        seed,
        history,
        verdict,
        wall: started.elapsed(),
        aborted,
    };
    cluster.set_logs_on_drop(!outcome.verdict.clean() || outcome.aborted.is_some());
    Ok(outcome)
}

/// The schedule's side of a run.
struct Run {
    load: Arc<Load>,
    majority: watch::Sender<Option<Vec<u64>>>,
    rng: Rng,
}

impl Run {
    /// Injects one fault, holds it, heals it, lets the cluster calm down.
    async fn episode(&mut self, cluster: &mut Cluster, links: &Links, ep: &Episode) -> Result<()> {
        cluster.check_alive()?;
        let leader = cluster
            .leader()
            .await
            .context("no leader after the calm period")?;
        let followers: Vec<u64> = cluster
            .node_ids()
            .into_iter()
            .filter(|&n| n != leader)
            .collect();
        let follower = *self
            .rng
            .pick(&followers)
            .ok_or_else(|| anyhow!("no followers"))?;
        let start = self.load.now();
        let nodes = match ep.kind {
            FaultKind::KillLeader => kill(cluster, leader)?,
            FaultKind::KillFollower => kill(cluster, follower)?,
            FaultKind::PauseLeader => pause(cluster, leader)?,
            FaultKind::PauseFollower => pause(cluster, follower)?,
            FaultKind::IsolateLeader => isolate(links, leader),
            FaultKind::IsolateFollower => isolate(links, follower),
            FaultKind::CutLink => {
                links.cut(leader, follower);
                vec![leader, follower]
            }
            FaultKind::OneWay => {
                let (from, to) = if self.rng.percent(50) {
                    (leader, follower)
                } else {
                    (follower, leader)
                };
                links.set(from, to, Rule::DROP);
                vec![from, to]
            }
            FaultKind::Delay => {
                links.delay_all(ep.delay);
                cluster.node_ids()
            }
            FaultKind::PartitionAll => {
                for id in cluster.node_ids() {
                    links.isolate(id);
                }
                cluster.node_ids()
            }
            FaultKind::KillAll => {
                cluster.kill_all()?;
                cluster.node_ids()
            }
        };
        self.topology_changed(cluster, links);
        tokio::time::sleep(ep.hold).await; // the fault's duration, part of the schedule
        heal_all(cluster, links)?;
        let end = self.load.now();
        self.topology_changed(cluster, links);
        self.load
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .push(FaultEvent {
                kind: ep.kind,
                nodes,
                leader,
                start,
                end,
            });
        tokio::time::sleep(ep.calm).await; // the calm between faults, part of the schedule
        Ok(())
    }

    /// Records (and tells the probe) which nodes now form a connected majority, if any.
    fn topology_changed(&self, cluster: &Cluster, links: &Links) {
        let majority = connected_majority(&cluster.live_nodes(), cluster.node_ids().len(), links);
        let at = self.load.now();
        self.load
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .topology
            .push((at, majority.clone()));
        self.majority.send_replace(majority);
    }
}

/// Every link passes, every node runs (restarted or resumed).
fn heal_all(cluster: &mut Cluster, links: &Links) -> Result<()> {
    links.heal();
    for id in cluster.node_ids() {
        if !cluster.is_running(id) {
            cluster.spawn(id)?;
        } else if !cluster.live_nodes().contains(&id) {
            cluster.resume(id)?;
        }
    }
    Ok(())
}

fn kill(cluster: &mut Cluster, id: u64) -> Result<Vec<u64>> {
    cluster.kill(id)?;
    Ok(vec![id])
}

fn pause(cluster: &mut Cluster, id: u64) -> Result<Vec<u64>> {
    cluster.pause(id)?;
    Ok(vec![id])
}

fn isolate(links: &Links, id: u64) -> Vec<u64> {
    links.isolate(id);
    vec![id]
}

/// The largest set of running, unpaused nodes that are pairwise connected both ways, if it is
/// a majority of `total`.
pub fn connected_majority(live: &[u64], total: usize, links: &Links) -> Option<Vec<u64>> {
    let n = live.len().min(16);
    let mut best: Option<Vec<u64>> = None;
    for mask in 1u32..(1 << n) {
        let set: Vec<u64> = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .filter_map(|i| live.get(i).copied())
            .collect();
        let pairwise = set
            .iter()
            .all(|&a| set.iter().all(|&b| a == b || links.connected(a, b)));
        if pairwise && set.len() * 2 > total && best.as_ref().is_none_or(|b| set.len() > b.len()) {
            best = Some(set);
        }
    }
    best
}

/// Faults injected, by kind.
pub fn faults_by_kind(h: &History) -> BTreeMap<FaultKind, u64> {
    let mut m = BTreeMap::new();
    for f in &h.faults {
        *m.entry(f.kind).or_default() += 1;
    }
    m
}
