//! The `/auth` decision: local replicated state only, no I/O, no await, no lock across work.
//!
//! A signed upstream JWT is reused while it has at least half its life left and nothing it
//! depends on changed (same user record, same role definitions); revocation needs no cache
//! invalidation because the session or token lookup comes first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use authd_auth::tokens::{
    Authorizations, Hs256Keys, UpstreamClient, UpstreamSession, UpstreamUser, iso8601_ms,
};
use authd_auth::{Session, User, missing_scopes, token_digest};
use authd_raft::State;
use authd_raft::log_store::CommittedHandle;
use authd_raft::sm_store::StateReader;
use authd_web::accounts::PageSession;
use authd_web::{AuthDecision, BrowserLookup, Credential};

use crate::actors::now_ms;
use crate::cookie_rule::{CookieRule, Found, LegacyCheck};
use crate::lease::Lease;

const SHARDS: usize = 16;
const SHARD_CAP: usize = 16_384;

#[derive(Clone)]
struct Cached {
    jwt: String,
    exp: u64,
    user: Option<Arc<User>>,
    roles_version: u64,
    /// The signing key's id (EdDSA): after a rotation, tokens are re-signed with the new key.
    kid: Option<String>,
}

/// Signs and caches upstream JWTs; decides `/auth`.
pub struct Authorizer {
    reader: StateReader,
    lease: Arc<Lease>,
    /// The highest index this node knows the cluster committed: bounds client-named waits.
    committed: CommittedHandle,
    keys: Hs256Keys,
    signer: crate::signing::UpstreamSigner,
    ttl_secs: u64,
    cache: [Mutex<HashMap<String, Cached>>; SHARDS],
    /// Which session a browser's cookies name (shared with the pages).
    rule: CookieRule,
}

fn unauthorized(reason: &str, clear_cookie: bool) -> AuthDecision {
    AuthDecision::Unauthorized {
        reason: reason.to_owned(),
        clear_cookie,
    }
}

fn same_user(a: Option<&Arc<User>>, b: Option<&Arc<User>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn upstream_user(u: &User) -> UpstreamUser {
    UpstreamUser {
        username: u.username.clone(),
        email: u.email.clone(),
        user_id: u.id.to_string(),
        name: u.name.clone(),
        profile: u.profile.clone(),
        verified: u.verified,
    }
}

/// What a granted request is about, before signing.
struct Subject<'a> {
    key: String,
    id: &'a str,
    start_ms: u64,
    end_ms: u64,
    user: Option<&'a Arc<User>>,
    client: Option<UpstreamClient>,
    ip: Option<String>,
    scopes: Vec<String>,
}

impl Authorizer {
    /// An authorizer over this node's state and lease.
    pub fn new(
        reader: StateReader,
        lease: Arc<Lease>,
        committed: CommittedHandle,
        jwt_secret: &[u8],
        signing_seed: Option<&[u8]>,
        alg: crate::config_signing::UpstreamAlg,
        ttl_secs: u64,
    ) -> Authorizer {
        Authorizer {
            reader,
            lease,
            committed,
            keys: Hs256Keys::new(jwt_secret),
            signer: crate::signing::UpstreamSigner::new(alg, jwt_secret, signing_seed),
            ttl_secs,
            cache: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            rule: CookieRule::new(Hs256Keys::new(jwt_secret)),
        }
    }

    /// May a request wait for log index `index` that an opaque credential names (a bearer
    /// token's, code's or refresh token's `.idx` suffix, which anyone can type)? Only up to
    /// the highest index this node knows a leader wrote (committed, or received and about to
    /// be): such an entry is about to be applied here, and a larger index names nothing, so
    /// the credential is unknown at once (DESIGN.md guarantee 5). The one home of that rule:
    /// every wait on a client-named index asks it. (The NG cookie's `idx` is signed by authd.)
    pub fn may_wait_for(&self, index: u64) -> bool {
        self.committed.highest_known().is_some_and(|c| index <= c)
    }

    /// Also accept `tapir_session` cookies (legacy mode).
    pub fn with_legacy(mut self, check: LegacyCheck) -> Authorizer {
        self.rule = self.rule.with_legacy(check);
        self
    }

