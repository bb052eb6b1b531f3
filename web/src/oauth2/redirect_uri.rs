//! Redirect URIs: which may be registered for a client, and which presented one matches a
//! registered one. The one home of both rules (client registration, `/oauth2/authorize`).
//!
//! Registered URIs are absolute, in the `url` crate's canonical form (what is stored is what
//! is compared), without user information or fragment, and one of:
//! - `https://` on any host;
//! - `http://` on a loopback host only: `127.0.0.1`, `[::1]` or exactly `localhost`, any port
//!   (RFC 8252 §7.3, native apps);
//! - a private-use scheme in reverse-domain form with a dot, then a path (RFC 8252 §7.1,
//!   e.g. `org.example.app:/oauth2/cb`).
//!
//! A presented URI matches a registered one when it is the same string; for a loopback IP
//! literal (`127.0.0.1`, `[::1]`) its port may differ (RFC 8252 §7.3: a native app listens on
//! whatever port the OS gave it). `localhost` and every other form match exactly.

use thiserror::Error;
use url::{Host, Url};

/// The longest redirect URI accepted.
pub const MAX_LEN: usize = 2048;

/// Why a redirect URI may not be registered; the message names the rule.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RedirectUriError {
    /// Not a URL with a scheme.
    #[error("redirect URI {0:?} is not an absolute URL")]
    NotAbsolute(String),
    /// Longer than [`MAX_LEN`].
    #[error("redirect URI is longer than {MAX_LEN} characters")]
    TooLong,
    /// Parses, but not as written (case, default port, dot segments, whitespace, escapes).
    #[error("redirect URI {given:?} must be written in canonical form: {canonical:?}")]
    NotCanonical {
        /// As registered.
        given: String,
        /// As the URL parser reads it.
        canonical: String,
    },
    /// `user@host`: the part before `@` is not the host.
    #[error("redirect URI {0:?} must not contain user information (user@host)")]
    UserInfo(String),
    /// RFC 6749 §3.1.2.
    #[error("redirect URI {0:?} must not contain a fragment (#...)")]
    Fragment(String),
    /// `http` on a host other than loopback.
    #[error(
        "redirect URI {0:?}: http is allowed only on a loopback host (127.0.0.1, [::1] or localhost; RFC 8252 §7.3); use https"
    )]
    HttpNotLoopback(String),
    /// Any other scheme.
    #[error(
        "redirect URI {0:?} must use https, http on loopback, or a reverse-domain private-use scheme with a path such as org.example.app:/cb (RFC 8252 §7.1)"
    )]
    Scheme(String),
}

fn is_loopback_ip(u: &Url) -> bool {
    match u.host() {
        Some(Host::Ipv4(a)) => a == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(a)) => a == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    }
}

fn is_loopback(u: &Url) -> bool {
    is_loopback_ip(u) || u.host() == Some(Host::Domain("localhost"))
}

/// A reverse-domain private-use scheme: at least two non-empty labels separated by dots.
fn private_use_scheme(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2 && labels.iter().all(|l| !l.is_empty())
}

/// Whether `uri` may be registered as a redirect URI, and if not, which rule it breaks.
pub fn validate(uri: &str) -> Result<(), RedirectUriError> {
    if uri.len() > MAX_LEN {
        return Err(RedirectUriError::TooLong);
    }
    let owned = || uri.to_owned();
    let u = Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute(owned()))?;
    if u.as_str() != uri {
        return Err(RedirectUriError::NotCanonical {
            given: owned(),
            canonical: u.as_str().to_owned(),
        });
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(RedirectUriError::UserInfo(owned()));
    }
    if u.fragment().is_some() {
        return Err(RedirectUriError::Fragment(owned()));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&u) => Ok(()),
        "http" => Err(RedirectUriError::HttpNotLoopback(owned())),
        s if private_use_scheme(s) && u.host().is_none() && u.path().starts_with('/') => Ok(()),
        _ => Err(RedirectUriError::Scheme(owned())),
    }
}

/// Whether a presented `redirect_uri` matches the `registered` one (module docs).
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    p.as_str() == presented
        && r.scheme() == "http"
        && p.scheme() == "http"
        && is_loopback_ip(&r)
        && r.host() == p.host()
        && p.username().is_empty()
        && p.password().is_none()
        && p.fragment().is_none()
        && r.path() == p.path()
        && r.query() == p.query()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_lookalike_hosts_userinfo_fragments_and_schemes() {
        for bad in [
            "http://localhost.evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://localhost@evil.example/cb",
            "https://user:pw@app.example/cb",
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "http://127.0.0.2/cb",
            "http://[::2]/cb",
            "HTTPS://APP.EXAMPLE/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "https://app.example/c b",
            " https://app.example/cb",
            "/cb",
            "app.example/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp:/cb",
            "org.example.app://host/cb",
            "org.example.app:cb",
            "org..app:/cb",
        ] {
            assert!(validate(bad).is_err(), "{bad} was accepted");
        }
        assert!(matches!(
            validate("http://localhost@evil.example/cb"),
            Err(RedirectUriError::UserInfo(_))
        ));
    }

    #[test]
    fn accepts_https_loopback_and_private_use_schemes() {
        for good in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://localhost/cb",
            "http://localhost:8080/cb",
            "http://127.0.0.1:51000/cb",
            "http://[::1]:51000/cb",
            "org.example.app:/oauth2/cb",
        ] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn only_loopback_ip_literals_vary_their_port() {
        assert!(matches("https://app.example/cb", "https://app.example/cb"));
        assert!(!matches(
            "https://app.example/cb",
            "https://app.example/cb/"
        ));
        assert!(!matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(matches("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:5/other"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:5/cb#x"));
        assert!(!matches("http://127.0.0.1/cb", "http://u@127.0.0.1:5/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://[::1]:5/cb"));
        assert!(!matches("http://localhost/cb", "http://localhost:5/cb"));
        assert!(!matches(
            "http://127.0.0.1/cb?a=1",
            "http://127.0.0.1:5/cb?a=2"
        ));
    }
}
