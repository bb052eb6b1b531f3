//! The fault schedule: every `--kill-every` minutes one node is killed with SIGKILL and
//! started again `--down` seconds later, alternately the leader and a follower (the follower
//! killed longest ago). Each fault records when the victim died, when a leader was known
//! again among the survivors, when the victim was restarted and when it had applied what the
//! leader had applied at its restart (caught up).

use std::collections::BTreeMap;

use anyhow::Result;
use authd_tests::Cluster;

/// Errors this long after a fault's end (caught up) still count as inside its window.
pub const GRACE_SECS: f64 = 5.0;

/// One kill and restart; times in seconds since the soak started.
#[derive(Debug, Clone)]
pub struct Fault {
    pub victim: u64,
    /// "leader" or "follower".
    pub role: &'static str,
    pub killed: f64,
    pub leader_again: Option<f64>,
    pub restarted: Option<f64>,
    pub caught_up: Option<f64>,
    /// The leader's applied index when the victim was restarted.
    target: u64,
}

impl Fault {
    /// The window errors are attributed to: kill → caught up + grace (→ `end` if it never
    /// caught up).
    pub fn window(&self, end: f64) -> (f64, f64) {
        (
            self.killed,
            self.caught_up.map_or(end, |t| t + GRACE_SECS).min(end),
        )
    }
}

/// The schedule and what it did.
pub struct Faults {
    every: f64,
    down: f64,
    next: f64,
    /// The last moment a new fault may start (so it can end before the run does).
    last_start: f64,
    count: usize,
    pending: Option<Fault>,
    pub done: Vec<Fault>,
    last_killed: BTreeMap<u64, f64>,
}

impl Faults {
    /// A fault every `every` s (none if 0) from `every` on, each down `down` s, none
    /// starting after `end − down − 30 s`.
    pub fn new(every: f64, down: f64, end: f64) -> Faults {
        Faults {
            every,
            down,
            next: if every > 0.0 { every } else { f64::INFINITY },
            last_start: end - down - 30.0,
            count: 0,
            pending: None,
            done: Vec::new(),
            last_killed: BTreeMap::new(),
        }
    }

    /// Every fault, finished or not.
    pub fn all(&self) -> Vec<Fault> {
        self.done
            .iter()
            .chain(self.pending.iter())
            .cloned()
            .collect()
    }

    /// Advances the schedule at `now` (seconds since the start).
    pub async fn tick(&mut self, cluster: &mut Cluster, now: f64) -> Result<()> {
        if let Some(mut f) = self.pending.take() {
            self.advance(cluster, &mut f, now).await?;
            if f.caught_up.is_some() || now >= f.killed + self.every.max(self.down + 60.0) {
                self.done.push(f);
            } else {
                self.pending = Some(f);
            }
            return Ok(());
        }
        if now < self.next || now > self.last_start {
            return Ok(());
        }
        self.next += self.every;
        self.count += 1;
        let Some(leader) = leader_among(cluster, &cluster.live_nodes()).await else {
            eprintln!("authd-bench soak: no leader at {now:.0} s; fault skipped");
            return Ok(());
        };
        let (victim, role) = if self.count % 2 == 1 {
            (leader, "leader")
        } else {
            let follower = cluster
                .live_nodes()
                .into_iter()
                .filter(|id| *id != leader)
                .min_by(|a, b| {
                    let at = |id| self.last_killed.get(id).copied().unwrap_or(-1.0);
                    at(a).total_cmp(&at(b))
                });
            match follower {
                Some(f) => (f, "follower"),
                None => return Ok(()),
            }
        };
        cluster.kill(victim)?;
        eprintln!("authd-bench soak: {now:.0} s: killed node {victim} ({role})");
        self.last_killed.insert(victim, now);
        self.pending = Some(Fault {
            victim,
            role,
            killed: now,
            leader_again: None,
            restarted: None,
            caught_up: None,
            target: 0,
        });
        Ok(())
    }

    async fn advance(&self, cluster: &mut Cluster, f: &mut Fault, now: f64) -> Result<()> {
        let survivors: Vec<u64> = cluster
            .live_nodes()
            .into_iter()
            .filter(|id| *id != f.victim)
            .collect();
        let leader = leader_among(cluster, &survivors).await;
        if f.leader_again.is_none() && leader.is_some() {
            f.leader_again = Some(now);
        }
        if f.restarted.is_none() {
            if now >= f.killed + self.down {
                f.target = match leader {
                    Some(l) => cluster.info(l).await.map(|i| i.applied()).unwrap_or(0),
                    None => 0,
                };
                cluster.spawn(f.victim)?;
                f.restarted = Some(now);
                eprintln!("authd-bench soak: {now:.0} s: restarted node {}", f.victim);
            }
            return Ok(());
        }
        if let Ok(info) = cluster.info(f.victim).await
            && info.applied() >= f.target
            && f.target > 0
        {
            f.caught_up = Some(now);
            eprintln!("authd-bench soak: {now:.0} s: node {} caught up", f.victim);
        }
        Ok(())
    }
}

/// The node among `ids` that calls itself leader and that the others name, if any.
async fn leader_among(cluster: &Cluster, ids: &[u64]) -> Option<u64> {
    let mut named = None;
    for &id in ids {
        let info = cluster.info(id).await.ok()?;
        let l = info.leader_id?;
        if named.is_some_and(|n| n != l) {
            return None;
        }
        named = Some(l);
    }
    let l = named?;
    let info = cluster.info(l).await.ok()?;
    (ids.contains(&l) && info.is_leader()).then_some(l)
}
