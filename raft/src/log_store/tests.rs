//! Tests of the WAL log store: openraft's storage suite plus crash/reopen/compaction cases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::ops::Bound;
use std::path::Path;

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, StorageError, StorageIOError, Vote};
use tempfile::TempDir;

use super::*;
use crate::command::{Batch, Command};
use crate::sm_store::StateMachineStore;

/// Builds a fresh log store and state machine in their own temp dir for each suite case.
struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<NodeId>> {
        let io = |e: String| StorageError::from(StorageIOError::write(&io::Error::other(e)));
        let dir = TempDir::new().map_err(|e| io(e.to_string()))?;
        let log = LogStore::open(&dir.path().join("log")).map_err(|e| io(e.to_string()))?;
        let sm = StateMachineStore::open(&dir.path().join("sm")).map_err(|e| io(e.to_string()))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn log_store_openraft_suite() {
    Suite::test_all(Builder).unwrap();
}

fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entry(index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(Batch(vec![Command::Expire { now_ms: index }])),
    }
}

fn wal_path(dir: &Path) -> std::path::PathBuf {
    dir.join(WAL_FILE)
}

/// Appends `range` one entry per record (so each is its own WAL record).
async fn append_each(store: &mut LogStore, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        store.blocking_append([entry(i)]).await.unwrap();
    }
}

async fn indexes(store: &mut LogStore) -> Vec<u64> {
    store
        .try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

#[tokio::test]
async fn log_store_reopen_preserves_everything() {
    let dir = TempDir::new().unwrap();
    {
        let mut s = LogStore::open(dir.path()).unwrap();
        append_each(&mut s, 1..=10).await;
        s.save_vote(&Vote::new(3, 2)).await.unwrap();
        s.save_committed(Some(log_id(1, 6))).await.unwrap();
        s.purge(log_id(1, 3)).await.unwrap();
        s.truncate(log_id(1, 9)).await.unwrap();
        assert_eq!(s.committed_index().get(), Some(6));
    }
    let mut s = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut s).await, vec![4, 5, 6, 7, 8]);
    assert_eq!(s.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    assert_eq!(s.read_committed().await.unwrap(), Some(log_id(1, 6)));
    assert_eq!(s.committed_index().get(), Some(6));
    let st = s.get_log_state().await.unwrap();
    assert_eq!(st.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(st.last_log_id, Some(log_id(1, 8)));
    let got = s.try_get_log_entries(5..=5).await.unwrap();
    assert_eq!(got, vec![entry(5)]);
}

#[tokio::test]
async fn log_store_fresh_store_is_empty() {
    let dir = TempDir::new().unwrap();
    let mut s = LogStore::open(&dir.path().join("nested/dir")).unwrap();
    assert_eq!(s.read_vote().await.unwrap(), None);
    assert_eq!(s.read_committed().await.unwrap(), None);
    assert_eq!(s.committed_index().get(), None);
    let st = s.get_log_state().await.unwrap();
    assert_eq!((st.last_purged_log_id, st.last_log_id), (None, None));
}

/// Writes 5 records, cuts or corrupts the last, reopens.
async fn damage_last_record(damage: impl FnOnce(&Path, u64, u64)) {
    let dir = TempDir::new().unwrap();
    let len_after_4;
    {
        let mut s = LogStore::open(dir.path()).unwrap();
        append_each(&mut s, 1..=4).await;
        len_after_4 = std::fs::metadata(wal_path(dir.path())).unwrap().len();
        append_each(&mut s, 5..=5).await;
    }
    let full = std::fs::metadata(wal_path(dir.path())).unwrap().len();
    damage(&wal_path(dir.path()), len_after_4, full);
    {
        let mut s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&mut s).await, vec![1, 2, 3, 4]);
        assert_eq!(
            std::fs::metadata(wal_path(dir.path())).unwrap().len(),
            len_after_4
        );
        // Appending after the truncated tail works and survives another reopen.
        append_each(&mut s, 5..=6).await;
    }
    let mut s = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut s).await, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn log_store_torn_tail_is_truncated() {
    damage_last_record(|p, start, full| {
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(start + (full - start) / 2).unwrap();
    })
    .await;
    // Cut inside the frame header too.
    damage_last_record(|p, start, _| {
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(start + 3).unwrap();
    })
    .await;
}

#[tokio::test]
async fn log_store_flipped_byte_in_last_record_is_truncated() {
    damage_last_record(|p, _, full| {
        let mut bytes = std::fs::read(p).unwrap();
        bytes[full as usize - 1] ^= 0x40;
        std::fs::write(p, bytes).unwrap();
    })
    .await;
    // A corrupted length (runs past the end of the file).
    damage_last_record(|p, start, _| {
        let mut bytes = std::fs::read(p).unwrap();
        bytes[start as usize + 2] = 0xff;
        std::fs::write(p, bytes).unwrap();
    })
    .await;
    // Garbage that passes the crc but does not decode.
    damage_last_record(|p, start, full| {
        let mut bytes = std::fs::read(p).unwrap();
        bytes.truncate(start as usize);
        let payload = vec![0xffu8; (full - start) as usize - wal::FRAME_LEN];
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        std::fs::write(p, bytes).unwrap();
    })
    .await;
}

