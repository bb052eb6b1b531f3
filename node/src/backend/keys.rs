//! The signing-key side of [`NodeBackend`]: the JWKS, the admin view of the ring, rotation.

use authd_auth::signing::jwk;
use authd_auth::tokens::iso8601_ms;
use authd_raft::keyring::SigningKey;
use authd_web::BackendError;
use authd_web::keys::KeyView;

use super::NodeBackend;
use crate::actors::{map_outcome, now_ms};

fn key_view(k: &SigningKey, signing_kid: Option<&str>, now: u64) -> KeyView {
    let status = if signing_kid == Some(k.kid.as_str()) {
        "signing"
    } else if k.activates_ms > now {
        "next"
    } else {
        "retiring"
    };
    KeyView {
        kid: k.kid.clone(),
        status: status.to_owned(),
        published: iso8601_ms(k.published_ms),
        activates: iso8601_ms(k.activates_ms),
        retires: k.retires_ms.map(iso8601_ms),
    }
}

/// Every published key as a JWKS.
pub(super) fn jwks(b: &NodeBackend) -> serde_json::Value {
    let view = b.inner.reader.load();
    let keys: Vec<_> = view
        .state
        .signing_keys()
        .published(now_ms())
        .map(|k| jwk(&k.kid, &k.public))
        .collect();
    serde_json::json!({ "keys": keys })
}

/// The ring as admins see it (published keys only).
pub(super) fn list(b: &NodeBackend) -> Vec<KeyView> {
    let view = b.inner.reader.load();
    let ring = view.state.signing_keys();
    let now = now_ms();
    let signing = ring.signing(now).map(|k| k.kid.as_str());
    ring.published(now)
        .map(|k| key_view(k, signing, now))
        .collect()
}

/// Schedule a new key; answered once every reachable node publishes it.
pub(super) async fn rotate(
    b: &NodeBackend,
    activate_in_secs: Option<u64>,
) -> Result<KeyView, BackendError> {
    let policy = &b.inner.key_policy;
    let ahead = activate_in_secs.unwrap_or(policy.cfg.publish_ahead_secs);
    let at = now_ms().saturating_add(ahead.saturating_mul(1000));
    let (kid, cmd) = policy.schedule(at).map_err(BackendError::Internal)?;
    map_outcome(b.inner.proposer.propose(cmd).await)?;
    let state = b.inner.reader.load();
    let ring = state.state.signing_keys();
    let now = now_ms();
    let signing = ring.signing(now).map(|k| k.kid.as_str());
    ring.all()
        .iter()
        .find(|k| k.kid == kid)
        .map(|k| key_view(k, signing, now))
        .ok_or_else(|| BackendError::Internal("the new key is not in the ring".into()))
}
