//! openraft's state machine over [`State`]: apply, the read view, and durable snapshots.
//!
//! The state machine lives in memory; durability comes from snapshots plus the log (which keeps
//! `committed`), so a restart is "load the snapshot, re-apply committed entries".
//! After every applied batch a new immutable [`View`] is published, so the hot read path never
//! waits for apply and never holds a lock across an await.
#![allow(clippy::result_large_err)]

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;

use crate::command::BatchReply;
use crate::state::State;
use crate::types::{NodeAddr, NodeId, TypeConfig};

const MAGIC: &[u8; 8] = b"AUTHDSNP";
/// Bumped whenever the encoding of [`SnapshotBody`] changes; old files are refused, not misread.
const FORMAT_VERSION: u8 = 7;
const SNAPSHOT_FILE: &str = "snapshot.bin";

/// Why the state machine could not load or store a snapshot.
#[derive(Debug, Error)]
pub enum SmError {
    /// Reading or writing the snapshot file failed.
    #[error("snapshot I/O at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The snapshot bytes are not a snapshot of this format.
    #[error("snapshot is corrupt or of an unknown format: {0}")]
    Corrupt(String),
}

/// What a reader sees: the state as of `last_applied`.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Index of the last applied entry, `None` before the first.
    pub last_applied: Option<u64>,
    /// The domain state.
    pub state: State,
}

/// Cheap, cloneable access to the latest applied state, for the hot read path.
#[derive(Clone)]
pub struct StateReader {
    view: Arc<ArcSwap<View>>,
    applied: watch::Receiver<Option<u64>>,
}

impl StateReader {
    /// The latest view; lock-free, never blocks on apply.
    pub fn load(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// Last applied index.
    pub fn applied_index(&self) -> Option<u64> {
        *self.applied.borrow()
    }

    /// Resolves once this node has applied `index` (so a read here sees that write), or times out.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<u64, Elapsed> {
        let mut rx = self.applied.clone();
        let wait = rx.wait_for(|a| a.is_some_and(|a| a >= index));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(a)) => Ok(a.unwrap_or(index)),
            _ => Err(Elapsed {
                applied: *self.applied.borrow(),
            }),
        }
    }
}

/// The node did not apply the awaited index in time.
#[derive(Debug, Error)]
#[error("not applied in time (applied index {applied:?})")]
pub struct Elapsed {
    /// How far this node got.
    pub applied: Option<u64>,
}

/// What a snapshot holds; serialized with bincode behind a magic and a version byte.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotBody {
    meta: SnapshotMeta<NodeId, NodeAddr>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeAddr>,
    state: State,
}

fn encode(body: &SnapshotBody) -> Result<Vec<u8>, SmError> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    let payload = bincode::serde::encode_to_vec(body, bincode::config::standard())
        .map_err(|e| SmError::Corrupt(e.to_string()))?;
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// How many bytes `state` takes encoded as in a snapshot, counted without building the buffer:
/// the replicated data's size, which the `authd_state_encoded_bytes` gauge reports.
pub fn encoded_state_len(state: &State) -> Result<u64, SmError> {
    /// A writer that only counts.
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len() as u64);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    bincode::serde::encode_into_std_write(state, &mut n, bincode::config::standard())
        .map_err(|e| SmError::Corrupt(e.to_string()))?;
    Ok(n.0)
}

