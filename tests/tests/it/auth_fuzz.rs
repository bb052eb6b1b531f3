//! Property tests for `/auth` over real HTTP against one real node: arbitrary bytes in the NG
//! cookie, the `Cookie` header, `Authorization` and `X-Required-Scopes`, and one-byte
//! corruptions of a live cookie, never yield a 200 that carries an `Authorization` header, and
//! never a 5xx other than 503. Raw TCP, so the bytes reach the server exactly as generated.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use authd_tests::Cluster;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::authd_http::{COOKIE_NAME, Web, web_client};
use crate::util::{PASSWORD, create_user, uniq};

/// What came back on one connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    has_authorization: bool,
    head: String,
}

/// `GET /auth` with the given extra header lines (name and value as raw bytes), on a fresh
/// connection. `Ok(None)` when the server closed the connection without a response.
fn raw_auth(addr: SocketAddr, headers: &[(&[u8], &[u8])]) -> Result<Option<Raw>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = b"GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec();
    for (name, value) in headers {
        req.extend_from_slice(name);
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    // The server may answer (400) and close before it has read everything: read regardless.
    let _ = s.write_all(&req);
    let mut buf = Vec::new();
    if let Err(e) = s.read_to_end(&mut buf)
        && matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    {
        bail!("no answer within 10 s (a hung request)");
    }
    if buf.is_empty() {
        return Ok(None);
    }
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(buf.get(..end).unwrap_or(&buf)).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("unparseable status line {status_line:?}"))?;
    let has_authorization = lines.any(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
    });
    Ok(Some(Raw {
        status,
        has_authorization,
        head,
    }))
}

/// Bytes hyper accepts in a header value (visible ASCII, space, tab, obs-text).
fn header_safe(b: &[u8]) -> bool {
    b.iter()
        .all(|&c| c == b'\t' || (0x20..=0x7e).contains(&c) || c >= 0x80)
}

