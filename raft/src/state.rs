//! The replicated domain state and the pure `apply` every replica runs.
//!
//! Maps are persistent (`imbl`), so cloning the whole state is O(1): the hot read path gets an
//! immutable view after each applied batch, and a snapshot is serialized from such a view while
//! apply carries on.

use std::collections::BTreeSet;
use std::sync::Arc;

use authd_auth::{AuthCode, Client, Session, Token, User};
use imbl::{HashMap, OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

use crate::command::{Applied, Command, NewUser, Rejected, Reply};
use crate::guard::Guards;
use crate::tapir::{EndedBy, TapirLinks};

/// Roles every cluster starts with (reference §1.7); `admin` holds the global forms.
pub fn seeded_roles() -> OrdMap<String, Arc<BTreeSet<String>>> {
    const GENERAL: [&str; 14] = [
        "public:read",
        "profile:update",
        "profile:read",
        "submission:create",
        "submission:update",
        "submission:read",
        "submission:delete",
        "compile:read",
        "compile:create",
        "upload:read",
        "upload:update",
        "upload:delete",
        "preview:read",
        "preview:create",
    ];
    const ADMIN_EXTRA: [&str; 9] = [
        "upload:create_checkpoint",
        "upload:delete_checkpoint",
        "upload:read_checkpoints",
        "upload:restore_checkpoint",
        "fulltext:read",
        "fulltext:create",
        "upload:delete_workspace",
        "upload:read_logs",
        "upload:read_service_logs",
    ];
    let user: BTreeSet<String> = GENERAL.iter().map(|s| (*s).to_owned()).collect();
    let mut admin: BTreeSet<String> = GENERAL
        .iter()
        .chain(ADMIN_EXTRA.iter())
        .map(|s| format!("{s}:*"))
        .collect();
    admin.extend(["admin:read:*", "admin:write:*"].map(String::from));
    let moderator: BTreeSet<String> = user
        .iter()
        .cloned()
        .chain(["moderation:read", "moderation:update"].map(String::from))
        .collect();
    OrdMap::from(vec![
        ("admin".to_owned(), Arc::new(admin)),
        ("moderator".to_owned(), Arc::new(moderator)),
        ("user".to_owned(), Arc::new(user)),
    ])
}

/// Everything authd replicates. Cloning is cheap; a clone never sees later changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    next_user_id: u64,
    users: HashMap<u64, Arc<User>>,
    usernames: HashMap<String, u64>,
    emails: HashMap<String, u64>,
    roles: OrdMap<String, Arc<BTreeSet<String>>>,
    /// Bumped by every role definition, so caches keyed on it see role edits at once.
    roles_version: u64,
    sessions: HashMap<Key, Arc<Session>>,
    /// (user id, session id): "every session of a user" is a range scan.
    user_sessions: OrdSet<(u64, Key)>,
    clients: HashMap<Key, Arc<Client>>,
    tokens: HashMap<Key, Arc<Token>>,
    /// (user id, digest) and (client id, digest): revoke-all without a full scan.
    user_tokens: OrdSet<(u64, Key)>,
    client_tokens: OrdSet<(Key, Key)>,
    /// Failed-login counters and used single-use keys.
    guards: Guards,
    /// Admin actions and security events, bounded.
    audit: crate::audit::AuditLog,
    /// OAuth2 authorization codes by digest, kept (marked redeemed) until they expire.
    codes: HashMap<Key, Arc<AuthCode>>,
    /// (family, digest): every live token of one grant.
    family_tokens: OrdSet<(Key, Key)>,
    /// Rotated-away refresh tokens by digest, until they would have expired: reuse detection.
    spent: HashMap<Key, Arc<Spent>>,
    /// Sessions shared with the legacy site (legacy mode).
    tapir: TapirLinks,
    /// Upstream-JWT signing keys (public halves) and their schedule.
    keys: crate::keyring::KeyRing,
}