fn decode(bytes: &[u8]) -> Result<SnapshotBody, SmError> {
    let bad = |m: &str| SmError::Corrupt(m.to_owned());
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("bad magic"))?;
    let (version, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    if *version != FORMAT_VERSION {
        return Err(SmError::Corrupt(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let (crc, payload) = rest.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| bad("truncated"))?);
    if crc32fast::hash(payload) != crc {
        return Err(bad("checksum mismatch"));
    }
    let (body, used) = bincode::serde::decode_from_slice(payload, bincode::config::standard())
        .map_err(|e| SmError::Corrupt(e.to_string()))?;
    if used != payload.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(body)
}

/// Write `bytes` to `dir/name` atomically and durably (temp file, fsync, rename, fsync dir).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SmError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let io = |source| SmError::Io {
        path: path.clone(),
        source,
    };
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// Persist `body` unless a snapshot at least as new is already current; returns the bytes that
/// are current afterwards. Holding `current` across the write keeps file and meta in step, so a
/// slow build can never replace a newer installed snapshot.
fn persist_monotonic(
    dir: &Path,
    current: &Mutex<Option<SnapshotMeta<NodeId, NodeAddr>>>,
    body: &SnapshotBody,
) -> Result<Option<Vec<u8>>, SmError> {
    let mut cur = current
        .lock()
        .map_err(|_| SmError::Corrupt("snapshot lock poisoned".into()))?;
    if let Some(c) = cur.as_ref()
        && c.last_log_id > body.meta.last_log_id
    {
        return Ok(None);
    }
    let bytes = encode(body)?;
    write_atomic(dir, SNAPSHOT_FILE, &bytes)?;
    *cur = Some(body.meta.clone());
    Ok(Some(bytes))
}

fn sto_err(e: SmError) -> StorageError<NodeId> {
    StorageIOError::write_snapshot(None, &std::io::Error::other(e.to_string())).into()
}

/// The state machine openraft drives; see the module docs.
pub struct StateMachineStore {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeAddr>,
    state: State,
    dir: PathBuf,
    current: Arc<Mutex<Option<SnapshotMeta<NodeId, NodeAddr>>>>,
    view: Arc<ArcSwap<View>>,
    applied_tx: watch::Sender<Option<u64>>,
    snapshot_seq: u64,
}

