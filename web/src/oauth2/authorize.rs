//! `GET/POST /oauth2/authorize` (RFC 6749 §4.1.1-§4.1.2, RFC 7636).
//!
//! The client and redirect URI are checked first: if either is wrong the user gets an error
//! page, never a redirect (§4.1.2.1), so authd cannot be used as an open redirector. Every
//! other error goes back to the client with `state`. The consent form carries the request's
//! parameters verbatim and a CSRF token bound to them and to the session; the POST checks
//! everything again.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::backend::{ClientInfo, CodeRequest, OAuthBackend, SessionUser};
use super::error::{OAuthError, OAuthErrorCode};
use super::form::Params;
use super::{csrf, labels, pages, redirect_uri};

/// Parameters posted back by the consent form, in a fixed order (the CSRF binding).
const FIELDS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// A request whose client and redirect URI are valid: errors may now go to the client.
struct Target {
    client: ClientInfo,
    redirect_uri: String,
    state: Option<String>,
}

impl Target {
    fn fail(&self, e: &OAuthError) -> Response {
        pages::to_client(
            &self.redirect_uri,
            &[
                ("error", Some(e.code.as_str())),
                ("error_description", Some(&e.description)),
                ("state", self.state.as_deref()),
            ],
        )
    }
}

/// The client and redirect URI; `Err` is the message of the error page.
fn target<B: OAuthBackend>(b: &B, p: &Params) -> Result<Target, &'static str> {
    let bad = Err;
    let Some(client) = p.get("client_id").and_then(|id| b.oauth_client(id)) else {
        return bad("The application is not registered (unknown or missing client_id).");
    };
    let redirect_uri = match p.get("redirect_uri") {
        Some(u)
            if client
                .redirect_uris
                .iter()
                .any(|r| redirect_uri::matches(r, u)) =>
        {
            u.to_owned()
        }
        Some(_) => return bad("The redirect URI is not registered for this application."),
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return bad("This application must name its redirect URI."),
        },
    };
    Ok(Target {
        client,
        redirect_uri,
        state: p.owned("state"),
    })
}

/// Everything but the client and redirect URI; `user` narrows the scopes when known.
fn check(
    p: &Params,
    client: &ClientInfo,
    user: Option<&SessionUser>,
) -> Result<Vec<String>, OAuthError> {
    match p.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        None => return Err(OAuthError::request("missing parameter response_type")),
    }
    if !client.grant_types.contains("authorization_code") {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        ));
    }
    match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (Some(c), Some("S256")) if authd_auth::pkce::well_formed(c) => {}
        (Some(_), Some("S256")) => return Err(OAuthError::request("malformed code_challenge")),
        (Some(_), _) => {
            return Err(OAuthError::request("code_challenge_method must be S256"));
        }
        (None, Some(_)) => {
            return Err(OAuthError::request(
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.public => {
            return Err(OAuthError::request("public clients must use PKCE (S256)"));
        }
        (None, None) => {}
    }
    let requested: Vec<&str> = match p.get("scope") {
        Some(s) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        None => client.scopes.iter().map(String::as_str).collect(),
    };
    let mut holders = vec![&client.scopes];
    if let Some(u) = user {
        holders.push(&u.scopes);
    }
    let granted = authd_auth::grantable(requested, &holders)
        .map_err(|s| OAuthError::scope(format!("malformed scope {s:?}")))?;
    if granted.is_empty() {
        return Err(OAuthError::scope(
            "none of the requested scopes can be granted",
        ));
    }
    Ok(granted)
}

async fn session<B: OAuthBackend>(
    b: &B,
    headers: &HeaderMap,
) -> Result<Option<SessionUser>, Response> {
    match crate::authn::browser_session(b, headers).await {
        Ok(s) => Ok(s.and_then(|s| b.session_user(&s))),
        Err(_) => Err(pages::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is briefly unavailable. Please try again.",
        )),
    }
}

fn binding(p: &Params) -> Vec<&str> {
    FIELDS
        .iter()
        .map(|f| p.get(f).unwrap_or_default())
        .collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn origin(uri: &str) -> String {
    url::Url::parse(uri).map_or_else(|_| String::new(), |u| u.origin().ascii_serialization())
}

fn http_url(u: &str) -> String {
    let lower = u.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        u.to_owned()
    } else {
        String::new()
    }
}

