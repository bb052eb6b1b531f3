//! The authorization endpoint's responses: askama pages with security headers, and redirects
//! (to the client with a code or an error, or to the login page).

use askama::Template;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The consent page.
#[derive(Template)]
#[template(path = "oauth2/consent.html")]
pub struct Consent {
    /// Client display name.
    pub client_name: String,
    /// Client home page (only http(s), else empty).
    pub client_url: String,
    /// What the client is for.
    pub client_description: String,
    /// Who is consenting.
    pub username: String,
    /// (scope, label) pairs being granted.
    pub scopes: Vec<(String, String)>,
    /// The request's parameters, posted back verbatim.
    pub fields: Vec<(&'static str, String)>,
    /// CSRF token bound to the session and the fields.
    pub csrf_token: String,
}

/// The page shown when the request cannot go back to the client.
#[derive(Template)]
#[template(path = "oauth2/error.html")]
pub struct ErrorPage {
    /// What went wrong.
    pub message: String,
}

/// The headers of every page; `form_origin` is where the consent form may lead (browsers
/// apply `form-action` to the redirect that follows the POST).
fn with_headers(mut r: Response, form_origin: Option<&str>) -> Response {
    let form_action = match form_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
frame-ancestors 'none'; base-uri 'none'"
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html(status: StatusCode, page: &impl Template, origin: Option<&str>) -> Response {
    with_headers(crate::pages::html(status, page), origin)
}

/// The consent page; its form may lead to the client's redirect origin.
pub fn consent(page: &Consent, redirect_origin: &str) -> Response {
    let origin = redirect_origin
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\''))
        .then_some(redirect_origin);
    html(StatusCode::OK, page, origin)
}

/// An error page: never a redirect, for requests whose client or redirect URI is not valid.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    html(
        status,
        &ErrorPage {
            message: message.into(),
        },
        None,
    )
}

/// 429 with `Retry-After`: too many grants for this user or client; nothing was granted.
pub fn retry_later(retry_after_secs: u64) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many authorizations in a short time. Wait a moment and start again from the application.",
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    r
}

/// 303 to `to`.
pub fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(LOCATION, v);
            with_headers(r, None)
        }
        Err(_) => error(StatusCode::BAD_REQUEST, "the redirect target is not valid"),
    }
}

/// Back to the client's (validated) redirect URI with these parameters added to its query.
pub fn to_client(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return error(StatusCode::BAD_REQUEST, "the redirect URI is not valid");
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    see_other(u.as_str())
}

/// To the login page, which comes back to `return_to` (a same-site path) afterwards.
pub fn to_login(return_to: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    see_other(&format!("/login?next_page={next}"))
}
