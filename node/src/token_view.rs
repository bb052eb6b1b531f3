//! What an opaque token is worth right now: the one answer `/auth` (a Bearer token) and OAuth2
//! introspection give about it, so the two can never disagree.
//!
//! A token carries the scopes it was issued with; it never carries more than its user and its
//! client hold *now*. A role or scope revoked from the user, a scope taken from the client,
//! a suspended user or a removed client narrow or end it at once, without touching the token.

use std::collections::BTreeSet;
use std::sync::Arc;

use authd_auth::{Client, Token, User, missing_scopes};
use authd_raft::State;

/// A live token with what its user and client still allow.
pub struct LiveToken<'a> {
    /// The stored token (kind, times, ids).
    pub token: &'a Arc<Token>,
    /// Its user, for delegated tokens; never a suspended one.
    pub user: Option<&'a Arc<User>>,
    /// The client it was issued to, still registered.
    pub client: Option<&'a Arc<Client>>,
    /// Its scopes that the user and the client both still hold, in order.
    pub scopes: Vec<String>,
}

/// Whether `held` grants `scope`, itself or through a broader one (`a:b:*` covers `a:b:c`).
fn covered(held: &BTreeSet<String>, scope: &str) -> bool {
    held.contains(scope) || missing_scopes(held.iter().map(String::as_str), [scope]).is_empty()
}

/// The token with this digest as it may be used at `now_ms`: unexpired, its user present and
/// not suspended, its client still registered, its scopes narrowed to what both hold now.
/// `None` for anything else (unknown, expired, revoked, suspended user, removed client).
pub fn live<'a>(st: &'a State, digest: &str, now_ms: u64) -> Option<LiveToken<'a>> {
    let token = st.live_token(digest, now_ms)?;
    let user = match token.user_id {
        Some(uid) => Some(st.user(uid).filter(|u| !u.suspended)?),
        None => None,
    };
    let client = match &token.client_id {
        Some(cid) => Some(st.client(cid)?),
        None => None,
    };
    let allowed = user.map(|u| st.effective_scopes(u));
    let scopes = token
        .scopes
        .iter()
        .filter(|s| allowed.as_ref().is_none_or(|a| covered(a, s)))
        .filter(|s| client.is_none_or(|c| covered(&c.scopes, s)))
        .cloned()
        .collect();
    Some(LiveToken {
        token,
        user,
        client,
        scopes,
    })
}
