//! `next_page` redirect targets: a parsed-URL allow-list instead of the original's regex, which
//! let `evilarxiv.org` and `/\evil.com` through (reference §11.1 item 9).
//!
//! The rule is checked on what is RETURNED (the exact `Location` value), after normalisation:
//! `/.//evil.com` normalises to `//evil.com`, so checking the input alone is not enough.

/// A `next_page` this long or longer is ignored (the default page is used), as in the original.
pub const MAX_LEN: usize = 300;

/// Base the relative targets are resolved against; never appears in an answer.
const BASE: &str = "http://authd.invalid";

/// `next` normalised, if the result is a same-site path or an http(s) URL on an allowed host
/// (or a subdomain). Every redirect that takes user input goes through here.
pub fn safe(next: &str, allowed_hosts: &[String]) -> Option<String> {
    if next.is_empty() || next.len() >= MAX_LEN || !plain(next) {
        return None;
    }
    let out = normalise(next)?;
    is_safe_location(&out, allowed_hosts).then_some(out)
}

/// Printable ASCII without backslash or space: nothing a browser would strip or reinterpret.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// The normalised form: a path(+query) for relative input, the serialised URL otherwise.
fn normalise(next: &str) -> Option<String> {
    if next.starts_with('/') {
        let u = url::Url::parse(BASE).ok()?.join(next).ok()?;
        if u.host_str() != Some("authd.invalid") {
            return None;
        }
        let mut out = u.path().to_owned();
        if let Some(q) = u.query() {
            out.push('?');
            out.push_str(q);
        }
        return Some(out);
    }
    url::Url::parse(next).ok().map(|u| u.to_string())
}

/// Whether `loc`, used verbatim as `Location`, stays on this site or an allowed host.
fn is_safe_location(loc: &str, allowed_hosts: &[String]) -> bool {
    if loc.is_empty() || !plain(loc) {
        return false;
    }
    if let Some(rest) = loc.strip_prefix('/') {
        // "//host" is protocol-relative: another site. A browser resolving the exact value
        // must land on this origin.
        return !rest.starts_with('/')
            && url::Url::parse(BASE)
                .ok()
                .and_then(|b| b.join(loc).ok())
                .is_some_and(|u| u.host_str() == Some("authd.invalid") && u.port().is_none());
    }
    let Ok(u) = url::Url::parse(loc) else {
        return false;
    };
    if !matches!(u.scheme(), "http" | "https") || !u.username().is_empty() || u.password().is_some()
    {
        return false;
    }
    let Some(host) = u.host_str().map(str::to_ascii_lowercase) else {
        return false;
    };
    allowed_hosts.iter().any(|h| {
        let h = h.trim_start_matches('.').to_ascii_lowercase();
        !h.is_empty() && (host == h || host.ends_with(&format!(".{h}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hosts() -> Vec<String> {
        vec!["arxiv.org".into()]
    }

    /// The answer is same-origin (a single leading `/`) or on an allowed host.
    fn same_origin_or_allowed(r: &str) -> bool {
        if r.starts_with('/') {
            return !r.starts_with("//") && !r.starts_with("/\\") && plain(r);
        }
        url::Url::parse(r).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str()
                    .is_some_and(|h| h == "arxiv.org" || h.ends_with(".arxiv.org"))
        })
    }

    #[test]
    fn allows_paths_and_allowed_hosts() {
        assert_eq!(safe("/user?x=1", &hosts()).as_deref(), Some("/user?x=1"));
        assert_eq!(safe("/a/../b", &hosts()).as_deref(), Some("/b"));
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
    fn refuses_the_original_holes_and_normalised_ones() {
        for bad in [
            "https://evilarxiv.org/",
            "https://arxiv.org.evil.com/",
            "/\\evil.com",
            "//evil.com",
            "/.//evil.com",
            "/..//evil.com",
            "/%2e%2e//evil.com",
            "/%2E%2E//evil.com",
            "/a/..//evil.com/x",
            "/././/evil.com",
            "/a/b/../..//evil.com",
            "/%2e//evil.com",
            "/\t/evil.com",
            "/ /evil.com",
            "javascript:alert(1)",
            "https://user@arxiv.org@evil.com/",
            "ftp://arxiv.org/",
            "https://evil.com/?arxiv.org",
            "https:evil.com",
            "/ok\r\nSet-Cookie: x",
            "",
        ] {
            assert_eq!(safe(bad, &hosts()), None, "{bad:?}");
        }
    }

    #[test]
    fn long_targets_go_to_the_default() {
        let long = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert_eq!(safe(&long, &hosts()), None);
        let ok = format!("/{}", "a".repeat(MAX_LEN - 2));
        assert_eq!(safe(&ok, &hosts()).as_deref(), Some(ok.as_str()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever is given, what comes back is same-origin or on an allowed host.
        #[test]
        fn answer_is_always_same_origin(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("/".to_owned()), Just("//".to_owned()), Just("\\".to_owned()),
                    Just(".".to_owned()), Just("..".to_owned()), Just("%2e".to_owned()),
                    Just("%2E".to_owned()), Just("%2f".to_owned()), Just("%5c".to_owned()),
                    Just("evil.com".to_owned()), Just("arxiv.org".to_owned()),
                    Just("@".to_owned()), Just(":".to_owned()), Just("?".to_owned()),
                    Just("#".to_owned()), Just("https:".to_owned()), Just("\t".to_owned()),
                    Just("\n".to_owned()), Just(" ".to_owned()), Just("%09".to_owned()),
                    Just("%00".to_owned()), "[a-z]{1,3}".prop_map(|s| s),
                    any::<char>().prop_map(|c| c.to_string()),
                ],
                0..12,
            )
        ) {
            let input: String = parts.concat();
            if let Some(r) = safe(&input, &hosts()) {
                prop_assert!(same_origin_or_allowed(&r), "{input:?} -> {r:?}");
                // The answer is stable: checking it again gives itself.
                let again = safe(&r, &hosts());
                prop_assert_eq!(again.as_deref(), Some(r.as_str()));
            }
        }
    }
}
