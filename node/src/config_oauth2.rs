//! `[oauth2]` in `cluster.toml`: bounds on the OAuth2 state one user or one client can create.

use serde::Deserialize;

/// `[oauth2]`: per-user and per-client bounds (README "OAuth2: revocation with the user,
/// quotas, codes").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2Config {
    /// Live token families one user may hold from one client; a new consent beyond this ends
    /// the family that would end first (replicated, enforced when the redemption is applied).
    pub max_families_per_user_client: u32,
    /// Grants (consents, code redemptions, refreshes) per second one node issues for one user.
    pub user_grants_per_sec: u32,
    /// Burst of the per-user rate.
    pub user_grant_burst: u32,
    /// Token-endpoint requests and consents per second one node accepts from one client.
    pub client_grants_per_sec: u32,
    /// Burst of the per-client rate.
    pub client_grant_burst: u32,
}

impl Default for OAuth2Config {
    fn default() -> Self {
        OAuth2Config {
            max_families_per_user_client: 5,
            user_grants_per_sec: 10,
            user_grant_burst: 50,
            client_grants_per_sec: 10_000,
            client_grant_burst: 10_000,
        }
    }
}

/// Check the bounds; the message names the key.
pub fn validate(c: &OAuth2Config) -> Result<(), String> {
    if c.max_families_per_user_client == 0 {
        return Err("[oauth2] max_families_per_user_client must be > 0".into());
    }
    if c.user_grants_per_sec == 0 || c.user_grant_burst == 0 {
        return Err("[oauth2] user_grants_per_sec and user_grant_burst must be > 0".into());
    }
    if c.client_grants_per_sec == 0 || c.client_grant_burst == 0 {
        return Err("[oauth2] client_grants_per_sec and client_grant_burst must be > 0".into());
    }
    Ok(())
}
