//! Authenticated frames on an established connection.
//!
//! Frame: `[u32 BE payload length][payload][32-byte tag]`, where
//! `tag = HMAC(session key, direction ‖ seq u64 BE ‖ length u32 BE ‖ payload)`. Each direction
//! counts its own `seq` from 0, so a frame cannot be replayed, reordered, reflected back to its
//! sender, or spliced into another connection (which has another key).

use std::io;

use hmac::Mac;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::auth::{HmacSha256, SessionKey, TAG_LEN};

/// Largest accepted payload; bigger length prefixes are refused before allocating.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Direction byte of client → server frames.
pub(crate) const DIR_CLIENT: u8 = b'C';
/// Direction byte of server → client frames.
pub(crate) const DIR_SERVER: u8 = b'S';

/// Which end of the connection we are; decides the direction bytes we send and expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Dialed the connection.
    Client,
    /// Accepted the connection.
    Server,
}

/// Why a frame could not be sent or received.
#[derive(Debug, Error)]
pub(crate) enum FrameError {
    /// The peer closed the connection cleanly between frames.
    #[error("connection closed")]
    Closed,
    /// The stream failed (including EOF in the middle of a frame).
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The length prefix exceeds [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    Oversized(u64),
    /// The tag did not verify: tampered, replayed, reordered or foreign frame.
    #[error("frame authentication failed")]
    BadMac,
}

impl FrameError {
    /// Label for logs and the refusal metric.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Io(_) => "io",
            Self::Oversized(_) => "oversized",
            Self::BadMac => "bad_mac",
        }
    }
}

fn tag(key: &SessionKey, dir: u8, seq: u64, payload: &[u8]) -> Result<HmacSha256, FrameError> {
    let len =
        u32::try_from(payload.len()).map_err(|_| FrameError::Oversized(payload.len() as u64))?;
    let mut mac = key.0.clone();
    mac.update(&[dir]);
    mac.update(&seq.to_be_bytes());
    mac.update(&len.to_be_bytes());
    mac.update(payload);
    Ok(mac)
}

/// Builds the bytes of one frame; exposed to the crate so tests can forge and replay frames.
pub(crate) fn seal(
    key: &SessionKey,
    dir: u8,
    seq: u64,
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::Oversized(payload.len() as u64));
    }
    let len =
        u32::try_from(payload.len()).map_err(|_| FrameError::Oversized(payload.len() as u64))?;
    let code = tag(key, dir, seq, payload)?.finalize().into_bytes();
    let mut out = Vec::with_capacity(4 + payload.len() + TAG_LEN);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&code);
    Ok(out)
}

/// A stream after a successful handshake: sends and receives authenticated frames in order.
pub(crate) struct Framed<S> {
    stream: S,
    key: SessionKey,
    send_dir: u8,
    recv_dir: u8,
    send_seq: u64,
    recv_seq: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    /// Wraps a handshaken stream; both sequence counters start at 0.
    pub(crate) fn new(stream: S, key: SessionKey, role: Role) -> Self {
        let (send_dir, recv_dir) = match role {
            Role::Client => (DIR_CLIENT, DIR_SERVER),
            Role::Server => (DIR_SERVER, DIR_CLIENT),
        };
        Self {
            stream,
            key,
            send_dir,
            recv_dir,
            send_seq: 0,
            recv_seq: 0,
        }
    }

    /// The underlying stream (the client pool probes it for a peer hang-up).
    pub(crate) fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Sends one frame with a single write (the socket has `TCP_NODELAY`).
    pub(crate) async fn send(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        let frame = seal(&self.key, self.send_dir, self.send_seq, payload)?;
        self.send_seq = next(self.send_seq)?;
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Receives and authenticates one frame; any error leaves the connection unusable.
    pub(crate) async fn recv(&mut self) -> Result<Vec<u8>, FrameError> {
        let mut len = [0u8; 4];
        // A clean close is only one that happens before the first byte of a frame.
        let first = self.stream.read(&mut len).await?;
        if first == 0 {
            return Err(FrameError::Closed);
        }
        if let Some(rest) = len.get_mut(first..) {
            self.stream.read_exact(rest).await?;
        }
        let len = u32::from_be_bytes(len);
        let size = usize::try_from(len).map_err(|_| FrameError::Oversized(u64::from(len)))?;
        if size > MAX_FRAME {
            return Err(FrameError::Oversized(u64::from(len)));
        }
        let mut payload = vec![0u8; size];
        self.stream.read_exact(&mut payload).await?;
        let mut code = [0u8; TAG_LEN];
        self.stream.read_exact(&mut code).await?;
        tag(&self.key, self.recv_dir, self.recv_seq, &payload)?
            .verify_slice(&code)
            .map_err(|_| FrameError::BadMac)?;
        self.recv_seq = next(self.recv_seq)?;
        Ok(payload)
    }
}

fn next(seq: u64) -> Result<u64, FrameError> {
    seq.checked_add(1)
        .ok_or_else(|| FrameError::Io(io::Error::other("frame sequence number exhausted")))
}
