//! The accounts pages: server-rendered (askama), working without JavaScript, the same on every
//! node. Every mutating form carries a CSRF token bound to the browser (a random cookie) and,
//! once logged in, to the session; a POST without a valid one changes nothing (403).

mod account;
pub mod applications;
mod captcha;
mod extract;
pub mod fields;
mod login;
mod register;
mod reset;
mod sessions;
pub mod taxonomy;
pub mod tokens;
mod views;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::accounts::{Accounts, PageSession};
use crate::cookies;
use fields::FormData;
use views::Chrome;
pub(crate) use views::html;

/// Name of the per-browser CSRF cookie. Over HTTPS it carries the `__Host-` prefix, so no
/// sibling host can set it for this one (browsers take such a cookie only with `Secure`,
/// `Path=/` and no `Domain`, which is how it is set); plain HTTP (dev) keeps the bare name.
fn csrf_cookie_name<B: Accounts>(b: &B) -> &'static str {
    if b.settings().cookie.secure {
        "__Host-authd_csrf"
    } else {
        "authd_csrf"
    }
}

/// The accounts routes of DESIGN.md ("Accounts routes").
pub fn router<B: Accounts>() -> Router<B> {
    Router::new()
        .route("/login", get(login::form::<B>).post(login::submit::<B>))
        .route(
            "/logout",
            get(login::logout::<B>).post(login::logout_form::<B>),
        )
        .route(
            "/register",
            get(register::form::<B>).post(register::submit::<B>),
        )
        .route("/captcha", get(register::captcha_image::<B>))
        .route("/verify", get(register::verify::<B>))
        .route("/user", get(account::view::<B>))
        .route(
            "/user/edit",
            get(account::edit_form::<B>).post(account::edit::<B>),
        )
        .route(
            "/user/password",
            get(account::password_form::<B>).post(account::password::<B>),
        )
        .route(
            "/password-reset",
            get(reset::form::<B>).post(reset::submit::<B>),
        )
        .route("/user/sessions", get(sessions::list::<B>))
        .route("/user/sessions/end-all", post(sessions::end_all::<B>))
        .route("/user/sessions/{id}/end", post(sessions::end_one::<B>))
        .route("/static/authd.css", get(stylesheet))
        .route("/auth_status", get(auth_status))
}

/// `GET /auth_status`: the original accounts service's health probe (reference §4), kept for
/// the probes of existing deployments: 200, body `OK`.
async fn auth_status() -> &'static str {
    "OK"
}

