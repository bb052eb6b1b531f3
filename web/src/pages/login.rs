//! `/login` and `/logout` (reference §4.3, §4.4): one generic message for every bad
//! credential, 429 with `Retry-After` when the account or address is locked.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::extract::{Page, Posted};
use super::fields::{FieldErrors, FormData};
use super::views::{self, LoginPage};
use super::{Ctx, register};
use crate::accounts::{Accounts, LoginError};
use crate::backend::{BackendError, LoginRequest};
use crate::next_page;

/// `?next_page=`.
#[derive(Debug, Deserialize)]
pub struct Next {
    /// Where to go afterwards.
    pub next_page: Option<String>,
    /// `all` after "log out everywhere": say so.
    pub ended: Option<String>,
}

const GENERIC_FAILURE: &str = "Invalid username or password.";

/// The safe target, or "" when none (or an unsafe one) was given.
fn safe_next<B: Accounts>(b: &B, given: Option<&str>) -> String {
    given
        .and_then(|n| next_page::safe(n, &b.settings().redirect_hosts))
        .unwrap_or_default()
}

fn or_default<B: Accounts>(b: &B, next: &str) -> String {
    if next.is_empty() {
        b.settings().default_next_page.clone()
    } else {
        next.to_owned()
    }
}

/// The login form, with what the last attempt left (message, typed name, notice).
#[allow(clippy::too_many_arguments)]
fn page<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    status: StatusCode,
    error: Option<&str>,
    values: FormData,
    errors: FieldErrors,
    next_page: String,
    notice: Option<&str>,
) -> Response {
    let mut chrome = ctx.chrome(b, "Log in to arXiv");
    chrome.notice = notice.map(str::to_owned);
    let page = LoginPage {
        chrome,
        error: error.map(str::to_owned),
        values,
        errors,
        next_page,
        csrf: ctx.csrf(b),
    };
    ctx.finish(b, views::html(status, &page))
}

/// `GET /login`: the form, or straight on when already logged in.
pub async fn form<B: Accounts>(
    State(b): State<B>,
    Page(ctx): Page,
    Query(q): Query<Next>,
) -> Response {
    let next = safe_next(&b, q.next_page.as_deref());
    if ctx.session.is_some() {
        return views::see_other(&or_default(&b, &next), &[]);
    }
    let notice = (q.ended.as_deref() == Some("all"))
        .then_some("You are logged out everywhere: every session of your account has ended.");
    page(
        &b,
        &ctx,
        StatusCode::OK,
        None,
        FormData::default(),
        FieldErrors::default(),
        next,
        notice,
    )
}