/// A refresh token that was exchanged; presenting it again ends its family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spent {
    /// The family it belonged to.
    pub family: String,
    /// The client it was issued to.
    pub client_id: String,
    /// When it would have expired; forgotten after that.
    pub expires_ms: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            next_user_id: 1,
            users: HashMap::new(),
            usernames: HashMap::new(),
            emails: HashMap::new(),
            roles: seeded_roles(),
            roles_version: 0,
            sessions: HashMap::new(),
            user_sessions: OrdSet::new(),
            clients: HashMap::new(),
            tokens: HashMap::new(),
            user_tokens: OrdSet::new(),
            client_tokens: OrdSet::new(),
            guards: Guards::default(),
            audit: crate::audit::AuditLog::default(),
            codes: HashMap::new(),
            family_tokens: OrdSet::new(),
            spent: HashMap::new(),
            tapir: TapirLinks::default(),
            keys: crate::keyring::KeyRing::default(),
        }
    }
}

/// Map key for ids and digests: cloning it (which persistent maps do when they copy a node
/// after a published view shares it) is a reference-count bump, not an allocation.
type Key = Arc<str>;

fn key(s: &str) -> Key {
    Arc::from(s)
}

/// The notice key of [`State::sessions_capped`].
fn session_cap_key(user_id: u64) -> String {
    format!("session-cap:{user_id}")
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

impl State {
    /// A user by id.
    pub fn user(&self, id: u64) -> Option<&Arc<User>> {
        self.users.get(&id)
    }

    /// A user by login name or e-mail (case-insensitive), as the login form accepts either.
    pub fn user_by_login(&self, login: &str) -> Option<&Arc<User>> {
        let key = fold(login);
        self.usernames
            .get(&key)
            .or_else(|| self.emails.get(&key))
            .and_then(|id| self.users.get(id))
    }

    /// A user as the operator API names one ([`authd_auth::user_ref`]): `id:N`, else a
    /// username or e-mail, else a bare number as an id when no user has it as a name.
    pub fn user_by_ref(&self, r: &str) -> Option<&Arc<User>> {
        match authd_auth::user_ref::UserRef::parse(r)? {
            authd_auth::user_ref::UserRef::Id(id) => self.user(id),
            name @ authd_auth::user_ref::UserRef::Name(n) => self
                .user_by_login(n)
                .or_else(|| name.fallback_id().and_then(|id| self.user(id))),
        }
    }

    /// Every user, in id order (admin listings).
    pub fn users_sorted(&self) -> Vec<&Arc<User>> {
        let mut v: Vec<&Arc<User>> = self.users.values().collect();
        v.sort_by_key(|u| u.id);
        v
    }

    /// Every role and its scopes, by name.
    pub fn roles(&self) -> impl Iterator<Item = (&String, &Arc<BTreeSet<String>>)> {
        self.roles.iter()
    }

    /// Number of users, for metrics and tests.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// A session by id, dead or alive; see [`State::live_session`].
    pub fn session(&self, id: &str) -> Option<&Arc<Session>> {
        self.sessions.get(id)
    }

    /// A session that may be honoured at `now_ms`: not expired, owner present and not suspended.
    pub fn live_session(&self, id: &str, now_ms: u64) -> Option<(&Arc<Session>, &Arc<User>)> {
        let s = self.sessions.get(id).filter(|s| s.expires_ms > now_ms)?;
        let u = self.users.get(&s.user_id).filter(|u| !u.suspended)?;
        Some((s, u))
    }

    /// Every session of a user, oldest id order.
    pub fn sessions_of(&self, user_id: u64) -> Vec<&Arc<Session>> {
        self.user_sessions
            .range((user_id, key(""))..)
            .take_while(|(u, _)| *u == user_id)
            .filter_map(|(_, id)| self.sessions.get(id))
            .collect()
    }

    /// Number of sessions held (live or not yet expired away).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of OAuth2 tokens held (live or not yet expired away).
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// A client by id.
    pub fn client(&self, id: &str) -> Option<&Arc<Client>> {
        self.clients.get(id)
    }

    /// Every client, ordered by id (for stable pagination).
    pub fn clients_sorted(&self) -> Vec<&Arc<Client>> {
        let mut v: Vec<&Arc<Client>> = self.clients.values().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// A token by digest, if present and unexpired at `now_ms`.
    pub fn live_token(&self, digest: &str, now_ms: u64) -> Option<&Arc<Token>> {
        self.tokens.get(digest).filter(|t| t.expires_ms > now_ms)
    }

    /// The scopes a role grants, if the role exists.
    pub fn role(&self, name: &str) -> Option<&Arc<BTreeSet<String>>> {
        self.roles.get(name)
    }

    /// Changes whenever any role's scopes change.
    pub fn roles_version(&self) -> u64 {
        self.roles_version
    }

    /// A user's effective scopes: their roles' scopes plus their own grants.
    pub fn effective_scopes(&self, user: &User) -> BTreeSet<String> {
        let mut all = user.scopes.clone();
        for r in &user.roles {
            if let Some(s) = self.roles.get(r) {
                all.extend(s.iter().cloned());
            }
        }
        all
    }

    /// The audit log.
    pub fn audit(&self) -> &crate::audit::AuditLog {
        &self.audit
    }

    /// Upstream-JWT signing keys.
    pub fn signing_keys(&self) -> &crate::keyring::KeyRing {
        &self.keys
    }

    /// Failed-login counters and single-use keys.
    pub fn guards(&self) -> &Guards {
        &self.guards
    }

    /// Links to legacy tapir sessions.
    pub fn tapir(&self) -> &TapirLinks {
        &self.tapir
    }

    /// The live session linked to a tapir session, with its user (see [`State::live_session`]).
    pub fn live_tapir_session(
        &self,
        tapir_id: u64,
        now_ms: u64,
    ) -> Option<(&Arc<Session>, &Arc<User>)> {
        self.live_session(self.tapir.session_of(tapir_id)?, now_ms)
    }

    /// Apply one command; a rejected command leaves the state untouched.
    pub fn apply(&mut self, cmd: &Command) -> Reply {
        match cmd {
            Command::CreateUser(nu) => self.create_user(nu),
            Command::SetPassword {
                user_id,
                password_hash,
            } => self.edit_user(*user_id, |u| u.password_hash.clone_from(password_hash)),
            Command::SetVerified { user_id, verified } => {
                self.edit_user(*user_id, |u| u.verified = *verified)
            }
            Command::UpdateProfile {
                user_id,
                name,
                profile,
            } => self.edit_user(*user_id, |u| {
                u.name.clone_from(name);
                u.profile.clone_from(profile);
            }),
            Command::SetSuspended { user_id, suspended } => {
                self.edit_user(*user_id, |u| u.suspended = *suspended)?;
                if *suspended {
                    return Ok(Applied::Ended(self.end_user_access(*user_id, None)));
                }
                Ok(Applied::Done)
            }
            Command::DefineRole { role, scopes } => {
                if role.is_empty() {
                    return Err(Rejected::Invalid("empty role name".into()));
                }
                self.roles.insert(role.clone(), Arc::new(scopes.clone()));
                self.roles_version += 1;
                Ok(Applied::Done)
            }
            Command::GrantRole { user_id, role } => {
                if !self.roles.contains_key(role) {
                    return Err(Rejected::UnknownRole);
                }
                self.edit_user(*user_id, |u| {
                    u.roles.insert(role.clone());
                })
            }
            Command::RevokeRole { user_id, role } => self.edit_user(*user_id, |u| {
                u.roles.remove(role);
            }),
            Command::GrantScope { user_id, scope } => {
                if scope.parse::<authd_auth::Scope>().is_err() {
                    return Err(Rejected::Invalid(format!("scope {scope:?}")));
                }
                self.edit_user(*user_id, |u| {
                    u.scopes.insert(scope.clone());
                })
            }
            Command::RevokeScope { user_id, scope } => self.edit_user(*user_id, |u| {
                u.scopes.remove(scope);
            }),
            Command::CreateSession(s) => self.create_session(s),
            Command::CreateCappedSession {
                session,
                max_per_user,
            } => {
                self.create_session(session)?;
                Ok(Applied::Ended(self.cap_sessions(session, *max_per_user)))
            }
            Command::EndSession { session_id } => {
                Ok(Applied::Ended(u64::from(self.end_session(session_id))))
            }
            Command::EndUserSessions { user_id } => {
                Ok(Applied::Ended(self.end_user_sessions(*user_id)))
            }
            Command::CreateClient(c) => {
                if self.clients.contains_key(c.id.as_str()) {
                    return Err(Rejected::Duplicate);
                }
                if !self.users.contains_key(&c.owner_id) {
                    return Err(Rejected::UnknownUser);
                }
                self.clients.insert(key(&c.id), Arc::new(c.clone()));
                Ok(Applied::Done)
            }
            Command::RevokeClient { client_id } => {
                if self.clients.remove(client_id.as_str()).is_none() {
                    return Err(Rejected::UnknownClient);
                }
                Ok(Applied::Ended(self.end_client_tokens(client_id)))
            }
            Command::IssueToken(t) => self.issue_token(t),
            Command::SetLegacyGrants { user_id, grants } => {
                self.edit_user(*user_id, |u| u.legacy = Some(grants.clone()))
            }
            Command::EndTapirSessions {
                tapir_ids,
                by_legacy,
            } => Ok(Applied::Ended(
                self.end_tapir_sessions(tapir_ids, *by_legacy),
            )),
            Command::TapirEndsWritten { tapir_ids } => {
                Ok(Applied::Ended(self.tapir.written(tapir_ids)))
            }
            Command::Expire { now_ms } => {
                let ended = self.expire(*now_ms);
                self.guards.expire(*now_ms);
                Ok(Applied::Ended(ended))
            }
            Command::Once {
                key,
                forget_after_ms,
                then,
            } => {
                if matches!(**then, Command::Once { .. }) {
                    return Err(Rejected::Invalid("nested single-use command".into()));
                }
                if self.guards.is_used(key) {
                    return Err(Rejected::AlreadyUsed);
                }
                let reply = self.apply(then)?;
                self.guards.consume(key, *forget_after_ms);
                Ok(reply)
            }
            Command::ChangePassword {
                user_id,
                password_hash,
                keep_session,
            } => {
                self.edit_user(*user_id, |u| u.password_hash.clone_from(password_hash))?;
                let ended = self.end_sessions_of(*user_id, keep_session.as_deref());
                Ok(Applied::Ended(ended))
            }
            Command::RecordLoginFailures {
                now_ms,
                window_ms,
                lock_ms,
                counts,
            } => Ok(Applied::Locked(
                self.guards.record(*now_ms, *window_ms, *lock_ms, counts),
            )),
            Command::ClearLoginFailures { key } => {
                self.guards.clear(key);
                Ok(Applied::Done)
            }
            Command::RecordAudit { events, bounds } => {
                self.audit.record(events, bounds);
                Ok(Applied::Done)
            }
            Command::AddSigningKey {
                key,
                now_ms,
                retain_ms,
            } => self.keys.add(key, *now_ms, *retain_ms),
            Command::Nothing => Ok(Applied::Done),
            Command::RevokeToken { digest } => Ok(Applied::Ended(self.revoke_token(digest))),
            Command::CreateCode(c) => self.create_code(c),
            Command::RedeemCode {
                digest,
                client_id,
                now_ms,
                family,
                tokens,
            } => self.redeem_code_capped(digest, client_id, *now_ms, family, tokens, None),
            Command::RotateRefresh {
                digest,
                client_id,
                now_ms,
                tokens,
            } => self.rotate_refresh(digest, client_id, *now_ms, tokens),
            Command::EndUserAccess {
                user_id,
                keep_session,
                password_hash,
            } => {
                if let Some(h) = password_hash {
                    self.edit_user(*user_id, |u| u.password_hash.clone_from(h))?;
                } else if !self.users.contains_key(user_id) {
                    return Err(Rejected::UnknownUser);
                }
                let ended = self.end_user_access(*user_id, keep_session.as_deref());
                Ok(Applied::Ended(ended))
            }
            Command::RevokeUserClient { user_id, client_id } => {
                Ok(Applied::Ended(self.revoke_user_client(*user_id, client_id)))
            }
            Command::RedeemCodeCapped {
                digest,
                client_id,
                now_ms,
                family,
                tokens,
                max_families,
            } => {
                let cap = Some(*max_families);
                self.redeem_code_capped(digest, client_id, *now_ms, family, tokens, cap)
            }
            Command::BurnCode { digest } => Ok(Applied::Ended(self.burn_code(digest))),
        }
    }

    fn create_user(&mut self, nu: &NewUser) -> Reply {
        let username = fold(&nu.username);
        let email = fold(&nu.email);
        if username.is_empty() || email.is_empty() {
            return Err(Rejected::Invalid("username and e-mail are required".into()));
        }
        if self.usernames.contains_key(&username) || self.emails.contains_key(&username) {
            return Err(Rejected::UsernameTaken);
        }
        if self.emails.contains_key(&email) || self.usernames.contains_key(&email) {
            return Err(Rejected::EmailTaken);
        }
        if let Some(r) = nu.roles.iter().find(|r| !self.roles.contains_key(*r)) {
            return Err(Rejected::Invalid(format!("unknown role {r:?}")));
        }
        let id = match nu.id {
            Some(id) if self.users.contains_key(&id) || id == 0 => {
                return Err(Rejected::UserIdTaken);
            }
            Some(id) => id,
            None => self.next_user_id,
        };
        self.next_user_id = self.next_user_id.max(id.saturating_add(1));
        let user = User {
            id,
            username: nu.username.trim().to_owned(),
            email: email.clone(),
            name: nu.name.clone(),
            profile: nu.profile.clone(),
            verified: nu.verified,
            suspended: false,
            roles: nu.roles.clone(),
            scopes: BTreeSet::new(),
            password_hash: nu.password_hash.clone(),
            created_ms: nu.created_ms,
            legacy: None,
        };
        self.usernames.insert(username, id);
        self.emails.insert(email, id);
        self.users.insert(id, Arc::new(user));
        Ok(Applied::UserId(id))
    }

    fn edit_user(&mut self, id: u64, f: impl FnOnce(&mut User)) -> Reply {
        let u = self.users.get_mut(&id).ok_or(Rejected::UnknownUser)?;
        f(Arc::make_mut(u));
        Ok(Applied::Done)
    }

    fn create_session(&mut self, s: &Session) -> Reply {
        match self.users.get(&s.user_id) {
            None => return Err(Rejected::UnknownUser),
            Some(u) if u.suspended => return Err(Rejected::Suspended),
            Some(_) => {}
        }
        if s.id.is_empty() || self.sessions.contains_key(s.id.as_str()) {
            return Err(Rejected::Duplicate);
        }
        if let Some(t) = s.tapir_session_id {
            if !self.tapir.can_link(t) {
                return Err(Rejected::Duplicate);
            }
            self.tapir.link(t, &s.id);
        }
        let id = key(&s.id);
        self.user_sessions.insert((s.user_id, id.clone()));
        self.sessions.insert(id, Arc::new(s.clone()));
        Ok(Applied::Done)
    }

    /// End the oldest live sessions of `new`'s user (by start, then id; never `new` itself)
    /// beyond `max`, and leave the user a notice that lasts as long as `new`.
    fn cap_sessions(&mut self, new: &Session, max: u32) -> u64 {
        let now = new.created_ms;
        let mut live: Vec<(u64, Key)> = self
            .sessions_of(new.user_id)
            .into_iter()
            .filter(|s| s.expires_ms > now && s.id != new.id)
            .map(|s| (s.created_ms, key(&s.id)))
            .collect();
        let keep = usize::try_from(max).unwrap_or(usize::MAX).saturating_sub(1);
        if live.len() <= keep {
            return 0;
        }
        live.sort();
        let excess = live.len() - keep;
        let ended = live
            .iter()
            .take(excess)
            .map(|(_, id)| u64::from(self.end_session(id)))
            .sum();
        self.guards
            .note(&session_cap_key(new.user_id), new.expires_ms);
        ended
    }

    /// Whether the session cap ended some of the user's sessions (while the notice lasts).
    pub fn sessions_capped(&self, user_id: u64) -> bool {
        self.guards.is_used(&session_cap_key(user_id))
    }

    fn end_session(&mut self, id: &str) -> bool {
        self.end_session_by(id, EndedBy::Authd)
    }

    fn end_session_by(&mut self, id: &str, by: EndedBy) -> bool {
        match self.sessions.remove_with_key(id) {
            Some((k, s)) => {
                self.user_sessions.remove(&(s.user_id, k));
                if let Some(t) = s.tapir_session_id {
                    self.tapir.unlink(t, s.expires_ms, by);
                }
                true
            }
            None => false,
        }
    }

    fn end_tapir_sessions(&mut self, ids: &[u64], by_legacy: bool) -> u64 {
        let by = if by_legacy {
            EndedBy::Legacy
        } else {
            EndedBy::Authd
        };
        let mut ended = 0;
        for t in ids {
            match self.tapir.session_of(*t).map(key) {
                Some(id) => ended += u64::from(self.end_session_by(&id, by)),
                None if !by_legacy => self.tapir.queue_end(*t),
                None => {}
            }
        }
        ended
    }

    fn end_user_sessions(&mut self, user_id: u64) -> u64 {
        self.end_sessions_of(user_id, None)
    }

    /// End every session of a user but `keep`.
    fn end_sessions_of(&mut self, user_id: u64, keep: Option<&str>) -> u64 {
        let ids: Vec<Key> = self
            .user_sessions
            .range((user_id, key(""))..)
            .take_while(|(u, _)| *u == user_id)
            .map(|(_, id)| id.clone())
            .filter(|id| keep != Some(&**id))
            .collect();
        ids.iter().map(|id| u64::from(self.end_session(id))).sum()
    }

    /// The one home of "end everything of this user" (password change or reset, log out
    /// everywhere, suspension): sessions but `keep`, tokens and their families, pending codes.
    fn end_user_access(&mut self, user_id: u64, keep: Option<&str>) -> u64 {
        let ended = self.end_sessions_of(user_id, keep);
        self.codes.retain(|_, c| c.user_id != user_id);
        ended + self.end_user_tokens(user_id)
    }

    fn issue_token(&mut self, t: &Token) -> Reply {
        if t.digest.is_empty() || self.tokens.contains_key(t.digest.as_str()) {
            return Err(Rejected::Duplicate);
        }
        if let Some(uid) = t.user_id {
            match self.users.get(&uid) {
                None => return Err(Rejected::UnknownUser),
                Some(u) if u.suspended => return Err(Rejected::Suspended),
                Some(_) => {}
            }
        }
        if t.client_id
            .as_ref()
            .is_some_and(|c| !self.clients.contains_key(c.as_str()))
        {
            return Err(Rejected::UnknownClient);
        }
        let digest = key(&t.digest);
        if let Some(uid) = t.user_id {
            self.user_tokens.insert((uid, digest.clone()));
        }
        if let Some(cid) = &t.client_id {
            self.client_tokens.insert((key(cid), digest.clone()));
        }
        if let Some(f) = &t.family {
            self.family_tokens.insert((key(f), digest.clone()));
        }
        self.tokens.insert(digest, Arc::new(t.clone()));
        Ok(Applied::Done)
    }

    fn remove_token(&mut self, digest: &str) -> bool {
        match self.tokens.remove_with_key(digest) {
            Some((k, t)) => {
                if let Some(uid) = t.user_id {
                    self.user_tokens.remove(&(uid, k.clone()));
                }
                if let Some(f) = &t.family {
                    self.family_tokens.remove(&(key(f), k.clone()));
                }
                if let Some(cid) = &t.client_id {
                    self.client_tokens.remove(&(key(cid), k));
                }
                true
            }
            None => false,
        }
    }

    fn end_user_tokens(&mut self, user_id: u64) -> u64 {
        let ds: Vec<Key> = self
            .user_tokens
            .range((user_id, key(""))..)
            .take_while(|(u, _)| *u == user_id)
            .map(|(_, d)| d.clone())
            .collect();
        ds.iter().map(|d| u64::from(self.remove_token(d))).sum()
    }

    fn end_client_tokens(&mut self, client_id: &str) -> u64 {
        let ds: Vec<Key> = self
            .client_tokens
            .range((key(client_id), key(""))..)
            .take_while(|(c, _)| &**c == client_id)
            .map(|(_, d)| d.clone())
            .collect();
        ds.iter().map(|d| u64::from(self.remove_token(d))).sum()
    }

    fn expire(&mut self, now_ms: u64) -> u64 {
        let dead_s: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.expires_ms <= now_ms)
            .map(|s| s.id.clone())
            .collect();
        let dead_t: Vec<String> = self
            .tokens
            .values()
            .filter(|t| t.expires_ms <= now_ms)
            .map(|t| t.digest.clone())
            .collect();
        let s: u64 = dead_s
            .iter()
            .map(|id| u64::from(self.end_session_by(id, EndedBy::Expiry)))
            .sum();
        self.tapir.expire(now_ms);
        let t: u64 = dead_t.iter().map(|d| u64::from(self.remove_token(d))).sum();
        self.expire_grants(now_ms);
        s + t
    }
}

#[path = "state_oauth.rs"]
mod oauth;
pub use oauth::UserGrant;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tapir_tests.rs"]
mod tapir_tests;
