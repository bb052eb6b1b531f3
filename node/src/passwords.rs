//! Argon2id hashing on a bounded blocking pool, so a flood of logins or sign-ups cannot
//! starve the async workers that serve `/auth`.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Result<Argon2<'static>, String> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashing is CPU-bound: at most `permits` run at once; the rest queue here, not on the runtime.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
}

impl Hasher {
    /// A pool that runs at most `permits` hashes concurrently.
    pub fn new(permits: usize) -> Hasher {
        Hasher {
            slots: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// PHC string of a fresh Argon2id hash with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, String> {
        let _permit = self.slots.acquire().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            argon2()?
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Whether `password` matches the stored PHC string (constant-time inside argon2).
    pub async fn verify(&self, password: String, phc: String) -> bool {
        let Ok(_permit) = self.slots.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false)
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
        assert!(h.verify("correct horse".into(), phc.clone()).await);
        assert!(!h.verify("wrong".into(), phc).await);
        assert!(!h.verify("x".into(), "not a phc string".into()).await);
    }
}
