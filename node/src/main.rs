//! The `authd` binary: `serve` runs a node; the other subcommands operate a live cluster.

mod actors;
mod admin_cli;
mod audit_sink;
mod authz;
mod backend;
mod cli;
mod config;
mod config_accounts;
mod config_audit;
mod config_http;
mod config_oauth2;
mod config_signing;
mod cookie_rule;
mod data_dir;
mod http_serve;
mod issuer;
mod lease;
mod legacy;
mod login_guard;
mod mail;
mod oauth2;
mod operator;
mod passwords;
mod proposer;
mod secrets;
mod server;
mod signing;
mod telemetry;
mod token_view;
mod views;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, ClientCmd, ClusterCmd, Cmd, LegacyCmd, Target, TokenCmd, UserCmd};
use crate::config::{
    Config, ConfigError, CookiesConfig, NodeConfig, RaftTuning, SessionsConfig, WebConfig,
};
use crate::operator::{Endpoint, QUICKSTART_DIR, QUICKSTART_HTTP, QUICKSTART_RAFT};
use crate::server::ServeSpec;

/// Exit code for configuration errors (bad file, missing secret).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    data_dir::private_umask();
    let cli = Cli::parse();
    telemetry::init_logs();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("authd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Cmd::Serve(args) => match serve_spec(&args.target, args.join) {
            Ok(spec) => server::serve(spec).await.map(|()| None),
            Err(e) => return config_error(&e),
        },
        Cmd::User {
            op:
                UserCmd::Add {
                    target,
                    username,
                    email,
                    admin,
                    password_stdin: _,
                },
        } => match Endpoint::resolve(&target) {
            Ok(ep) => operator::user_add(&ep, &username, &email, admin)
                .await
                .map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Token {
            op:
                TokenCmd::Mint {
                    target,
                    user,
                    scopes,
                    ttl,
                },
        } => match Endpoint::resolve(&target) {
            Ok(ep) => {
                let body = serde_json::json!({ "user": user, "scopes": scopes, "ttl_secs": ttl });
                ep.call(reqwest::Method::POST, "/api/v1/tokens", Some(body))
                    .await
                    .map(Some)
            }
            Err(e) => return config_error(&e),
        },
        Cmd::Legacy {
            op: LegacyCmd::InitSchema { config },
        } => match Config::load(&config) {
            Ok(cfg) => legacy::init_schema(&cfg).await.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Role { op } => match admin_cli::role(op).await {
            Ok(r) => r.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Keys { op } => match admin_cli::keys(op).await {
            Ok(r) => r.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Audit { op } => match admin_cli::audit(op).await {
            Ok(r) => r.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Session { op } => match admin_cli::session(op).await {
            Ok(r) => r.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::User {
            op:
                UserCmd::Suspend {
                    target,
                    user,
                    reinstate,
                },
        } => match admin_cli::suspend(&target, &user, reinstate).await {
            Ok(r) => r.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Client { op } => match client_cmd(op).await {
            Ok(r) => r.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Cluster {
            op: ClusterCmd::Status { target },
        } => match Endpoint::resolve(&target) {
            Ok(ep) => operator::cluster_status(&ep).await.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Cluster {
            op:
                ClusterCmd::AddNode {
                    target,
                    id,
                    raft,
                    http,
                },
        } => match Endpoint::resolve(&target) {
            Ok(ep) => operator::add_node(&ep, id, &raft, &http).await.map(Some),
            Err(e) => return config_error(&e),
        },
        Cmd::Cluster {
            op: ClusterCmd::RemoveNode { target, id },
        } => match Endpoint::resolve(&target) {
            Ok(ep) => operator::remove_node(&ep, id).await.map(Some),
            Err(e) => return config_error(&e),
        },
    };
    match result {
        Ok(Some(json)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("authd: configuration error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn serve_spec(t: &Target, join: bool) -> Result<ServeSpec, ConfigError> {
    match &t.config {
        None => {
            let secrets = secrets::load_or_create_dev(Path::new(QUICKSTART_DIR))?;
            tracing::warn!(
                "quick start: single dev node, data in ./{QUICKSTART_DIR}, secrets generated there"
            );
            let parse = |a: &str| {
                a.parse()
                    .map_err(|e| ConfigError::Secret(format!("{a}: {e}")))
            };
            Ok(ServeSpec {
                node_id: 1,
                join: false,
                nodes: vec![NodeConfig {
                    id: 1,
                    http: parse(QUICKSTART_HTTP)?,
                    raft: parse(QUICKSTART_RAFT)?,
                    data_dir: QUICKSTART_DIR.into(),
                    raft_via: Default::default(),
                }],
                raft: RaftTuning::default(),
                sessions: SessionsConfig::default(),
                cookies: CookiesConfig {
                    secure: false,
                    ..CookiesConfig::default()
                },
                web: WebConfig::default(),
                issuer: format!("http://{QUICKSTART_HTTP}"),
                secrets,
                login: Default::default(),
                audit: Default::default(),
                register: Default::default(),
                mail: Default::default(),
                passwords: Default::default(),
                signing: Default::default(),
                oauth2: Default::default(),
                http: Default::default(),
                legacy: None,
            })
        }
        Some(path) => {
            let cfg = Config::load(path)?;
            let Some(id) = t.node else {
                return Err(ConfigError::Invalid {
                    path: path.clone(),
                    message: "--node N is required with --config".into(),
                });
            };
            if cfg.node(id).is_none() {
                return Err(ConfigError::Invalid {
                    path: path.clone(),
                    message: format!("node {id} is not in the configuration"),
                });
            }
            let secrets = secrets::load(&cfg)?;
            let legacy = legacy::config::load(&cfg)?;
            let http = cfg.node(id).map(|n| n.http);
            let issuer = http
                .ok_or_else(|| format!("node {id} is not in the configuration"))
                .and_then(|h| issuer::resolve(cfg.file.web.issuer.as_deref(), cfg.file.dev, h))
                .map_err(|message| ConfigError::Invalid {
                    path: path.clone(),
                    message,
                })?;
            Ok(ServeSpec {
                node_id: id,
                join,
                nodes: cfg.file.nodes.clone(),
                raft: cfg.file.raft.clone(),
                sessions: cfg.file.sessions.clone(),
                cookies: cfg.file.cookies.clone(),
                web: cfg.file.web.clone(),
                issuer,
                secrets,
                login: cfg.file.login.clone(),
                audit: cfg.file.audit.clone(),
                register: cfg.file.register.clone(),
                mail: cfg.file.mail.clone(),
                passwords: cfg.file.passwords.clone(),
                signing: cfg.file.signing.clone(),
                oauth2: cfg.file.oauth2.clone(),
                http: cfg.file.http.clone(),
                legacy,
            })
        }
    }
}

/// `authd client ...`: `Err` is a configuration problem (exit 2), `Ok(Err)` a failed request.
async fn client_cmd(op: ClientCmd) -> Result<anyhow::Result<serde_json::Value>, ConfigError> {
    let target = match &op {
        ClientCmd::Add { target, .. }
        | ClientCmd::List { target }
        | ClientCmd::Revoke { target, .. } => target,
    };
    let ep = Endpoint::resolve(target)?;
    Ok(match op {
        ClientCmd::Add {
            name,
            owner,
            redirect_uris,
            grant_types,
            scopes,
            public,
            url,
            description,
            ..
        } => {
            let body = serde_json::json!({
                "name": name, "owner": owner, "redirect_uris": redirect_uris, "grant_types": grant_types,
                "scopes": scopes, "public": public, "url": url, "description": description,
            });
            operator::client_add(&ep, body).await
        }
        ClientCmd::List { .. } => operator::client_list(&ep).await,
        ClientCmd::Revoke { client, .. } => operator::client_revoke(&ep, &client).await,
    })
}
