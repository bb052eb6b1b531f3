//! An example service behind NGINX + authd: NGINX asks authd's `/auth`, then passes the
//! upstream JWT in `Authorization`; the service verifies it with `authd_auth::service` and
//! applies the reference's §8 checks. Run it with `cargo run -p authd-example -- ADDR`, with
//! `AUTHD_JWKS_URL` (EdDSA upstream tokens, `[signing] upstream_alg = "EdDSA"`) or
//! `AUTHD_JWT_SECRET` (HS256, the cluster's JWT secret); `tests/tests/it/example_service.rs`
//! runs it behind the shipped nginx config both ways.

use authd_auth::service::{Denied, MaybeSession, Session, Verifier};
use authd_auth::signing::JwkSet;
use axum::Router;
use axum::extract::Path;
use axum::routing::get;

/// The service's routes, verifying upstream JWTs with `verifier`.
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/submit/{*rest}", get(submit))
        .route("/{user_id}/profile", get(profile))
        .layer(verifier.layer())
}

/// A verifier for EdDSA upstream tokens that fetches authd's JWKS from `url` (any node's
/// `/.well-known/jwks.json`) when it meets a key it does not know.
pub fn jwks_verifier(url: String) -> Verifier {
    let http = reqwest::Client::new();
    Verifier::jwks(move || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http.get(&url).send().await.map_err(|e| e.to_string())?;
            let r = r.error_for_status().map_err(|e| e.to_string())?;
            r.json::<JwkSet>().await.map_err(|e| e.to_string())
        }
    })
}

/// Anyone: says who is asking.
async fn home(MaybeSession(s): MaybeSession) -> String {
    match s.and_then(|s| s.user) {
        Some(u) => format!("hello {}\n", u.username),
        None => "hello anonymous\n".to_owned(),
    }
}

/// Needs `submission:create` (NGINX also asks authd to require it for `/submit/`).
async fn submit(s: Session) -> Result<String, Denied> {
    s.require_scope("submission:create")?;
    let who = s.0.user.map(|u| u.username).unwrap_or_default();
    Ok(format!("submission accepted from {who}\n"))
}

/// `profile:read` for the owner, `profile:read:<id>` or `profile:read:*` for anyone else.
async fn profile(s: Session, Path(user_id): Path<String>) -> Result<String, Denied> {
    s.authorize("profile:read", Some(&user_id), |s| s.is_user(&user_id))?;
    Ok(format!("profile of user {user_id}\n"))
}
