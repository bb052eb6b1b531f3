//! `authd serve`: open the stores, start Raft, the transport, the actors and HTTP.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use authd_raft::log_store::LogStore;
use authd_raft::network::{ClusterSecret, Network, Rpc, RpcHandler, RpcReply};
use authd_raft::sm_store::StateMachineStore;
use authd_raft::{Command, NodeAddr, Raft};
use authd_web::{CookieSettings, WebSettings};
use openraft::{ServerState, SnapshotPolicy};
use ractor::Actor;

use crate::actors::supervisor::{ActorSlots, Supervisor};
use crate::actors::{Deps, now_ms};
use crate::authz::Authorizer;
use crate::backend::{NodeBackend, Parts};
use crate::config::{CookiesConfig, NodeConfig, RaftTuning, SessionsConfig, WebConfig};
use crate::config_accounts::{LoginConfig, MailConfig, PasswordsConfig, RegisterConfig};
use crate::lease::Lease;
use crate::legacy::LegacyMode;
use crate::login_guard::{LoginGuard, LoginPolicy};
use crate::mail::Mailer;
use crate::passwords::Hasher;
use crate::proposer::{Ctx, Proposer, handle_forward};
use crate::secrets::Secrets;
use crate::telemetry;

/// Everything `serve` needs, from a config file or the quick-start defaults.
pub struct ServeSpec {
    /// This node's id.
    pub node_id: u64,
    /// Joining a running cluster: do not bootstrap.
    pub join: bool,
    /// All members (identical on every node).
    pub nodes: Vec<NodeConfig>,
    /// Raft timing.
    pub raft: RaftTuning,
    /// Session policy.
    pub sessions: SessionsConfig,
    /// NG cookie attributes.
    pub cookies: CookiesConfig,
    /// `/auth` and redirect policy.
    pub web: WebConfig,
    /// The OAuth2 issuer, resolved from the configuration (`issuer::resolve`).
    pub issuer: String,
    /// Keys.
    pub secrets: Secrets,
    /// Brute-force limits.
    pub login: LoginConfig,
    /// Audit log bounds.
    pub audit: crate::config_audit::AuditConfig,
    /// Per-address limits on registration and captchas.
    pub register: RegisterConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Password hashing pool.
    pub passwords: PasswordsConfig,
    /// Upstream JWT algorithm and key rotation.
    pub signing: crate::config_signing::SigningConfig,
    /// OAuth2 family cap and issuance rates.
    pub oauth2: crate::config_oauth2::OAuth2Config,
    /// Public listener deadlines and connection cap.
    pub http: crate::config_http::HttpConfig,
    /// Legacy (tapir) mode, when configured.
    pub legacy: Option<crate::legacy::LegacySpec>,
}

/// Answers peers: Raft RPCs, forwarded writes, apply waits, lease requests.
struct PeerRpc {
    ctx: Ctx,
    proposer: Proposer,
}

impl RpcHandler for PeerRpc {
    async fn handle(&self, rpc: Rpc) -> RpcReply {
        match rpc {
            Rpc::Append(r) => RpcReply::Append(self.ctx.raft.append_entries(r).await),
            Rpc::Vote(r) => RpcReply::Vote(self.ctx.raft.vote(r).await),
            Rpc::Snapshot(r) => RpcReply::Snapshot(self.ctx.raft.install_snapshot(r).await),
            Rpc::Forward(b) => {
                RpcReply::Forward(handle_forward(&self.proposer, &self.ctx.raft, b).await)
            }
            Rpc::WaitApplied { index, timeout_ms } => {
                let t = Duration::from_millis(timeout_ms.min(30_000));
                RpcReply::WaitApplied(
                    self.ctx
                        .reader
                        .wait_applied(index, t)
                        .await
                        .map_err(|e| e.to_string()),
                )
            }
            Rpc::Lease { node_id } => RpcReply::Lease(
                self.ctx
                    .lease
                    .grant(&self.ctx.raft, &self.ctx.reader, node_id)
                    .await,
            ),
        }
    }
}

fn raft_config(t: &RaftTuning) -> anyhow::Result<openraft::Config> {
    let c = openraft::Config {
        cluster_name: "authd".into(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_timeout_min_ms,
        election_timeout_max: t.election_timeout_max_ms,
        install_snapshot_timeout: 10_000,
        max_payload_entries: 1_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_every),
        max_in_snapshot_log_to_keep: t.keep_after_snapshot,
        purge_batch_size: 256,
        ..Default::default()
    };
    Ok(c.validate()?)
}

/// This node's `raft_via` as "peer's raft address → address to dial".
fn raft_routes(me: &NodeConfig, nodes: &[NodeConfig]) -> HashMap<String, String> {
    nodes
        .iter()
        .filter_map(|n| {
            let via = me.raft_via.get(&n.id.to_string())?;
            Some((n.raft.to_string(), via.to_string()))
        })
        .collect()
}

