//! For downstream Rust services behind NGINX + authd: verify the upstream JWT that NGINX
//! passes in `Authorization` and enforce scopes and ownership with the reference's §8
//! semantics. Enable with the `axum` feature.
//!
//! ```ignore
//! let app = Router::new()
//!     .route("/{user_id}/profile", get(profile))
//!     .layer(Verifier::new(secret).layer()); // HS256; or Verifier::jwks(fetch) for EdDSA
//!
//! async fn profile(s: Session, Path(user_id): Path<String>) -> Result<String, Denied> {
//!     s.authorize("profile:read", Some(&user_id), |s| s.is_user(&user_id))?;
//!     Ok("...".into())
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::scope::Scope;
use crate::signing::PublicKeys;
use crate::tokens::{Hs256Keys, TokenError, UpstreamSession};
use jsonwebtoken::jwk::JwkSet;

/// Fetches authd's JWKS (`GET /.well-known/jwks.json`); supplied by the service, so this
/// crate needs no HTTP client.
pub type JwksFetch =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send>> + Send + Sync>;

/// Keys from a JWKS, refreshed when a token names a key not seen yet.
struct Jwks {
    keys: RwLock<Arc<PublicKeys>>,
    fetch: Option<JwksFetch>,
    /// When the last fetch started; held across the fetch, so concurrent misses wait for it
    /// instead of fetching again.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

enum Keys {
    Hs256(Hs256Keys),
    Jwks(Jwks),
}

/// Verifies upstream JWTs, HS256 with the shared secret or EdDSA with authd's published
/// keys; install with [`Verifier::layer`].
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Keys>,
    leeway_secs: u64,
    min_refetch: Duration,
}

/// By default, a token naming an unknown key fetches the JWKS again at most this often.
const MIN_REFETCH: Duration = Duration::from_secs(10);

impl Verifier {
    /// A verifier for the secret authd signs with (`[secrets] jwt_secret_file`), allowing
    /// 5 seconds of clock skew on `exp`.
    pub fn new(secret: &[u8]) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::Hs256(Hs256Keys::new(secret))),
            leeway_secs: 5,
            min_refetch: MIN_REFETCH,
        }
    }

    /// A verifier for EdDSA tokens (`[signing] upstream_alg = "EdDSA"`) that fetches authd's
    /// JWKS on first use and again whenever a token names a key it has not seen (authd
    /// publishes each new key before it signs), at most every [`Verifier::min_refetch`].
    pub fn jwks<F, Fut>(fetch: F) -> Verifier
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<JwkSet, String>> + Send + 'static,
    {
        let fetch: JwksFetch = Arc::new(move || Box::pin(fetch()));
        Verifier::from_jwks(PublicKeys::default(), Some(fetch))
    }

    /// A verifier for EdDSA tokens with a fixed key set (no refresh).
    pub fn with_keys(keys: PublicKeys) -> Verifier {
        Verifier::from_jwks(keys, None)
    }

    fn from_jwks(keys: PublicKeys, fetch: Option<JwksFetch>) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::Jwks(Jwks {
                keys: RwLock::new(Arc::new(keys)),
                fetch,
                last_fetch: tokio::sync::Mutex::new(None),
            })),
            leeway_secs: 5,
            min_refetch: MIN_REFETCH,
        }
    }

    /// How often at most a token naming an unknown key may fetch the JWKS (default 10 s): the
    /// bound on what tokens with made-up key ids can make the service do.
    pub fn min_refetch(mut self, every: Duration) -> Verifier {
        self.min_refetch = every;
        self
    }

    /// The layer that makes [`Session`] and [`MaybeSession`] work in a router.
    pub fn layer(self) -> Extension<Verifier> {
        Extension(self)
    }

    /// The session in an `Authorization` value (the bare JWT, as NGINX passes it, or
    /// `Bearer <jwt>`): signature and `exp` checked.
    pub async fn verify(&self, header: &str) -> Result<UpstreamSession, Unauthorized> {
        let token = header.strip_prefix("Bearer ").unwrap_or(header).trim();
        match &*self.keys {
            Keys::Hs256(k) => {
                UpstreamSession::decode(k, token, self.leeway_secs).map_err(|_| Unauthorized)
            }
            Keys::Jwks(j) => {
                match UpstreamSession::decode_eddsa(&j.current(), token, self.leeway_secs) {
                    Err(TokenError::UnknownKey) => {
                        j.refresh(token, self.min_refetch).await;
                        UpstreamSession::decode_eddsa(&j.current(), token, self.leeway_secs)
                            .map_err(|_| Unauthorized)
                    }
                    r => r.map_err(|_| Unauthorized),
                }
            }
        }
    }
}

