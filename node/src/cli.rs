//! Command-line interface: `serve` and the operator commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// authd: login, session and authorization server for arXiv.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Where to find the cluster: `--config` (and optionally `--node`), else the quick-start node.
#[derive(Debug, Args, Clone)]
pub struct Target {
    /// Cluster configuration file (cluster.toml). Without it: the single quick-start node.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Node id in the config to use (serve: required with --config; CLI: talk to this node only).
    #[arg(long)]
    pub node: Option<u64>,
}

/// `authd serve` options.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Where the node is defined.
    #[command(flatten)]
    pub target: Target,
    /// A node being added to a running cluster: never bootstrap a membership, wait to be added
    /// with `authd cluster add-node`.
    #[arg(long)]
    pub join: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a node (no arguments: a single-node cluster in ./authd-data on 127.0.0.1:8080).
    Serve(ServeArgs),
    /// Manage users.
    User {
        /// Which user operation.
        #[command(subcommand)]
        op: UserCmd,
    },
    /// Manage OAuth2 API clients.
    Client {
        /// Which client operation.
        #[command(subcommand)]
        op: ClientCmd,
    },
    /// Issue access tokens (development, tests, scripts).
    Token {
        /// Which token operation.
        #[command(subcommand)]
        op: TokenCmd,
    },
    /// Inspect the cluster.
    Cluster {
        /// Which cluster operation.
        #[command(subcommand)]
        op: ClusterCmd,
    },
    /// Grant or revoke roles and extra scopes (takes effect on every node before it returns).
    Role {
        /// Which grant operation.
        #[command(subcommand)]
        op: crate::admin_cli::RoleCmd,
    },
    /// End sessions (one, or every session of a user).
    Session {
        /// Which session operation.
        #[command(subcommand)]
        op: crate::admin_cli::SessionCmd,
    },
    /// The audit log of admin actions and security events.
    Audit {
        /// Which audit operation.
        #[command(subcommand)]
        op: crate::admin_cli::AuditCmd,
    },
    /// The upstream-JWT signing keys (EdDSA) and their rotation.
    Keys {
        /// Which keys operation.
        #[command(subcommand)]
        op: crate::admin_cli::KeysCmd,
    },
    /// The legacy (tapir) database.
    Legacy {
        /// Which legacy operation.
        #[command(subcommand)]
        op: LegacyCmd,
    },
}

/// `authd legacy ...`
#[derive(Debug, Subcommand)]
pub enum LegacyCmd {
    /// Create the tapir tables in the empty database `[legacy] database_url` names
    /// (development only: needs `dev = true`; refuses a database that already has them).
    InitSchema {
        /// Cluster configuration file with a `[legacy]` section.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `authd user ...`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user; the password is read from standard input, never from the command line.
    Add {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// Login name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Also grant the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Suspend a user (every session and token ends on every node) or, with
    /// `--reinstate`, lift the suspension.
    Suspend {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// Username or user id.
        #[arg(long)]
        user: String,
        /// Lift the suspension instead.
        #[arg(long)]
        reinstate: bool,
    },
}

/// `authd client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints `{"client_id", "client_secret"}` (the secret only this once).
    Add {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Responsible user (username, e-mail, or `id:N`; see `authd_auth::user_ref`).
        #[arg(long)]
        owner: String,
        /// Exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Allowed grant type (repeatable): client_credentials, authorization_code, refresh_token.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Allowed scope (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Public client: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Home page.
        #[arg(long, default_value = "")]
        url: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List clients (JSON, all pages).
    List {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
    },
    /// Remove a client and end every token issued to it.
    Revoke {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// The client id.
        #[arg(long)]
        client: String,
    },
}

/// `authd token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Mint a revocable access token for a user; prints `{"access_token", "token_type", "expires_in"}`.
    Mint {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// The user (username, e-mail, or `id:N`; see `authd_auth::user_ref`).
        #[arg(long)]
        user: String,
        /// Scope (repeatable); default: all of the user's scopes.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in seconds (default 3600).
        #[arg(long)]
        ttl: Option<u64>,
    },
}

/// `authd cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Print the node's view of the cluster as JSON.
    Status {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
    },
    /// Add a voter: start it first with `authd serve --join`, then run this.
    AddNode {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// The new node's id (never reuse an id).
        #[arg(long)]
        id: u64,
        /// Its internal listener, host:port.
        #[arg(long)]
        raft: String,
        /// Its public HTTP listener, host:port.
        #[arg(long)]
        http: String,
    },
    /// Remove a voter (stop the process afterwards).
    RemoveNode {
        /// Where the cluster is.
        #[command(flatten)]
        target: Target,
        /// The node to remove.
        #[arg(long)]
        id: u64,
    },
}