/// Run a node until SIGINT/SIGTERM.
pub async fn serve(spec: ServeSpec) -> anyhow::Result<()> {
    let me = spec
        .nodes
        .iter()
        .find(|n| n.id == spec.node_id)
        .cloned()
        .with_context(|| format!("node {} is not in the configuration", spec.node_id))?;
    let prometheus = telemetry::init_metrics()?;
    let data: PathBuf = me.data_dir.clone();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("creating data dir {}", data.display()))?;
    match crate::data_dir::tighten(&data) {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(dir = %data.display(), entries = n, "data dir was readable by others (older build?): now 0700/0600")
        }
        Err(e) => {
            tracing::warn!(dir = %data.display(), error = %e, "could not restrict the data dir to its owner")
        }
    }

    let log_store = LogStore::open(&data.join("raft")).context("opening the Raft log")?;
    let committed = log_store.committed_index();
    let sm = StateMachineStore::open(&data.join("state"))
        .context("opening the state machine snapshot")?;
    let reader = sm.reader();
    let secret = ClusterSecret::new(spec.secrets.cluster.clone())
        .map_err(|e| anyhow::anyhow!("cluster secret: {e}"))?;
    let network = Network::with_routes(secret.clone(), raft_routes(&me, &spec.nodes));
    let raft = Raft::new(
        me.id,
        Arc::new(raft_config(&spec.raft)?),
        network.clone(),
        log_store,
        sm,
    )
    .await
    .context("starting Raft")?;

    let raft_listener = tokio::net::TcpListener::bind(me.raft)
        .await
        .with_context(|| format!("binding the internal listener {}", me.raft))?;
    let lease = Arc::new(Lease::new(me.id, Duration::from_millis(spec.raft.lease_ms)));
    let ctx = Ctx {
        raft: raft.clone(),
        network: network.clone(),
        reader: reader.clone(),
        lease: lease.clone(),
    };
    let proposer = Proposer::start(ctx.clone());
    let peer_rpc = Arc::new(PeerRpc {
        ctx: ctx.clone(),
        proposer: proposer.clone(),
    });
    let transport = tokio::spawn(authd_raft::network::serve(raft_listener, secret, peer_rpc));
    lease.clone().spawn_keeper(raft.clone(), network.clone());

    if spec.join {
        tracing::info!("joining: waiting to be added with `authd cluster add-node`");
    } else if !raft.is_initialized().await? {
        let members: BTreeMap<u64, NodeAddr> = spec
            .nodes
            .iter()
            .map(|n| {
                (
                    n.id,
                    NodeAddr {
                        raft: n.raft.to_string(),
                        http: n.http.to_string(),
                    },
                )
            })
            .collect();
        tracing::info!(
            members = members.len(),
            "empty log: bootstrapping the cluster membership"
        );
        if let Err(e) = raft.initialize(members).await {
            // Another member initialized first and replicated to us: that is fine.
            tracing::info!(error = %e, "membership already initialized");
        }
    }
    telemetry::export_raft_gauges(raft.clone(), committed.clone());
    telemetry::export_state_size(reader.clone(), Duration::from_secs(5));

    let hasher = Hasher::new(spec.passwords.threads(), &spec.passwords.cpus());
    let deps = Deps {
        proposer: proposer.clone(),
        reader: reader.clone(),
        hasher: hasher.clone(),
        session_ttl_secs: spec.sessions.ttl_secs,
        max_sessions_per_user: spec.sessions.max_per_user,
    };
    let slots = Arc::new(ActorSlots::default());
    let ng_cookie = CookieSettings {
        name: spec.cookies.name.clone(),
        domain: spec.cookies.domain.clone(),
        secure: spec.cookies.secure,
        same_site: spec.cookies.same_site.clone(),
    };
    let legacy = match &spec.legacy {
        Some(l) => {
            let mode = LegacyMode::new(l, &ng_cookie, deps.clone())
                .map_err(|e| anyhow::anyhow!("[legacy]: {e}"))?;
            crate::legacy::spawn_watcher(mode.clone(), raft.clone());
            tracing::info!("legacy mode: sharing sessions with the tapir database");
            Some(mode)
        }
        None => None,
    };
    let (supervisor, _) = Actor::spawn(
        Some("authd-supervisor".into()),
        Supervisor,
        (deps, slots.clone()),
    )
    .await
    .context("starting actors")?;
    spawn_expirer(
        raft.clone(),
        proposer.clone(),
        spec.sessions.expire_every_secs,
    );
    let key_policy = crate::signing::KeyPolicy {
        cfg: spec.signing.clone(),
        seed: spec.secrets.signing_seed.clone(),
        jwt_ttl_secs: spec.web.jwt_ttl_secs,
    };
    crate::signing::spawn_rotator(
        raft.clone(),
        proposer.clone(),
        reader.clone(),
        key_policy.clone(),
    );
    let login_guard = LoginGuard::start(
        LoginPolicy {
            account_limit: spec.login.max_failures_per_account,
            ip_limit: spec.login.max_failures_per_ip,
            window_ms: spec.login.window_secs.saturating_mul(1000),
            lock_ms: spec.login.lockout_secs.saturating_mul(1000),
        },
        reader.clone(),
        proposer.clone(),
    );
    let mailer = Mailer::new(
        &spec.mail.from,
        spec.mail.smtp_url.as_deref(),
        data.join("outbox"),
        authd_web::rate_limit::Window::new(
            spec.mail.max_per_address,
            Duration::from_secs(spec.mail.per_address_window_secs),
        ),
    )
    .context("setting up mail")?;
    let public_url = spec
        .mail
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", me.http))
        .trim_end_matches('/')
        .to_owned();

    let mut authorizer = Authorizer::new(
        reader.clone(),
        lease.clone(),
        committed.clone(),
        &spec.secrets.jwt,
        spec.secrets.signing_seed.as_deref(),
        spec.signing.upstream_alg,
        spec.web.jwt_ttl_secs,
    );
    if let Some(l) = &legacy {
        authorizer = authorizer.with_legacy(l.check());
    }
    let settings = WebSettings {
        cookie: ng_cookie,
        legacy_cookie: legacy.as_ref().map(|l| l.cookie().clone()),
        redirect_hosts: spec.web.redirect_hosts.clone(),
        default_next_page: spec.web.default_next_page.clone(),
        require_auth: spec.web.require_auth,
        trusted_proxies: spec.web.trusted_proxies.clone(),
        login_csrf_ttl_secs: spec.sessions.login_csrf_ttl_secs,
        max_sessions_per_user: spec.sessions.max_per_user,
        page_limits: std::sync::Arc::new(authd_web::rate_limit::PageLimits {
            register: authd_web::rate_limit::Window::new(
                spec.register.max_posts_per_ip,
                Duration::from_secs(spec.register.window_secs),
            ),
            captcha: authd_web::rate_limit::Window::new(
                spec.register.max_captchas_per_ip,
                Duration::from_secs(spec.register.window_secs),
            ),
        }),
    };
    let backend = NodeBackend::new(Parts {
        raft: raft.clone(),
        reader,
        committed,
        slots,
        cluster_secret: spec.secrets.cluster.clone(),
        prometheus,
        authorizer,
        settings,
        hasher,
        lease,
        login_guard,
        audit: crate::audit_sink::AuditSink::start(proposer.clone(), spec.audit.bounds()),
        proposer,
        mailer,
        page_key: page_key(&spec.secrets.jwt)?,
        public_url,
        oauth: authd_web::oauth2::OAuthSettings {
            issuer: spec.issuer.clone(),
            // Derived from the JWT secret, so every node checks the consent forms of every other.
            csrf_key: authd_auth::token_digest(&format!(
                "authd-oauth2-csrf-v1:{}",
                hex::encode(&spec.secrets.jwt)
            ))
            .into_bytes(),
        },
        grant_limits: crate::oauth2::GrantLimits::new(&spec.oauth2),
        key_policy,
        legacy,
    })
    .await?;
    let app = authd_web::router(backend);
    let http = tokio::net::TcpListener::bind(me.http)
        .await
        .with_context(|| format!("binding the HTTP listener {}", me.http))?;
    if let Some(warning) = crate::config_http::fd_limit_warning(spec.http.max_connections) {
        tracing::warn!("{warning}");
    }
    tracing::info!(node = me.id, http = %me.http, raft = %me.raft, data = %data.display(), "authd serving");
    crate::http_serve::serve(http, app, spec.http.clone(), shutdown_signal()).await;

    tracing::info!("shutting down");
    supervisor.stop(None);
    let _ = raft.shutdown().await;
    transport.abort();
    Ok(())
}

