//! Minimal `/login` and `/logout` so sessions can be created and ended over HTTP. The full
//! accounts pages (templates, CSRF, lockout) build on these.

use std::net::{IpAddr, SocketAddr};

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::backend::{Backend, BackendError, LoginRequest};
use crate::{cookies, next_page};

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// Username or e-mail.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// Where to go afterwards.
    #[serde(default)]
    pub next_page: Option<String>,
}

/// `?next_page=` on GET routes.
#[derive(Debug, Deserialize)]
pub struct Next {
    /// Where to go afterwards.
    pub next_page: Option<String>,
}

const GENERIC_FAILURE: &str = "Invalid username or password.";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, error: Option<&str>, next: Option<&str>) -> Response {
    let err = error
        .map(|e| format!("<p role=\"alert\" id=\"login-error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let next = next
        .map(|n| {
            format!(
                "<input type=\"hidden\" name=\"next_page\" value=\"{}\">",
                escape(n)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in | arXiv</title></head><body>\
<h1>Log in to arXiv</h1>{err}<form method=\"post\" action=\"/login\">{next}\
<label for=\"username\">Username or e-mail</label> <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
<label for=\"password\">Password</label> <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Log in</button></form></body></html>"
    );
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &str, set_cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(SET_COOKIE, c);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn target<B: Backend>(b: &B, next: Option<&str>, fallback: &str) -> String {
    next.and_then(|n| next_page::safe(n, &b.settings().redirect_hosts))
        .unwrap_or_else(|| fallback.to_owned())
}

/// The client's address: `X-Real-IP` when the peer is a trusted proxy, else the peer itself.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// `GET /login`
pub async fn form(Query(q): Query<Next>) -> Response {
    page(StatusCode::OK, None, q.next_page.as_deref())
}

/// `POST /login`: 303 with the cookie on success, 400 with one generic message otherwise.
pub async fn submit<B: Backend>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if f.username.trim().is_empty()
        || f.password.is_empty()
        || f.username.len() > 320
        || f.password.len() > 1024
    {
        return page(
            StatusCode::BAD_REQUEST,
            Some(GENERIC_FAILURE),
            f.next_page.as_deref(),
        );
    }
    let req = LoginRequest {
        login: f.username.trim().to_owned(),
        password: f.password,
        ip: Some(client_ip(peer.ip(), &headers, &b.settings().trusted_proxies).to_string()),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    };
    match b.login(req).await {
        Ok(ok) => {
            let to = target(&b, f.next_page.as_deref(), &b.settings().default_next_page);
            redirect(
                &to,
                Some(b.settings().cookie.set(&ok.cookie, ok.max_age_secs)),
            )
        }
        Err(BackendError::Invalid(_) | BackendError::NotFound(_)) => page(
            StatusCode::BAD_REQUEST,
            Some(GENERIC_FAILURE),
            f.next_page.as_deref(),
        ),
        Err(e @ BackendError::Unavailable(_)) => {
            tracing::warn!(error = %e, "login unavailable");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Login is temporarily unavailable; please try again."),
                None,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("Something went wrong; please try again."),
                None,
            )
        }
    }
}

/// `GET /logout` (and POST): end the session, clear the cookie, 303 onwards.
pub async fn logout<B: Backend>(
    State(b): State<B>,
    Query(q): Query<Next>,
    headers: HeaderMap,
) -> Response {
    let values = cookies::values(&headers, &b.settings().cookie.name);
    if !values.is_empty()
        && let Err(e) = b.logout(values).await
    {
        tracing::warn!(error = %e, "logout could not end the session");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Logout is temporarily unavailable; please try again."),
            None,
        );
    }
    redirect(
        &target(&b, q.next_page.as_deref(), "/login"),
        Some(b.settings().cookie.clear()),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn real_ip_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("203.0.113.7"));
        let proxy: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [198, 51, 100, 1].into();
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "203.0.113.7");
        assert_eq!(
            client_ip(other, &h, &[proxy]),
            other,
            "untrusted peers cannot claim an address"
        );
        h.insert("x-real-ip", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(proxy, &h, &[proxy]), proxy);
    }
}
