//! Token formats: the NG session cookie (`ARXIVNG_SESSION_ID`) and the upstream JWT that
//! `/auth` hands to services (reference §2.1, §2.2), both HS256 with the shared JWT secret.
//!
//! Unlike the original, both carry `exp`, every claim is required, and decoding accepts HS256
//! only (no `alg` confusion).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a token was refused; the text is safe to return to a client.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Bad signature, wrong algorithm, malformed, missing claim.
    #[error("invalid token")]
    Invalid,
    /// Past its `exp`.
    #[error("expired token")]
    Expired,
    /// Signed with a key id the verifier does not know (yet): refresh the JWKS and retry.
    #[error("unknown signing key")]
    UnknownKey,
    /// We could not produce a token (never a client mistake).
    #[error("could not sign token: {0}")]
    Sign(String),
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        }
    }
}

/// HS256 signing and verification keys, parsed once.
#[derive(Clone)]
pub struct Hs256Keys {
    enc: EncodingKey,
    dec: DecodingKey,
}

impl std::fmt::Debug for Hs256Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hs256Keys(<redacted>)")
    }
}

impl Hs256Keys {
    /// Keys from the shared JWT secret.
    pub fn new(secret: &[u8]) -> Hs256Keys {
        Hs256Keys {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
        }
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.enc)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }

    fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        leeway: u64,
    ) -> Result<T, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = leeway;
        v.validate_exp = true;
        v.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        Ok(jsonwebtoken::decode::<T>(token, &self.dec, &v)?.claims)
    }
}

/// The NG session cookie's claims; all required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NgCookie {
    /// Owner, decimal string.
    pub user_id: String,
    /// Session id (128 random bits, hex).
    pub session_id: String,
    /// Per-session random value (128 bits, hex), compared with the stored one.
    pub nonce: String,
    /// End of the session, ISO-8601 (kept for compatibility with the original readers).
    pub expires: String,
    /// End of the session, Unix seconds.
    pub exp: u64,
    /// Raft log index of the entry that created the session: a node that has not applied it
    /// yet waits for it instead of calling a fresh session unknown.
    pub idx: u64,
}

impl NgCookie {
    /// Sign the cookie value.
    pub fn encode(&self, keys: &Hs256Keys) -> Result<String, TokenError> {
        keys.sign(self)
    }

    /// Verify signature, algorithm, the presence of every claim and both expiries (no
    /// leeway): `exp` and the original's `expires`, which older readers trust, so a cookie
    /// is never good for one reader and dead for another.
    pub fn decode(keys: &Hs256Keys, token: &str) -> Result<NgCookie, TokenError> {
        let c: NgCookie = keys.verify(token, 0)?;
        let expires =
            time::OffsetDateTime::parse(&c.expires, &time::format_description::well_known::Rfc3339)
                .map_err(|_| TokenError::Invalid)?;
        if expires <= time::OffsetDateTime::now_utc() {
            return Err(TokenError::Expired);
        }
        Ok(c)
    }
}

/// A user as upstream services see it (reference §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamUser {
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Decimal id.
    pub user_id: String,
    /// Display name, when known.
    pub name: Option<crate::FullName>,
    /// Profile, when known.
    pub profile: Option<crate::Profile>,
    /// E-mail verified.
    pub verified: bool,
}

/// An API client as upstream services see it (reference §1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamClient {
    /// Responsible user.
    pub owner_id: String,
    /// Client id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Home page.
    pub url: String,
    /// Description.
    pub description: String,
    /// First registered redirect URI.
    pub redirect_uri: Option<String>,
}

/// What the bearer may do (reference §1.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Authorizations {
    /// Legacy capability code.
    pub classic: u32,
    /// Endorsed categories.
    pub endorsements: Vec<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

