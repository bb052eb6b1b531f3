//! Cookie parsing (every value of a name, in order) and the NG session cookie's attributes.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// How the NG session cookie is set (reference §2.6), from `[cookies]`.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// Cookie name, `ARXIVNG_SESSION_ID` by default.
    pub name: String,
    /// `Domain` attribute, if any.
    pub domain: Option<String>,
    /// Add `Secure` (and HSTS on pages); on in production.
    pub secure: bool,
    /// `SameSite` value: `Lax`, `Strict` or `None`.
    pub same_site: String,
}

/// Every value of cookie `name` across all `Cookie` headers, in order (duplicates happen when a
/// parent domain and a subdomain both set it). Bytes that are not visible ASCII are skipped.
pub fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

impl CookieSettings {
    /// `Set-Cookie` value for a new session cookie.
    pub fn set(&self, value: &str, max_age_secs: u64) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; Max-Age={}{}",
            self.name,
            value,
            max_age_secs,
            self.attrs()
        )
    }

    /// `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self) -> String {
        format!(
            "{}=; Path=/; HttpOnly; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
            self.name,
            self.attrs()
        )
    }

    fn attrs(&self) -> String {
        let mut a = String::new();
        if let Some(d) = &self.domain {
            a.push_str("; Domain=");
            a.push_str(d);
        }
        if self.secure {
            a.push_str("; Secure");
        }
        a.push_str("; SameSite=");
        a.push_str(&self.same_site);
        a
    }
}

/// The classic site's submission-UI cookie, set host-only (reference §2.5).
const SUBMIT_SESSION: &str = "submit_session";
/// The classic site's "remember me" cookie (reference §2.4, §2.6).
const TAPIR_PERMANENT: &str = "tapir_permanent";

impl crate::backend::WebSettings {
    /// `Set-Cookie` values that end a browser's login (logout, a dead cookie on `/auth`): the
    /// NG cookie and, in legacy mode, `tapir_session`, the classic `submit_session` (host-only)
    /// and `tapir_permanent` (host-only and for the cookie domain with and without its leading
    /// dot, as the original cleared it), so the classic site cannot log the user back in.
    pub fn logout_cookies(&self) -> Vec<String> {
        let mut out = vec![self.cookie.clear()];
        let Some(legacy) = &self.legacy_cookie else {
            return out;
        };
        out.push(legacy.clear());
        let host_only = |name: &str| CookieSettings {
            name: name.to_owned(),
            domain: None,
            ..legacy.clone()
        };
        out.push(host_only(SUBMIT_SESSION).clear());
        let permanent = host_only(TAPIR_PERMANENT);
        out.push(permanent.clear());
        let mut domains: Vec<&str> = Vec::new();
        if let Some(d) = &legacy.domain {
            domains.push(d);
            domains.push(d.trim_start_matches('.'));
        }
        domains.dedup();
        for d in domains.into_iter().filter(|d| !d.is_empty()) {
            out.push(
                CookieSettings {
                    domain: Some(d.to_owned()),
                    ..permanent.clone()
                }
                .clear(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn all_values_in_order_across_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; S=first; b=2"));
        h.append(COOKIE, HeaderValue::from_static("S=second;S=;junk"));
        assert_eq!(values(&h, "S"), vec!["first", "second"]);
        assert!(values(&h, "missing").is_empty());
    }

    #[test]
    fn logout_clears_the_classic_cookies_in_legacy_mode_only() {
        let ng = CookieSettings {
            name: "N".into(),
            domain: Some(".arxiv.org".into()),
            secure: true,
            same_site: "Lax".into(),
        };
        let mut s = crate::backend::WebSettings {
            cookie: ng.clone(),
            redirect_hosts: Vec::new(),
            default_next_page: "/user".into(),
            require_auth: false,
            trusted_proxies: Vec::new(),
            legacy_cookie: None,
            login_csrf_ttl_secs: 7200,
            max_sessions_per_user: 100,
            page_limits: std::sync::Arc::new(crate::rate_limit::PageLimits {
                register: crate::rate_limit::Window::new(1, std::time::Duration::from_secs(1)),
                captcha: crate::rate_limit::Window::new(1, std::time::Duration::from_secs(1)),
            }),
        };
        assert_eq!(s.logout_cookies(), vec![ng.clear()]);
        s.legacy_cookie = Some(CookieSettings {
            name: "tapir_session".into(),
            ..ng
        });
        let out = s.logout_cookies();
        let named = |n: &str| {
            out.iter()
                .filter(|c| c.starts_with(&format!("{n}=;")))
                .count()
        };
        assert_eq!((named("tapir_session"), named("submit_session")), (1, 1));
        assert_eq!(named("tapir_permanent"), 3, "{out:?}");
        assert!(
            out.iter()
                .any(|c| c.starts_with("submit_session=;") && !c.contains("Domain"))
        );
        for d in ["Domain=.arxiv.org;", "Domain=arxiv.org;"] {
            assert!(
                out.iter()
                    .any(|c| c.starts_with("tapir_permanent=;") && c.contains(d))
            );
        }
    }

    #[test]
    fn attributes() {
        let c = CookieSettings {
            name: "N".into(),
            domain: Some("arxiv.org".into()),
            secure: true,
            same_site: "Lax".into(),
        };
        assert_eq!(
            c.set("v", 10),
            "N=v; Path=/; HttpOnly; Max-Age=10; Domain=arxiv.org; Secure; SameSite=Lax"
        );
        assert!(c.clear().starts_with("N=; Path=/; HttpOnly; Max-Age=0;"));
    }
}
