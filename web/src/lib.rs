//! authd's HTTP surface. It talks to the node through [`Backend`], a narrow handle, and never
//! to openraft directly, so every route can be exercised against any implementation.

pub mod backend;
pub mod cli_auth;
pub mod error;
mod operator;
mod routes;

pub use backend::{Backend, BackendError, ClusterStatus, MemberView, NewSession, NewUserRequest, SessionView, UserView};
pub use routes::router;