/// The upstream JWT: the session's JSON form plus `iat`/`exp`, so a leaked one dies quickly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamSession {
    /// Session id, or a token's id for bearer tokens.
    pub session_id: String,
    /// ISO-8601 start.
    pub start_time: String,
    /// The user, unless this is a client-only token.
    pub user: Option<UpstreamUser>,
    /// The client, for API tokens.
    pub client: Option<UpstreamClient>,
    /// ISO-8601 end of the session.
    pub end_time: Option<String>,
    /// Scopes and legacy authorizations.
    pub authorizations: Option<Authorizations>,
    /// Client address at login.
    pub ip_address: Option<String>,
    /// Reverse DNS of it (never looked up by authd; kept for the format).
    pub remote_host: Option<String>,
    /// Always null: the session nonce stays inside authd.
    pub nonce: Option<String>,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expiry, Unix seconds (short: default 60 s).
    pub exp: u64,
}

impl UpstreamSession {
    /// Sign for the upstream `Authorization` header.
    pub fn encode(&self, keys: &Hs256Keys) -> Result<String, TokenError> {
        keys.sign(self)
    }

    /// Verify a token received from NGINX (downstream side); `leeway` seconds of clock skew.
    pub fn decode(
        keys: &Hs256Keys,
        token: &str,
        leeway: u64,
    ) -> Result<UpstreamSession, TokenError> {
        keys.verify(token, leeway)
    }

    /// Verify an EdDSA token by its `kid` against keys from authd's JWKS (downstream side).
    pub fn decode_eddsa(
        keys: &crate::signing::PublicKeys,
        token: &str,
        leeway: u64,
    ) -> Result<UpstreamSession, TokenError> {
        keys.verify(token, leeway)
    }
}

/// Unix milliseconds as Python's `isoformat()` prints UTC: `2024-05-01T12:00:00.123456+00:00`.
pub fn iso8601_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cookie(exp: u64) -> NgCookie {
        NgCookie {
            user_id: "1".into(),
            session_id: "s".into(),
            nonce: "n".into(),
            expires: iso8601_ms(exp * 1000),
            exp,
            idx: 7,
        }
    }

    #[test]
    fn cookie_round_trip_and_refusals() {
        let k = Hs256Keys::new(b"secret-one");
        let far = 4_000_000_000;
        let t = cookie(far).encode(&k).unwrap();
        assert_eq!(NgCookie::decode(&k, &t).unwrap(), cookie(far));
        assert_eq!(
            NgCookie::decode(&Hs256Keys::new(b"other"), &t),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            NgCookie::decode(&k, &cookie(1).encode(&k).unwrap()),
            Err(TokenError::Expired)
        );
        assert_eq!(NgCookie::decode(&k, "garbage"), Err(TokenError::Invalid));
        // `expires` counts as much as `exp`: past or malformed, the cookie is refused.
        let stale = NgCookie {
            expires: iso8601_ms(1_000),
            ..cookie(far)
        };
        assert_eq!(
            NgCookie::decode(&k, &stale.encode(&k).unwrap()),
            Err(TokenError::Expired)
        );
        let bad = NgCookie {
            expires: "tomorrow".into(),
            ..cookie(far)
        };
        assert_eq!(
            NgCookie::decode(&k, &bad.encode(&k).unwrap()),
            Err(TokenError::Invalid)
        );
        // A token missing a claim (the original accepted cookies without nonce) is refused.
        #[derive(Serialize)]
        struct Partial {
            user_id: String,
            session_id: String,
            expires: String,
            exp: u64,
        }
        let p = Partial {
            user_id: "1".into(),
            session_id: "s".into(),
            expires: String::new(),
            exp: far,
        };
        assert_eq!(
            NgCookie::decode(&k, &k.sign(&p).unwrap()),
            Err(TokenError::Invalid)
        );
        // alg=none is refused.
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(NgCookie::decode(&k, &none), Err(TokenError::Invalid));
    }

    #[test]
    fn iso_format_matches_python_isoformat() {
        assert_eq!(
            iso8601_ms(1_714_564_800_123),
            "2024-05-01T12:00:00.123000+00:00"
        );
    }
}

#[cfg(test)]
#[path = "tokens_props.rs"]
mod props;