fn fuzz_bytes() -> impl Strategy<Value = Vec<u8>> {
    let header_ok = prop_oneof![8 => 0x20u8..=0x7e, 1 => 0x80u8..=0xff, 1 => Just(b'\t')];
    prop_oneof![
        3 => proptest::collection::vec(header_ok, 0..300),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Answers seen, by status (0: closed without a response), for the summary.
static SEEN: std::sync::Mutex<std::collections::BTreeMap<u16, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn tally(status: u16) {
    if let Ok(mut m) = SEEN.lock() {
        *m.entry(status).or_default() += 1;
    }
}

/// The property for one request.
fn check(what: &str, sent: &[&[u8]], r: Result<Option<Raw>>) -> Result<(), TestCaseError> {
    let show = || {
        sent.iter()
            .map(|b| format!("{:?}", String::from_utf8_lossy(b)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let r = r.map_err(|e| TestCaseError::fail(format!("{what} [{}]: {e:#}", show())))?;
    tally(r.as_ref().map_or(0, |r| r.status));
    let Some(r) = r else {
        // Closing without an answer is only acceptable for bytes that are not a valid header.
        if sent.iter().all(|b| header_safe(b)) {
            return Err(TestCaseError::fail(format!(
                "{what} [{}]: the connection closed without a response (a panic?)",
                show()
            )));
        }
        return Ok(());
    };
    if r.status == 200 && r.has_authorization {
        return Err(TestCaseError::fail(format!(
            "{what} [{}]: FAIL OPEN: 200 with an upstream JWT:\n{}",
            show(),
            r.head
        )));
    }
    if r.status >= 500 && r.status != 503 {
        return Err(TestCaseError::fail(format!(
            "{what} [{}]: HTTP {}:\n{}",
            show(),
            r.status,
            r.head
        )));
    }
    if !matches!(r.status, 200 | 400 | 401 | 403 | 431 | 503) {
        return Err(TestCaseError::fail(format!(
            "{what} [{}]: unexpected HTTP {}:\n{}",
            show(),
            r.status,
            r.head
        )));
    }
    Ok(())
}

#[test]
fn arbitrary_cookie_and_header_bytes_never_authenticate() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (cluster, addr, cookie) = rt.block_on(async {
        let cluster = Cluster::start(1, |_| {}).await?;
        let name = uniq("fuzz");
        create_user(&cluster.api(1), &name).await?;
        let addr = cluster.node(1)?.http;
        let web = Web::new(addr, web_client()?).settled();
        let cookie = web.login_ok(&name, PASSWORD).await?;
        let r = web.auth_cookie(&cookie).await?;
        if r.status != 200 || r.authorization.is_none() {
            bail!("the live cookie is not accepted: {}", r.describe());
        }
        Ok::<_, anyhow::Error>((cluster, addr, cookie))
    })?;
    let live = cookie.as_bytes().to_vec();
    let n = live.len();

    let strategy = (
        fuzz_bytes(),
        fuzz_bytes(),
        any::<bool>(),
        fuzz_bytes(),
        (0..n, 0x21u8..=0x7e),
        1..n,
    );
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let cookie_name = COOKIE_NAME.as_bytes();
    let result = runner.run(&strategy, |(a, b, bearer, c, (pos, byte), cut)| {
        let ng = [cookie_name, b"=", &a].concat();
        let authz = if bearer {
            [&b"Bearer "[..], &b].concat()
        } else {
            b.clone()
        };
        // The NG cookie's value.
        check("cookie", &[&a], raw_auth(addr, &[(b"Cookie", &ng)]))?;
        // A whole Cookie header, with required scopes.
        check(
            "cookie header + scopes",
            &[&c, &b],
            raw_auth(addr, &[(b"Cookie", &c), (b"X-Required-Scopes", &b)]),
        )?;
        // Authorization alone, then beside the NG cookie (the header is looked at first).
        check(
            "authorization",
            &[&authz],
            raw_auth(addr, &[(b"Authorization", &authz)]),
        )?;
        check(
            "authorization + cookie",
            &[&authz, &a],
            raw_auth(addr, &[(b"Authorization", &authz), (b"Cookie", &ng)]),
        )?;
        // One byte of the live cookie changed: never accepted.
        let mut mutated = live.clone();
        if let Some(slot) = mutated.get_mut(pos)
            && *slot != byte
        {
            *slot = byte;
            let h = [cookie_name, b"=", &mutated].concat();
            check(
                "live cookie, one byte changed",
                &[&mutated],
                raw_auth(addr, &[(b"Cookie", &h)]),
            )?;
            let bearer_h = [&b"Bearer "[..], &mutated].concat();
            check(
                "mutated live cookie as a bearer token",
                &[&bearer_h],
                raw_auth(addr, &[(b"Authorization", &bearer_h)]),
            )?;
        }
        // A truncated live cookie.
        let truncated = live.get(..cut).unwrap_or_default();
        let h = [cookie_name, b"=", truncated].concat();
        check(
            "live cookie, truncated",
            &[truncated],
            raw_auth(addr, &[(b"Cookie", &h)]),
        )?;
        Ok(())
    });
    result.map_err(|e| anyhow!("{e}"))?;
    let seen = SEEN.lock().map(|m| m.clone()).unwrap_or_default();
    eprintln!("/auth property run: answers by status (0 = closed, no response): {seen:?}");
    // The run exercised the paths it claims to: parse errors, refusals and anonymous passes.
    for status in [200, 400, 401] {
        if seen.get(&status).copied().unwrap_or(0) == 0 {
            bail!("the property run never saw HTTP {status}: {seen:?}");
        }
    }

    // The node survived, still serves the live cookie, and never panicked.
    cluster.check_alive()?;
    let live_header = [cookie_name, b"=", &live].concat();
    let started = std::time::Instant::now();
    let after = loop {
        let r = raw_auth(addr, &[(b"Cookie", &live_header)])?
            .context("no answer for the live cookie after the run")?;
        // 503 = lease not current this instant (fail closed): ask again.
        if r.status != 503 || started.elapsed() > Duration::from_secs(5) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if after.status != 200 || !after.has_authorization {
        bail!(
            "the live cookie is no longer accepted after the run:\n{}",
            after.head
        );
    }
    let logs = cluster.logs(1);
    if logs.contains("panicked") {
        bail!(
            "the node panicked during the run:\n{}",
            cluster.log_tail(1, 60)
        );
    }
    drop(cluster);
    drop(rt);
    Ok(())
}
