//! The askama templates (auto-escaped HTML) and how a page becomes a response.

use askama::Template;
use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::fields::{FieldErrors, FormData};
use super::taxonomy;
use crate::accounts::Account;

/// What every page's frame shows: title, who is logged in, the logout form's token.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// Page title and heading.
    pub title: String,
    /// Logged-in username, if any.
    pub username: Option<String>,
    /// CSRF token for the logout form in the banner.
    pub csrf: String,
    /// A one-line status message (e.g. "Profile saved.").
    pub notice: Option<String>,
}

/// Lists the profile form offers.
#[derive(Debug, Clone)]
pub struct Choices {
    /// (code, name), by name.
    pub countries: Vec<(&'static str, &'static str)>,
    /// (id, group label), in taxonomy order.
    pub categories: Vec<(String, &'static str)>,
    /// (code, label).
    pub ranks: Vec<(u8, &'static str)>,
    /// (key, label).
    pub groups: Vec<(&'static str, &'static str)>,
}

impl Choices {
    /// The fixed lists.
    pub fn load() -> Choices {
        Choices {
            countries: taxonomy::countries(),
            categories: taxonomy::categories(),
            ranks: taxonomy::RANKS.to_vec(),
            groups: taxonomy::GROUPS.iter().map(|(k, l, _)| (*k, *l)).collect(),
        }
    }
}

/// `/login`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Frame.
    pub chrome: Chrome,
    /// One message for the whole form.
    pub error: Option<String>,
    /// Field values (never the password).
    pub values: FormData,
    /// Field errors.
    pub errors: FieldErrors,
    /// Safe `next_page`, or "".
    pub next_page: String,
    /// Form token.
    pub csrf: String,
}

/// `/register`.
#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    /// Frame.
    pub chrome: Chrome,
    /// Values typed so far.
    pub values: FormData,
    /// Field errors.
    pub errors: FieldErrors,
    /// Form token.
    pub csrf: String,
    /// The captcha challenge.
    pub captcha_token: String,
    /// The profile form's lists.
    pub choices: Choices,
}

/// `/user/edit`.
#[derive(Template)]
#[template(path = "edit.html")]
pub struct EditPage {
    /// Frame.
    pub chrome: Chrome,
    /// Current or typed values.
    pub values: FormData,
    /// Field errors.
    pub errors: FieldErrors,
    /// Form token.
    pub csrf: String,
    /// The profile form's lists.
    pub choices: Choices,
}

/// A page that only says something: confirmations and errors.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Frame.
    pub chrome: Chrome,
    /// Text.
    pub paragraphs: Vec<String>,
    /// (href, label) to go on.
    pub link: Option<(String, String)>,
}

/// `/user`.
#[derive(Template)]
#[template(path = "user.html")]
pub struct UserPage {
    /// Frame.
    pub chrome: Chrome,
    /// The account.
    pub account: Account,
    /// Country name.
    pub country: String,
    /// Rank label.
    pub rank: String,
    /// Group labels, comma-separated.
    pub groups: String,
    /// Registration date.
    pub since: String,
}

/// `/user/password` and the reset form.
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    /// Frame.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: String,
    /// Ask for the current password (change) or not (reset by link).
    pub ask_current: bool,
    /// The reset link's token, or "".
    pub token: String,
    /// Never holds passwords; present for the field macro.
    pub values: FormData,
    /// Field errors.
    pub errors: FieldErrors,
    /// Form token.
    pub csrf: String,
}

/// `/password-reset` (asking for the link).
#[derive(Template)]
#[template(path = "reset_request.html")]
pub struct ResetRequestPage {
    /// Frame.
    pub chrome: Chrome,
    /// Typed e-mail.
    pub values: FormData,
    /// Field errors.
    pub errors: FieldErrors,
    /// Form token.
    pub csrf: String,
}

/// One row of `/user/sessions`.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Session id (the end form's path).
    pub id: String,
    /// Start, `YYYY-MM-DD HH:MM`.
    pub started: String,
    /// Address at login.
    pub ip: String,
    /// Browser at login.
    pub user_agent: String,
    /// The session this page was loaded with.
    pub current: bool,
}

/// `/user/sessions`.
#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    /// Frame.
    pub chrome: Chrome,
    /// This page of the live sessions, newest first.
    pub sessions: Vec<SessionRow>,
    /// Form token.
    pub csrf: String,
    /// The per-user cap, when it ended older sessions of this user.
    pub capped: Option<u32>,
    /// All live sessions.
    pub total: usize,
    /// This page (from 1) and the number of pages.
    pub page: usize,
    /// Number of pages (at least 1).
    pub pages: usize,
}

/// Render a page with `status`; a template fault is a plain 500, never a panic.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// A message page.
pub fn message(
    status: StatusCode,
    chrome: Chrome,
    paragraphs: &[&str],
    link: Option<(&str, &str)>,
) -> Response {
    html(
        status,
        &MessagePage {
            chrome,
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            link: link.map(|(h, l)| (h.to_owned(), l.to_owned())),
        },
    )
}

/// 429 with `Retry-After`: the same page whatever the password was.
pub fn locked(chrome: Chrome, retry_after_secs: u64) -> Response {
    too_many(
        chrome,
        "Too many failed attempts. For your security, logging in is paused for this account \
         or network.",
        retry_after_secs,
    )
}

/// 429 with `Retry-After` and `why`, saying when to try again.
pub fn too_many(chrome: Chrome, why: &str, retry_after_secs: u64) -> Response {
    let minutes = retry_after_secs.div_ceil(60).max(1);
    let text = format!(
        "{why} Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    );
    let mut r = message(StatusCode::TOO_MANY_REQUESTS, chrome, &[&text], None);
    with_retry_after(&mut r, retry_after_secs);
    r
}

/// Set `Retry-After` (at least one second).
pub fn with_retry_after(r: &mut Response, retry_after_secs: u64) {
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
}

/// 303 to `to`, setting each cookie.
pub fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    add_cookies(&mut r, cookies);
    r
}

/// Append `Set-Cookie` headers.
pub fn add_cookies(r: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(SET_COOKIE, v);
        }
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix-ms time.
pub fn utc_minutes(ms: u64) -> String {
    let iso = authd_auth::tokens::iso8601_ms(ms);
    iso.get(..16).unwrap_or(&iso).replace('T', " ")
}
