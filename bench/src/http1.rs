//! A minimal keep-alive HTTP/1.1 client for the `/auth` load: pre-formatted request bytes
//! written to a `TcpStream`, answers parsed with `httparse` straight out of the read buffer.
//!
//! It exists because the load generator shares the 2 cores with the servers it measures: a
//! general-purpose client (reqwest/hyper: header maps, pool bookkeeping, a task per connection)
//! costs several times the CPU per request of this one, and every µs it burns is a µs the
//! server under test does not get. It only understands what the servers here send: a status
//! line, headers and a `Content-Length` body (no chunked encoding). Answers may be pipelined.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the load generator needs to know about one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The answer carries an `Authorization` header (the upstream JWT of a 200 from `/auth`).
    pub authorization: bool,
    /// The server said `Connection: close`.
    pub close: bool,
}

/// `GET path` with optional extra header lines (each `Name: value`, no CRLF), keep-alive.
pub fn get(addr: SocketAddr, path: &str, headers: &[String]) -> Bytes {
    request("GET", addr, path, headers, &[])
}

/// Any request; a body gets its `Content-Length`.
pub fn request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Bytes {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    if !body.is_empty() || method != "GET" {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// Parses one answer at the start of `buf`: `Ok(None)` if it is not complete yet, else the
/// answer and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Answer, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("unparsable answer: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut answer = Answer {
        status,
        authorization: false,
        close: false,
    };
    let mut length: Option<usize> = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| "bad Content-Length".to_owned())?;
            length = Some(
                v.trim()
                    .parse()
                    .map_err(|_| format!("bad Content-Length {v:?}"))?,
            );
        } else if h.name.eq_ignore_ascii_case("authorization") {
            answer.authorization = !h.value.is_empty();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked answers are not supported by the load generator".into());
        } else if h.name.eq_ignore_ascii_case("connection") {
            answer.close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    let body = match (length, status) {
        (Some(n), _) => n,
        (None, 100..=199 | 204 | 304) => 0,
        (None, _) => return Err(format!("HTTP {status} without Content-Length")),
    };
    let total = head + body;
    Ok((buf.len() >= total).then_some((answer, total)))
}

/// Reads answers from a stream into a buffer; shared by [`Conn`] and the open-loop readers.
#[derive(Debug)]
pub struct AnswerReader {
    buf: BytesMut,
}

impl Default for AnswerReader {
    fn default() -> Self {
        AnswerReader {
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }
}

impl AnswerReader {
    /// The next answer, reading as much as needed. EOF before a whole answer is an error.
    pub async fn next<R: AsyncReadExt + Unpin>(&mut self, r: &mut R) -> Result<Answer, String> {
        loop {
            if let Some((answer, n)) = parse(&self.buf)? {
                self.buf.advance(n);
                return Ok(answer);
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            let n = r
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }
}

/// One keep-alive connection with at most one request outstanding.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    reader: AnswerReader,
}

/// Connects with `TCP_NODELAY` (requests are single small writes).
pub async fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_nodelay(true)
        .with_context(|| format!("TCP_NODELAY on the connection to {addr}"))?;
    Ok(s)
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn> {
        Ok(Conn {
            addr,
            stream: Some(connect(addr).await?),
            reader: AnswerReader::default(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `req` and reads its answer. After a transport error (or `Connection: close`)
    /// the next call connects again.
    pub async fn roundtrip(&mut self, req: &[u8]) -> Result<Answer, String> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                self.reader = AnswerReader::default();
                self.stream.insert(
                    connect(self.addr)
                        .await
                        .map_err(|e| format!("reconnect: {e:#}"))?,
                )
            }
        };
        let result = match stream.write_all(req).await {
            Ok(()) => self.reader.next(stream).await,
            Err(e) => Err(format!("write: {e}")),
        };
        if result.as_ref().map_or(true, |a| a.close) {
            self.stream = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_partial_and_pipelined_answers() {
        let one = b"HTTP/1.1 200 OK\r\nauthorization: eyJ.x.y\r\ncontent-length: 0\r\n\r\n";
        let two = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}";
        let mut both = one.to_vec();
        both.extend_from_slice(two);
        let first = parse(&both).ok().flatten();
        let (status, auth, n) =
            first.map_or((0, false, 0), |(a, n)| (a.status, a.authorization, n));
        assert_eq!((status, auth, n), (200, true, one.len()));
        let rest = both.get(n..).unwrap_or_default();
        let b = parse(rest)
            .ok()
            .flatten()
            .map(|(a, n)| (a.status, a.close, n));
        assert_eq!(b, Some((401, true, two.len())));
        assert_eq!(
            parse(two.get(..two.len() - 1).unwrap_or_default()),
            Ok(None)
        );
        assert_eq!(parse(b"HTTP/1.1 2"), Ok(None));
        assert!(parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn formats_requests() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 80));
        let r = get(addr, "/auth", &["Cookie: A=b".into()]);
        assert_eq!(
            &r[..],
            b"GET /auth HTTP/1.1\r\nHost: 127.0.0.1:80\r\nCookie: A=b\r\n\r\n"
        );
        let d = request("DELETE", addr, "/x", &[], b"");
        assert!(d.ends_with(b"Content-Length: 0\r\n\r\n"));
    }
}