    /// The pages' view of a browser's cookies: the rule `/auth` applies, and the same refusal
    /// to vouch for anything while this node's read lease is not current.
    pub fn browser(&self, ng: &[String], tapir: &[String]) -> BrowserLookup {
        let view = self.reader.load();
        if !self.lease.is_current(view.last_applied) {
            return BrowserLookup::NotCurrent;
        }
        let applied = view.last_applied.unwrap_or(0);
        match self.rule.resolve(&view.state, applied, ng, tapir, now_ms()) {
            Found::Live(s, u) => BrowserLookup::Session(PageSession {
                session_id: s.id.clone(),
                user_id: u.id,
            }),
            Found::None | Found::Conflict => BrowserLookup::Anonymous,
            Found::Behind(idx) => BrowserLookup::Behind(idx),
            Found::Legacy(v) => BrowserLookup::Legacy(v),
        }
    }

    /// Keys for cookies (login issues them with the same secret).
    pub fn keys(&self) -> &Hs256Keys {
        &self.keys
    }

    /// See the module docs.
    pub fn authorize(&self, credential: Option<Credential>, required: &[String]) -> AuthDecision {
        let Some(credential) = credential else {
            return AuthDecision::Anonymous;
        };
        let view = self.reader.load();
        if !self.lease.is_current(view.last_applied) {
            metrics::counter!("authd_auth_stale_refusals_total").increment(1);
            return AuthDecision::NotCurrent;
        }
        let now = now_ms();
        let applied = view.last_applied.unwrap_or(0);
        let decision = match credential {
            Credential::Bearer(token) => self.bearer(&view.state, applied, &token, required, now),
            Credential::NgCookies(ng) => {
                self.cookies(&view.state, applied, &ng, &[], required, now)
            }
            Credential::Cookies { ng, tapir } => {
                self.cookies(&view.state, applied, &ng, &tapir, required, now)
            }
        };
        let outcome = match &decision {
            AuthDecision::Allow(_) => "allow",
            AuthDecision::Anonymous => "anonymous",
            AuthDecision::Unauthorized { .. } => "unauthorized",
            AuthDecision::Forbidden(_) => "forbidden",
            AuthDecision::Unavailable(_) | AuthDecision::NotCurrent => "unavailable",
            AuthDecision::Behind(_) => "behind",
            AuthDecision::Legacy(_) => "legacy",
        };
        metrics::counter!("authd_auth_decisions_total", "outcome" => outcome).increment(1);
        decision
    }

    /// Whether upstream tokens can be signed now (an EdDSA ring has an active key).
    pub fn signing_ready(&self, st: &State) -> bool {
        self.signer.ready(st, now_ms())
    }

    /// Whether this node may decide from its state now (its read lease is current).
    pub fn is_current(&self, applied: Option<u64>) -> bool {
        self.lease.is_current(applied)
    }

    /// Browser cookies by the shared [`CookieRule`].
    fn cookies(
        &self,
        st: &State,
        applied: u64,
        ng: &[String],
        tapir: &[String],
        required: &[String],
        now: u64,
    ) -> AuthDecision {
        match self.rule.resolve(st, applied, ng, tapir, now) {
            Found::Live(s, u) => self.session(st, s, u, required, now),
            Found::None => unauthorized("Not a valid user session token", true),
            Found::Conflict => {
                metrics::counter!("authd_cookie_conflicts_total").increment(1);
                unauthorized("session cookies of different users", true)
            }
            Found::Behind(idx) => AuthDecision::Behind(idx),
            Found::Legacy(v) => AuthDecision::Legacy(v),
        }
    }

    fn session(
        &self,
        st: &State,
        s: &Arc<Session>,
        u: &Arc<User>,
        required: &[String],
        now: u64,
    ) -> AuthDecision {
        let key = format!("s:{}", s.id);
        if required.is_empty()
            && let Some(jwt) = self.cached(st, &key, Some(u), now)
        {
            return AuthDecision::Allow(jwt);
        }
        let scopes: Vec<String> = st.effective_scopes(u).into_iter().collect();
        self.grant(
            st,
            required,
            now,
            Subject {
                key,
                id: &s.id,
                start_ms: s.created_ms,
                end_ms: s.expires_ms,
                user: Some(u),
                client: None,
                ip: s.ip.clone(),
                scopes,
            },
        )
    }

