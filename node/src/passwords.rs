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
    /// A pool of `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> Hasher {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("authd-argon2-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Hasher { jobs: tx }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
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
        self.run(move || {
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
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
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

/// On Linux niceness is per thread: lower this one's so `/auth` wins a contended CPU.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: setpriority(PRIO_PROCESS, 0, n) only changes the calling thread's nice value;
    // it takes no pointers. Failure (e.g. a sandbox forbids it) leaves the default priority.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_and_verifies_only_the_right_password() {
        let h = Hasher::new(2);
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
