//! The downstream library's §8 matrix through a real axum router (`oneshot`): no session
//! 401, bad signature or expired 401, scope present or absent, owner or not, global scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use authd_auth::service::{Session, Verifier};
use authd_auth::tokens::Hs256Keys;
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceExt;

mod common;
use common::{claims, now};

const SECRET: &[u8] = b"a-downstream-shared-secret-0123456789";

fn jwt(secret: &[u8], user_id: &str, scopes: &[&str], exp: u64) -> String {
    claims(user_id, scopes, exp)
        .encode(&Hs256Keys::new(secret))
        .unwrap()
}

async fn profile(s: Session, Path(user_id): Path<String>) -> impl IntoResponse {
    s.authorize("profile:read", Some(&user_id), |s| s.is_user(&user_id))
        .map(|()| "profile")
}

async fn submit(s: Session) -> impl IntoResponse {
    s.require_scope("submission:create").map(|()| "created")
}

fn app() -> Router {
    Router::new()
        .route("/{user_id}/profile", get(profile))
        .route("/submit", get(submit))
        .layer(Verifier::new(SECRET).layer())
}

async fn status(path: &str, auth: Option<String>) -> StatusCode {
    let mut req = Request::builder().uri(path);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    app()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_reference_decorator_matrix() {
    let later = now() + 60;
    let other_key = b"another-secret-entirely-000000000";
    let cases: Vec<(&str, Option<String>, StatusCode)> = vec![
        ("/7/profile", None, StatusCode::UNAUTHORIZED),
        (
            "/7/profile",
            Some("garbage".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/7/profile",
            Some(jwt(other_key, "7", &["profile:read"], later)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/7/profile",
            Some(jwt(SECRET, "7", &["profile:read"], now() - 3600)),
            StatusCode::UNAUTHORIZED,
        ),
        // Owner with the plain scope: allowed; someone else with it: denied.
        (
            "/7/profile",
            Some(jwt(SECRET, "7", &["profile:read"], later)),
            StatusCode::OK,
        ),
        (
            "/7/profile",
            Some(jwt(SECRET, "8", &["profile:read"], later)),
            StatusCode::FORBIDDEN,
        ),
        // The resource form naming this profile allows a non-owner; another resource does not.
        (
            "/7/profile",
            Some(jwt(SECRET, "8", &["profile:read:7"], later)),
            StatusCode::OK,
        ),
        (
            "/7/profile",
            Some(jwt(SECRET, "8", &["profile:read:9"], later)),
            StatusCode::FORBIDDEN,
        ),
        // The global form bypasses the owner check.
        (
            "/7/profile",
            Some(jwt(SECRET, "8", &["profile:read:*"], later)),
            StatusCode::OK,
        ),
        // No scope at all, even for the owner: denied.
        (
            "/7/profile",
            Some(jwt(SECRET, "7", &[], later)),
            StatusCode::FORBIDDEN,
        ),
        (
            "/submit",
            Some(jwt(SECRET, "7", &["submission:create"], later)),
            StatusCode::OK,
        ),
        (
            "/submit",
            Some(format!(
                "Bearer {}",
                jwt(SECRET, "7", &["submission:create:*"], later)
            )),
            StatusCode::OK,
        ),
        (
            "/submit",
            Some(jwt(SECRET, "7", &["submission:read"], later)),
            StatusCode::FORBIDDEN,
        ),
        ("/submit", None, StatusCode::UNAUTHORIZED),
    ];
    for (path, auth, want) in cases {
        let shown = auth
            .as_deref()
            .map(|a| a.chars().take(20).collect::<String>());
        assert_eq!(
            status(path, auth.clone()).await,
            want,
            "{path} with {shown:?}"
        );
    }
}

#[tokio::test]
async fn without_the_layer_it_fails_closed() {
    let app = Router::new().route("/submit", get(submit));
    let req = Request::builder()
        .uri("/submit")
        .header(
            "Authorization",
            jwt(SECRET, "7", &["submission:create"], now() + 60),
        )
        .body(Body::empty())
        .unwrap();
    let st = app.oneshot(req).await.unwrap().status();
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
}
