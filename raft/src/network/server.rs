//! The internal listener: authenticates peers and hands their requests to an [`RpcHandler`].

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{debug, error, warn};

use super::auth::{ClusterSecret, HANDSHAKE_TIMEOUT, server_handshake};
use super::frame::{FrameError, Framed, MAX_FRAME, Role};
use super::message::{Rpc, RpcReply, decode, encode};

/// A connection with no request for this long is closed (clients retire idle ones sooner).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the node does with an authenticated request; one call per request, in order per connection.
pub trait RpcHandler: Send + Sync + 'static {
    /// Serves one request; failures are expressed in the reply, never by dropping the connection.
    fn handle(&self, rpc: Rpc) -> impl Future<Output = RpcReply> + Send;
}

/// Accepts peers on `listener` until the task is dropped or aborted (which also ends every connection).
pub async fn serve<H: RpcHandler>(listener: TcpListener, secret: ClusterSecret, handler: Arc<H>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        debug!(%peer, error = %e, "could not set TCP_NODELAY");
                    }
                    conns.spawn(serve_conn(stream, peer, secret.clone(), Arc::clone(&handler)));
                }
                Err(e) => {
                    warn!(error = %e, "raft transport accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    error!(error = %e, "raft transport connection task panicked");
                }
            }
        }
    }
}

/// Logs one refusal line and counts it; the caller then drops the connection.
fn refuse(peer: SocketAddr, reason: &'static str, detail: impl Display) {
    warn!(%peer, reason, detail = %detail, "raft transport refused connection");
    metrics::counter!("authd_transport_refused_total", "reason" => reason).increment(1);
}

/// Serves one connection: handshake, then request/reply frames one at a time until it closes.
pub(crate) async fn serve_conn<S, H>(
    mut stream: S,
    peer: SocketAddr,
    secret: ClusterSecret,
    handler: Arc<H>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    H: RpcHandler,
{
    let key = match timeout(HANDSHAKE_TIMEOUT, server_handshake(&mut stream, &secret)).await {
        Err(_) => {
            return refuse(
                peer,
                "handshake_timeout",
                "no handshake within the deadline",
            );
        }
        Ok(Err(e)) => return refuse(peer, e.reason(), e),
        Ok(Ok(key)) => key,
    };
    debug!(%peer, "raft transport peer authenticated");
    let mut framed = Framed::new(stream, key, Role::Server);
    loop {
        let payload = match timeout(IDLE_TIMEOUT, framed.recv()).await {
            Err(_) => return debug!(%peer, "raft transport connection idle, closing"),
            Ok(Err(FrameError::Closed)) => return debug!(%peer, "raft transport peer closed"),
            Ok(Err(FrameError::Io(e))) => {
                return debug!(%peer, error = %e, "raft transport read failed");
            }
            Ok(Err(e)) => return refuse(peer, e.reason(), e),
            Ok(Ok(payload)) => payload,
        };
        let rpc: Rpc = match decode(&payload) {
            Err(e) => return refuse(peer, "undecodable", e),
            Ok(rpc) => rpc,
        };
        let kind = rpc.kind();
        let reply = handler.handle(rpc).await;
        let bytes = match encode(&reply) {
            Ok(bytes) if bytes.len() <= MAX_FRAME => Ok(bytes),
            Ok(bytes) => Err(format!(
                "{kind} reply of {} bytes exceeds the frame limit",
                bytes.len()
            )),
            Err(e) => Err(format!("cannot encode {kind} reply: {e}")),
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(msg) => {
                error!(%peer, "{msg}");
                match encode(&RpcReply::Error(msg)) {
                    Ok(bytes) => bytes,
                    Err(_) => return,
                }
            }
        };
        if let Err(e) = framed.send(&bytes).await {
            return debug!(%peer, error = %e, "raft transport write failed");
        }
    }
}
