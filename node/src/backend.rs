//! The node's implementation of the web layer's [`Backend`] handle.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use authd_auth::tokens::{NgCookie, iso8601_ms};
use authd_auth::{Token, TokenKind};
use authd_raft::log_store::CommittedHandle;
use authd_raft::sm_store::StateReader;
use authd_raft::{Command, NodeAddr, Raft};
use authd_web::accounts::LoginError;
use authd_web::{
    AuthDecision, Backend, BackendError, ClientCreated, ClientView, ClusterStatus, Credential,
    LoginOk, LoginRequest, MemberView, MintTokenRequest, MintedToken, NewClientRequest, NewSession,
    NewUserRequest, Page, SessionView, UserView, WebSettings,
};
use metrics_exporter_prometheus::PrometheusHandle;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};
use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use crate::actors::Slots;
use crate::actors::clients::ClientsMsg;
use crate::actors::now_ms;
use crate::actors::sessions::SessionsMsg;
use crate::actors::users::UsersMsg;
use crate::authz::Authorizer;
use crate::lease::Lease;
use crate::legacy::LegacyMode;
use crate::passwords::Hasher;
use crate::views::{session_view, user_view};

mod accounts;
mod keys;

/// How long a web request waits for an actor's answer (covers a leader election).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything a request handler may touch on this node.
#[derive(Clone)]
pub struct NodeBackend {
    inner: Arc<Inner>,
}

/// The node's parts, shared by every clone of the handle.
pub(crate) struct Inner {
    pub(crate) raft: Raft,
    pub(crate) reader: StateReader,
    pub(crate) committed: CommittedHandle,
    pub(crate) slots: Slots,
    pub(crate) cluster_secret: Vec<u8>,
    pub(crate) prometheus: PrometheusHandle,
    pub(crate) authorizer: Authorizer,
    pub(crate) settings: WebSettings,
    pub(crate) hasher: Hasher,
    pub(crate) lease: Arc<Lease>,
    pub(crate) login_guard: Arc<crate::login_guard::LoginGuard>,
    pub(crate) audit: crate::audit_sink::AuditSink,
    pub(crate) proposer: crate::proposer::Proposer,
    pub(crate) mailer: crate::mail::Mailer,
    pub(crate) page_key: authd_web::pages::tokens::PageKey,
    pub(crate) public_url: String,
    /// A real Argon2id hash of a random password: unknown users cost the same time as known ones.
    pub(crate) dummy_phc: String,
    /// OAuth2 settings and keys.
    pub(crate) oauth: authd_web::oauth2::OAuthSettings,
    /// OAuth2 family cap and issuance rates.
    pub(crate) grant_limits: crate::oauth2::GrantLimits,
    /// Legacy (tapir) mode, when configured.
    pub(crate) legacy: Option<Arc<LegacyMode>>,
    /// Signing-key scheduling (manual rotation).
    pub(crate) key_policy: crate::signing::KeyPolicy,
}

/// Parts of [`NodeBackend`], named so the constructor stays readable.
pub struct Parts {
    /// Raft handle.
    pub raft: Raft,
    /// Local state.
    pub reader: StateReader,
    /// Persisted commit index.
    pub committed: CommittedHandle,
    /// Actor refs.
    pub slots: Slots,
    /// Operator request key.
    pub cluster_secret: Vec<u8>,
    /// Metrics renderer.
    pub prometheus: PrometheusHandle,
    /// `/auth` decisions.
    pub authorizer: Authorizer,
    /// Web policy.
    pub settings: WebSettings,
    /// Argon2id pool.
    pub hasher: Hasher,
    /// Read lease (readiness requires it).
    pub lease: Arc<Lease>,
    /// Replicated failed-login counters.
    pub login_guard: Arc<crate::login_guard::LoginGuard>,
    /// Audit event queue.
    pub audit: crate::audit_sink::AuditSink,
    /// Write path (for clearing failure counts).
    pub proposer: crate::proposer::Proposer,
    /// Outgoing mail.
    pub mailer: crate::mail::Mailer,
    /// Key for page tokens and links.
    pub page_key: authd_web::pages::tokens::PageKey,
    /// Base of links in mails.
    pub public_url: String,
    /// OAuth2 settings and keys.
    pub oauth: authd_web::oauth2::OAuthSettings,
    /// OAuth2 family cap and issuance rates.
    pub grant_limits: crate::oauth2::GrantLimits,
    /// Signing-key scheduling (manual rotation).
    pub key_policy: crate::signing::KeyPolicy,
    /// Legacy (tapir) mode, when configured.
    pub legacy: Option<Arc<LegacyMode>>,
}