#[tokio::test]
async fn log_store_compaction_keeps_exactly_the_live_entries() {
    let dir = TempDir::new().unwrap();
    let opts = LogStoreOptions {
        compact_min_bytes: 1,
    };
    let before;
    {
        let mut s = LogStore::open_with(dir.path(), opts).unwrap();
        append_each(&mut s, 1..=100).await;
        s.save_vote(&Vote::new(7, 3)).await.unwrap();
        s.save_committed(Some(log_id(1, 95))).await.unwrap();
        before = std::fs::metadata(wal_path(dir.path())).unwrap().len();
        s.purge(log_id(1, 89)).await.unwrap();
        // Readers see the purge at once, whatever the writer is doing.
        assert_eq!(indexes(&mut s).await, (90..=100).collect::<Vec<_>>());
    } // Dropping joins the writer thread, so the compaction has finished.
    let after = std::fs::metadata(wal_path(dir.path())).unwrap().len();
    assert!(
        after * 4 < before,
        "file not compacted: {before} -> {after} bytes"
    );
    assert!(!wal::tmp_path(&wal_path(dir.path())).exists());
    {
        let mut s = LogStore::open_with(dir.path(), opts).unwrap();
        assert_eq!(indexes(&mut s).await, (90..=100).collect::<Vec<_>>());
        assert_eq!(s.read_vote().await.unwrap(), Some(Vote::new(7, 3)));
        assert_eq!(s.read_committed().await.unwrap(), Some(log_id(1, 95)));
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(log_id(1, 89)));
        assert_eq!(st.last_log_id, Some(log_id(1, 100)));
        // The rewritten file keeps taking appends.
        append_each(&mut s, 101..=102).await;
        s.truncate(log_id(1, 102)).await.unwrap();
    }
    let mut s = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut s).await, (90..=101).collect::<Vec<_>>());
}

#[tokio::test]
async fn log_store_purge_everything_then_compact() {
    let dir = TempDir::new().unwrap();
    let opts = LogStoreOptions {
        compact_min_bytes: 1,
    };
    {
        let mut s = LogStore::open_with(dir.path(), opts).unwrap();
        append_each(&mut s, 1..=20).await;
        s.purge(log_id(1, 25)).await.unwrap();
    }
    let mut s = LogStore::open(dir.path()).unwrap();
    assert!(indexes(&mut s).await.is_empty());
    let st = s.get_log_state().await.unwrap();
    assert_eq!(st.last_purged_log_id, Some(log_id(1, 25)));
    assert_eq!(st.last_log_id, Some(log_id(1, 25)));
}

#[test]
fn log_store_refuses_unknown_version_and_foreign_files() {
    let dir = TempDir::new().unwrap();
    drop(LogStore::open(dir.path()).unwrap());
    let p = wal_path(dir.path());
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[8] = wal::FORMAT_VERSION + 1;
    std::fs::write(&p, &bytes).unwrap();
    match LogStore::open(dir.path()) {
        Err(LogStoreError::UnsupportedVersion {
            found, supported, ..
        }) => {
            assert_eq!(
                (found, supported),
                (wal::FORMAT_VERSION + 1, wal::FORMAT_VERSION)
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a WAL of an unknown version"),
    }
    std::fs::write(&p, b"not a wal at all").unwrap();
    assert!(matches!(
        LogStore::open(dir.path()),
        Err(LogStoreError::BadHeader { .. })
    ));
    std::fs::write(&p, b"AUTH").unwrap();
    assert!(matches!(
        LogStore::open(dir.path()),
        Err(LogStoreError::BadHeader { .. })
    ));
}

#[test]
fn log_store_second_open_is_locked() {
    let dir = TempDir::new().unwrap();
    let first = LogStore::open(dir.path()).unwrap();
    assert!(matches!(
        LogStore::open(dir.path()),
        Err(LogStoreError::Locked { .. })
    ));
    drop(first);
    LogStore::open(dir.path()).unwrap();
}

#[tokio::test]
async fn log_store_odd_ranges_do_not_panic() {
    let dir = TempDir::new().unwrap();
    let mut s = LogStore::open(dir.path()).unwrap();
    append_each(&mut s, 1..=5).await;
    let mut r = s.get_log_reader().await;
    #[allow(clippy::reversed_empty_ranges)]
    let inverted = 4..2;
    assert!(r.try_get_log_entries(inverted).await.unwrap().is_empty());
    assert!(r.try_get_log_entries(3..3).await.unwrap().is_empty());
    let ex = (Bound::Excluded(3), Bound::Excluded(3));
    assert!(r.try_get_log_entries(ex).await.unwrap().is_empty());
    let ex = (Bound::Excluded(u64::MAX), Bound::Unbounded);
    assert!(r.try_get_log_entries(ex).await.unwrap().is_empty());
    assert_eq!(r.try_get_log_entries(..=u64::MAX).await.unwrap().len(), 5);
    assert_eq!(
        r.try_get_log_entries((Bound::Excluded(1), Bound::Included(3)))
            .await
            .unwrap()
            .len(),
        2
    );
    // An empty append completes (in order) and changes nothing.
    s.blocking_append(Vec::new()).await.unwrap();
    assert_eq!(indexes(&mut s).await, vec![1, 2, 3, 4, 5]);
}

#[test]
fn log_store_record_roundtrip_is_bit_exact() {
    // Borrowed (write path) and owned (decode path) records encode identically.
    let entries = vec![entry(1), entry(2)];
    let a = wal::record_bytes(&WalRecord::Append(Cow::Borrowed(&entries))).unwrap();
    let b = wal::record_bytes(&WalRecord::Append(Cow::Owned(entries))).unwrap();
    assert_eq!(a, b);
    let len = u32::from_le_bytes(a[..4].try_into().unwrap()) as usize;
    assert_eq!(len + wal::FRAME_LEN, a.len());
    assert_eq!(
        u32::from_le_bytes(a[4..8].try_into().unwrap()),
        crc32fast::hash(&a[8..])
    );
}
