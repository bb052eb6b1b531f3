//! The one rule for a browser's session cookies, shared by `/auth`, the accounts pages and the
//! OAuth2 consent page: which of the `ARXIVNG_SESSION_ID` and (legacy mode) `tapir_session`
//! values a request carries name a live session, and what happens when they disagree.
//!
//! A browser may send several values of one name, and any `*.arxiv.org` host can set one for
//! the parent domain ("cookie tossing"). So the first valid value is the login only when every
//! valid value belongs to the same user: valid sessions of different users mean one was
//! planted, and the request is not logged in (`/auth` refuses it and clears the cookies).
//! Stale, forged or ended values beside a valid one are ignored, as is a second session of
//! the same user. A value this node cannot judge yet (a session newer than its state, a legacy
//! cookie never seen) is settled first unless it belongs to the user already found.

use std::sync::Arc;

use authd_auth::tokens::{Hs256Keys, NgCookie};
use authd_auth::{Session, User};
use authd_legacy::TapirCookie;
use authd_raft::State;
use subtle::ConstantTimeEq;

use crate::legacy::Refusals;

/// What a request's session cookies come to.
#[derive(Debug, PartialEq)]
pub enum Found<'s> {
    /// No valid session among them (none, forged, expired, ended).
    None,
    /// One user's live session: the first valid value.
    Live(&'s Arc<Session>, &'s Arc<User>),
    /// Valid sessions of different users: not logged in.
    Conflict,
    /// A validly signed NG cookie names a session created at this log index, which this node
    /// has not applied: decide again once it has.
    Behind(u64),
    /// A correctly signed legacy cookie the cluster has not seen: check it once against the
    /// legacy database, then decide again.
    Legacy(String),
}

/// Legacy mode's part of the rule: how `tapir_session` values are checked.
pub struct LegacyCheck {
    /// `CLASSIC_SESSION_HASH`.
    pub secret: Vec<u8>,
    /// Session lifetime, seconds.
    pub duration_secs: u64,
    /// Cookies the legacy database refused recently: ignored without asking again.
    pub refusals: Arc<Refusals>,
}

/// See the module docs.
pub struct CookieRule {
    keys: Hs256Keys,
    legacy: Option<LegacyCheck>,
}

/// A value whose session this node cannot judge yet, with the user it claims.
struct Unsettled {
    user_id: u64,
    wait: Wait,
}

enum Wait {
    Applied(u64),
    Legacy(String),
}

impl CookieRule {
    /// The rule for NG cookies signed with `keys`.
    pub fn new(keys: Hs256Keys) -> CookieRule {
        CookieRule { keys, legacy: None }
    }

    /// Also take `tapir_session` values into account.
    pub fn with_legacy(mut self, legacy: LegacyCheck) -> CookieRule {
        self.legacy = Some(legacy);
        self
    }

    /// Decide from `st` (applied up to `applied`) at `now_ms`; NG values count before legacy ones.
    pub fn resolve<'s>(
        &self,
        st: &'s State,
        applied: u64,
        ng: &[String],
        tapir: &[String],
        now_ms: u64,
    ) -> Found<'s> {
        let mut valid: Vec<(&'s Arc<Session>, &'s Arc<User>)> = Vec::new();
        let mut unsettled: Vec<Unsettled> = Vec::new();
        for v in ng {
            let Ok(c) = NgCookie::decode(&self.keys, v) else {
                continue;
            };
            match st.live_session(&c.session_id, now_ms) {
                Some((s, u)) => {
                    let nonce_ok: bool = s.nonce.as_bytes().ct_eq(c.nonce.as_bytes()).into();
                    if nonce_ok && c.user_id == u.id.to_string() {
                        valid.push((s, u));
                    }
                }
                None if c.idx > applied => {
                    if let Ok(user_id) = c.user_id.parse() {
                        unsettled.push(Unsettled {
                            user_id,
                            wait: Wait::Applied(c.idx),
                        });
                    }
                }
                None => {}
            }
        }
        if let Some(l) = &self.legacy {
            for v in tapir {
                let Ok(c) = TapirCookie::verify(v, &l.secret, now_ms / 1000, l.duration_secs)
                else {
                    continue;
                };
                match st.live_tapir_session(c.session_id, now_ms) {
                    Some((s, u)) if u.id == c.user_id => valid.push((s, u)),
                    Some(_) => {}
                    None if st.tapir().is_ended(c.session_id) || l.refusals.refused(&c) => {}
                    None => unsettled.push(Unsettled {
                        user_id: c.user_id,
                        wait: Wait::Legacy(v.clone()),
                    }),
                }
            }
        }
        let first = valid.first().copied();
        let owner = first.map(|(_, u)| u.id);
        if valid.iter().any(|(_, u)| Some(u.id) != owner) {
            return Found::Conflict;
        }
        // Only a value that could belong to someone else can change the answer.
        let open = unsettled
            .into_iter()
            .filter(|x| owner.is_none_or(|o| o != x.user_id));
        let mut legacy = None;
        let mut behind = None;
        for x in open {
            match x.wait {
                Wait::Applied(i) => behind = behind.max(Some(i)),
                Wait::Legacy(v) => {
                    legacy.get_or_insert(v);
                }
            }
        }
        if let Some(i) = behind {
            return Found::Behind(i);
        }
        if let Some(v) = legacy {
            return Found::Legacy(v);
        }
        match first {
            Some((s, u)) => Found::Live(s, u),
            None => Found::None,
        }
    }
}
