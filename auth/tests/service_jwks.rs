//! The downstream library with EdDSA tokens and authd's JWKS: a key it has not seen makes it
//! fetch the JWKS again (rate-limited), so a rotation needs no restart; bad tokens stay 401.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authd_auth::service::{Session, Verifier};
use authd_auth::signing::{Ed25519Signer, jwk};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use jsonwebtoken::jwk::JwkSet;
use tower::ServiceExt;

mod common;
use common::{claims, now};

async fn submit(s: Session) -> impl IntoResponse {
    s.require_scope("submission:create").map(|()| "created")
}

/// A verifier whose "authd" publishes `published`, counting fetches.
fn app(
    published: Arc<Mutex<Vec<Ed25519Signer>>>,
    fetches: Arc<AtomicUsize>,
    min_refetch: Duration,
) -> Router {
    let verifier = Verifier::jwks(move || {
        let published = published.clone();
        let fetches = fetches.clone();
        async move {
            fetches.fetch_add(1, Ordering::SeqCst);
            let keys = published.lock().map_err(|e| e.to_string())?;
            Ok(JwkSet {
                keys: keys.iter().map(|k| jwk(k.kid(), &k.public())).collect(),
            })
        }
    })
    .min_refetch(min_refetch);
    Router::new()
        .route("/submit", get(submit))
        .layer(verifier.layer())
}

async fn status(app: &Router, auth: &str) -> StatusCode {
    let req = Request::builder()
        .uri("/submit")
        .header("Authorization", auth)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn eddsa_tokens_verify_through_the_jwks_and_a_rotation_needs_no_restart() {
    let k1 = Ed25519Signer::derive(b"cluster-jwt-secret", "k1").unwrap();
    let k2 = Ed25519Signer::derive(b"cluster-jwt-secret", "k2").unwrap();
    let published = Arc::new(Mutex::new(vec![k1.clone()]));
    let fetches = Arc::new(AtomicUsize::new(0));
    let app = app(published.clone(), fetches.clone(), Duration::ZERO);
    let later = now() + 60;
    let ok1 = k1
        .sign(&claims("7", &["submission:create"], later))
        .unwrap();

    // First use fetches the JWKS; the next requests do not.
    assert_eq!(status(&app, &ok1).await, StatusCode::OK);
    assert_eq!(status(&app, &format!("Bearer {ok1}")).await, StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // Scope missing: 403; expired: 401; foreign signature under a known kid: 401.
    let no_scope = k1.sign(&claims("7", &["submission:read"], later)).unwrap();
    assert_eq!(status(&app, &no_scope).await, StatusCode::FORBIDDEN);
    let expired = k1
        .sign(&claims("7", &["submission:create"], now() - 3600))
        .unwrap();
    assert_eq!(status(&app, &expired).await, StatusCode::UNAUTHORIZED);
    let forged = Ed25519Signer::derive(b"attacker", "k1")
        .unwrap()
        .sign(&claims("7", &["submission:create"], later))
        .unwrap();
    assert_eq!(status(&app, &forged).await, StatusCode::UNAUTHORIZED);
    // An HS256 token is refused by an EdDSA verifier (no algorithm confusion).
    let hs = claims("7", &["submission:create"], later)
        .encode(&authd_auth::tokens::Hs256Keys::new(&k1.public()))
        .unwrap();
    assert_eq!(status(&app, &hs).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // authd rotates: k2 is published, then signs. Its first token makes the service refetch.
    published.lock().unwrap().push(k2.clone());
    let ok2 = k2
        .sign(&claims("7", &["submission:create"], later))
        .unwrap();
    assert_eq!(status(&app, &ok2).await, StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Tokens of the old key still verify until they expire.
    assert_eq!(status(&app, &ok1).await, StatusCode::OK);

    // A key authd never published: 401.
    let k3 = Ed25519Signer::derive(b"cluster-jwt-secret", "k3").unwrap();
    let bad = k3
        .sign(&claims("7", &["submission:create"], later))
        .unwrap();
    assert_eq!(status(&app, &bad).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn made_up_key_ids_fetch_the_jwks_at_most_once_per_interval() {
    let k1 = Ed25519Signer::derive(b"cluster-jwt-secret", "k1").unwrap();
    let fetches = Arc::new(AtomicUsize::new(0));
    let app = app(
        Arc::new(Mutex::new(vec![k1.clone()])),
        fetches.clone(),
        Duration::from_secs(3600),
    );
    let later = now() + 60;
    let ok = k1
        .sign(&claims("7", &["submission:create"], later))
        .unwrap();
    assert_eq!(status(&app, &ok).await, StatusCode::OK);
    for i in 0..20 {
        let k = Ed25519Signer::derive(b"attacker", &format!("made-up-{i}")).unwrap();
        let t = k.sign(&claims("7", &["submission:create"], later)).unwrap();
        assert_eq!(status(&app, &t).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(status(&app, &ok).await, StatusCode::OK);
}
