//! `GET /auth`: NGINX's `auth_request` target, the hot path.
//!
//! Parsing happens here; the decision comes from the node's local replicated state through
//! [`Backend::authorize`], which does no I/O. A 200 has an empty body (so NGINX keeps the
//! upstream connection) and the upstream JWT as the bare value of `Authorization`.

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::accounts::{NotCurrent, PageSession};
use crate::backend::{AuthDecision, Backend, BackendError, BrowserLookup, Credential, WebSettings};
use crate::cookies;

/// Request header NGINX sets to name the scopes a location needs (space-separated, all required).
pub const REQUIRED_SCOPES: &str = "x-required-scopes";
/// How long `/auth` waits for a just-created session to be applied on this node.
const BEHIND_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// How long `/auth` waits for a late lease renewal: a little more than the renewal period
/// (a quarter of the 500 ms default lease).
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_millis(150);
/// Longest bearer token or scope list we look at.
const MAX_LEN: usize = 4096;

fn reason(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "reason": reason }))).into_response()
}

/// Parse the credential: header first, then the NG cookie. `Err` means a malformed header (400).
pub fn credential(
    headers: &HeaderMap,
    cookie_name: &str,
) -> Result<Option<Credential>, &'static str> {
    if let Some(h) = headers.get(AUTHORIZATION) {
        let h = h.to_str().map_err(|_| "malformed Authorization header")?;
        let (scheme, token) = h
            .trim()
            .split_once(' ')
            .ok_or("malformed Authorization header")?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err("unsupported Authorization scheme; use Bearer");
        }
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_LEN || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err("malformed bearer token");
        }
        return Ok(Some(Credential::Bearer(token.to_owned())));
    }
    let values = cookies::values(headers, cookie_name);
    Ok((!values.is_empty()).then_some(Credential::NgCookies(values)))
}

/// Parse `X-Required-Scopes`.
pub fn required_scopes(headers: &HeaderMap) -> Result<Vec<String>, &'static str> {
    let Some(h) = headers.get(REQUIRED_SCOPES) else {
        return Ok(Vec::new());
    };
    let h = h.to_str().map_err(|_| "malformed X-Required-Scopes")?;
    if h.len() > MAX_LEN {
        return Err("X-Required-Scopes too long");
    }
    Ok(h.split_ascii_whitespace().map(str::to_owned).collect())
}

/// Legacy mode: add the `tapir_session` values, tried after the NG cookie (DESIGN.md order).
pub fn with_legacy(
    cred: Option<Credential>,
    headers: &HeaderMap,
    legacy: &str,
) -> Option<Credential> {
    let tapir = cookies::values(headers, legacy);
    if tapir.is_empty() {
        return cred;
    }
    match cred {
        None => Some(Credential::Cookies {
            ng: Vec::new(),
            tapir,
        }),
        Some(Credential::NgCookies(ng)) => Some(Credential::Cookies { ng, tapir }),
        other => other,
    }
}

/// The session cookie values a browser sent: every NG value, then (legacy mode) every
/// `tapir_session` value, in order.
pub fn browser_cookies(headers: &HeaderMap, settings: &WebSettings) -> (Vec<String>, Vec<String>) {
    let ng = cookies::values(headers, &settings.cookie.name);
    let tapir = settings
        .legacy_cookie
        .as_ref()
        .map(|l| cookies::values(headers, &l.name))
        .unwrap_or_default();
    (ng, tapir)
}

/// What a decision still needs before it is final.
pub enum Pending {
    /// A read-lease renewal.
    Lease,
    /// This node to apply a log index.
    Applied(u64),
    /// One database check of a legacy cookie.
    Legacy(String),
}

/// A decision that may be pending on this node catching up.
pub trait Settles {
    /// What it waits for, if anything.
    fn pending(&self) -> Option<Pending>;
}

impl Settles for AuthDecision {
    fn pending(&self) -> Option<Pending> {
        match self {
            AuthDecision::NotCurrent => Some(Pending::Lease),
            AuthDecision::Behind(i) => Some(Pending::Applied(*i)),
            AuthDecision::Legacy(v) => Some(Pending::Legacy(v.clone())),
            _ => None,
        }
    }
}

impl Settles for BrowserLookup {
    fn pending(&self) -> Option<Pending> {
        match self {
            BrowserLookup::NotCurrent => Some(Pending::Lease),
            BrowserLookup::Behind(i) => Some(Pending::Applied(*i)),
            BrowserLookup::Legacy(v) => Some(Pending::Legacy(v.clone())),
            _ => None,
        }
    }
}

/// Most waits one request may cost (a lease renewal, a catch-up, a legacy check or two).
const ROUNDS: usize = 4;

