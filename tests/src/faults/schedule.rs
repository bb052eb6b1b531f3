//! The fault schedule: which fault, how long it holds, how long the cluster is left in peace
//! afterwards, all derived from the seed. Which node is "the leader" is resolved when the fault
//! is injected (it depends on the run); followers are then picked with the seeded generator.

use std::fmt;
use std::time::Duration;

use super::rng::Rng;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL the leader, restart it when the fault ends.
    KillLeader,
    /// SIGKILL a follower, restart it when the fault ends.
    KillFollower,
    /// SIGSTOP the leader, SIGCONT when the fault ends.
    PauseLeader,
    /// SIGSTOP a follower, SIGCONT when the fault ends.
    PauseFollower,
    /// Cut every link of the leader, both ways.
    IsolateLeader,
    /// Cut every link of a follower, both ways.
    IsolateFollower,
    /// Cut the link between the leader and one follower, both ways (the third node sees both).
    CutLink,
    /// Drop what one node sends to another, while the other direction passes.
    OneWay,
    /// Delay every byte on every link.
    Delay,
    /// Cut every link: no majority anywhere.
    PartitionAll,
    /// SIGKILL every node at once, then restart them all.
    KillAll,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 11] = [
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::PauseLeader,
        FaultKind::PauseFollower,
        FaultKind::IsolateLeader,
        FaultKind::IsolateFollower,
        FaultKind::CutLink,
        FaultKind::OneWay,
        FaultKind::Delay,
        FaultKind::PartitionAll,
        FaultKind::KillAll,
    ];

    /// Relative frequency in a schedule.
    fn weight(self) -> u64 {
        match self {
            FaultKind::KillLeader | FaultKind::IsolateLeader => 3,
            FaultKind::KillFollower | FaultKind::PauseLeader | FaultKind::PauseFollower => 2,
            FaultKind::IsolateFollower | FaultKind::CutLink | FaultKind::OneWay => 2,
            FaultKind::Delay => 1,
            FaultKind::PartitionAll | FaultKind::KillAll => 1,
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill -9 leader",
            FaultKind::KillFollower => "kill -9 follower",
            FaultKind::PauseLeader => "SIGSTOP leader",
            FaultKind::PauseFollower => "SIGSTOP follower",
            FaultKind::IsolateLeader => "isolate leader",
            FaultKind::IsolateFollower => "isolate follower",
            FaultKind::CutLink => "cut leader-follower link",
            FaultKind::OneWay => "one-way drop",
            FaultKind::Delay => "delay all links",
            FaultKind::PartitionAll => "partition all",
            FaultKind::KillAll => "kill -9 all",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One scheduled fault.
#[derive(Debug, Clone)]
pub struct Episode {
    /// What breaks.
    pub kind: FaultKind,
    /// How long it stays broken.
    pub hold: Duration,
    /// How long the healed cluster runs before the next fault.
    pub calm: Duration,
    /// The added latency (`Delay` only).
    pub delay: Duration,
}

/// How long a run is and how hard it hits.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `short` (CI) or `long` (by hand).
    pub name: &'static str,
    /// Faults to inject.
    pub episodes: usize,
    /// Range of a fault's duration, ms.
    pub hold_ms: (u64, u64),
    /// Range of the calm after it, ms.
    pub calm_ms: (u64, u64),
    /// Concurrent load workers (besides the availability probe).
    pub workers: usize,
}

impl Profile {
    /// The CI profile: about 1.5 minutes of faults.
    pub const SHORT: Profile = Profile {
        name: "short",
        episodes: 14,
        hold_ms: (1_500, 4_000),
        calm_ms: (2_000, 3_500),
        workers: 3,
    };

    /// The by-hand profile: about 10 minutes of faults.
    pub const LONG: Profile = Profile {
        name: "long",
        episodes: 80,
        hold_ms: (1_500, 6_000),
        calm_ms: (1_500, 4_000),
        workers: 4,
    };

    /// `short` or `long`.
    pub fn by_name(name: &str) -> Option<Profile> {
        match name {
            "short" => Some(Profile::SHORT),
            "long" => Some(Profile::LONG),
            _ => None,
        }
    }

    /// The schedule for `seed`: weighted draws, and every kind at least once when there are
    /// enough episodes (so even the short profile covers all of them).
    pub fn schedule(&self, seed: u64) -> Vec<Episode> {
        let mut rng = Rng::new(seed).fork(0x5c4e_d01e);
        let total: u64 = FaultKind::ALL.iter().map(|k| k.weight()).sum();
        let mut kinds: Vec<FaultKind> = Vec::with_capacity(self.episodes);
        let mut missing: Vec<FaultKind> = FaultKind::ALL.to_vec();
        for i in 0..self.episodes {
            let left = self.episodes - i;
            let kind = if left <= missing.len() && !missing.is_empty() {
                missing.remove(usize::try_from(rng.below(missing.len() as u64)).unwrap_or(0))
            } else {
                let mut draw = rng.below(total);
                let mut chosen = FaultKind::KillLeader;
                for k in FaultKind::ALL {
                    if draw < k.weight() {
                        chosen = k;
                        break;
                    }
                    draw -= k.weight();
                }
                chosen
            };
            missing.retain(|k| *k != kind);
            kinds.push(kind);
        }
        kinds
            .into_iter()
            .map(|kind| Episode {
                kind,
                hold: Duration::from_millis(rng.between(self.hold_ms.0, self.hold_ms.1)),
                calm: Duration::from_millis(rng.between(self.calm_ms.0, self.calm_ms.1)),
                delay: Duration::from_millis(rng.between(20, 150)),
            })
            .collect()
    }
}
