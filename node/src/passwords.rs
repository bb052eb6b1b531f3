//! Argon2id hashing on a small pool of dedicated, low-priority threads, so a flood of logins
//! or sign-ups cannot starve the async workers that serve `/auth`: the hashes queue here, and
//! when the CPU is contended the kernel runs `/auth` first.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::oneshot;

/// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Result<Argon2<'static>, String> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Niceness of the hashing threads: below the runtime's, above idle.
const NICE: i32 = 10;
/// Jobs that may wait; beyond this a login is refused as "busy" rather than queued forever.
const QUEUE: usize = 4096;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the pool; cloning shares it.
#[derive(Clone)]
pub struct Hasher {
    jobs: SyncSender<Job>,
}

/// Why a hash could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// More logins are waiting than the queue holds.
    #[error("password hashing is saturated; try again")]
    Busy,
    /// The pool is gone (shutting down) or argon2 refused its parameters.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

impl Hasher {
    /// A pool of `threads` hashing threads (at least one), confined to `cpus` when not empty.
    pub fn new(threads: usize, cpus: &[usize]) -> Hasher {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let cpus = cpus.to_vec();
            let spawned = std::thread::Builder::new()
                .name(format!("authd-argon2-{i}"))
                .spawn(move || worker(&rx, &cpus));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Hasher { jobs: tx }
    }

    /// Run `f` on the pool; `op` labels `authd_password_hashes_total`, which counts every
    /// Argon2id computation (so a test or an operator sees who makes the server hash).
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            metrics::counter!("authd_password_hashes_total", "op" => op).increment(1);
            let _ = tx.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("authd_password_hash_busy_total").increment(1);
                return Err(HashError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(HashError::Failed("pool stopped".into()));
            }
        }
        rx.await
            .map_err(|_| HashError::Failed("hashing thread died".into()))
    }

    /// PHC string of a fresh Argon2id hash with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run("hash", move || {
            argon2()?
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await?
        .map_err(HashError::Failed)
    }

    /// Whether `password` matches the stored PHC string (constant-time inside argon2).
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, HashError> {
        self.run("verify", move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, cpus: &[usize]) {
    confine(cpus);
    lower_priority();
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Keep this thread on `cpus`: the other CPUs stay free for `/auth` whatever the login load.
/// (Low priority alone is not enough: Argon2's 19 MiB working set and the preemptions still
/// slow whatever shares its CPU; `bench/results/login-flood.md` measures it.)
fn confine(cpus: &[usize]) {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: `set` is a zeroed plain-data `cpu_set_t` on the stack, filled with `CPU_SET` for
    // ids below its capacity, and passed with its own size for the calling thread (id 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
        let mut any = false;
        for &c in cpus.iter().filter(|c| **c < max) {
            libc::CPU_SET(c, &mut set);
            any = true;
        }
        if any && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(?cpus, "could not confine the password hashing threads");
        }
    }
}

/// On Linux scheduling policy and niceness are per thread: make this one run only when the
/// CPU has nothing else to do (`SCHED_IDLE`), or at least yield to everything else (nice 10),
/// so `/auth`, Raft and the WAL win a contended CPU and logins wait instead.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: both calls take this thread's id 0 and a plain value (a zeroed `sched_param`
    // on the stack); they change only the calling thread's scheduling. Failure (a sandbox
    // may forbid it) leaves the default priority, which is still correct, only less kind.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let _ = libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_and_verifies_only_the_right_password() {
        let h = Hasher::new(2, &[]);
        let phc = h.hash("correct horse".into()).await.unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            h.verify("correct horse".into(), phc.clone())
                .await
                .unwrap_or(false)
        );
        assert!(!h.verify("wrong".into(), phc).await.unwrap_or(true));
        assert!(
            !h.verify("x".into(), "not a phc string".into())
                .await
                .unwrap_or(true)
        );
    }
}
