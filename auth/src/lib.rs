//! Domain types shared by authd and the services behind it.
//!
//! Everything here is plain data plus pure checks, so a downstream service can depend on
//! this crate alone and a replica can apply commands deterministically.

pub mod ids;
pub mod model;
pub mod pkce;
pub mod scope;
#[cfg(feature = "axum")]
pub mod service;
pub mod signing;
pub mod tokens;
pub mod user_ref;

pub use ids::{RandomError, random_hex, split_bearer, token_digest};
pub use model::{
    AuditClass, AuthCode, Client, FullName, LegacyGrants, Profile, Session, Token, TokenKind, User,
};
pub use scope::{Scope, ScopeError, grantable, missing_scopes};
