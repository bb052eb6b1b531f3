//! `[signing]` in `cluster.toml`: which algorithm signs the upstream JWT that `/auth` hands to
//! services, and how the EdDSA key ring rotates.

use serde::Deserialize;

/// The upstream JWT's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum UpstreamAlg {
    /// HMAC with the shared JWT secret: what the original's services verify (compatibility).
    #[default]
    HS256,
    /// Ed25519 with a `kid` from the replicated key ring; services verify with the JWKS.
    EdDSA,
}

/// `[signing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Algorithm of the upstream JWT.
    pub upstream_alg: UpstreamAlg,
    /// Rotate the EdDSA key this often (the leader schedules the next one); `None`: only by
    /// `authd keys rotate`.
    pub rotate_every_secs: Option<u64>,
    /// How long a new key is published in the JWKS before it signs, so services that cache
    /// the JWKS have it before the first token that needs it.
    pub publish_ahead_secs: u64,
    /// Clock difference between nodes and services to allow for: an old key stays published
    /// this long past the last token it could have signed.
    pub max_clock_skew_secs: u64,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            upstream_alg: UpstreamAlg::HS256,
            rotate_every_secs: None,
            publish_ahead_secs: 900,
            max_clock_skew_secs: 60,
        }
    }
}

/// Why a `[signing]` section cannot work.
pub fn validate(s: &SigningConfig) -> Result<(), String> {
    if s.publish_ahead_secs > 7 * 86_400 || s.max_clock_skew_secs > 3600 {
        return Err(
            "[signing] publish_ahead_secs must be at most 7 days, max_clock_skew_secs at most 1 h"
                .into(),
        );
    }
    if let Some(every) = s.rotate_every_secs
        && every <= s.publish_ahead_secs
    {
        return Err("[signing] rotate_every_secs must exceed publish_ahead_secs".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(s: &str) -> Result<SigningConfig, String> {
        let c: SigningConfig = toml::from_str(s).map_err(|e| e.to_string())?;
        validate(&c).map(|()| c)
    }

    #[test]
    fn defaults_and_refusals() {
        let d = parse("").unwrap();
        assert_eq!(d.upstream_alg, UpstreamAlg::HS256);
        assert_eq!(d.rotate_every_secs, None);
        assert_eq!(
            parse("upstream_alg = \"EdDSA\"").unwrap().upstream_alg,
            UpstreamAlg::EdDSA
        );
        assert!(parse("upstream_alg = \"RS256\"").is_err());
        assert!(parse("rotate_every_secs = 600").is_err()); // not above publish_ahead (900)
        assert!(parse("rotate_every_secs = 86400").is_ok());
        assert!(parse("max_clock_skew_secs = 7200").is_err());
        assert!(parse("bogus = 1").is_err());
    }
}
