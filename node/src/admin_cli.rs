//! `authd role ...`, `authd session ...` and `authd user suspend`: operator commands over the
//! admin API (signed with the cluster secret), printing the API's JSON.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::cli::Target;
use crate::config::ConfigError;
use crate::operator::Endpoint;

/// `authd role grant|revoke`.
#[derive(Debug, Subcommand)]
pub enum RoleCmd {
    /// Give a user a role or an extra scope.
    Grant(GrantArgs),
    /// Take a role or an extra scope away.
    Revoke(GrantArgs),
    /// Define (or redefine) a role's scopes; holders see the change on every node at once.
    Define {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// Role name.
        #[arg(long)]
        name: String,
        /// A scope of the role (repeat the flag for several; none empties the role).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

/// What to grant or revoke, and to whom.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["role", "scope"])))]
pub struct GrantArgs {
    /// Where the cluster is.
    #[command(flatten)]
    pub target: Target,
    /// Username or user id.
    #[arg(long)]
    pub user: String,
    /// A role name (`user`, `admin`, `moderator`, ...).
    #[arg(long)]
    pub role: Option<String>,
    /// A scope such as `submission:proxy` or `moderation:update:*`.
    #[arg(long)]
    pub scope: Option<String>,
}

/// `authd session revoke`.
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// End one session, or every session of a user.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["session", "user"])))]
    Revoke {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// A session id.
        #[arg(long)]
        session: Option<String>,
        /// Username or user id: all of their sessions.
        #[arg(long)]
        user: Option<String>,
    },
}

/// `authd audit list`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Audit entries, newest first: `{"items": [...], "next": cursor}`.
    List {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// Page size (1-500).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Cursor from the previous page's `next`.
        #[arg(long)]
        after: Option<u64>,
    },
}

/// `authd keys list|rotate`.
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// The upstream-JWT signing keys still published, with their status and schedule.
    List {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
    },
    /// Schedule a new signing key; every node publishes it in the JWKS before this returns.
    Rotate {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// Seconds until the new key signs (default: `[signing] publish_ahead_secs`).
        #[arg(long)]
        activate_in: Option<u64>,
    },
}

/// Run a keys command.
pub async fn keys(op: KeysCmd) -> Result<anyhow::Result<Value>, ConfigError> {
    Ok(match op {
        KeysCmd::List { target } => {
            let ep = Endpoint::resolve(&target)?;
            ep.call(reqwest::Method::GET, "/api/v1/keys", None).await
        }
        KeysCmd::Rotate {
            target,
            activate_in,
        } => {
            let ep = Endpoint::resolve(&target)?;
            let body = json!({ "activate_in_secs": activate_in });
            ep.call(reqwest::Method::POST, "/api/v1/keys/rotate", Some(body))
                .await
        }
    })
}

/// Run an audit command.
pub async fn audit(op: AuditCmd) -> Result<anyhow::Result<Value>, ConfigError> {
    let AuditCmd::List {
        target,
        limit,
        after,
    } = op;
    let ep = Endpoint::resolve(&target)?;
    let mut path = format!("/api/v1/audit?limit={limit}");
    if let Some(a) = after {
        path.push_str(&format!("&after={a}"));
    }
    Ok(ep.call(reqwest::Method::GET, &path, None).await)
}

/// A path segment from user input: refuse what would change the path's meaning.
fn segment(s: &str) -> anyhow::Result<&str> {
    if s.is_empty() || s.contains(['/', '?', '#', '%']) || s.chars().any(char::is_whitespace) {
        anyhow::bail!("{s:?} is not a valid name here");
    }
    Ok(s)
}

/// Run a role command: `Err` is a configuration problem, `Ok(Err)` a failed request.
pub async fn role(op: RoleCmd) -> Result<anyhow::Result<Value>, ConfigError> {
    let (grant, args) = match op {
        RoleCmd::Grant(a) => (true, a),
        RoleCmd::Revoke(a) => (false, a),
        RoleCmd::Define {
            target,
            name,
            scopes,
        } => {
            let ep = Endpoint::resolve(&target)?;
            return Ok(async {
                let path = format!("/api/v1/roles/{}", segment(&name)?);
                ep.call(
                    reqwest::Method::PUT,
                    &path,
                    Some(json!({ "scopes": scopes })),
                )
                .await
            }
            .await);
        }
    };
    let ep = Endpoint::resolve(&args.target)?;
    Ok(async {
        let user = segment(&args.user)?;
        let (kind, name) = match (&args.role, &args.scope) {
            (Some(r), _) => ("roles", r.as_str()),
            (None, Some(s)) => ("scopes", s.as_str()),
            (None, None) => anyhow::bail!("give --role or --scope"),
        };
        let field = if kind == "roles" { "role" } else { "scope" };
        if grant {
            let path = format!("/api/v1/users/{user}/{kind}");
            ep.call(reqwest::Method::POST, &path, Some(json!({ field: name })))
                .await
        } else {
            let path = format!("/api/v1/users/{user}/{kind}/{}", segment(name)?);
            ep.call(reqwest::Method::DELETE, &path, None).await
        }
    }
    .await)
}

/// Run a session command.
pub async fn session(op: SessionCmd) -> Result<anyhow::Result<Value>, ConfigError> {
    let SessionCmd::Revoke {
        target,
        session,
        user,
    } = op;
    let ep = Endpoint::resolve(&target)?;
    Ok(async {
        let path = match (&session, &user) {
            (Some(s), _) => format!("/api/v1/sessions/{}", segment(s)?),
            (None, Some(u)) => format!("/api/v1/users/{}/sessions", segment(u)?),
            (None, None) => anyhow::bail!("give --session or --user"),
        };
        ep.call(reqwest::Method::DELETE, &path, None).await
    }
    .await)
}

/// `authd user suspend`.
pub async fn suspend(
    target: &Target,
    user: &str,
    reinstate: bool,
) -> Result<anyhow::Result<Value>, ConfigError> {
    let ep = Endpoint::resolve(target)?;
    Ok(async {
        let path = format!("/api/v1/users/{}/suspend", segment(user)?);
        ep.call(
            reqwest::Method::POST,
            &path,
            Some(json!({ "suspended": !reinstate })),
        )
        .await
    }
    .await)
}
