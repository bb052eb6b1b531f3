//! Node-to-node links the test controls: one small TCP proxy per ordered pair of nodes on the
//! internal (Raft) port, so a test can drop or delay the packets of one direction of one link.
//!
//! Node `a` dials node `b` at the proxy `(a, b)` (config `raft_via`); that proxy forwards to
//! `b`'s own `raft` address. The bytes `a` sends to `b` are the *forward* direction of proxy
//! `(a, b)` and the *backward* (reply) direction of proxy `(b, a)`. Dropping is a black hole,
//! like a real partition: connections stay open and bytes vanish; when a dropped direction
//! passes again, every connection that lived through the drop is closed (as TCP would have
//! given up on it), so nodes reconnect to an intact stream.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::config::{ClusterConfig, free_ports, loopback};

/// What one direction of a link does to its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rule {
    /// Bytes vanish.
    pub drop: bool,
    /// Bytes arrive this much later (order kept).
    pub delay: Duration,
}

impl Rule {
    /// Bytes pass untouched.
    pub const PASS: Rule = Rule {
        drop: false,
        delay: Duration::ZERO,
    };
    /// Bytes vanish.
    pub const DROP: Rule = Rule {
        drop: true,
        delay: Duration::ZERO,
    };
}

/// Rules of one proxy: `[forward, backward]`.
type Rules = Arc<Mutex<[Rule; 2]>>;

/// One directed link's proxy: accepts the dialer's connections, forwards to the target.
struct LinkProxy {
    rules: Rules,
    /// Bumped to close every open connection of this link.
    generation: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}

/// Every link of a cluster, as proxies. Dropping it closes them all.
pub struct Links {
    proxies: BTreeMap<(u64, u64), LinkProxy>,
}

impl Links {
    /// Binds a proxy for every ordered pair of `config`'s nodes and points the nodes' `raft_via`
    /// at them. Must run inside a Tokio runtime.
    pub fn bind(config: &mut ClusterConfig) -> Result<Links> {
        let targets: Vec<(u64, SocketAddr)> = config.nodes.iter().map(|n| (n.id, n.raft)).collect();
        let pairs: Vec<(u64, u64, SocketAddr)> = targets
            .iter()
            .flat_map(|&(a, _)| {
                targets
                    .iter()
                    .filter(move |(b, _)| *b != a)
                    .map(move |&(b, addr)| (a, b, addr))
            })
            .collect();
        let ports = free_ports(pairs.len())?;
        let mut proxies = BTreeMap::new();
        for (&(a, b, target), port) in pairs.iter().zip(ports) {
            let listen = loopback(port);
            let std = std::net::TcpListener::bind(listen)
                .with_context(|| format!("binding the link proxy {a}->{b} on {listen}"))?;
            std.set_nonblocking(true)?;
            let listener = TcpListener::from_std(std)?;
            proxies.insert((a, b), LinkProxy::start(listener, target));
            let node = config
                .nodes
                .iter_mut()
                .find(|n| n.id == a)
                .ok_or_else(|| anyhow!("no node {a}"))?;
            node.raft_via.insert(b.to_string(), listen);
        }
        Ok(Links { proxies })
    }

    /// Sets what happens to the bytes node `from` sends to node `to` (on both connections
    /// between them: `from`'s requests and `from`'s replies).
    pub fn set(&self, from: u64, to: u64, rule: Rule) {
        if let Some(p) = self.proxies.get(&(from, to)) {
            p.set(0, rule);
        }
        if let Some(p) = self.proxies.get(&(to, from)) {
            p.set(1, rule);
        }
    }

    /// Nothing passes between `a` and `b`, either way.
    pub fn cut(&self, a: u64, b: u64) {
        self.set(a, b, Rule::DROP);
        self.set(b, a, Rule::DROP);
    }

    /// Node `n` can neither reach nor be reached by any other node.
    pub fn isolate(&self, n: u64) {
        for &(a, b) in self.proxies.keys() {
            if a == n {
                self.cut(a, b);
            }
        }
    }

    /// Every byte between any two nodes is delayed by `delay`.
    pub fn delay_all(&self, delay: Duration) {
        for &(a, b) in self.proxies.keys() {
            self.set(a, b, Rule { drop: false, delay });
        }
    }

    /// Every link passes everything again.
    pub fn heal(&self) {
        for &(a, b) in self.proxies.keys() {
            self.set(a, b, Rule::PASS);
        }
    }

    /// Whether bytes pass both ways between `a` and `b` (delayed or not).
    pub fn connected(&self, a: u64, b: u64) -> bool {
        let passes = |from, to| {
            self.proxies
                .get(&(from, to))
                .is_some_and(|p| !p.rule(0).drop)
                && self
                    .proxies
                    .get(&(to, from))
                    .is_some_and(|p| !p.rule(1).drop)
        };
        passes(a, b) && passes(b, a)
    }
}

impl LinkProxy {
    fn start(listener: TcpListener, target: SocketAddr) -> LinkProxy {
        let rules: Rules = Arc::new(Mutex::new([Rule::PASS; 2]));
        let (generation, _) = watch::channel(0u64);
        let accept = tokio::spawn(accept_loop(
            listener,
            target,
            rules.clone(),
            generation.clone(),
        ));
        LinkProxy {
            rules,
            generation,
            accept,
        }
    }

    fn rule(&self, dir: usize) -> Rule {
        lock(&self.rules).get(dir).copied().unwrap_or_default()
    }

    /// A dropping direction that passes again closes the link's connections.
    fn set(&self, dir: usize, rule: Rule) {
        let was_dropping = {
            let mut rules = lock(&self.rules);
            let Some(slot) = rules.get_mut(dir) else {
                return;
            };
            std::mem::replace(slot, rule).drop
        };
        if was_dropping && !rule.drop {
            self.generation.send_modify(|g| *g += 1);
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    rules: Rules,
    generation: watch::Sender<u64>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let mut closed = generation.subscribe();
        let rules = rules.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return; // the target is down: the dialer sees its connection close
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_rd, in_wr) = inbound.into_split();
            let (out_rd, out_wr) = outbound.into_split();
            let forward = pump(in_rd, out_wr, rules.clone(), 0);
            let backward = pump(out_rd, in_wr, rules, 1);
            tokio::select! {
                _ = futures::future::join(forward, backward) => {}
                _ = closed.changed() => {}
            }
        });
    }
}

/// Copies `rd` to `wr` under the rule of direction `dir`, keeping order across delays.
async fn pump(mut rd: OwnedReadHalf, mut wr: OwnedWriteHalf, rules: Rules, dir: usize) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let rule = lock(&rules).get(dir).copied().unwrap_or_default();
            if rule.drop {
                continue;
            }
            let Some(bytes) = buf.get(..n) else { break };
            if tx
                .send((Instant::now() + rule.delay, bytes.to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    futures::future::join(reader, writer).await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Cluster {
    /// Like [`Cluster::start`], with every node-to-node link through a proxy of [`Links`].
    pub async fn start_linked(
        n: u64,
        tweak: impl Fn(&mut ClusterConfig),
    ) -> Result<(Cluster, Links)> {
        let slot: Mutex<Option<Result<Links>>> = Mutex::new(None);
        let cluster = Cluster::start(n, |cfg| {
            tweak(cfg);
            *lock(&slot) = Some(Links::bind(cfg));
        })
        .await?;
        let links = lock(&slot)
            .take()
            .ok_or_else(|| anyhow!("the config was never generated"))??;
        Ok((cluster, links))
    }
}
