//! Calls to one peer over a small pool of long-lived authenticated connections.

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tracing::debug;

use super::auth::{ClusterSecret, HANDSHAKE_TIMEOUT, HandshakeError, client_handshake};
use super::frame::{FrameError, Framed, MAX_FRAME, Role};
use super::message::{Rpc, RpcReply, decode, encode};
use super::server::IDLE_TIMEOUT;

/// Idle connections kept per peer; extra ones are closed when returned.
const MAX_IDLE: usize = 8;
/// Idle connections older than this are retired before the server's idle timeout can race us.
const MAX_IDLE_AGE: Duration = Duration::from_secs(IDLE_TIMEOUT.as_secs() * 4 / 5);

/// Why a call failed; `Unreachable` tells openraft to back off, the rest retry promptly.
#[derive(Debug, Error)]
pub enum TransportError {
    /// Could not connect (refused, no route, connect timed out), or the peer hung up before
    /// the handshake finished (e.g. a proxy in front of a dead node): nothing was sent.
    #[error("peer unreachable: {0}")]
    Unreachable(#[source] io::Error),
    /// No reply within the call's timeout; the outcome of the request is unknown.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The handshake failed: the peer does not share our cluster secret.
    #[error("handshake refused: {0}")]
    Auth(String),
    /// The connection failed after the handshake; the outcome of the request is unknown.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// A message could not be encoded or decoded (version skew or corruption).
    #[error("codec: {0}")]
    Codec(String),
    /// The request is larger than the frame limit (split it).
    #[error("message of {0} bytes exceeds the {MAX_FRAME}-byte frame limit")]
    TooLarge(usize),
    /// The peer answered with [`RpcReply::Error`].
    #[error("remote error: {0}")]
    Remote(String),
}

impl From<FrameError> for TransportError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Closed => Self::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection",
            )),
            FrameError::Io(e) => Self::Io(e),
            FrameError::Oversized(n) => {
                Self::Codec(format!("reply frame of {n} bytes exceeds the limit"))
            }
            FrameError::BadMac => Self::Codec("reply frame failed authentication".to_owned()),
        }
    }
}

struct Idle {
    conn: Framed<TcpStream>,
    since: Instant,
}

/// Client for one peer address: connections are dialed lazily, reused, and dropped on any error.
pub struct PeerClient {
    addr: String,
    secret: ClusterSecret,
    idle: Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("addr", &self.addr)
            .field("idle", &self.lock().len())
            .finish()
    }
}

impl PeerClient {
    /// A client for `addr` (`host:port` of the peer's internal listener); does not connect yet.
    pub fn new(addr: impl Into<String>, secret: ClusterSecret) -> Self {
        Self {
            addr: addr.into(),
            secret,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The peer's internal address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `rpc` and waits for its reply, all within `timeout` (connect and handshake included).
    pub async fn call(&self, rpc: &Rpc, timeout: Duration) -> Result<RpcReply, TransportError> {
        let request = encode(rpc).map_err(TransportError::Codec)?;
        if request.len() > MAX_FRAME {
            return Err(TransportError::TooLarge(request.len()));
        }
        let deadline = Instant::now() + timeout;
        let mut conn = match self.take_idle() {
            Some(conn) => conn,
            None => self.dial(deadline, timeout).await?,
        };
        let exchange = async {
            conn.send(&request).await?;
            conn.recv().await
        };
        let bytes = match timeout_at(deadline, exchange).await {
            Err(_) => return Err(TransportError::Timeout(timeout)),
            Ok(result) => result?,
        };
        let reply: RpcReply = decode(&bytes).map_err(TransportError::Codec)?;
        self.put_idle(conn);
        match reply {
            RpcReply::Error(msg) => Err(TransportError::Remote(msg)),
            reply => Ok(reply),
        }
    }

    /// Number of idle pooled connections (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Most recently used live connection, discarding stale or hung-up ones.
    fn take_idle(&self) -> Option<Framed<TcpStream>> {
        let mut idle = self.lock();
        while let Some(Idle { conn, since }) = idle.pop() {
            if since.elapsed() < MAX_IDLE_AGE && still_open(conn.get_ref()) {
                return Some(conn);
            }
            debug!(peer = %self.addr, "dropping stale pooled raft connection");
        }
        None
    }

    fn put_idle(&self, conn: Framed<TcpStream>) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    async fn dial(
        &self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Framed<TcpStream>, TransportError> {
        let mut stream = match timeout_at(deadline, TcpStream::connect(self.addr.as_str())).await {
            Err(_) => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                return Err(TransportError::Unreachable(e));
            }
            Ok(Err(e)) => return Err(TransportError::Unreachable(e)),
            Ok(Ok(stream)) => stream,
        };
        stream.set_nodelay(true)?;
        let handshake_deadline = deadline.min(Instant::now() + HANDSHAKE_TIMEOUT);
        let key = match timeout_at(
            handshake_deadline,
            client_handshake(&mut stream, &self.secret),
        )
        .await
        {
            Err(_) => return Err(TransportError::Timeout(timeout)),
            Ok(Err(HandshakeError::BadProof)) => {
                return Err(TransportError::Auth(
                    "peer failed to prove the cluster secret".to_owned(),
                ));
            }
            Ok(Err(HandshakeError::Refused(e))) => {
                return Err(TransportError::Auth(format!(
                    "peer rejected our proof (cluster secret mismatch?): {e}"
                )));
            }
            // Nothing was sent yet: unreachable, so openraft backs off instead of redialing in a
            // hot loop, and a forwarded write may safely go elsewhere.
            Ok(Err(HandshakeError::Io(e))) => return Err(TransportError::Unreachable(e)),
            Ok(Ok(key)) => key,
        };
        debug!(peer = %self.addr, "raft transport connection established");
        Ok(Framed::new(stream, key, Role::Client))
    }
}

/// A pooled connection must have nothing to read; EOF or stray bytes mean it is unusable.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}
