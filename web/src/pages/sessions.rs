//! `/user/sessions`: every live session of the user, ending one, or all ("log out
//! everywhere"). Ending is a revocation: every node refuses the session before the page answers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::extract::{Owner, OwnerPosted};
use super::views::{self, SessionRow, SessionsPage};
use crate::accounts::Accounts;

/// Sessions per page of `/user/sessions`.
const PAGE_SIZE: usize = 20;

/// `?page=` (from 1; anything else shows the first page).
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// The page to show.
    pub page: Option<String>,
}

/// `GET /user/sessions[?page=N]`, [`PAGE_SIZE`] sessions a page, newest first.
pub async fn list<B: Accounts>(
    State(b): State<B>,
    Query(q): Query<PageQuery>,
    Owner(ctx, account): Owner,
) -> Response {
    let current = ctx.session.as_ref().map(|s| s.session_id.clone());
    let all = b.own_sessions(account.id);
    let total = all.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q
        .page
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let sessions = all
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|s| SessionRow {
            current: current.as_deref() == Some(s.session_id.as_str()),
            started: views::utc_minutes(s.created_ms),
            ip: s.ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
            id: s.session_id,
        })
        .collect();
    let page = SessionsPage {
        chrome: ctx.chrome(&b, "Your sessions"),
        sessions,
        csrf: ctx.csrf(&b),
        capped: b
            .sessions_capped(account.id)
            .then_some(b.settings().max_sessions_per_user),
        total,
        page,
        pages,
    };
    ctx.finish(&b, views::html(StatusCode::OK, &page))
}

/// `POST /user/sessions/{id}/end`: only the owner's own sessions; ending the current one
/// logs this browser out.
pub async fn end_one<B: Accounts>(
    State(b): State<B>,
    Path(id): Path<String>,
    OwnerPosted(ctx, account, _): OwnerPosted,
) -> Response {
    let mine = b
        .own_sessions(account.id)
        .iter()
        .any(|s| s.session_id == id);
    if !mine {
        let r = views::message(
            StatusCode::NOT_FOUND,
            ctx.chrome(&b, "Your sessions"),
            &["That session is not one of yours, or it has already ended."],
            Some(("/user/sessions", "Back to your sessions")),
        );
        return ctx.finish(&b, r);
    }
    let ended = b.end_session(&id).await;
    ctx.audit(&b, &account.username, "session_revoke", &id, &ended);
    if let Err(e) = ended {
        tracing::warn!(error = %e, "session not ended");
        return ctx.unavailable(&b);
    }
    let current = ctx.session.as_ref().is_some_and(|s| s.session_id == id);
    if current {
        views::see_other("/login", &b.settings().logout_cookies())
    } else {
        views::see_other("/user/sessions", &[])
    }
}

/// `POST /user/sessions/end-all`: log out everywhere, this browser included.
pub async fn end_all<B: Accounts>(
    State(b): State<B>,
    OwnerPosted(ctx, account, _): OwnerPosted,
) -> Response {
    let ended = b.end_user_sessions(&account.id.to_string()).await;
    ctx.audit(
        &b,
        &account.username,
        "session_revoke",
        &format!("all of {}", account.username),
        &ended,
    );
    match ended {
        Ok(_) => views::see_other("/login?ended=all", &b.settings().logout_cookies()),
        Err(e) => {
            tracing::warn!(error = %e, "sessions not ended");
            ctx.unavailable(&b)
        }
    }
}