/// `POST /login`: 303 with the session cookie, or the form again with one message. A
/// successful login ends whatever session the browser had before (one planted by another
/// host included), so the browser leaves with exactly the session it just proved.
pub async fn submit<B: Accounts>(
    State(b): State<B>,
    Query(q): Query<Next>,
    headers: HeaderMap,
    Posted(ctx, f): Posted,
) -> Response {
    let given_next = Some(f.get("next_page"))
        .filter(|n| !n.is_empty())
        .or(q.next_page.as_deref());
    let next = safe_next(&b, given_next);
    let login = f.get("username").trim().to_owned();
    let password = f.get("password").to_owned();
    let kept = FormData::from_pairs(vec![("username".into(), login.clone())]);
    let mut errors = FieldErrors::default();
    if login.is_empty() {
        errors.add("username", "Enter your username or e-mail address.");
    }
    if password.is_empty() {
        errors.add("password", "Enter your password.");
    }
    if login.chars().count() > 255 || password.len() > 1024 {
        errors.add("username", GENERIC_FAILURE);
    }
    if !errors.is_empty() {
        return page(
            &b,
            &ctx,
            StatusCode::BAD_REQUEST,
            None,
            kept,
            errors,
            next,
            None,
        );
    }
    let req = LoginRequest {
        login: login.clone(),
        password,
        ip: Some(ctx.ip.to_string()),
        user_agent: ctx.user_agent.clone(),
    };
    let fail = |status, msg: &str| {
        page(
            &b,
            &ctx,
            status,
            Some(msg),
            kept.clone(),
            FieldErrors::default(),
            next.clone(),
            None,
        )
    };
    let result = b.login(req).await;
    // A lockout is recorded under the locked key, so one client's refused attempts merge
    // into one entry per key whatever names it tries.
    let (action, actor, target) = match &result {
        Ok(_) => ("login", login.as_str(), login.as_str()),
        Err(LoginError::Locked { key, .. }) => ("lockout", "-", key.as_str()),
        Err(_) => ("login_failed", "-", login.as_str()),
    };
    ctx.audit(&b, actor, action, target, &result);
    match result {
        Ok(ok) => {
            if let Err(e) = end_browser_sessions(&b, &headers).await {
                // Still not served as the old session: the cookie rule refuses a browser
                // whose cookies name sessions of different users.
                tracing::warn!(error = %e, "login could not end the browser's earlier session");
            }
            let mut cookies = vec![b.settings().cookie.set(&ok.cookie, ok.max_age_secs)];
            cookies.extend(ok.extra_cookies);
            views::see_other(&or_default(&b, &next), &cookies)
        }
        Err(LoginError::Invalid) => fail(StatusCode::BAD_REQUEST, GENERIC_FAILURE),
        Err(LoginError::Unverified) => {
            if let Some(a) = b.account_by_login(&login) {
                register::send_verification(&b, &a).await;
            }
            fail(
                StatusCode::BAD_REQUEST,
                "Your e-mail address is not verified yet. We have sent you a new link; \
                 follow it, then log in. Problems? Contact help@arxiv.org.",
            )
        }
        Err(LoginError::Locked {
            retry_after: secs, ..
        }) => ctx.finish(&b, views::locked(ctx.chrome(&b, "Log in to arXiv"), secs)),
        Err(LoginError::Backend(BackendError::Unavailable(_))) => ctx.unavailable(&b),
        Err(LoginError::Backend(e)) => {
            tracing::error!(error = %e, "login failed");
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            )
        }
    }
}

/// `GET /logout` (reference §4.4: always 303, also for anonymous browsers).
pub async fn logout<B: Accounts>(
    State(b): State<B>,
    Query(q): Query<Next>,
    headers: HeaderMap,
    Page(ctx): Page,
) -> Response {
    end_and_leave(&b, &ctx, &headers, q.next_page.as_deref()).await
}

/// `POST /logout` (the banner's form): the same, with a CSRF check.
pub async fn logout_form<B: Accounts>(
    State(b): State<B>,
    headers: HeaderMap,
    Posted(ctx, f): Posted,
) -> Response {
    let next = Some(f.get("next_page")).filter(|n| !n.is_empty());
    end_and_leave(&b, &ctx, &headers, next).await
}

async fn end_and_leave<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    headers: &HeaderMap,
    next: Option<&str>,
) -> Response {
    let ended = end_browser_sessions(b, headers).await;
    if let Some(s) = &ctx.session {
        ctx.audit(
            b,
            ctx.username.as_deref().unwrap_or("-"),
            "logout",
            &s.session_id,
            &ended,
        );
    }
    if let Err(e) = ended {
        tracing::warn!(error = %e, "logout could not end the session");
        return views::message(
            StatusCode::SERVICE_UNAVAILABLE,
            views::Chrome {
                title: "Log out".into(),
                ..views::Chrome::default()
            },
            &["Logout is temporarily unavailable; please try again."],
            None,
        );
    }
    let to = next
        .and_then(|n| next_page::safe(n, &b.settings().redirect_hosts))
        .unwrap_or_else(|| "/login".to_owned());
    views::see_other(&to, &b.settings().logout_cookies())
}

/// End every session the browser's cookies name (NG and legacy), whoever they belong to.
async fn end_browser_sessions<B: Accounts>(b: &B, headers: &HeaderMap) -> Result<(), BackendError> {
    let (ng, tapir) = crate::authn::browser_cookies(headers, b.settings());
    if !ng.is_empty() {
        b.logout(ng).await?;
    }
    if !tapir.is_empty() {
        b.logout_legacy(tapir).await?;
    }
    Ok(())
}
