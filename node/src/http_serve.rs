//! The public HTTP listener: HTTP/1.1 connections under a cap, each with deadlines, so no
//! client holds a connection (and a file descriptor) without a bound (slowloris).
//!
//! Per connection, one watchdog enforces the phase it is in:
//! - **header**: from accept, or from the first byte of a later request, the request's header
//!   must be complete within `header_read_timeout`;
//! - **busy**: a request is being handled: bounded by `request_timeout` (408);
//! - **idle**: answered, nothing of a new request yet: closed after `idle_timeout`.
//!
//! hyper's own `header_read_timeout` starts when it waits for a header, so it would close every
//! kept-alive connection after that short deadline (nginx's pooled upstream connections
//! included); the phases above keep the two deadlines apart.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config_http::HttpConfig;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a connection over the cap receives before it is closed: an answer, not a hang.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
Retry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 71\r\n\r\n\
{\"error\": \"unavailable\", \"reason\": \"too many connections to this node\"}";

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, asks every
/// connection to finish its request, and returns once all are closed (each is bounded by its
/// deadlines).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Over the cap: say so if the socket takes it without waiting, and close.
            let _ = stream.try_write(REFUSAL);
            metrics::counter!("authd_http_connections_refused_total").increment(1);
            continue;
        };
        tracing::trace!(%peer, "HTTP connection accepted");
        let conn = Conn {
            app: app.clone(),
            limits: limits.clone(),
            stop: stop_rx.clone(),
        };
        tokio::spawn(async move {
            metrics::gauge!("authd_http_connections").increment(1.0);
            conn.run(stream, peer).await;
            metrics::gauge!("authd_http_connections").decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds one slot until it is closed.
    let _ = slots.acquire_many(limits.max_connections).await;
}

/// Where a connection is in its request cycle; each phase has its own deadline.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's header to complete, since this instant.
    Header(Instant),
    /// This many requests are being handled.
    Busy(usize),
    /// Answered, nothing of a new request yet, since this instant.
    Idle(Instant),
}

/// One connection's phase, shared by its socket, its service and its watchdog.
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    fn lock(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: on an idle connection they start a request, whose header now has a deadline.
    fn on_bytes(&self) {
        let mut p = self.lock();
        if let Phase::Idle(_) = *p {
            *p = Phase::Header(Instant::now());
            self.changed.notify_one();
        }
    }

    /// A request's header is complete and its handling starts.
    fn begin(self: &Arc<Self>) -> BusyGuard {
        let mut p = self.lock();
        *p = match *p {
            Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
            Phase::Header(_) | Phase::Idle(_) => Phase::Busy(1),
        };
        BusyGuard(Arc::clone(self))
    }

    /// The deadline of the current phase and what it bounds (`None` while busy).
    fn deadline(&self, limits: &HttpConfig) -> Option<(Instant, &'static str)> {
        match *self.lock() {
            Phase::Header(since) => Some((since + limits.header_read_timeout(), "header_timeout")),
            Phase::Idle(since) => Some((since + limits.idle_timeout(), "idle_timeout")),
            Phase::Busy(_) => None,
        }
    }

    /// Resolves with the reason once the current phase has outlived its deadline.
    async fn expired(&self, limits: &HttpConfig) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// Ends a request's busy phase however its future ends (answered, timed out, dropped).
struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut p = self.0.lock();
        *p = match *p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.0.changed.notify_one();
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_bytes();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// One accepted connection and what it needs to serve it.
struct Conn {
    app: Router,
    limits: HttpConfig,
    stop: watch::Receiver<bool>,
}

impl Conn {
    /// Serves requests until the client closes, a deadline passes, or shutdown has drained it.
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let activity = Arc::new(Activity {
            phase: Mutex::new(Phase::Header(Instant::now())),
            changed: Notify::new(),
        });
        let io = TokioIo::new(Watched {
            stream,
            activity: Arc::clone(&activity),
        });
        let (app, request_timeout) = (self.app.clone(), self.limits.request_timeout());
        let on_request = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let busy = on_request.begin();
            req.extensions_mut().insert(ConnectInfo(peer));
            let handled = app.clone().oneshot(req.map(Body::new));
            async move {
                let answer = match tokio::time::timeout(request_timeout, handled).await {
                    Ok(Ok(resp)) => resp,
                    Ok(Err(never)) => match never {},
                    Err(_) => timed_out(),
                };
                drop(busy);
                Ok::<_, Infallible>(answer)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The watchdog owns the header deadline (see the module docs).
        builder.timer(TokioTimer::new()).header_read_timeout(None);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                    return;
                }
                why = activity.expired(&self.limits) => {
                    tracing::debug!(%peer, reason = why, "closing HTTP connection");
                    metrics::counter!("authd_http_connections_closed_total", "reason" => why)
                        .increment(1);
                    return;
                }
                _ = self.stop.wait_for(|stop| *stop), if !draining => {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
    }
}

/// The answer to a request that outlived `request_timeout`; the connection closes after it.
fn timed_out() -> Response<Body> {
    let body = r#"{"error": "request_timeout", "reason": "the request took too long"}"#;
    Response::builder()
        .status(StatusCode::REQUEST_TIMEOUT)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONNECTION, "close")
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = String::from_utf8_lossy(REFUSAL);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{text}"
        );
        assert!(
            serde_json::from_str::<serde_json::Value>(body).is_ok(),
            "{body}"
        );
    }
}
