//! authd's HTTP surface. It talks to the node through [`Backend`], a narrow handle, and never
//! to openraft directly, so every route can be exercised against any implementation.

pub mod accounts;
pub mod audit;
pub mod authn;
pub mod backend;
pub mod cli_auth;
pub mod cluster;
pub mod cookies;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grants;
mod headers;
pub mod keys;
pub mod next_page;
pub mod oauth2;
pub mod operator;
pub mod pages;
#[cfg(test)]
mod props;
pub mod rate_limit;
mod routes;

pub use backend::{
    AuthDecision, Backend, BackendError, BrowserLookup, ClientCreated, ClientView, ClusterStatus,
    Credential, GrantChange, LoginOk, LoginRequest, MemberView, MintTokenRequest, MintedToken,
    NewClientRequest, NewSession, NewUserRequest, Page, RoleView, SessionView, UserView,
    WebSettings,
};
pub use cookies::CookieSettings;
pub use routes::router;