    fn bearer(
        &self,
        st: &State,
        applied: u64,
        token: &str,
        required: &[String],
        now: u64,
    ) -> AuthDecision {
        let (secret, idx) = authd_auth::split_bearer(token);
        let digest = token_digest(secret);
        // The one view of a token that introspection gives too (`token_view`).
        let Some(live) = crate::token_view::live(st, &digest, now) else {
            return match idx {
                Some(i) if i > applied && self.may_wait_for(i) => AuthDecision::Behind(i),
                _ => unauthorized("Not a valid auth token", false),
            };
        };
        if live.token.kind != authd_auth::TokenKind::Access {
            return unauthorized("Not a valid auth token", false);
        }
        let (t, user, client, scopes) = (live.token, live.user, live.client, live.scopes);
        let upstream_client = client.map(|c| UpstreamClient {
            owner_id: c.owner_id.to_string(),
            client_id: c.id.clone(),
            name: c.name.clone(),
            url: c.url.clone(),
            description: c.description.clone(),
            redirect_uri: c.redirect_uris.first().cloned(),
        });
        self.grant(
            st,
            required,
            now,
            Subject {
                key: format!("t:{digest}"),
                id: &digest,
                start_ms: t.created_ms,
                end_ms: t.expires_ms,
                user,
                client: upstream_client,
                ip: None,
                scopes,
            },
        )
    }

    /// A cached JWT for `key` that is still good to hand out, if any.
    fn cached(
        &self,
        st: &State,
        key: &str,
        user: Option<&Arc<User>>,
        now_ms: u64,
    ) -> Option<String> {
        let c = self.shard(key).lock().ok()?.get(key).cloned()?;
        let fresh = c.exp >= now_ms / 1000 + self.ttl_secs / 2;
        (fresh
            && same_user(c.user.as_ref(), user)
            && c.roles_version == st.roles_version()
            && c.kid.as_deref() == self.signer.current_kid(st, now_ms))
        .then_some(c.jwt)
    }

    fn grant(&self, st: &State, required: &[String], now_ms: u64, s: Subject<'_>) -> AuthDecision {
        let missing = if required.is_empty() {
            Vec::new()
        } else {
            missing_scopes(
                s.scopes.iter().map(String::as_str),
                required.iter().map(String::as_str),
            )
        };
        if !missing.is_empty() {
            return AuthDecision::Forbidden(missing);
        }
        let now = now_ms / 1000;
        if let Some(jwt) = self.cached(st, &s.key, s.user, now_ms) {
            return AuthDecision::Allow(jwt);
        }
        let shard = self.shard(&s.key);
        let exp = (now + self.ttl_secs).min(s.end_ms / 1000).max(now + 1);
        let legacy = s.user.and_then(|u| u.legacy.clone()).unwrap_or_default();
        let claims = UpstreamSession {
            session_id: s.id.to_owned(),
            start_time: iso8601_ms(s.start_ms),
            user: s.user.map(|u| upstream_user(u)),
            client: s.client,
            end_time: Some(iso8601_ms(s.end_ms)),
            authorizations: Some(Authorizations {
                classic: legacy.classic,
                endorsements: legacy.endorsements,
                scopes: s.scopes,
            }),
            ip_address: s.ip,
            remote_host: None,
            nonce: None,
            iat: now,
            exp,
        };
        match self.signer.sign(st, now_ms, &claims) {
            Ok(jwt) => {
                if let Ok(mut m) = shard.lock() {
                    if m.len() >= SHARD_CAP {
                        m.retain(|_, c| c.exp > now);
                        if m.len() >= SHARD_CAP {
                            m.clear();
                        }
                    }
                    m.insert(
                        s.key,
                        Cached {
                            jwt: jwt.clone(),
                            exp,
                            user: s.user.cloned(),
                            roles_version: st.roles_version(),
                            kid: self.signer.current_kid(st, now_ms).map(str::to_owned),
                        },
                    );
                }
                AuthDecision::Allow(jwt)
            }
            Err(e) => AuthDecision::Unavailable(format!("could not sign the upstream token: {e}")),
        }
    }

    #[allow(clippy::indexing_slicing)] // `% SHARDS` of a `[_; SHARDS]` is always in range.
    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Cached>> {
        let h = key.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.cache[h % SHARDS]
    }
}
