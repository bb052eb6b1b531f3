//! Upstream-JWT signing on a node: the configured algorithm, the EdDSA keys derived from the
//! signing-key seed and the replicated ring, and the leader's task that seeds and rotates the
//! ring.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authd_auth::signing::Ed25519Signer;
use authd_auth::tokens::{Hs256Keys, TokenError, UpstreamSession};
use authd_raft::keyring::SigningKey;
use authd_raft::sm_store::StateReader;
use authd_raft::{Command, Raft, State};
use openraft::ServerState;

use crate::actors::now_ms;
use crate::config_signing::{SigningConfig, UpstreamAlg};
use crate::proposer::Proposer;

/// Signs upstream JWTs with the configured algorithm; EdDSA keys are derived once per `kid`.
pub struct UpstreamSigner {
    alg: UpstreamAlg,
    hs256: Hs256Keys,
    /// `[secrets] signing_key_seed`: never the JWT secret, which every service holds.
    seed: Option<Vec<u8>>,
    derived: Mutex<HashMap<String, Arc<Ed25519Signer>>>,
}

/// Why no token could be signed; the node answers 503, never an unsigned or HS256 fallback.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// EdDSA is configured but the ring has no active key yet (the leader seeds one at start).
    #[error("no upstream signing key is active yet")]
    NoKey,
    /// The replicated public key is not what this node derives: its signing-key seed differs.
    #[error("signing key {0} does not match this node's signing-key seed")]
    Mismatch(String),
    /// EdDSA without a seed (config loading refuses this; kept so signing cannot fall back).
    #[error("no signing-key seed is configured")]
    NoSeed,
    /// Signing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl UpstreamSigner {
    /// A signer for `alg`: HS256 with `jwt_secret`, EdDSA keys derived from `seed`.
    pub fn new(alg: UpstreamAlg, jwt_secret: &[u8], seed: Option<&[u8]>) -> UpstreamSigner {
        UpstreamSigner {
            alg,
            hs256: Hs256Keys::new(jwt_secret),
            seed: seed.map(<[u8]>::to_vec),
            derived: Mutex::new(HashMap::new()),
        }
    }

    /// The key id that signs now (`None` for HS256): cached tokens of another key are re-signed.
    pub fn current_kid<'s>(&self, st: &'s State, now_ms: u64) -> Option<&'s str> {
        match self.alg {
            UpstreamAlg::HS256 => None,
            UpstreamAlg::EdDSA => st.signing_keys().signing(now_ms).map(|k| k.kid.as_str()),
        }
    }

    /// Whether tokens can be signed at `now_ms` (EdDSA needs an active key in the ring).
    pub fn ready(&self, st: &State, now_ms: u64) -> bool {
        self.alg == UpstreamAlg::HS256 || st.signing_keys().signing(now_ms).is_some()
    }

    /// Sign `claims` with the key that is active at `now_ms`.
    pub fn sign(
        &self,
        st: &State,
        now_ms: u64,
        claims: &UpstreamSession,
    ) -> Result<String, SignError> {
        match self.alg {
            UpstreamAlg::HS256 => Ok(claims.encode(&self.hs256)?),
            UpstreamAlg::EdDSA => {
                let key = st.signing_keys().signing(now_ms).ok_or(SignError::NoKey)?;
                Ok(self.derive(key)?.sign(claims)?)
            }
        }
    }

    /// This node's private half of `key`, checked against the replicated public half.
    fn derive(&self, key: &SigningKey) -> Result<Arc<Ed25519Signer>, SignError> {
        if let Some(s) = self
            .derived
            .lock()
            .ok()
            .and_then(|m| m.get(&key.kid).cloned())
        {
            return Ok(s);
        }
        let seed = self.seed.as_deref().ok_or(SignError::NoSeed)?;
        let signer = Ed25519Signer::derive(seed, &key.kid)?;
        if signer.public() != key.public {
            tracing::error!(kid = %key.kid, "replicated signing key does not match this node's signing-key seed");
            return Err(SignError::Mismatch(key.kid.clone()));
        }
        let signer = Arc::new(signer);
        if let Ok(mut m) = self.derived.lock() {
            // Only ring keys get here, and the ring is bounded; clear rather than grow if not.
            if m.len() >= 4 * authd_raft::keyring::MAX_KEYS {
                m.clear();
            }
            m.insert(key.kid.clone(), signer.clone());
        }
        Ok(signer)
    }
}

/// What scheduling a key needs: the policy, the seed keys derive from, the token lifetime.
#[derive(Clone)]
pub struct KeyPolicy {
    /// `[signing]`.
    pub cfg: SigningConfig,
    /// `[secrets] signing_key_seed` (derivation input); `None`: this cluster has no EdDSA keys.
    pub seed: Option<Vec<u8>>,
    /// `[web] jwt_ttl_secs`: how long the last token of a replaced key lives.
    pub jwt_ttl_secs: u64,
}

impl KeyPolicy {
    /// A fresh key's id and the command that schedules it to sign from `activates_ms`.
    pub fn schedule(&self, activates_ms: u64) -> Result<(String, Command), String> {
        let seed = self.seed.as_deref().ok_or(
            "no signing-key seed is configured ([secrets] signing_key_seed_file)".to_owned(),
        )?;
        let key = new_key(seed, activates_ms)?;
        Ok((
            key.kid.clone(),
            add_key_command(key, &self.cfg, self.jwt_ttl_secs),
        ))
    }
}

