//! The pacer thread: sends request `i` at `i / rate` on the next idle connection.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::{EARLY, PacerResult, Shared, Slot};
use crate::stats::Latencies;

pub(super) type Writer = (std::net::TcpStream, Arc<Slot>, Arc<[Bytes]>);

pub(super) fn pace(mut writers: Vec<Writer>, period: Duration, shared: &Shared) -> PacerResult {
    // A 1 µs timer slack for this thread (the default 50 µs would blur the schedule). Its nice
    // value stays the default: given priority (tried: nice −10) it starves the reader thread of
    // the same process, whose answers then free connections late.
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack (in ns).
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
    }
    let n = writers.len().max(1);
    let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1);
    let early = u64::try_from(EARLY.as_nanos()).unwrap_or(0);
    let mut out = PacerResult {
        sent: 0,
        lag: Latencies::with_capacity(1 << 20),
        unsent: 0,
        waited: 0,
        unsent_log: Vec::new(),
    };
    let mut i: u64 = 0;
    let mut cursor = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let due = i.saturating_mul(period_ns);
        let now = shared.now();
        if due > now + early {
            std::thread::sleep(Duration::from_nanos(due - now));
            continue;
        }
        // The next idle live connection from the cursor on; if none, wait for one.
        let idle = || {
            (0..n).map(|j| (cursor + j) % n).find(|k| {
                writers.get(*k).is_some_and(|(_, s, _)| {
                    s.outstanding.load(Ordering::Acquire) == 0 && !s.dead.load(Ordering::Relaxed)
                })
            })
        };
        let mut k = idle();
        let in_window = shared.in_window(due);
        if k.is_none() {
            out.waited += u64::from(in_window);
            while k.is_none() && !shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_micros(10));
                k = idle();
            }
        }
        let Some(k) = k else { break };
        cursor = k + 1;
        let seq = usize::try_from(i).unwrap_or(0);
        i += 1;
        let Some((w, slot, reqs)) = writers.get_mut(k) else {
            continue;
        };
        let Some(req) = reqs.get(seq % reqs.len().max(1)) else {
            continue;
        };
        let now = shared.now();
        if !send(w, slot, req, (due, now)) {
            out.unsent += u64::from(in_window);
            if in_window && out.unsent_log.len() < super::ERROR_LOG {
                out.unsent_log.push(due);
            }
            continue;
        }
        if in_window {
            out.sent += 1;
            out.lag
                .record(Duration::from_nanos(now.saturating_sub(due)));
        }
    }
    out
}

/// Notes the (due, send) times, then writes the whole request (the socket is non-blocking: a
/// full send buffer is waited out in 20 µs steps). `false` after a write error.
fn send(w: &mut std::net::TcpStream, slot: &Slot, req: &[u8], times: (u64, u64)) -> bool {
    if let Ok(mut q) = slot.sent.lock() {
        q.push_back(times);
        slot.outstanding.store(q.len(), Ordering::Release);
    }
    let mut rest = req;
    while !rest.is_empty() {
        match w.write(rest) {
            Ok(0) => break,
            Ok(k) => rest = rest.get(k..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(20));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if rest.is_empty() {
        return true;
    }
    slot.dead.store(true, Ordering::Relaxed);
    if let Ok(mut q) = slot.sent.lock() {
        q.pop_back();
        slot.outstanding.store(q.len(), Ordering::Release);
    }
    false
}
