//! Black-box integration tests: real `authd` processes, real ports, real HTTP.
//!
//! ONE test binary (kanidm style): every file directly under `tests/` would be another binary
//! to compile and link. Add new tests as modules here.
//!
//! Build the server first: `cargo build -p authd-node` (`.ci/run` does), then
//! `cargo test -p authd-tests`. See `authd_tests` for `AUTHD_BIN`, `AUTHD_TEST_KEEP`,
//! `AUTHD_TEST_RUST_LOG`.

mod accounts_hardening;
mod admin_api;
mod api;
mod audit;
mod audit_bounds;
mod auth_endpoint;
mod auth_fuzz;
mod authd_http;
mod bearer;
mod browser;
mod catch_up;
mod cli;
mod cluster_access;
mod config;
mod durability;
mod example_service;
mod failover;
mod faults;
mod grants;
mod http_limits;
mod internal_port;
mod legacy;
mod legacy_accounts;
mod legacy_cli;
mod legacy_outage;
mod legacy_sessions;
mod legacy_util;
mod nginx;
mod nginx_edge;
mod nginx_index_flood;
mod oauth2;
mod oauth2_bounds;
mod oauth2_code;
mod oauth2_interop;
mod oauth2_introspection;
mod oauth2_issuer;
mod oauth2_redirect_uris;
mod oauth2_user_revocation;
mod oauth2_util;
mod pages_account;
mod pages_lease;
mod pages_lockout;
mod pages_mail;
mod pages_register;
mod prod_secrets;
mod repo_cluster_toml;
mod revocation;
mod secrets_in_logs;
mod sessions_cookies;
mod signing_keys;
mod user_refs;
mod util;
