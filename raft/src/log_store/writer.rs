//! The single WAL writer thread: group commit (one `sync_data` per drained batch) and
//! compaction, both in submission order.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use openraft::storage::LogFlushed;
use tokio::sync::oneshot;

use super::wal::{self, MemState};
use crate::types::TypeConfig;

/// Upper bound on the bytes one batch writes before it syncs and completes its waiters.
const MAX_BATCH_BYTES: usize = 32 << 20;

/// One write submitted to the writer, already framed; the in-memory state is already updated.
pub(crate) enum Op {
    /// Log entries: the callback fires after the batch's fsync.
    Append {
        /// Framed `WalRecord::Append`, empty for an empty append.
        bytes: Vec<u8>,
        /// Number of entries, for metrics.
        entries: u64,
        /// openraft's flush notification.
        cb: LogFlushed<TypeConfig>,
    },
    /// Vote, truncate, purge: the waiter is answered after the batch's fsync.
    Durable {
        /// Framed record.
        bytes: Vec<u8>,
        /// The caller awaiting durability.
        done: oneshot::Sender<io::Result<()>>,
    },
    /// Committed log id: written in order, made durable by the next fsync (no fsync of its own).
    Lazy {
        /// Framed record.
        bytes: Vec<u8>,
    },
}

impl Op {
    /// The framed bytes to write.
    fn bytes(&self) -> &[u8] {
        match self {
            Op::Append { bytes, .. } | Op::Durable { bytes, .. } | Op::Lazy { bytes } => bytes,
        }
    }

    /// Completes the waiter (if any) with `res`.
    fn complete(self, res: Result<(), &str>, kind: io::ErrorKind) {
        let res = res.map_err(|msg| io::Error::new(kind, msg.to_owned()));
        match self {
            Op::Append { cb, entries, .. } => {
                if res.is_ok() {
                    metrics::counter!("authd_wal_appended_entries_total").increment(entries);
                }
                cb.log_io_completed(res);
            }
            Op::Durable { done, .. } => {
                // The caller may have gone away (cancelled); nothing to do then.
                let _ = done.send(res);
            }
            Op::Lazy { .. } => {
                if let Err(e) = res {
                    tracing::error!(error = %e, "WAL write of the committed log id failed");
                }
            }
        }
    }
}

/// The owner side of the writer thread: sends ops, and on drop lets the thread finish and joins it.
pub(crate) struct WriterHandle {
    /// `None` only while dropping.
    tx: Option<Sender<Op>>,
    /// `None` only while dropping.
    join: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Queues an op; fails only if the writer thread is gone.
    pub(crate) fn send(&self, op: Op) -> io::Result<()> {
        let stopped = || io::Error::other("the WAL writer thread has stopped");
        self.tx
            .as_ref()
            .ok_or_else(stopped)?
            .send(op)
            .map_err(|_| stopped())
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(join) = self.join.take()
            && join.join().is_err()
        {
            tracing::error!("the WAL writer thread panicked");
        }
    }
}

/// Everything the writer thread owns.
pub(crate) struct Writer {
    /// Submitted ops, in order.
    pub(crate) rx: Receiver<Op>,
    /// The log file, positioned at its end.
    pub(crate) file: File,
    /// Directory of the log (fsynced after a rename).
    pub(crate) dir: PathBuf,
    /// The log file path.
    pub(crate) path: PathBuf,
    /// Where a compaction writes before renaming.
    pub(crate) tmp: PathBuf,
    /// Current file length.
    pub(crate) len: u64,
    /// Entries written to the file since it was created or rewritten (live or dead).
    pub(crate) entries_in_file: u64,
    /// The shared in-memory state (for compaction).
    pub(crate) state: Arc<RwLock<MemState>>,
    /// Do not compact below this file size.
    pub(crate) compact_at: u64,
    /// The configured minimum size for compaction.
    pub(crate) compact_min_bytes: u64,
    /// Set after a failed write or fsync: the file state is unknown, so every later op fails.
    pub(crate) failed: Option<(io::ErrorKind, String)>,
}

impl Writer {
    /// Starts the thread.
    pub(crate) fn spawn(self, tx: Sender<Op>) -> io::Result<WriterHandle> {
        let join = std::thread::Builder::new()
            .name("authd-wal".into())
            .spawn(move || self.run())?;
        Ok(WriterHandle {
            tx: Some(tx),
            join: Some(join),
        })
    }

