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

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a node (no arguments: a single-node cluster in ./authd-data on 127.0.0.1:8080).
    Serve(Target),
    /// Manage users.
    User {
        /// Which user operation.
        #[command(subcommand)]
        op: UserCmd,
    },
    /// Inspect the cluster.
    Cluster {
        /// Which cluster operation.
        #[command(subcommand)]
        op: ClusterCmd,
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
}