impl StateMachineStore {
    /// Open the state machine, loading `dir/snapshot.bin` if present; a corrupt one is an error.
    pub fn open(dir: &Path) -> Result<StateMachineStore, SmError> {
        fs::create_dir_all(dir).map_err(|source| SmError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(SNAPSHOT_FILE);
        let body = match fs::read(&path) {
            Ok(bytes) => Some(decode(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(SmError::Io { path, source }),
        };
        let (applied_tx, _) = watch::channel(None);
        let mut sm = StateMachineStore {
            last_applied: None,
            membership: StoredMembership::default(),
            state: State::default(),
            dir: dir.to_owned(),
            current: Arc::new(Mutex::new(None)),
            view: Arc::new(ArcSwap::from_pointee(View::default())),
            applied_tx,
            snapshot_seq: 0,
        };
        if let Some(body) = body {
            tracing::info!(last_applied = ?body.last_applied, "loaded state machine snapshot");
            sm.install_body(body);
        }
        Ok(sm)
    }

    /// A reader handle for the hot path; stays valid across snapshot installs.
    pub fn reader(&self) -> StateReader {
        StateReader {
            view: self.view.clone(),
            applied: self.applied_tx.subscribe(),
        }
    }

    fn install_body(&mut self, body: SnapshotBody) {
        self.last_applied = body.last_applied;
        self.membership = body.membership;
        self.state = body.state;
        if let Ok(mut cur) = self.current.lock()
            && cur
                .as_ref()
                .is_none_or(|c| c.last_log_id <= body.meta.last_log_id)
        {
            *cur = Some(body.meta);
        }
        self.publish();
    }

    fn publish(&self) {
        let idx = self.last_applied.map(|l| l.index);
        self.view.store(Arc::new(View {
            last_applied: idx,
            state: self.state.clone(),
        }));
        self.applied_tx.send_replace(idx);
        // The live data held, so memory can be judged against it (the soak benchmark).
        metrics::gauge!("authd_state_sessions").set(self.state.session_count() as f64);
        metrics::gauge!("authd_state_tokens").set(self.state.token_count() as f64);
        metrics::gauge!("authd_state_audit_entries").set(self.state.audit().len() as f64);
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeAddr>), StorageError<NodeId>>
    {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchReply>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let start = Instant::now();
        let mut replies = Vec::new();
        let mut commands = 0u64;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            replies.push(match entry.payload {
                EntryPayload::Blank => BatchReply::default(),
                EntryPayload::Normal(batch) => {
                    commands += batch.0.len() as u64;
                    BatchReply(batch.0.iter().map(|c| self.state.apply(c)).collect())
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    BatchReply::default()
                }
            });
        }
        self.publish();
        metrics::histogram!("authd_apply_seconds").record(start.elapsed().as_secs_f64());
        metrics::counter!("authd_applied_commands_total").increment(commands);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.snapshot_seq += 1;
        SnapshotBuilder {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            state: self.state.clone(),
            dir: self.dir.clone(),
            current: self.current.clone(),
            seq: self.snapshot_seq,
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeAddr>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let mut body = decode(&bytes).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                &std::io::Error::other(e.to_string()),
            ))
        })?;
        body.meta = meta.clone();
        let dir = self.dir.clone();
        let current = self.current.clone();
        let body = tokio::task::spawn_blocking(move || {
            persist_monotonic(&dir, &current, &body).map(|_| body)
        })
        .await
        .map_err(|e| sto_err(SmError::Corrupt(e.to_string())))?
        .map_err(sto_err)?;
        tracing::info!(snapshot = %meta.snapshot_id, last_log = ?meta.last_log_id, "installed snapshot from leader");
        metrics::counter!("authd_snapshots_installed_total").increment(1);
        self.install_body(body);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let meta = self.current.lock().ok().and_then(|m| m.clone());
        let Some(meta) = meta else { return Ok(None) };
        let path = self.dir.join(SNAPSHOT_FILE);
        let bytes = tokio::task::spawn_blocking(move || fs::read(path))
            .await
            .map_err(|e| sto_err(SmError::Corrupt(e.to_string())))?
            .map_err(|e| {
                StorageError::from(StorageIOError::read_snapshot(Some(meta.signature()), &e))
            })?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

/// Serializes an O(1) clone of the state taken when the snapshot was requested.
pub struct SnapshotBuilder {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeAddr>,
    state: State,
    dir: PathBuf,
    current: Arc<Mutex<Option<SnapshotMeta<NodeId, NodeAddr>>>>,
    seq: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let start = Instant::now();
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, self.seq),
            None => format!("none-{}", self.seq),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let body = SnapshotBody {
            meta: meta.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            state: self.state.clone(),
        };
        let dir = self.dir.clone();
        let current = self.current.clone();
        let written = tokio::task::spawn_blocking(move || persist_monotonic(&dir, &current, &body))
            .await
            .map_err(|e| sto_err(SmError::Corrupt(e.to_string())))?
            .map_err(sto_err)?;
        let Some(bytes) = written else {
            // A newer snapshot (installed from the leader) superseded this one; hand out that one.
            tracing::info!(snapshot = %meta.snapshot_id, "snapshot superseded before it was written");
            let path = self.dir.join(SNAPSHOT_FILE);
            let cur = self
                .current
                .lock()
                .ok()
                .and_then(|m| m.clone())
                .unwrap_or(meta);
            let bytes = fs::read(&path).map_err(|e| {
                StorageError::from(StorageIOError::read_snapshot(Some(cur.signature()), &e))
            })?;
            return Ok(Snapshot {
                meta: cur,
                snapshot: Box::new(Cursor::new(bytes)),
            });
        };
        metrics::histogram!("authd_snapshot_build_seconds").record(start.elapsed().as_secs_f64());
        metrics::gauge!("authd_snapshot_bytes").set(bytes.len() as f64);
        tracing::info!(snapshot = %meta.snapshot_id, bytes = bytes.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

#[cfg(test)]
#[path = "sm_store_tests.rs"]
mod tests;