impl NodeBackend {
    /// Assemble the handle.
    pub async fn new(p: Parts) -> anyhow::Result<Self> {
        let random = authd_auth::random_hex(32)?;
        let dummy_phc = p
            .hasher
            .hash(random)
            .await
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        Ok(NodeBackend {
            inner: Arc::new(Inner {
                raft: p.raft,
                reader: p.reader,
                committed: p.committed,
                slots: p.slots,
                cluster_secret: p.cluster_secret,
                prometheus: p.prometheus,
                authorizer: p.authorizer,
                settings: p.settings,
                hasher: p.hasher,
                lease: p.lease,
                login_guard: p.login_guard,
                audit: p.audit,
                proposer: p.proposer,
                mailer: p.mailer,
                page_key: p.page_key,
                public_url: p.public_url,
                dummy_phc,
                oauth: p.oauth,
                grant_limits: p.grant_limits,
                legacy: p.legacy,
                key_policy: p.key_policy,
            }),
        })
    }

    /// The node's parts, for the other web-facing modules (OAuth2).
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    fn user_id(&self, key: &str) -> Result<u64, BackendError> {
        let view = self.inner.reader.load();
        let u = view.state.user_by_ref(key);
        u.map(|u| u.id)
            .ok_or_else(|| BackendError::NotFound("no such user".into()))
    }
}

/// Ask an actor and wait for its answer (bounded), mapping a dead or slow actor to 503.
pub(crate) async fn ask<M, T>(
    actor: Option<Arc<ActorRef<M>>>,
    msg: impl FnOnce(RpcReplyPort<Result<T, BackendError>>) -> M,
) -> Result<T, BackendError>
where
    M: ractor::Message,
    T: Send + 'static,
{
    let actor = actor.ok_or_else(|| BackendError::Unavailable("actor restarting".into()))?;
    match actor.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(CallResult::Success(r)) => r,
        Ok(CallResult::Timeout) => Err(BackendError::Unavailable(
            "write timed out; its outcome is unknown".into(),
        )),
        Ok(CallResult::SenderError) | Err(_) => {
            Err(BackendError::Unavailable("actor unavailable".into()))
        }
    }
}