/// Decide; while the decision is pending, do what it needs (wait for a late lease renewal or
/// for a session created through another node, check a new legacy cookie once) and decide
/// again. The one place `/auth` and the pages wait. `Err`: why this node cannot answer (503).
pub async fn settle<B: Backend, D: Settles>(b: &B, decide: impl Fn() -> D) -> Result<D, String> {
    for _ in 0..ROUNDS {
        let d = decide();
        match d.pending() {
            None => return Ok(d),
            Some(Pending::Lease) => {
                if !b.wait_lease(LEASE_WAIT).await {
                    return Err("this node is not current with the cluster; retry".into());
                }
            }
            Some(Pending::Applied(index)) => {
                if !b.wait_applied(index, BEHIND_WAIT).await {
                    return Err("this node is behind the cluster; retry".into());
                }
            }
            // A refused cookie is remembered, so the next decision ignores it.
            Some(Pending::Legacy(value)) => {
                if let Err(BackendError::Unavailable(why)) = b.validate_legacy(value).await {
                    return Err(why);
                }
            }
        }
    }
    Err("this node is behind the cluster; retry".into())
}

/// The pages' login: the session the browser's cookies name by `/auth`'s rule, or `None`;
/// `Err` when this node may not vouch for one now.
pub async fn browser_session<B: Backend>(
    b: &B,
    headers: &HeaderMap,
) -> Result<Option<PageSession>, NotCurrent> {
    let (ng, tapir) = browser_cookies(headers, b.settings());
    if ng.is_empty() && tapir.is_empty() {
        return Ok(None);
    }
    match settle(b, || b.browser_session(&ng, &tapir)).await {
        Ok(BrowserLookup::Session(s)) => Ok(Some(s)),
        Ok(_) => Ok(None),
        Err(_) => Err(NotCurrent),
    }
}

/// The handler.
pub async fn auth<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    let settings = b.settings();
    let (cred, required) = match (
        credential(&headers, &settings.cookie.name),
        required_scopes(&headers),
    ) {
        (Ok(c), Ok(r)) => (c, r),
        (Err(e), _) | (_, Err(e)) => return reason(StatusCode::BAD_REQUEST, e),
    };
    let cred = match &settings.legacy_cookie {
        Some(l) => with_legacy(cred, &headers, &l.name),
        None => cred,
    };
    let anonymous_ok = !settings.require_auth && required.is_empty();
    let decision = settle(&b, || b.authorize(cred.clone(), &required))
        .await
        .unwrap_or_else(AuthDecision::Unavailable);
    let mut resp = match decision {
        AuthDecision::Anonymous if anonymous_ok => StatusCode::OK.into_response(),
        AuthDecision::Anonymous => reason(StatusCode::UNAUTHORIZED, "authentication required"),
        AuthDecision::Allow(jwt) => match HeaderValue::from_str(&jwt) {
            Ok(v) => {
                let mut r = StatusCode::OK.into_response();
                r.headers_mut().insert(AUTHORIZATION, v);
                r
            }
            Err(_) => reason(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode the upstream token",
            ),
        },
        AuthDecision::Unauthorized {
            reason: why,
            clear_cookie,
        } => {
            let mut r = reason(StatusCode::UNAUTHORIZED, &why);
            if clear_cookie {
                for c in settings.logout_cookies() {
                    if let Ok(v) = HeaderValue::from_str(&c) {
                        r.headers_mut().append(SET_COOKIE, v);
                    }
                }
            }
            r
        }
        AuthDecision::Forbidden(missing) => (
            StatusCode::FORBIDDEN,
            Json(json!({"reason": "insufficient scope", "missing": missing})),
        )
            .into_response(),
        AuthDecision::Unavailable(why) => reason(StatusCode::SERVICE_UNAVAILABLE, &why),
        AuthDecision::NotCurrent => reason(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node is not current with the cluster; retry",
        ),
        AuthDecision::Behind(_) | AuthDecision::Legacy(_) => reason(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node is behind the cluster; retry",
        ),
    };
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use axum::http::header::COOKIE;
    use proptest::prelude::*;

    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                m.append(*k, v);
            }
        }
        m
    }

    #[test]
    fn header_wins_over_cookie_and_bad_headers_are_400() {
        let both = h(&[("authorization", "Bearer tok"), ("cookie", "C=v")]);
        assert_eq!(
            credential(&both, "C"),
            Ok(Some(Credential::Bearer("tok".into())))
        );
        assert_eq!(
            credential(&h(&[("cookie", "C=v; C=w")]), "C"),
            Ok(Some(Credential::NgCookies(vec!["v".into(), "w".into()])))
        );
        assert_eq!(credential(&h(&[]), "C"), Ok(None));
        for bad in ["abc", "Basic dXNlcjpw", "Bearer ", "Bearer a b"] {
            assert!(
                credential(&h(&[("authorization", bad)]), "C").is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            required_scopes(&h(&[("x-required-scopes", " a:b  c:d ")])),
            Ok(vec!["a:b".into(), "c:d".into()])
        );
    }

    proptest! {
        #[test]
        fn arbitrary_header_bytes_never_panic(auth in proptest::collection::vec(any::<u8>(), 0..300),
                                              cookie in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut m = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&auth) { m.insert(AUTHORIZATION, v); }
            if let Ok(v) = HeaderValue::from_bytes(&cookie) { m.insert(COOKIE, v); }
            let _ = credential(&m, "ARXIVNG_SESSION_ID");
            let _ = required_scopes(&m);
        }
    }
}
