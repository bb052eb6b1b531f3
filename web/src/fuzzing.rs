//! Entry points for the fuzz targets in `fuzz/` (not an API): request parsers that are
//! otherwise private to their modules.

pub use crate::authn::{credential, required_scopes, with_legacy};
pub use crate::oauth2::form::{Params, client_auth};