fn role(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

impl Backend for NodeBackend {
    fn cluster_status(&self) -> ClusterStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let members = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| MemberView {
                id: *id,
                raft: n.raft.clone(),
                http: n.http.clone(),
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            role: role(m.state).into(),
            leader_id: m.current_leader,
            term: m.current_term,
            last_applied: m.last_applied.map(|l| l.index),
            last_log_index: m.last_log_index,
            committed: self.inner.committed.get(),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            members,
        }
    }

    fn readiness(&self) -> Result<(), String> {
        let m = self.inner.raft.metrics().borrow().clone();
        if m.current_leader.is_none() {
            return Err("no known leader".into());
        }
        if !matches!(m.state, ServerState::Leader | ServerState::Follower) {
            return Err(format!("node is {}", role(m.state)));
        }
        let applied = self.inner.reader.applied_index();
        match self.inner.committed.get() {
            Some(c) if applied < Some(c) => Err(format!("catching up: applied {applied:?} of {c}")),
            _ if !self.inner.lease.is_current(applied) => {
                Err("no read lease from the leader yet".into())
            }
            _ if !self
                .inner
                .authorizer
                .signing_ready(&self.inner.reader.load().state) =>
            {
                Err("no upstream signing key is active yet".into())
            }
            _ => Ok(()),
        }
    }

    fn metrics_text(&self) -> String {
        self.inner.prometheus.render()
    }

    fn cluster_secret(&self) -> &[u8] {
        &self.inner.cluster_secret
    }

    async fn add_user(&self, req: NewUserRequest) -> Result<UserView, BackendError> {
        ask(self.inner.slots.users.load_full(), |p| {
            UsersMsg::Add(req, p)
        })
        .await
    }

    fn user(&self, key: &str) -> Option<UserView> {
        let view = self.inner.reader.load();
        let u = view.state.user_by_ref(key);
        u.map(|u| user_view(u))
    }

    async fn create_session(&self, req: NewSession) -> Result<SessionView, BackendError> {
        ask(self.inner.slots.sessions.load_full(), |p| {
            SessionsMsg::Create(req, p)
        })
        .await
        .map(|(s, _)| session_view(&s))
    }

    async fn end_user_sessions(&self, key: &str) -> Result<u64, BackendError> {
        let id = self.user_id(key)?;
        ask(self.inner.slots.sessions.load_full(), |p| {
            SessionsMsg::EndAllOf(id, p)
        })
        .await
    }

    async fn suspend_user(&self, key: &str, suspended: bool) -> Result<u64, BackendError> {
        let id = self.user_id(key)?;
        ask(self.inner.slots.users.load_full(), |p| {
            UsersMsg::Suspend(id, suspended, p)
        })
        .await
    }

    fn list_users(&self, after: Option<u64>, limit: usize, q: Option<&str>) -> Page<UserView> {
        let view = self.inner.reader.load();
        let q = q.map(str::to_lowercase);
        let mut items: Vec<UserView> = view
            .state
            .users_sorted()
            .into_iter()
            .filter(|u| after.is_none_or(|a| u.id > a))
            .filter(|u| {
                q.as_deref()
                    .is_none_or(|q| u.username.to_lowercase().contains(q) || u.email.contains(q))
            })
            .take(limit + 1)
            .map(|u| user_view(u))
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|u| u.id.to_string())
        } else {
            None
        };
        Page { items, next }
    }

    fn user_sessions(&self, key: &str) -> Result<Vec<SessionView>, BackendError> {
        let id = self.user_id(key)?;
        Ok(authd_web::accounts::Accounts::own_sessions(self, id))
    }

    fn roles(&self) -> Vec<authd_web::RoleView> {
        let view = self.inner.reader.load();
        view.state
            .roles()
            .map(|(name, scopes)| authd_web::RoleView {
                name: name.clone(),
                scopes: scopes.iter().cloned().collect(),
            })
            .collect()
    }

    async fn define_role(
        &self,
        role: authd_web::RoleView,
    ) -> Result<authd_web::RoleView, BackendError> {
        let valid_name = !role.name.is_empty()
            && role.name.len() <= 64
            && role
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !valid_name {
            return Err(BackendError::Invalid(
                "role names are 1-64 characters of A-Z a-z 0-9 _ - .".into(),
            ));
        }
        if let Some(bad) = role
            .scopes
            .iter()
            .find(|s| s.parse::<authd_auth::Scope>().is_err())
        {
            return Err(BackendError::Invalid(format!("not a scope: {bad:?}")));
        }
        let cmd = Command::DefineRole {
            role: role.name.clone(),
            scopes: role.scopes.iter().cloned().collect(),
        };
        ask(self.inner.slots.users.load_full(), |p| {
            UsersMsg::Grants(Box::new(cmd), p)
        })
        .await?;
        Ok(role)
    }

    fn audit(&self, r: authd_web::audit::AuditRecord) {
        self.inner.audit.record(authd_raft::audit::AuditEvent {
            time_ms: now_ms(),
            actor: r.actor,
            action: r.action.to_owned(),
            target: r.target,
            ip: r.ip,
            outcome: r.outcome,
            class: r.class,
            count: 1,
        });
    }

    fn jwks(&self) -> serde_json::Value {
        keys::jwks(self)
    }

    fn signing_keys(&self) -> Vec<authd_web::keys::KeyView> {
        keys::list(self)
    }

    async fn wait_lease(&self, timeout: Duration) -> bool {
        self.inner.lease.wait_renewal(timeout).await
    }

    async fn rotate_key(
        &self,
        activate_in_secs: Option<u64>,
    ) -> Result<authd_web::keys::KeyView, BackendError> {
        keys::rotate(self, activate_in_secs).await
    }

    fn audit_page(&self, before: Option<u64>, limit: usize) -> Page<authd_web::audit::AuditView> {
        let view = self.inner.reader.load();
        let entries = view.state.audit().page(before, limit);
        let next = (entries.len() == limit)
            .then(|| entries.last().map(|e| e.id.to_string()))
            .flatten();
        let items = entries
            .iter()
            .map(|e| authd_web::audit::AuditView {
                id: e.id,
                time: authd_auth::tokens::iso8601_ms(e.event.time_ms),
                actor: e.event.actor.clone(),
                action: e.event.action.clone(),
                target: e.event.target.clone(),
                ip: e.event.ip.clone(),
                outcome: e.event.outcome.clone(),
                class: e.event.class,
                count: e.event.count,
                last: authd_auth::tokens::iso8601_ms(e.last_ms),
            })
            .collect();
        Page { items, next }
    }

    fn token_owner(&self, token: &str) -> Option<String> {
        let view = self.inner.reader.load();
        let digest = authd_auth::token_digest(authd_auth::split_bearer(token).0);
        let t = view.state.live_token(&digest, now_ms())?;
        match (t.user_id, &t.client_id) {
            (Some(uid), _) => view.state.user(uid).map(|u| u.username.clone()),
            (None, Some(cid)) => Some(format!("client:{cid}")),
            (None, None) => None,
        }
    }

    async fn change_grant(
        &self,
        key: &str,
        change: authd_web::GrantChange,
    ) -> Result<UserView, BackendError> {
        use authd_web::GrantChange as G;
        let user_id = self.user_id(key)?;
        let cmd = match change {
            G::GrantRole(role) => Command::GrantRole { user_id, role },
            G::RevokeRole(role) => Command::RevokeRole { user_id, role },
            G::GrantScope(scope) => Command::GrantScope { user_id, scope },
            G::RevokeScope(scope) => Command::RevokeScope { user_id, scope },
        };
        ask(self.inner.slots.users.load_full(), |p| {
            UsersMsg::Grants(Box::new(cmd), p)
        })
        .await?;
        self.user(&format!("{}{user_id}", authd_auth::user_ref::ID_PREFIX))
            .ok_or_else(|| BackendError::NotFound("no such user".into()))
    }

    async fn mint_token(&self, req: MintTokenRequest) -> Result<MintedToken, BackendError> {
        let uid = self.user_id(&req.user)?;
        let ttl = req.ttl_secs.unwrap_or(3600);
        if ttl == 0 || ttl > 30 * 24 * 3600 {
            return Err(BackendError::Invalid("ttl_secs must be 1..=2592000".into()));
        }
        let allowed = {
            let view = self.inner.reader.load();
            let user = view
                .state
                .user(uid)
                .ok_or_else(|| BackendError::NotFound("no such user".into()))?;
            if user.suspended {
                return Err(BackendError::Invalid("user is suspended".into()));
            }
            view.state.effective_scopes(user)
        };
        let scopes: BTreeSet<String> = if req.scopes.is_empty() {
            allowed.clone()
        } else {
            req.scopes.into_iter().collect()
        };
        if let Some(s) = scopes.iter().find(|s| !allowed.contains(*s)) {
            return Err(BackendError::Invalid(format!(
                "scope {s:?} is not granted to this user"
            )));
        }
        let secret =
            authd_auth::random_hex(32).map_err(|e| BackendError::Internal(e.to_string()))?;
        let created_ms = now_ms();
        let token = Token {
            digest: authd_auth::token_digest(&secret),
            kind: TokenKind::Access,
            user_id: Some(uid),
            client_id: None,
            scopes: scopes.clone(),
            created_ms,
            expires_ms: created_ms.saturating_add(ttl.saturating_mul(1000)),
            family: None,
        };
        let index = ask(self.inner.slots.sessions.load_full(), |p| {
            SessionsMsg::IssueToken(token, p)
        })
        .await?;
        Ok(MintedToken {
            access_token: format!("{secret}.{index}"),
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope: scopes.into_iter().collect::<Vec<_>>().join(" "),
        })
    }

    async fn revoke_token(&self, token: &str) -> Result<u64, BackendError> {
        let (secret, _) = authd_auth::split_bearer(token);
        let digest = authd_auth::token_digest(secret);
        ask(self.inner.slots.sessions.load_full(), |p| {
            SessionsMsg::RevokeToken(digest, p)
        })
        .await
    }

    async fn add_client(&self, req: NewClientRequest) -> Result<ClientCreated, BackendError> {
        let owner = self.user_id(&req.owner)?;
        ask(self.inner.slots.clients.load_full(), |p| {
            ClientsMsg::Add(req, owner, p)
        })
        .await
    }

    fn list_clients(&self, after: Option<&str>, limit: usize) -> Page<ClientView> {
        let view = self.inner.reader.load();
        let all = view.state.clients_sorted();
        let mut items: Vec<ClientView> = all
            .iter()
            .filter(|c| after.is_none_or(|a| c.id.as_str() > a))
            .take(limit + 1)
            .map(|c| ClientView {
                client_id: c.id.clone(),
                name: c.name.clone(),
                owner_id: c.owner_id,
                redirect_uris: c.redirect_uris.clone(),
                grant_types: c.grant_types.iter().cloned().collect(),
                scopes: c.scopes.iter().cloned().collect(),
                public: c.secret_digest.is_none(),
                url: c.url.clone(),
                description: c.description.clone(),
                created_ms: c.created_ms,
            })
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|c| c.client_id.clone())
        } else {
            None
        };
        Page { items, next }
    }

    async fn revoke_client(&self, id: &str) -> Result<u64, BackendError> {
        ask(self.inner.slots.clients.load_full(), |p| {
            ClientsMsg::Revoke(id.to_owned(), p)
        })
        .await
    }

    fn settings(&self) -> &WebSettings {
        &self.inner.settings
    }

    fn authorize(&self, credential: Option<Credential>, required: &[String]) -> AuthDecision {
        self.inner.authorizer.authorize(credential, required)
    }

    fn browser_session(&self, ng: &[String], tapir: &[String]) -> authd_web::BrowserLookup {
        self.inner.authorizer.browser(ng, tapir)
    }

    async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        self.inner.reader.wait_applied(index, timeout).await.is_ok()
    }

    fn may_wait_for(&self, index: u64) -> bool {
        self.inner.authorizer.may_wait_for(index)
    }

    async fn login(&self, req: LoginRequest) -> Result<LoginOk, LoginError> {
        self.login_impl(req).await
    }

    async fn validate_legacy(&self, value: String) -> Result<(), BackendError> {
        match &self.inner.legacy {
            Some(l) => l.import(&value).await,
            None => Err(BackendError::Invalid(
                "legacy sessions are not enabled".into(),
            )),
        }
    }

    async fn logout_legacy(&self, values: Vec<String>) -> Result<u64, BackendError> {
        match &self.inner.legacy {
            Some(l) => l.logout(&values).await,
            None => Ok(0),
        }
    }

    async fn logout(&self, cookies: Vec<String>) -> Result<u64, BackendError> {
        let keys = self.inner.authorizer.keys();
        let ids: Vec<String> = cookies
            .iter()
            .filter_map(|c| NgCookie::decode(keys, c).ok())
            .map(|c| c.session_id)
            .collect();
        let mut ended = 0;
        let mut tapir = Vec::new();
        for id in ids {
            let linked = self
                .inner
                .reader
                .load()
                .state
                .session(&id)
                .and_then(|s| s.tapir_session_id);
            ended += ask(self.inner.slots.sessions.load_full(), |p| {
                SessionsMsg::End(id, p)
            })
            .await?;
            tapir.extend(linked);
        }
        // One login on both sides: end the tapir rows now (the watcher retries what fails).
        if let Some(l) = &self.inner.legacy
            && !tapir.is_empty()
        {
            l.end_rows(&tapir).await;
        }
        Ok(ended)
    }

    fn session(&self, id: &str) -> Option<SessionView> {
        let view = self.inner.reader.load();
        view.state
            .live_session(id, now_ms())
            .map(|(s, _)| session_view(s))
    }

    async fn end_session(&self, id: &str) -> Result<u64, BackendError> {
        ask(self.inner.slots.sessions.load_full(), |p| {
            SessionsMsg::End(id.to_owned(), p)
        })
        .await
    }

    async fn add_member(&self, m: MemberView) -> Result<ClusterStatus, BackendError> {
        let raft = &self.inner.raft;
        if m.id == 0
            || m.raft.parse::<std::net::SocketAddr>().is_err()
            || m.http.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(BackendError::Invalid(
                "id must be > 0 and raft/http must be host:port addresses".into(),
            ));
        }
        let node = NodeAddr {
            raft: m.raft,
            http: m.http,
        };
        // Blocking: returns once the learner has caught up, so promotion cannot stall the quorum.
        raft.add_learner(m.id, node, true)
            .await
            .map_err(membership_error)?;
        raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([m.id])), false)
            .await
            .map_err(membership_error)?;
        tracing::info!(node = m.id, "added voter");
        Ok(self.cluster_status())
    }

    async fn remove_member(&self, id: u64) -> Result<ClusterStatus, BackendError> {
        let voters: BTreeSet<u64> = self
            .inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        if !voters.contains(&id) {
            return Err(BackendError::NotFound(format!("node {id} is not a voter")));
        }
        if voters.len() <= 1 {
            return Err(BackendError::Invalid(
                "refusing to remove the last voter".into(),
            ));
        }
        self.inner
            .raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
            .await
            .map_err(membership_error)?;
        tracing::info!(node = id, "removed voter");
        Ok(self.cluster_status())
    }
}

impl NodeBackend {
    /// The NG cookie for a new session, plus any extra cookies to set with it.
    fn login_ok(
        &self,
        s: &authd_auth::Session,
        idx: u64,
        extra_cookies: Vec<String>,
    ) -> Result<LoginOk, BackendError> {
        let cookie = NgCookie {
            user_id: s.user_id.to_string(),
            session_id: s.id.clone(),
            nonce: s.nonce.clone(),
            expires: iso8601_ms(s.expires_ms),
            exp: s.expires_ms / 1000,
            idx,
        }
        .encode(self.inner.authorizer.keys())
        .map_err(|e| BackendError::Internal(e.to_string()))?;
        Ok(LoginOk {
            cookie,
            max_age_secs: s.expires_ms.saturating_sub(now_ms()) / 1000,
            extra_cookies,
        })
    }
}

fn membership_error(e: RaftError<u64, ClientWriteError<u64, NodeAddr>>) -> BackendError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            BackendError::Unavailable(format!("not the leader; ask node {:?}", f.leader_id))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            BackendError::Conflict(c.to_string())
        }
        other => BackendError::Unavailable(other.to_string()),
    }
}
