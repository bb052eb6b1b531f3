//! A connection's reader task: parses the answers, matches them with their send times.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpStream;

use super::{Check, DRAIN, ERROR_LOG, ReaderResult, Shared, Slot};
use crate::http1::AnswerReader;
use crate::stats::Latencies;

pub(super) async fn read_loop(
    mut stream: TcpStream,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    class: usize,
    check: Check,
) -> ReaderResult {
    let mut out = ReaderResult {
        class,
        latencies: Latencies::with_capacity(64 * 1024),
        from_due: Latencies::with_capacity(64 * 1024),
        errors: 0,
        first_error: None,
        error_log: Vec::new(),
    };
    let mut rd = AnswerReader::default();
    let mut deadline: Option<tokio::time::Instant> = None;
    let outstanding = |slot: &Slot| slot.sent.lock().map(|q| q.len()).unwrap_or(0);
    loop {
        if deadline.is_some() && outstanding(&slot) == 0 {
            break;
        }
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rd.next(&mut stream)).await {
                Ok(a) => a,
                Err(_) => Err("no answer within 3 s after the load stopped".into()),
            },
            None => {
                let stopped = shared.stopped.notified();
                if shared.stop.load(Ordering::SeqCst) {
                    deadline = Some(tokio::time::Instant::now() + DRAIN);
                    continue;
                }
                tokio::select! {
                    biased;
                    a = rd.next(&mut stream) => a,
                    () = stopped => {
                        deadline = Some(tokio::time::Instant::now() + DRAIN);
                        continue;
                    }
                }
            }
        };
        let done = shared.now();
        let sent = slot.sent.lock().ok().and_then(|mut q| {
            let t = q.pop_front();
            slot.outstanding.store(q.len(), Ordering::Release);
            t
        });
        let failed = next.is_err();
        let outcome = next.and_then(|a| {
            if sent.is_none() {
                return Err(format!("HTTP {}: an answer to no request", a.status));
            }
            check(&a)
        });
        let counted = sent.is_some_and(|(due, _)| shared.in_window(due));
        match (outcome, sent) {
            (Ok(()), Some((due, t))) if counted => {
                out.latencies
                    .record(Duration::from_nanos(done.saturating_sub(t)));
                out.from_due
                    .record(Duration::from_nanos(done.saturating_sub(due)));
            }
            (Err(e), _) if counted || failed => {
                out.errors += 1;
                if out.error_log.len() < ERROR_LOG {
                    out.error_log.push((done, e.clone()));
                }
                out.first_error.get_or_insert(e);
            }
            _ => {}
        }
        if failed {
            slot.dead.store(true, Ordering::Relaxed);
            let lost = slot
                .sent
                .lock()
                .map(|mut q| q.drain(..).filter(|(d, _)| shared.in_window(*d)).count())
                .unwrap_or(0);
            out.errors += lost as u64;
            for _ in 0..lost.min(ERROR_LOG.saturating_sub(out.error_log.len())) {
                out.error_log
                    .push((done, "no answer (connection failed)".to_owned()));
            }
            break;
        }
    }
    out
}
