//! Scopes (`domain:action[:resource]`) and the check `/auth` and services apply.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a scope string was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScopeError {
    /// Scopes need at least a domain and an action.
    #[error("scope {0:?} is not of the form domain:action[:resource]")]
    Malformed(String),
}

/// A parsed scope; `resource = Some("*")` is the global form that covers every resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The service area, e.g. `submission`.
    pub domain: String,
    /// The verb, e.g. `read`.
    pub action: String,
    /// A resource id, `*` for all, or none.
    pub resource: Option<String>,
}

impl Scope {
    /// The `domain:action:*` form that grants the action on every resource.
    pub fn as_global(&self) -> Scope {
        Scope {
            resource: Some("*".into()),
            ..self.clone()
        }
    }

    /// Whether a holder of `self` may do what `required` names.
    pub fn covers(&self, required: &Scope) -> bool {
        if self.domain != required.domain || self.action != required.action {
            return false;
        }
        match (&self.resource, &required.resource) {
            (Some(r), _) if r == "*" => true,
            (mine, theirs) => mine == theirs,
        }
    }
}

fn valid_part(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'*'))
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let (Some(domain), Some(action)) = (parts.next(), parts.next()) else {
            return Err(ScopeError::Malformed(s.into()));
        };
        let resource = parts.next();
        // The original ignored parts beyond the third; we refuse them, so a typo cannot widen a grant.
        if parts.next().is_some()
            || !valid_part(domain)
            || !valid_part(action)
            || resource.is_some_and(|r| !valid_part(r))
        {
            return Err(ScopeError::Malformed(s.into()));
        }
        Ok(Scope {
            domain: domain.into(),
            action: action.into(),
            resource: resource.map(Into::into),
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource {
            Some(r) => write!(f, "{}:{}:{}", self.domain, self.action, r),
            None => write!(f, "{}:{}", self.domain, self.action),
        }
    }
}

/// The required scopes that `granted` does not cover (empty means authorized).
///
/// Unparseable granted entries cover nothing; an unparseable requirement is always missing.
pub fn missing_scopes<'a, G, R>(granted: G, required: R) -> Vec<String>
where
    G: IntoIterator<Item = &'a str>,
    R: IntoIterator<Item = &'a str>,
{
    let granted: Vec<Scope> = granted.into_iter().filter_map(|g| g.parse().ok()).collect();
    required
        .into_iter()
        .filter(|r| match r.parse::<Scope>() {
            Ok(req) => !granted.iter().any(|g| g.covers(&req)),
            Err(_) => true,
        })
        .map(str::to_owned)
        .collect()
}

/// OAuth2 scope narrowing: the requested scopes that every one of `holders` covers (the client's
/// registered scopes and, for a delegated grant, the user's), in request order.
///
/// `Err` names the first requested scope that is malformed (`invalid_scope`).
pub fn grantable<'a>(
    requested: impl IntoIterator<Item = &'a str>,
    holders: &[&std::collections::BTreeSet<String>],
) -> Result<Vec<String>, String> {
    let holders: Vec<Vec<Scope>> = holders
        .iter()
        .map(|h| h.iter().filter_map(|g| g.parse().ok()).collect())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for r in requested {
        let req: Scope = r.parse().map_err(|_| r.to_owned())?;
        if holders.iter().all(|h| h.iter().any(|g| g.covers(&req))) && !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in ["public:read", "submission:read:42", "upload:delete:*"] {
            assert_eq!(s.parse::<Scope>().map(|x| x.to_string()), Ok(s.to_string()));
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in ["", "read", "a::b", "a:b:c:d", "a:b c", ":x"] {
            assert!(s.parse::<Scope>().is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn global_form_covers_every_resource_but_plain_form_does_not() {
        let granted = ["submission:read:*", "profile:update"];
        assert!(missing_scopes(granted, ["submission:read:7"]).is_empty());
        assert!(missing_scopes(granted, ["submission:read"]).is_empty());
        assert_eq!(
            missing_scopes(granted, ["profile:update:9"]),
            vec!["profile:update:9"]
        );
        assert_eq!(missing_scopes(granted, ["bogus"]), vec!["bogus"]);
    }

    #[test]
    fn grantable_is_the_intersection_under_covers() {
        let client: std::collections::BTreeSet<String> =
            ["public:read", "submission:read"].map(String::from).into();
        let user: std::collections::BTreeSet<String> = ["submission:read:*", "profile:read"]
            .map(String::from)
            .into();
        assert_eq!(
            grantable(
                ["submission:read", "public:read", "profile:read"],
                &[&client, &user]
            ),
            Ok(vec!["submission:read".to_owned()])
        );
        assert_eq!(
            grantable(["public:read", "public:read"], &[&client]),
            Ok(vec!["public:read".to_owned()])
        );
        assert_eq!(grantable(["bad"], &[&client]), Err("bad".to_owned()));
    }
}
