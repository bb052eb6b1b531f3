//! The durable Raft log: an append-only write-ahead log of our own, replayed into memory on open.
//!
//! Reads are served from memory (`BTreeMap` of entries plus vote, committed, last purged). Every
//! mutation updates memory and queues a framed record for one writer thread, which group-commits:
//! it drains the queue, writes it all, calls `sync_data` once, then completes every waiter.
//! See `wal.rs` for the file format and `writer.rs` for the thread.

#![allow(clippy::result_large_err)]

mod wal;
mod writer;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, StorageError, StorageIOError, Vote};
use tokio::sync::oneshot;

use self::wal::{MemState, WalRecord};
use self::writer::{Op, Writer, WriterHandle};
use crate::types::{NodeId, TypeConfig};

/// The log file's name inside the store directory.
pub const WAL_FILE: &str = "raft.wal";
/// Lock file guarding the directory against a second process.
const LOCK_FILE: &str = "raft.wal.lock";

/// Why the log could not be opened; at runtime errors are `StorageError`s instead.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// A filesystem operation failed.
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file does not start with the WAL magic: not ours, never replayed.
    #[error("{path} is not an authd Raft WAL (bad or truncated header)")]
    BadHeader {
        /// The log file.
        path: PathBuf,
    },
    /// Written by a different (newer) format; refuse rather than misread.
    #[error("{path} has WAL format version {found}, this build reads only version {supported}")]
    UnsupportedVersion {
        /// The log file.
        path: PathBuf,
        /// Version byte in the file.
        found: u8,
        /// The version this build writes and reads.
        supported: u8,
    },
    /// Another process (or store instance) has the directory open.
    #[error("{path} is locked by another authd process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The writer thread could not be started.
    #[error("cannot start the WAL writer thread: {0}")]
    Spawn(io::Error),
}

/// Tuning knobs; the defaults suit production.
#[derive(Debug, Clone, Copy)]
pub struct LogStoreOptions {
    /// Compact only once the file is larger than this (and more than half of it is dead).
    pub compact_min_bytes: u64,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        Self {
            compact_min_bytes: 64 << 20,
        }
    }
}

/// Cheap, shareable view of the persisted committed index, for `/readyz`, and of the highest
/// index this node's log has received.
#[derive(Debug, Clone, Default)]
pub struct CommittedHandle(Arc<AtomicU64>, Arc<AtomicU64>);

impl CommittedHandle {
    /// The last committed index saved to the log, `None` before the first commit.
    pub fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Acquire).checked_sub(1)
    }

    /// The highest index this node knows a leader wrote: committed, or received from the
    /// leader and about to be (a follower learns of a commit a moment after the entry).
    /// An index beyond it names no entry this node can expect.
    pub fn highest_known(&self) -> Option<u64> {
        let v = self
            .0
            .load(Ordering::Acquire)
            .max(self.1.load(Ordering::Acquire));
        v.checked_sub(1)
    }

    /// Raise the received mark to `index`.
    fn received(&self, index: u64) {
        self.1.fetch_max(index.saturating_add(1), Ordering::AcqRel);
    }

    /// Stores `index + 1` so that 0 can mean "none".
    fn set(&self, committed: Option<&LogId<NodeId>>) {
        let v = committed.map_or(0, |c| c.index.saturating_add(1));
        self.0.store(v, Ordering::Release);
    }
}

/// The durable Raft log store (one per node); implements openraft's `RaftLogStorage`.
pub struct LogStore {
    /// Shared with readers and the writer thread.
    state: Arc<RwLock<MemState>>,
    /// Committed index for health checks.
    committed: CommittedHandle,
    /// The writer thread; dropping it flushes the queue and joins.
    writer: WriterHandle,
    /// Held for the store's lifetime (released on drop, after the writer is joined).
    _lock: File,
}

/// A cheap clone-able reader of the in-memory log, for openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    /// Shared with the store.
    state: Arc<RwLock<MemState>>,
}

impl LogStore {
    /// Opens (creating `dir` and `dir/raft.wal` if needed) and replays the log.
    pub fn open(dir: &Path) -> Result<LogStore, LogStoreError> {
        Self::open_with(dir, LogStoreOptions::default())
    }

    /// Like [`LogStore::open`], with explicit options (tests use a small compaction threshold).
    pub fn open_with(dir: &Path, opts: LogStoreOptions) -> Result<LogStore, LogStoreError> {
        let io_at = |p: &Path| {
            let p = p.to_path_buf();
            move |source| LogStoreError::Io { path: p, source }
        };
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LogStoreError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => return Err(io_at(&lock_path)(e)),
        }

