//! An example service behind NGINX + authd: NGINX asks authd's `/auth`, then passes the
//! upstream JWT in `Authorization`; the service verifies it with `authd_auth::service` and
//! applies the reference's §8 checks. Run it with `cargo run -p authd-example -- ADDR`
//! (`AUTHD_JWT_SECRET` holds the cluster's JWT secret); `tests/tests/it/example_service.rs`
//! runs it behind the shipped nginx config.

use authd_auth::service::{Denied, MaybeSession, Session, Verifier};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;

/// The service's routes, verifying upstream JWTs signed with `jwt_secret`.
pub fn app(jwt_secret: &[u8]) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/submit/{*rest}", get(submit))
        .route("/{user_id}/profile", get(profile))
        .layer(Verifier::new(jwt_secret).layer())
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
