//! The on-disk format of the write-ahead log and its replay.
//!
//! File layout: `HEADER` (`b"AUTHDWAL"` + one format-version byte), then records
//! `[u32 len LE][u32 crc32(payload) LE][payload]`, where payload is bincode 2
//! (`config::standard()`, serde) of a [`WalRecord`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use openraft::{Entry, LogId, Vote};
use serde::{Deserialize, Serialize};

use super::LogStoreError;
use crate::types::{NodeId, TypeConfig};

/// File magic, so a stray file is never replayed as a log.
pub(crate) const MAGIC: &[u8; 8] = b"AUTHDWAL";
/// Bump on any incompatible change of [`WalRecord`] or the framing.
pub(crate) const FORMAT_VERSION: u8 = 4;
/// Magic plus version byte.
pub(crate) const HEADER_LEN: u64 = 9;
/// `[u32 len][u32 crc]` before every payload.
pub(crate) const FRAME_LEN: usize = 8;
/// Decoding never allocates more than this for one record, even if a payload is garbage.
const DECODE_LIMIT: usize = 1 << 30;

/// One logical operation in the log; replaying them in order rebuilds the store.
///
/// `Append` borrows on the write path (no clone of the entries) and owns after decoding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WalRecord<'a> {
    /// Entries appended (indexes consecutive, after any needed truncate).
    Append(Cow<'a, [Entry<TypeConfig>]>),
    /// The vote, durable before `save_vote` returns.
    Vote(Vote<NodeId>),
    /// The last committed log id (persisted lazily, see `LogStore::save_committed`).
    Committed(Option<LogId<NodeId>>),
    /// Every entry with index >= this was removed.
    Truncate(u64),
    /// Every entry up to and including this log id was removed.
    Purge(LogId<NodeId>),
}

/// Everything the log knows, in memory; rebuilt from the file on open.
#[derive(Debug, Default)]
pub(crate) struct MemState {
    /// Present entries by index.
    pub(crate) log: BTreeMap<u64, Entry<TypeConfig>>,
    /// Last saved vote.
    pub(crate) vote: Option<Vote<NodeId>>,
    /// Last saved committed log id.
    pub(crate) committed: Option<LogId<NodeId>>,
    /// Last purged log id.
    pub(crate) last_purged: Option<LogId<NodeId>>,
}

impl MemState {
    /// Applies one record, exactly as the live store applies the operation.
    pub(crate) fn apply(&mut self, rec: WalRecord<'_>) {
        match rec {
            WalRecord::Append(entries) => {
                for e in entries.into_owned() {
                    self.log.insert(e.log_id.index, e);
                }
            }
            WalRecord::Vote(v) => self.vote = Some(v),
            WalRecord::Committed(c) => self.committed = c,
            WalRecord::Truncate(since) => {
                drop(self.log.split_off(&since));
            }
            WalRecord::Purge(upto) => {
                drop(self.purge(upto));
            }
        }
    }

    /// Removes entries up to `upto` (inclusive) and returns them, so the caller can drop them
    /// outside a lock.
    pub(crate) fn purge(&mut self, upto: LogId<NodeId>) -> BTreeMap<u64, Entry<TypeConfig>> {
        let kept = match upto.index.checked_add(1) {
            Some(next) => self.log.split_off(&next),
            None => BTreeMap::new(),
        };
        if self
            .last_purged
            .as_ref()
            .is_none_or(|p| p.index < upto.index)
        {
            self.last_purged = Some(upto);
        }
        std::mem::replace(&mut self.log, kept)
    }
}

/// Appends one framed record (`[len][crc][payload]`) to `buf`.
pub(crate) fn encode_record(rec: &WalRecord<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_LEN]);
    bincode::serde::encode_into_std_write(rec, buf, bincode::config::standard())
        .map_err(io::Error::other)?;
    let payload = buf.get(start + FRAME_LEN..).unwrap_or_default();
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::other(format!("WAL record too large: {} bytes", payload.len())))?;
    let crc = crc32fast::hash(payload);
    // Little-endian u64 with `len` in the low half is exactly `[len LE][crc LE]`.
    let frame = ((u64::from(crc) << 32) | u64::from(len)).to_le_bytes();
    if let Some(slot) = buf.get_mut(start..start + FRAME_LEN) {
        slot.copy_from_slice(&frame);
    }
    Ok(())
}

/// Encodes one record into a fresh framed buffer.
pub(crate) fn record_bytes(rec: &WalRecord<'_>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    encode_record(rec, &mut buf)?;
    Ok(buf)
}

/// The file header.
pub(crate) fn header() -> [u8; HEADER_LEN as usize] {
    let [m0, m1, m2, m3, m4, m5, m6, m7] = *MAGIC;
    [m0, m1, m2, m3, m4, m5, m6, m7, FORMAT_VERSION]
}

/// An opened, replayed log file, positioned at its end, ready for appending.
pub(crate) struct Replayed {
    /// Write handle, positioned at the end of the last good record.
    pub(crate) file: File,
    /// The rebuilt state.
    pub(crate) state: MemState,
    /// Current file length (after any tail truncation).
    pub(crate) len: u64,
    /// Entries written to the file (live or not), to judge when compaction pays off.
    pub(crate) entries_in_file: u64,
}

/// Fsyncs a directory, so a create or rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `contents` to `tmp`, fsyncs it, renames it to `dst` and fsyncs the directory.
/// Returns the handle (now naming `dst`), positioned at its end.
pub(crate) fn write_atomically(
    dir: &Path,
    tmp: &Path,
    dst: &Path,
    contents: &[u8],
) -> io::Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(tmp, dst)?;
    sync_dir(dir)?;
    Ok(f)
}