impl Jwks {
    fn current(&self) -> Arc<PublicKeys> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fetch the JWKS again if `token`'s key is still unknown and the last fetch is not recent.
    async fn refresh(&self, token: &str, min_refetch: Duration) {
        let Some(fetch) = &self.fetch else { return };
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return;
        };
        let mut last = self.last_fetch.lock().await;
        if self.current().contains(&kid) || last.is_some_and(|t| t.elapsed() < min_refetch) {
            return;
        }
        *last = Some(Instant::now());
        match fetch().await {
            Ok(set) => {
                let keys = Arc::new(PublicKeys::from_jwks(&set));
                tracing::info!(keys = keys.len(), "fetched authd's JWKS");
                match self.keys.write() {
                    Ok(mut k) => *k = keys,
                    Err(poisoned) => *poisoned.into_inner() = keys,
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not fetch authd's JWKS"),
        }
    }
}

/// 401: no session, or an `Authorization` that is not a valid, unexpired upstream JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let body = Json(json!({ "reason": "Invalid authorization token" }));
        (StatusCode::UNAUTHORIZED, body).into_response()
    }
}

/// 403: a session that lacks the scope (or the ownership) the route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied;

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let body = Json(json!({ "reason": "Token not authorized for this action" }));
        (StatusCode::FORBIDDEN, body).into_response()
    }
}

fn verifier(parts: &Parts) -> Option<&Verifier> {
    parts.extensions.get::<Verifier>()
}

/// A request with a valid session; anything else is answered 401.
#[derive(Debug, Clone)]
pub struct Session(pub UpstreamSession);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match MaybeSession::from_request_parts(parts, state).await? {
            MaybeSession(Some(s)) => Ok(Session(s)),
            MaybeSession(None) => Err(Unauthorized.into_response()),
        }
    }
}

/// A request that may be anonymous; a bad `Authorization` is still 401 (reference §8.2).
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<UpstreamSession>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let Some(v) = verifier(parts) else {
            tracing::error!("authd_auth::service::Verifier layer is not installed");
            let msg = Json(json!({ "reason": "authentication is not configured" }));
            return Err((StatusCode::INTERNAL_SERVER_ERROR, msg).into_response());
        };
        match parts.headers.get(AUTHORIZATION) {
            None => Ok(MaybeSession(None)),
            Some(h) => {
                let h = h.to_str().map_err(|_| Unauthorized.into_response())?;
                v.verify(h)
                    .await
                    .map(|s| MaybeSession(Some(s)))
                    .map_err(IntoResponse::into_response)
            }
        }
    }
}

impl Session {
    /// The session's scopes, parsed (unparseable ones are ignored).
    fn scopes(&self) -> Vec<Scope> {
        self.0
            .authorizations
            .as_ref()
            .map(|a| a.scopes.iter().filter_map(|s| s.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether the session's user has this id (the usual owner check).
    pub fn is_user(&self, user_id: &str) -> bool {
        self.0.user.as_ref().is_some_and(|u| u.user_id == user_id)
    }

    /// Allow iff the session holds `required` (or its global `:*` form).
    pub fn require_scope(&self, required: &str) -> Result<(), Denied> {
        let want: Scope = required.parse().map_err(|_| Denied)?;
        if self.scopes().iter().any(|s| s.covers(&want)) {
            Ok(())
        } else {
            Err(Denied)
        }
    }

    /// The reference's `scoped(required, resource, authorizer)` (§8.3): the global form
    /// `required:*` allows at once; so does `required:<resource>`; the plain `required`
    /// allows if `owner` agrees (e.g. [`Session::is_user`]); anything else is denied.
    pub fn authorize(
        &self,
        required: &str,
        resource: Option<&str>,
        owner: impl FnOnce(&Session) -> bool,
    ) -> Result<(), Denied> {
        let want: Scope = required.parse().map_err(|_| Denied)?;
        let scopes = self.scopes();
        let has = |resource: Option<&str>| {
            scopes.iter().any(|s| {
                s.domain == want.domain
                    && s.action == want.action
                    && s.resource.as_deref() == resource
            })
        };
        if has(Some("*")) || resource.is_some_and(|r| has(Some(r))) {
            return Ok(());
        }
        if has(None) && owner(self) {
            return Ok(());
        }
        Err(Denied)
    }
}
