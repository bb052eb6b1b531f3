//! The OAuth2 issuer (RFC 8414): the base of every URL the metadata names. It comes from the
//! configuration only, never from a request's `Host` (which anyone can set): `[web] issuer`,
//! required outside dev mode; in dev mode it defaults to this node's own HTTP address.

use std::net::SocketAddr;

use url::Url;

/// The issuer this node announces, without a trailing `/`; `Err` names the key and the rule.
pub fn resolve(configured: Option<&str>, dev: bool, http: SocketAddr) -> Result<String, String> {
    let Some(raw) = configured else {
        return if dev {
            Ok(format!("http://{http}"))
        } else {
            Err(
                "[web] issuer is required when dev = false: the public https URL clients reach \
                 authd at (e.g. \"https://auth.example.org\"); OAuth2 metadata is built from it"
                    .into(),
            )
        };
    };
    let bad = |why: &str| Err(format!("[web] issuer {raw:?} {why}"));
    let Ok(u) = Url::parse(raw) else {
        return bad("is not an absolute URL");
    };
    if !matches!(u.scheme(), "https" | "http") || u.host().is_none() {
        return bad("must be an https (or http) URL with a host");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return bad("must not contain user information");
    }
    if u.query().is_some() || u.fragment().is_some() {
        return bad("must not have a query or fragment (RFC 8414 §2)");
    }
    Ok(u.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:8081".parse().unwrap()
    }

    #[test]
    fn required_outside_dev_defaulted_in_dev() {
        let e = resolve(None, false, addr()).unwrap_err();
        assert!(
            e.contains("[web] issuer") && e.contains("dev = false"),
            "{e}"
        );
        assert_eq!(
            resolve(None, true, addr()).unwrap(),
            "http://127.0.0.1:8081"
        );
    }

    #[test]
    fn configured_issuers_are_checked_and_trimmed() {
        let ok = |s| resolve(Some(s), false, addr());
        assert_eq!(
            ok("https://auth.example.org/").unwrap(),
            "https://auth.example.org"
        );
        assert_eq!(
            ok("https://a.example/auth").unwrap(),
            "https://a.example/auth"
        );
        for bad in [
            "auth.example.org",
            "ftp://a.example",
            "https://u@a.example",
            "https://a.example/?x=1",
            "https://a.example/#f",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}