/// A new key activating at `activates_ms`, with a random id, derived from `seed`.
pub fn new_key(seed: &[u8], activates_ms: u64) -> Result<SigningKey, String> {
    let kid = authd_auth::random_hex(16).map_err(|e| e.to_string())?;
    let signer = Ed25519Signer::derive(seed, &kid).map_err(|e| e.to_string())?;
    Ok(SigningKey {
        kid,
        public: signer.public(),
        published_ms: now_ms(),
        activates_ms,
        retires_ms: None,
    })
}

/// The command that schedules `key`, with the retention `cfg` and the token lifetime require.
pub fn add_key_command(key: SigningKey, cfg: &SigningConfig, jwt_ttl_secs: u64) -> Command {
    Command::AddSigningKey {
        key,
        now_ms: now_ms(),
        retain_ms: jwt_ttl_secs
            .saturating_add(cfg.max_clock_skew_secs)
            .saturating_mul(1000),
    }
}

/// When the ring needs a new key, and from when it should sign; `None` if it does not.
fn due(st: &State, cfg: &SigningConfig, now: u64) -> Option<u64> {
    let Some(newest) = st.signing_keys().newest() else {
        // First start: a key that signs at once (no service can hold a JWKS from before it).
        return Some(now);
    };
    let every = cfg.rotate_every_secs?.saturating_mul(1000);
    let ahead = cfg.publish_ahead_secs.saturating_mul(1000);
    let next = newest.activates_ms.saturating_add(every);
    (now.saturating_add(ahead) >= next).then(|| next.max(now.saturating_add(ahead)))
}

/// The leader seeds the ring at start and, with `rotate_every_secs`, schedules each next key
/// `publish_ahead_secs` before it is due.
pub fn spawn_rotator(raft: Raft, proposer: Proposer, reader: StateReader, policy: KeyPolicy) {
    if policy.seed.is_none() {
        // HS256 only: a cluster that wants to move to EdDSA configures a seed first.
        tracing::info!("no signing-key seed: the EdDSA key ring stays empty");
        return;
    }
    tokio::spawn(async move {
        // Frequent, so a new cluster (or a new leader) signs within moments; a tick only reads
        // local state unless a key is due.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            if raft.metrics().borrow().state != ServerState::Leader {
                continue;
            }
            let Some(at) = due(&reader.load().state, &policy.cfg, now_ms()) else {
                continue;
            };
            let (kid, cmd) = match policy.schedule(at) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "could not make a signing key");
                    continue;
                }
            };
            match proposer.propose(cmd).await {
                Ok(Ok(_)) => tracing::info!(%kid, activates_ms = at, "signing key scheduled"),
                Ok(Err(e)) => tracing::warn!(error = %e, "signing key refused"),
                Err(e) => tracing::warn!(error = %e, "signing key not proposed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(every: Option<u64>) -> SigningConfig {
        SigningConfig {
            rotate_every_secs: every,
            publish_ahead_secs: 10,
            ..SigningConfig::default()
        }
    }

    #[test]
    fn first_key_at_once_then_each_next_one_published_ahead() {
        let mut st = State::default();
        assert_eq!(due(&st, &cfg(None), 5_000), Some(5_000));
        let k = new_key(b"secret", 5_000).unwrap();
        st.apply(&add_key_command(k, &cfg(None), 60)).unwrap();
        // Manual rotation only: never due again.
        assert_eq!(due(&st, &cfg(None), 10_000_000), None);
        // Every 100 s with 10 s ahead: due at 95 s, to sign from 105 s.
        assert_eq!(due(&st, &cfg(Some(100)), 94_999), None);
        assert_eq!(due(&st, &cfg(Some(100)), 95_000), Some(105_000));
        // Late (the cluster was down): still published 10 s ahead.
        assert_eq!(due(&st, &cfg(Some(100)), 500_000), Some(510_000));
    }

    #[test]
    fn signs_with_the_active_key_and_refuses_a_foreign_one() {
        let mut st = State::default();
        let s = UpstreamSigner::new(UpstreamAlg::EdDSA, b"jwt", Some(b"seed"));
        let claims: UpstreamSession = serde_json::from_value(serde_json::json!({
            "session_id": "s", "start_time": "", "user": null, "client": null,
            "end_time": null, "authorizations": null, "ip_address": null,
            "remote_host": null, "nonce": null, "iat": 1, "exp": 4_000_000_000u64
        }))
        .unwrap();
        assert!(matches!(s.sign(&st, 1000, &claims), Err(SignError::NoKey)));
        let k = new_key(b"seed", 1000).unwrap();
        let kid = k.kid.clone();
        st.apply(&add_key_command(k, &cfg(None), 60)).unwrap();
        let jwt = s.sign(&st, 1000, &claims).unwrap();
        let h = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(h.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(s.current_kid(&st, 1000), Some(kid.as_str()));
        // A node with another seed must not sign with a key it cannot match, nor one with the
        // same JWT secret but the JWT secret as its seed.
        let other = UpstreamSigner::new(UpstreamAlg::EdDSA, b"jwt", Some(b"other"));
        assert!(matches!(
            other.sign(&st, 1000, &claims),
            Err(SignError::Mismatch(_))
        ));
        let jwt_as_seed = UpstreamSigner::new(UpstreamAlg::EdDSA, b"jwt", Some(b"jwt"));
        assert!(matches!(
            jwt_as_seed.sign(&st, 1000, &claims),
            Err(SignError::Mismatch(_))
        ));
    }
}