/// `GET /oauth2/authorize`: validate, send anonymous users to log in, show the consent page.
pub async fn show<B: OAuthBackend>(
    State(b): State<B>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let raw = q.unwrap_or_default();
    let p = match Params::parse(raw.as_bytes()) {
        Ok(p) => p,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, e.description),
    };
    let t = match target(&b, &p) {
        Ok(t) => t,
        Err(m) => return pages::error(StatusCode::BAD_REQUEST, m),
    };
    if let Err(e) = check(&p, &t.client, None) {
        return t.fail(&e);
    }
    let user = match session(&b, &headers).await {
        Ok(Some(u)) => u,
        Ok(None) => return pages::to_login(&format!("/oauth2/authorize?{raw}")),
        Err(page) => return page,
    };
    let granted = match check(&p, &t.client, Some(&user)) {
        Ok(g) => g,
        Err(e) => return t.fail(&e),
    };
    let csrf_token = csrf::mint(
        &b.oauth_settings().csrf_key,
        &user.session_id,
        &binding(&p),
        now_secs(),
    );
    let page = pages::Consent {
        client_name: t.client.name.clone(),
        client_url: http_url(&t.client.url),
        client_description: t.client.description.clone(),
        username: user.username,
        scopes: granted
            .into_iter()
            .map(|s| {
                let l = labels::label(&s);
                (s, l)
            })
            .collect(),
        fields: FIELDS
            .iter()
            .filter_map(|f| p.owned(f).map(|v| (*f, v)))
            .collect(),
        csrf_token,
    };
    pages::consent(&page, &origin(&t.redirect_uri))
}

/// `POST /oauth2/authorize`: the consent decision.
pub async fn decide<B: OAuthBackend>(
    State(b): State<B>,
    addr: crate::audit::ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match Params::form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, e.description),
    };
    let t = match target(&b, &p) {
        Ok(t) => t,
        Err(m) => return pages::error(StatusCode::BAD_REQUEST, m),
    };
    let user = match session(&b, &headers).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return pages::error(
                StatusCode::UNAUTHORIZED,
                "Your session has ended. Log in and start again from the application.",
            );
        }
        Err(page) => return page,
    };
    let token = p.get("csrf_token").unwrap_or_default();
    if !csrf::verify(
        &b.oauth_settings().csrf_key,
        &user.session_id,
        &binding(&p),
        token,
        now_secs(),
    ) {
        return pages::error(
            StatusCode::FORBIDDEN,
            "The form expired or was not issued to you. Start again from the application.",
        );
    }
    let consent = |outcome: &str| {
        let (b, u) = (&b, &user.username);
        super::audit::record(b, &addr, u, "oauth2_consent", &t.client.id, outcome);
    };
    match p.get("decision") {
        Some("approve") => {}
        Some("deny") => {
            consent("denied");
            return t.fail(&OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "the user declined",
            ));
        }
        _ => return pages::error(StatusCode::BAD_REQUEST, "Choose Authorize or Cancel."),
    }
    let granted = match check(&p, &t.client, Some(&user)) {
        Ok(g) => g,
        Err(e) => return t.fail(&e),
    };
    let req = CodeRequest {
        client_id: t.client.id.clone(),
        user_id: user.user_id,
        redirect_uri: p.owned("redirect_uri"),
        scopes: granted,
        code_challenge: p.owned("code_challenge"),
    };
    let code = b.create_code(req).await;
    // Over the rate: a 429, and nothing for the audit log (a burst must not flood it).
    if let Err(OAuthError {
        retry_after: Some(secs),
        ..
    }) = &code
    {
        return pages::retry_later(*secs);
    }
    consent(&match &code {
        Ok(_) => "approved".to_owned(),
        Err(e) => e.description.clone(),
    });
    match code {
        Ok(code) => pages::to_client(
            &t.redirect_uri,
            &[("code", Some(&code)), ("state", t.state.as_deref())],
        ),
        Err(e) => t.fail(&e),
    }
}
