//! Slowloris and friends against a real node: unfinished headers, idle kept-alive
//! connections and slow bodies are cut off at their deadlines, connections over
//! `[http] max_connections` are refused at once, and the node answers throughout (and still
//! shuts down on SIGTERM with such connections open).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use authd_tests::Cluster;
use authd_tests::config::ClusterConfig;
use authd_tests::wait::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `[http] header_read_timeout_secs` in these tests.
const HEADER_SECS: u64 = 1;
/// `[http] idle_timeout_secs`: well above the header deadline, so the two are told apart.
const IDLE_SECS: u64 = 4;
/// `[http] request_timeout_secs`.
const REQUEST_SECS: u64 = 2;
/// How late a deadline may be enforced on a loaded CI machine.
const MARGIN: Duration = Duration::from_secs(3);
/// Slow clients in the header test.
const SLOW_CLIENTS: usize = 20;

fn limits(c: &mut ClusterConfig, max_connections: u32) {
    for (k, v) in [
        ("header_read_timeout_secs", HEADER_SECS),
        ("idle_timeout_secs", IDLE_SECS),
        ("request_timeout_secs", REQUEST_SECS),
        ("max_connections", u64::from(max_connections)),
    ] {
        c.http.insert(k.into(), toml::Value::Integer(v as i64));
    }
}

/// Reads until the server closes the connection (EOF or reset) or `deadline`; what it sent
/// and when it closed.
async fn read_until_closed(
    stream: &mut TcpStream,
    deadline: Duration,
) -> Result<(String, Instant)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let result = tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    match result {
        Ok(()) => Ok((text, Instant::now())),
        Err(_) => bail!("still open after {deadline:?} (received so far: {text:?})"),
    }
}

/// A slow client: the request line, then one header line every 100 ms, never the blank line.
/// Returns how long after connecting the server closed the connection.
async fn slow_header(addr: std::net::SocketAddr, give_up: Duration) -> Result<Duration> {
    let start = Instant::now();
    let stream = TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = stream.into_split();
    let drip = tokio::spawn(async move {
        let _ = wr.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            if wr.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(give_up, async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    drip.abort();
    match closed {
        Ok(()) => Ok(start.elapsed()),
        Err(_) => bail!("a slow header was still open after {give_up:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_idle_connections_and_slow_bodies_meet_their_deadlines() -> Result<()> {
    let mut cluster = Cluster::start(1, |c| limits(c, 4096)).await?;
    let addr = cluster.node(1)?.http;
    let header = Duration::from_secs(HEADER_SECS);

    // Slow headers (dripped, so a per-read timeout would never fire), while /healthz answers.
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| tokio::spawn(slow_header(addr, header + MARGIN)))
        .collect();
    let api = cluster.api(1);
    for _ in 0..5 {
        ensure!(
            api.healthz().await? == 200,
            "/healthz failed during the attack"
        );
    }
    for s in slow {
        let took = s.await.context("slow client task")??;
        ensure!(
            took >= header - Duration::from_millis(100),
            "a slow header was closed after {took:?}, before the {header:?} deadline"
        );
    }

    // A kept-alive connection outlives the header deadline while idle, then closes.
    let mut kept = TcpStream::connect(addr).await?;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let answered = Instant::now();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(MARGIN, kept.read(&mut buf)).await??;
    let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
    ensure!(head.starts_with("HTTP/1.1 200"), "healthz: {head:?}");
    let idle = Duration::from_secs(IDLE_SECS);
    let (_, closed) = read_until_closed(&mut kept, idle + MARGIN).await?;
    let lived = closed - answered;
    ensure!(
        lived >= idle - Duration::from_millis(200),
        "an idle kept-alive connection was closed after {lived:?}, before the {idle:?} idle deadline"
    );

    // A body that stops arriving: 408 after the request deadline, then closed.
    let mut body = TcpStream::connect(addr).await?;
    body.write_all(
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"username\":",
    )
    .await?;
    let sent = Instant::now();
    let (answer, _) =
        read_until_closed(&mut body, Duration::from_secs(REQUEST_SECS) + MARGIN).await?;
    ensure!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled body got {answer:?} after {:?}",
        sent.elapsed()
    );

    // SIGTERM with a slow client connected: the node still stops, cleanly.
    let held = tokio::spawn(slow_header(addr, header + MARGIN));
    let status = cluster.terminate(1, header + MARGIN + MARGIN).await?;
    ensure!(status.success(), "SIGTERM: the node exited with {status}");
    let _ = held.await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_once_and_the_node_recovers() -> Result<()> {
    const CAP: u32 = 6;
    const EXTRA: usize = 6;
    let cluster = Cluster::start(1, |c| limits(c, CAP)).await?;
    let addr = cluster.node(1)?.http;

    // Attackers take every slot (and then some) with unfinished headers.
    let mut socks = Vec::new();
    for _ in 0..(CAP as usize + EXTRA) {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await?;
        socks.push(s);
    }
    // Over the cap, a connection is answered 503 and closed at once, not queued; the held
    // ones are closed at the header deadline. None hangs.
    let prompt = Duration::from_millis(900);
    let start = Instant::now();
    let reads: Vec<_> = socks
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                read_until_closed(&mut s, Duration::from_secs(HEADER_SECS) + MARGIN).await
            })
        })
        .collect();
    let mut refused = 0;
    for r in reads {
        let (text, closed) = r.await.context("reader task")??;
        if closed - start < prompt {
            refused += 1;
            ensure!(
                text.is_empty() || text.starts_with("HTTP/1.1 503"),
                "a refused connection got {text:?}"
            );
        }
    }
    ensure!(
        refused >= EXTRA,
        "only {refused} of {} connections over a cap of {CAP} were refused at once",
        CAP as usize + EXTRA
    );

    // A fresh client over the cap gets the 503 promptly.
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
        held.push(s);
    }
    let mut late = TcpStream::connect(addr).await?;
    let (text, _) = read_until_closed(&mut late, MARGIN).await?;
    ensure!(text.starts_with("HTTP/1.1 503"), "over the cap: {text:?}");
    // Once the attackers are gone, the node answers again.
    drop(held);
    let api = cluster.api(1);
    wait_until("/healthz after the attack", MARGIN, || async {
        match api.healthz().await? {
            200 => Ok(()),
            s => bail!("/healthz {s}"),
        }
    })
    .await?;
    Ok(())
}