/// Opens (creating if absent) and replays the log at `path`.
pub(crate) fn open_and_replay(
    dir: &Path,
    path: &Path,
    tmp: &Path,
) -> Result<Replayed, LogStoreError> {
    let io_err = |source: io::Error| LogStoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    // A leftover from an interrupted compaction (or creation) was never renamed into place.
    match std::fs::remove_file(tmp) {
        Ok(()) => tracing::warn!(path = %tmp.display(), "removed leftover temporary WAL file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(LogStoreError::Io {
                path: tmp.to_path_buf(),
                source: e,
            });
        }
    }
    if !path.exists() {
        let file = write_atomically(dir, tmp, path, &header()).map_err(io_err)?;
        return Ok(Replayed {
            file,
            state: MemState::default(),
            len: HEADER_LEN,
            entries_in_file: 0,
        });
    }

    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    check_header(&mut file, path)?;

    let mut reader = BufReader::with_capacity(1 << 20, &mut file);
    let mut state = MemState::default();
    let mut good_end = HEADER_LEN;
    let mut entries_in_file = 0u64;
    let mut bad: Option<String> = None;
    let mut frame = [0u8; FRAME_LEN];
    let mut payload = Vec::new();
    while good_end < file_len {
        match read_record(&mut reader, &mut frame, &mut payload, file_len - good_end) {
            Ok(rec) => {
                if let WalRecord::Append(es) = &rec {
                    entries_in_file += es.len() as u64;
                }
                state.apply(rec);
                good_end += (FRAME_LEN + payload.len()) as u64;
            }
            Err(ReadError::Io(e)) => return Err(io_err(e)),
            Err(ReadError::Bad(why)) => {
                bad = Some(why);
                break;
            }
        }
    }
    drop(reader);

    if let Some(why) = bad {
        tracing::warn!(
            path = %path.display(),
            offset = good_end,
            dropped_bytes = file_len - good_end,
            reason = %why,
            "WAL has a torn or corrupt tail (expected after a crash mid-write); truncating it"
        );
        file.set_len(good_end).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
    }
    file.seek(SeekFrom::Start(good_end)).map_err(io_err)?;
    Ok(Replayed {
        file,
        state,
        len: good_end,
        entries_in_file,
    })
}

/// Verifies magic and version; a short or foreign header is an error, never replayed.
fn check_header(file: &mut File, path: &Path) -> Result<(), LogStoreError> {
    let mut h = [0u8; HEADER_LEN as usize];
    if let Err(e) = file.read_exact(&mut h) {
        return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
            LogStoreError::BadHeader {
                path: path.to_path_buf(),
            }
        } else {
            LogStoreError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        });
    }
    let [magic @ .., version] = h;
    if &magic != MAGIC {
        return Err(LogStoreError::BadHeader {
            path: path.to_path_buf(),
        });
    }
    if version != FORMAT_VERSION {
        return Err(LogStoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Why a record could not be read.
enum ReadError {
    /// The underlying read failed: the disk, not the content.
    Io(io::Error),
    /// The content is torn or corrupt: replay stops here.
    Bad(String),
}

/// Reads one record; `remaining` bytes are left in the file from the current position.
fn read_record(
    r: &mut impl Read,
    frame: &mut [u8; FRAME_LEN],
    payload: &mut Vec<u8>,
    remaining: u64,
) -> Result<WalRecord<'static>, ReadError> {
    payload.clear();
    if remaining < FRAME_LEN as u64 {
        return Err(ReadError::Bad(format!(
            "short frame header ({remaining} bytes)"
        )));
    }
    r.read_exact(frame).map_err(ReadError::Io)?;
    let [l0, l1, l2, l3, c0, c1, c2, c3] = *frame;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    if u64::from(len) > remaining - FRAME_LEN as u64 {
        return Err(ReadError::Bad(format!(
            "record length {len} runs past the end of the file"
        )));
    }
    payload.resize(len as usize, 0);
    r.read_exact(payload).map_err(ReadError::Io)?;
    if crc32fast::hash(payload) != crc {
        return Err(ReadError::Bad("crc mismatch".into()));
    }
    let cfg = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    match bincode::serde::decode_from_slice::<WalRecord<'static>, _>(payload, cfg) {
        Ok((rec, used)) if used == payload.len() => Ok(rec),
        Ok((_, used)) => Err(ReadError::Bad(format!(
            "record decodes {used} of {len} bytes"
        ))),
        Err(e) => Err(ReadError::Bad(format!("undecodable record: {e}"))),
    }
}

/// The file a compaction writes before renaming it over the log.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".tmp");
    PathBuf::from(p)
}

/// Serializes the whole live state as a fresh file image (header first).
pub(crate) fn snapshot_image(state: &MemState) -> io::Result<Vec<u8>> {
    /// Entries per `Append` record in a rewritten file; bounds the size of one record.
    const CHUNK: usize = 1024;
    let mut buf = header().to_vec();
    if let Some(v) = &state.vote {
        encode_record(&WalRecord::Vote(*v), &mut buf)?;
    }
    if let Some(p) = &state.last_purged {
        encode_record(&WalRecord::Purge(*p), &mut buf)?;
    }
    if state.committed.is_some() {
        encode_record(&WalRecord::Committed(state.committed), &mut buf)?;
    }
    let mut chunk: Vec<Entry<TypeConfig>> = Vec::with_capacity(CHUNK);
    for e in state.log.values() {
        chunk.push(e.clone());
        if chunk.len() == CHUNK {
            encode_record(&WalRecord::Append(Cow::Borrowed(&chunk)), &mut buf)?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        encode_record(&WalRecord::Append(Cow::Borrowed(&chunk)), &mut buf)?;
    }
    Ok(buf)
}