    /// The thread body: until every sender is gone, drain, write, sync once, complete.
    fn run(mut self) {
        let mut batch: Vec<Op> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(first) = self.rx.recv() {
            let mut bytes = first.bytes().len();
            batch.push(first);
            while bytes < MAX_BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(op) => {
                        bytes += op.bytes().len();
                        batch.push(op);
                    }
                    Err(_) => break,
                }
            }
            self.process(&mut batch, &mut buf);
            if self.should_compact() {
                self.compact(&mut buf);
            }
        }
        tracing::debug!("WAL writer thread exiting");
    }

    /// Writes a batch, fsyncs once if any op needs durability, then completes every op.
    fn process(&mut self, batch: &mut Vec<Op>, buf: &mut Vec<u8>) {
        if let Some((kind, msg)) = &self.failed {
            for op in batch.drain(..) {
                op.complete(Err(msg), *kind);
            }
            return;
        }
        buf.clear();
        let mut need_sync = false;
        for op in batch.iter() {
            buf.extend_from_slice(op.bytes());
            match op {
                Op::Append { entries, .. } => {
                    need_sync |= *entries > 0;
                    self.entries_in_file += entries;
                }
                Op::Durable { .. } => need_sync = true,
                Op::Lazy { .. } => {}
            }
        }
        metrics::histogram!("authd_wal_batch_records").record(batch.len() as f64);
        let res = self.write_and_sync(buf, need_sync);
        let res = match res {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "WAL write failed; the log refuses all further writes");
                self.failed = Some((e.kind(), format!("WAL write failed: {e}")));
                Err(())
            }
        };
        let (kind, msg) = match &self.failed {
            Some((k, m)) => (*k, m.as_str()),
            None => (io::ErrorKind::Other, ""),
        };
        for op in batch.drain(..) {
            op.complete(res.map_err(|()| msg), kind);
        }
    }

    /// Appends `buf` to the file and, if asked, `sync_data`s it (timed).
    fn write_and_sync(&mut self, buf: &[u8], sync: bool) -> io::Result<()> {
        if !buf.is_empty() {
            self.file.write_all(buf)?;
            self.len += buf.len() as u64;
        }
        if sync {
            let t = Instant::now();
            self.file.sync_data()?;
            metrics::histogram!("authd_wal_fsync_seconds").record(t.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Large and mostly dead (purged or truncated entries)?
    fn should_compact(&self) -> bool {
        if self.failed.is_some() || self.len <= self.compact_at {
            return false;
        }
        let live = self
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .log
            .len() as u64;
        live.saturating_mul(2) < self.entries_in_file
    }

    /// Rewrites the file with only the live state.
    ///
    /// Holding the state read lock blocks every mutation, and each mutation sends its op under
    /// the write lock, so draining the channel under the read lock yields exactly the ops whose
    /// effect the image contains. Their waiters complete once the new file is in place.
    fn compact(&mut self, buf: &mut Vec<u8>) {
        let mut pending: Vec<Op> = Vec::new();
        let (image, live) = {
            let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
            while let Ok(op) = self.rx.try_recv() {
                pending.push(op);
            }
            (wal::snapshot_image(&st), st.log.len() as u64)
        };
        let old_len = self.len;
        let t = Instant::now();
        let staged = image.and_then(|image| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.tmp)?;
            f.write_all(&image)?;
            f.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)?;
            Ok((f, image.len() as u64))
        });
        match staged {
            Ok((file, new_len)) => {
                // The new file is the log now; if the rename is not durable yet we cannot tell
                // which file a crash would leave, so a failure here is fatal like a failed fsync.
                if let Err(e) = wal::sync_dir(&self.dir) {
                    tracing::error!(error = %e, "fsync of the WAL directory after compaction failed");
                    self.failed = Some((
                        e.kind(),
                        format!("WAL compaction: directory fsync failed: {e}"),
                    ));
                }
                self.file = file;
                self.len = new_len;
                self.entries_in_file = live;
                self.compact_at = self.compact_min_bytes;
                tracing::info!(
                    old_bytes = old_len,
                    new_bytes = new_len,
                    live_entries = live,
                    took_ms = t.elapsed().as_millis() as u64,
                    "WAL compacted"
                );
                let (kind, msg) = match &self.failed {
                    Some((k, m)) => (*k, Err(m.as_str())),
                    None => (io::ErrorKind::Other, Ok(())),
                };
                for op in pending {
                    op.complete(msg, kind);
                }
            }
            Err(e) => {
                // The old file is untouched: keep using it, and retry only after more growth.
                tracing::warn!(error = %e, "WAL compaction failed; continuing with the old file");
                let _ = std::fs::remove_file(&self.tmp);
                self.compact_at = self.len.saturating_add(self.compact_min_bytes);
                self.process(&mut pending, buf);
            }
        }
    }
}