async fn stylesheet() -> Response {
    let mut r = include_str!("../../static/authd.css").into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

/// What a page request brings: the browser's CSRF cookie (or a new one to set), its session,
/// its address.
pub struct Ctx {
    csrf_cookie: String,
    set_csrf_cookie: bool,
    /// The logged-in session, if any.
    pub session: Option<PageSession>,
    /// A session cookie came with the request but this node may not vouch for it now.
    pub not_current: bool,
    /// Its username, for the banner.
    pub username: Option<String>,
    /// Client address (trusted-proxy aware).
    pub ip: IpAddr,
    /// Browser, at most 512 characters.
    pub user_agent: Option<String>,
}

impl Ctx {
    /// Read the request's cookies and resolve its session.
    pub async fn load<B: Accounts>(b: &B, peer: SocketAddr, headers: &HeaderMap) -> Ctx {
        let existing = cookies::values(headers, csrf_cookie_name(b))
            .into_iter()
            .find(|v| v.len() == 32 && v.bytes().all(|c| c.is_ascii_hexdigit()));
        let (csrf_cookie, set_csrf_cookie) = match existing {
            Some(v) => (v, false),
            None => (tokens::random_hex().unwrap_or_default(), true),
        };
        let (session, not_current) = match crate::authn::browser_session(b, headers).await {
            Ok(s) => (s, false),
            Err(crate::accounts::NotCurrent) => (None, true),
        };
        let username = session
            .as_ref()
            .and_then(|s| b.account(s.user_id))
            .map(|a| a.username);
        Ctx {
            csrf_cookie,
            set_csrf_cookie,
            session,
            not_current,
            username,
            ip: client_ip(peer.ip(), headers, &b.settings().trusted_proxies),
            user_agent: headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
        }
    }

    fn session_id(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.session_id.as_str())
    }

    /// The token this browser's forms must carry.
    pub fn csrf<B: Accounts>(&self, b: &B) -> String {
        tokens::csrf_token(b.page_key(), &self.csrf_cookie, self.session_id(), now_s())
    }

    /// Whether the form carries this browser's token (and the cookie was sent, not just made).
    pub fn csrf_ok<B: Accounts>(&self, b: &B, form: &FormData) -> bool {
        !self.set_csrf_cookie
            && tokens::csrf_ok(
                b.page_key(),
                &self.csrf_cookie,
                self.session_id(),
                form.get("csrf_token"),
                now_s(),
                b.settings().login_csrf_ttl_secs,
            )
    }

    /// The frame for a page titled `title`.
    pub fn chrome<B: Accounts>(&self, b: &B, title: &str) -> Chrome {
        Chrome {
            title: title.to_owned(),
            username: self.username.clone(),
            csrf: self.csrf(b),
            notice: None,
        }
    }

    /// Add the CSRF cookie to a response if this request had none.
    pub fn finish<B: Accounts>(&self, b: &B, mut r: Response) -> Response {
        if self.set_csrf_cookie && !self.csrf_cookie.is_empty() {
            let secure = if b.settings().cookie.secure {
                "; Secure"
            } else {
                ""
            };
            let c = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
                csrf_cookie_name(b),
                self.csrf_cookie
            );
            views::add_cookies(&mut r, &[c]);
        }
        r
    }

    /// 403 for a form without a valid token: nothing was changed.
    pub fn csrf_refused<B: Accounts>(&self, b: &B) -> Response {
        tracing::info!(ip = %self.ip, "form refused: missing or invalid CSRF token");
        metrics::counter!("authd_csrf_refused_total").increment(1);
        let r = views::message(
            StatusCode::FORBIDDEN,
            self.chrome(b, "Form expired"),
            &[
                "This form has expired or was not sent from this site, so nothing was changed.",
                "Go back, reload the page and try again.",
            ],
            None,
        );
        self.finish(b, r)
    }

    /// 303 to the login page, coming back to `back` afterwards.
    pub fn to_login(&self, back: &str) -> Response {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next_page", back)
            .finish();
        views::see_other(&format!("/login?{q}"), &[])
    }

    /// Record a security event from this request (its address) with `result`'s outcome.
    pub fn audit<B: Accounts, T, E: std::fmt::Display>(
        &self,
        b: &B,
        actor: &str,
        action: &'static str,
        target: &str,
        result: &Result<T, E>,
    ) {
        b.audit(crate::audit::AuditRecord {
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            ip: self.ip.to_string(),
            outcome: crate::audit::outcome(result),
            class: crate::audit::user_event_class(action),
        });
    }

    /// 503 page when the cluster cannot take a write.
    pub fn unavailable<B: Accounts>(&self, b: &B) -> Response {
        let r = views::message(
            StatusCode::SERVICE_UNAVAILABLE,
            self.chrome(b, "Try again shortly"),
            &["The service is busy or briefly unavailable; nothing was changed. Please try again."],
            None,
        );
        self.finish(b, r)
    }
}

/// Send a mail without making the page wait for it: how long a page takes must not tell
/// whether an address has an account (only known addresses get mail).
pub fn mail_in_background<B: Accounts>(b: &B, to: String, subject: &'static str, body: String) {
    let b = b.clone();
    tokio::spawn(async move {
        if let Err(e) = b.send_mail(to, subject.into(), body).await {
            tracing::warn!(error = %e, subject, "mail not sent");
        }
    });
}

/// The client's address: `X-Real-IP` when the peer is a trusted proxy, else the peer itself.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// A form body, refusing anything but urlencoded (400 page).
pub fn form_body(headers: &HeaderMap, body: &[u8]) -> Option<FormData> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.starts_with("application/x-www-form-urlencoded")
        .then(|| FormData::parse(body))
}

/// Unix seconds now.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