        let path = dir.join(WAL_FILE);
        let tmp = wal::tmp_path(&path);
        let replayed = wal::open_and_replay(dir, &path, &tmp)?;
        tracing::info!(
            path = %path.display(),
            bytes = replayed.len,
            entries = replayed.state.log.len(),
            last_purged = ?replayed.state.last_purged.map(|l| l.index),
            committed = ?replayed.state.committed.map(|l| l.index),
            "WAL replayed"
        );
        let committed = CommittedHandle::default();
        committed.set(replayed.state.committed.as_ref());
        let state = Arc::new(RwLock::new(replayed.state));
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = Writer {
            rx,
            file: replayed.file,
            dir: dir.to_path_buf(),
            path,
            tmp,
            len: replayed.len,
            entries_in_file: replayed.entries_in_file,
            state: state.clone(),
            compact_at: opts.compact_min_bytes,
            compact_min_bytes: opts.compact_min_bytes,
            failed: None,
        }
        .spawn(tx)
        .map_err(LogStoreError::Spawn)?;
        Ok(LogStore {
            state,
            committed,
            writer,
            _lock: lock,
        })
    }

    /// A handle on the persisted committed index (updated by `save_committed`).
    pub fn committed_index(&self) -> CommittedHandle {
        self.committed.clone()
    }

    /// A reader sharing this store's in-memory log (what `get_log_reader` returns).
    pub fn reader(&self) -> LogReader {
        LogReader {
            state: self.state.clone(),
        }
    }

    /// Exclusive access to the in-memory state (never held across an await).
    fn write_state(&self) -> RwLockWriteGuard<'_, MemState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `mutate` to memory and queues `bytes` in the same critical section, so the
    /// writer's queue order equals the order of the in-memory changes; returns what `mutate`
    /// returned (dropped by the caller outside the lock).
    fn mutate_and_queue<T>(
        &self,
        op: Op,
        mutate: impl FnOnce(&mut MemState) -> T,
    ) -> io::Result<T> {
        let mut st = self.write_state();
        self.writer.send(op)?;
        Ok(mutate(&mut st))
    }

    /// Queues a record that must be durable and waits for the writer's fsync.
    async fn durable<T>(
        &self,
        rec: &WalRecord<'_>,
        mutate: impl FnOnce(&mut MemState) -> T,
    ) -> io::Result<()> {
        let bytes = wal::record_bytes(rec)?;
        let (done, rx) = oneshot::channel();
        let dropped = self.mutate_and_queue(Op::Durable { bytes, done }, mutate)?;
        drop(dropped);
        rx.await
            .map_err(|_| io::Error::other("the WAL writer thread stopped before syncing"))?
    }
}

/// Clones the entries of `range` (any bounds; an empty or inverted range yields nothing).
fn collect_range<RB: RangeBounds<u64>>(
    log: &BTreeMap<u64, Entry<TypeConfig>>,
    range: &RB,
) -> Vec<Entry<TypeConfig>> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => match s.checked_add(1) {
            Some(s) => s,
            None => return Vec::new(),
        },
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1).map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Excluded(&e) => Bound::Excluded(e),
        Bound::Unbounded => Bound::Unbounded,
    };
    if let Bound::Excluded(e) = end
        && e <= start
    {
        return Vec::new();
    }
    log.range((Bound::Included(start), end))
        .map(|(_, e)| e.clone())
        .collect()
}

/// Shared read access for the store and its readers.
fn read_state(state: &RwLock<MemState>) -> RwLockReadGuard<'_, MemState> {
    state.read().unwrap_or_else(PoisonError::into_inner)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(collect_range(&read_state(&self.state).log, &range))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(collect_range(&read_state(&self.state).log, &range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let st = read_state(&self.state);
        let last_log_id = st
            .log
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(st.last_purged);
        Ok(LogState {
            last_purged_log_id: st.last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    /// Durable (fsynced, in order after every earlier write) before it returns.
    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let vote = *vote;
        self.durable(&WalRecord::Vote(vote), |st| st.vote = Some(vote))
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(read_state(&self.state).vote)
    }

    /// Queued in order but **not** fsynced on its own and not awaited: the record becomes
    /// durable with the next append/vote/truncate/purge batch. Losing it in a crash only means
    /// replaying fewer entries on restart (the cluster re-commits the rest), while awaiting an
    /// fsync here would stall RaftCore once per commit. Because the queue is FIFO, any durable
    /// prefix of the file that holds `Committed(x)` also holds every entry up to `x`.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = wal::record_bytes(&WalRecord::Committed(committed))
            .map_err(|e| StorageIOError::write(&e))?;
        self.mutate_and_queue(Op::Lazy { bytes }, |st| st.committed = committed)
            .map_err(|e| StorageIOError::write(&e))?;
        self.committed.set(committed.as_ref());
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(read_state(&self.state).committed)
    }

    /// Entries are readable when this returns; `callback` fires after the batch's fsync.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let n = entries.len() as u64;
        let last = entries.last().map(|e| e.log_id.index);
        // An empty append still goes through the queue: its callback must not overtake earlier ones.
        let bytes = if entries.is_empty() {
            Vec::new()
        } else {
            wal::record_bytes(&WalRecord::Append(Cow::Borrowed(&entries)))
                .map_err(|e| StorageIOError::write_logs(&e))?
        };
        let op = Op::Append {
            bytes,
            entries: n,
            cb: callback,
        };
        self.mutate_and_queue(op, move |st| {
            for e in entries {
                st.log.insert(e.log_id.index, e);
            }
        })
        .map_err(|e| StorageIOError::write_logs(&e))?;
        if let Some(last) = last {
            self.committed.received(last);
        }
        Ok(())
    }

    /// Durable before it returns (rare: only on a log conflict).
    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let since = log_id.index;
        self.durable(&WalRecord::Truncate(since), |st| st.log.split_off(&since))
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    /// Durable before it returns; may trigger a compaction on the writer thread.
    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.durable(&WalRecord::Purge(log_id), |st| st.purge(log_id))
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