/// The key for CSRF tokens, captchas and e-mailed links: derived from the JWT secret (so every
/// node has it) under its own label (so it is never the cookie-signing key itself).
fn page_key(jwt_secret: &[u8]) -> anyhow::Result<authd_web::pages::tokens::PageKey> {
    use hmac::{KeyInit, Mac};
    let mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(jwt_secret)
        .map_err(|e| anyhow::anyhow!("deriving the page key: {e}"))?;
    let bytes: [u8; 32] = mac
        .chain_update(b"authd page key v1")
        .finalize()
        .into_bytes()
        .into();
    Ok(authd_web::pages::tokens::PageKey::new(bytes))
}

/// The leader periodically proposes dropping expired sessions and tokens; the time is in the entry.
fn spawn_expirer(raft: Raft, proposer: Proposer, every_secs: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every_secs));
        tick.tick().await;
        loop {
            tick.tick().await;
            if raft.metrics().borrow().state != ServerState::Leader {
                continue;
            }
            match proposer.propose(Command::Expire { now_ms: now_ms() }).await {
                Ok(Ok(a)) => tracing::debug!(?a, "expired sessions and tokens"),
                Ok(Err(e)) => tracing::warn!(error = %e, "expiry refused"),
                Err(e) => tracing::warn!(error = %e, "expiry not proposed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
