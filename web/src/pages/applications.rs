//! `/user/applications` ("Connected applications"): every client the user authorized that
//! still holds live tokens, with its scopes and since when, and a form to withdraw it. The
//! withdrawal is a revocation: every node refuses the client's tokens for this user before the
//! page answers.

use std::future::Future;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::extract::{Owner, OwnerPosted};
use super::views::{self, Chrome};
use crate::accounts::Accounts;
use crate::backend::BackendError;

/// A client the user authorized, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    /// Client id (the revoke form's path).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Every scope its live tokens carry.
    pub scopes: Vec<String>,
    /// When its oldest live token was issued, Unix ms.
    pub since_ms: u64,
}

/// What the page needs from a node beyond [`Accounts`].
pub trait ConnectedApps: Accounts {
    /// The clients holding live tokens for this user, by client id.
    fn connected_apps(&self, user_id: u64) -> Vec<ConnectedApp>;
    /// End every token, refresh family and pending code of (user, client) on every node;
    /// how many tokens ended.
    fn revoke_app(
        &self,
        user_id: u64,
        client_id: String,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send;
}

/// The routes of this page.
pub fn router<B: ConnectedApps>() -> Router<B> {
    Router::new()
        .route("/user/applications", get(list::<B>))
        .route("/user/applications/{client_id}/revoke", post(revoke::<B>))
}

/// One row of the page.
#[derive(Debug, Clone)]
pub struct AppRow {
    /// Client id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// (scope, label).
    pub scopes: Vec<(String, String)>,
    /// `YYYY-MM-DD HH:MM` (UTC).
    pub since: String,
}

/// `/user/applications`.
#[derive(Template)]
#[template(path = "applications.html")]
pub struct ApplicationsPage {
    /// Frame.
    pub chrome: Chrome,
    /// Connected clients.
    pub apps: Vec<AppRow>,
    /// Form token.
    pub csrf: String,
}

const TITLE: &str = "Connected applications";

/// `GET /user/applications`.
pub async fn list<B: ConnectedApps>(State(b): State<B>, Owner(ctx, account): Owner) -> Response {
    let apps = b
        .connected_apps(account.id)
        .into_iter()
        .map(|a| AppRow {
            id: a.client_id,
            name: a.name,
            scopes: a
                .scopes
                .into_iter()
                .map(|s| {
                    let l = crate::oauth2::labels::label(&s);
                    (s, l)
                })
                .collect(),
            since: views::utc_minutes(a.since_ms),
        })
        .collect();
    let page = ApplicationsPage {
        chrome: ctx.chrome(&b, TITLE),
        apps,
        csrf: ctx.csrf(&b),
    };
    ctx.finish(&b, views::html(StatusCode::OK, &page))
}

/// `POST /user/applications/{client_id}/revoke`.
pub async fn revoke<B: ConnectedApps>(
    State(b): State<B>,
    Path(client_id): Path<String>,
    OwnerPosted(ctx, account, _): OwnerPosted,
) -> Response {
    let connected = b
        .connected_apps(account.id)
        .iter()
        .any(|a| a.client_id == client_id);
    if !connected {
        let r = views::message(
            StatusCode::NOT_FOUND,
            ctx.chrome(&b, TITLE),
            &["That application has no access to your account (any more)."],
            Some(("/user/applications", "Back to your applications")),
        );
        return ctx.finish(&b, r);
    }
    let ended = b.revoke_app(account.id, client_id.clone()).await;
    ctx.audit(
        &b,
        &account.username,
        "oauth2_app_revoke",
        &client_id,
        &ended,
    );
    match ended {
        Ok(_) => views::see_other("/user/applications", &[]),
        Err(e) => {
            tracing::warn!(error = %e, "application access not revoked");
            ctx.unavailable(&b)
        }
    }
}
