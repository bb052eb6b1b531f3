//! `next_page` redirect targets: a parsed-URL allow-list instead of the original's regex, which
//! let `evilarxiv.org` and `/\evil.com` through (reference §11.1 item 9).

/// `next` if it is a same-site path or an http(s) URL on an allowed host (or a subdomain).
pub fn safe(next: &str, allowed_hosts: &[String]) -> Option<String> {
    if next.is_empty() || next.len() > 2048 || next.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if let Some(rest) = next.strip_prefix('/') {
        // "//host" is protocol-relative: another site.
        if rest.starts_with('/') {
            return None;
        }
        let parsed = url::Url::parse("http://authd.invalid")
            .ok()?
            .join(next)
            .ok()
            .filter(|u| u.host_str() == Some("authd.invalid"))?;
        let mut out = parsed.path().to_owned();
        if let Some(q) = parsed.query() {
            out.push('?');
            out.push_str(q);
        }
        return Some(out);
    }
    let u = url::Url::parse(next).ok()?;
    if !matches!(u.scheme(), "http" | "https") || !u.username().is_empty() || u.password().is_some()
    {
        return None;
    }
    let host = u.host_str()?.to_ascii_lowercase();
    let ok = allowed_hosts.iter().any(|h| {
        let h = h.trim_start_matches('.').to_ascii_lowercase();
        host == h || host.ends_with(&format!(".{h}"))
    });
    ok.then(|| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["arxiv.org".into()]
    }

    #[test]
    fn allows_paths_and_allowed_hosts() {
        assert_eq!(safe("/user?x=1", &hosts()).as_deref(), Some("/user?x=1"));
        assert_eq!(
            safe("https://arxiv.org/abs/1", &hosts()).as_deref(),
            Some("https://arxiv.org/abs/1")
        );
        assert_eq!(
            safe("https://export.arxiv.org/", &hosts()).as_deref(),
            Some("https://export.arxiv.org/")
        );
    }

    #[test]
    fn refuses_the_original_holes_and_friends() {
        for bad in [
            "https://evilarxiv.org/",
            "https://arxiv.org.evil.com/",
            "/\\evil.com",
            "//evil.com",
            "/%2F/evil.com/..",
            "javascript:alert(1)",
            "https://user@arxiv.org@evil.com/",
            "ftp://arxiv.org/",
            "https://evil.com/?arxiv.org",
            "/ok\r\nSet-Cookie: x",
            "",
        ] {
            let r = safe(bad, &hosts());
            assert!(
                r.as_deref()
                    .is_none_or(|p| p.starts_with('/') && !p.starts_with("//")),
                "{bad:?} -> {r:?}"
            );
        }
        assert!(safe("https://evilarxiv.org/", &hosts()).is_none());
        assert!(safe("//evil.com", &hosts()).is_none());
        assert!(safe("/\\evil.com", &hosts()).is_none());
    }
}
