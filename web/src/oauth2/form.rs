//! Strict parsing of OAuth2 parameters and client credentials.
//!
//! RFC 6749 §3.1/§3.2: a repeated parameter is an error and an empty one counts as absent;
//! §2.3.1: Basic credentials are form-urlencoded before base64.

use std::collections::HashMap;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::backend::ClientAuth;
use super::error::OAuthError;

/// Longest parameter value we look at; longer ones are refused, not truncated.
const MAX_VALUE: usize = 4096;

/// Parameters of one request, each at most once.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parse `a=b&c=d`; repeated names and oversized values are `invalid_request`.
    pub fn parse(raw: &[u8]) -> Result<Params, OAuthError> {
        let mut m = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            if v.len() > MAX_VALUE {
                return Err(OAuthError::request(format!("parameter {k} is too long")));
            }
            if m.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::request(format!("parameter {k} is repeated")));
            }
        }
        m.retain(|_, v: &mut String| !v.is_empty());
        Ok(Params(m))
    }

    /// A form body, which must be `application/x-www-form-urlencoded`.
    pub fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let ct = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = ct.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Params::parse(body)
    }

    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A parameter's value, owned.
    pub fn owned(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }

    /// A required parameter.
    pub fn require(&self, k: &str) -> Result<String, OAuthError> {
        self.owned(k)
            .ok_or_else(|| OAuthError::request(format!("missing parameter {k}")))
    }
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::client(true);
    let h = h.to_str().map_err(|_| bad())?;
    let (scheme, b64) = h.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    Ok(Some((decode(id), decode(secret))))
}

/// The client's credentials: Basic header or body (`client_id` [+ `client_secret`]), never
/// both methods at once. `None` when the request names no client at all.
pub fn client_auth(headers: &HeaderMap, p: &Params) -> Result<Option<ClientAuth>, OAuthError> {
    if let Some((id, secret)) = basic(headers)? {
        if p.get("client_secret").is_some() {
            return Err(OAuthError::request(
                "use one client authentication method, not two",
            ));
        }
        if p.get("client_id").is_some_and(|c| c != id) {
            return Err(OAuthError::request(
                "client_id differs from the Basic credentials",
            ));
        }
        return Ok(Some(ClientAuth {
            client_id: id,
            secret: Some(secret),
            via_basic: true,
        }));
    }
    Ok(p.owned("client_id").map(|client_id| ClientAuth {
        client_id,
        secret: p.owned("client_secret"),
        via_basic: false,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"a=&b=x+y").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y"));
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_exclusive_with_the_body() {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        let a = client_auth(&h, &Params::default()).unwrap().unwrap();
        assert_eq!(
            (a.client_id.as_str(), a.secret.as_deref()),
            ("my id", Some("s:cret"))
        );
        assert!(a.via_basic);
        let both = Params::parse(b"client_secret=x").unwrap();
        assert!(client_auth(&h, &both).is_err());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        let e = client_auth(&h, &Params::default()).unwrap_err();
        assert!(e.basic);
    }
}
