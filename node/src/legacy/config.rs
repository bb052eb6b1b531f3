//! `[legacy]` in `cluster.toml`: the tapir database and the shared legacy cookie.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{Config, ConfigError};

/// `[legacy]`: present = on-premises (legacy) mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyConfig {
    /// `mysql://user:pass@host:port/db`, `mariadb://…` or `sqlite:path`; never logged.
    pub database_url: String,
    /// File holding the legacy cookie secret (the original's `CLASSIC_SESSION_HASH`).
    pub cookie_secret_file: Option<PathBuf>,
    /// Inline cookie secret, `dev = true` only.
    pub cookie_secret: Option<String>,
    /// Legacy session lifetime in seconds (`SESSION_DURATION`).
    #[serde(default = "default_duration")]
    pub session_duration: u64,
    /// Legacy cookie name.
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
}

fn default_duration() -> u64 {
    7200
}

fn default_cookie_name() -> String {
    "tapir_session".into()
}

/// What a node runs legacy mode with.
#[derive(Clone)]
pub struct LegacySpec {
    /// Database URL (may hold a password: never logged).
    pub database_url: String,
    /// Shared cookie secret.
    pub secret: Vec<u8>,
    /// Session lifetime, seconds.
    pub duration_secs: u64,
    /// Cookie name.
    pub cookie_name: String,
}

impl std::fmt::Debug for LegacySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySpec")
            .field("duration_secs", &self.duration_secs)
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

/// Check `[legacy]` (if any) and load its secret with the same rules as the other secrets
/// (`AUTHD_LEGACY_COOKIE_SECRET`, then the file, then inline in dev mode only).
pub fn load(cfg: &Config) -> Result<Option<LegacySpec>, ConfigError> {
    let Some(l) = &cfg.file.legacy else {
        return Ok(None);
    };
    let invalid = |message: &str| ConfigError::Invalid {
        path: cfg.base_dir.clone(),
        message: message.to_owned(),
    };
    let scheme = l.database_url.split_once(':').map(|(s, _)| s);
    if !matches!(scheme, Some("mysql" | "mariadb" | "sqlite")) {
        return Err(invalid(
            "[legacy] database_url must start with mysql://, mariadb:// or sqlite:",
        ));
    }
    if l.session_duration == 0 || l.session_duration > 30 * 24 * 3600 {
        return Err(invalid(
            "[legacy] session_duration must be 1..=2592000 seconds",
        ));
    }
    let token = |v: &str| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    };
    if !token(&l.cookie_name) || l.cookie_name == cfg.file.cookies.name {
        return Err(invalid(
            "[legacy] cookie_name must be a plain token different from the NG cookie's",
        ));
    }
    let secret = crate::secrets::resolve(
        cfg,
        "cookie_secret",
        "AUTHD_LEGACY_COOKIE_SECRET",
        l.cookie_secret_file.as_deref(),
        l.cookie_secret.as_ref(),
    )?;
    Ok(Some(LegacySpec {
        database_url: l.database_url.clone(),
        secret,
        duration_secs: l.session_duration,
        cookie_name: l.cookie_name.clone(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::Path;

    use super::*;

    fn cfg(dev: bool, legacy: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "dev = {dev}\n[legacy]\n{legacy}\n[[nodes]]\nid = 1\nhttp = \"127.0.0.1:1\"\nraft = \"127.0.0.1:2\"\ndata_dir = \"d\"\n"
        );
        Config::parse(&text, Path::new("t.toml"), PathBuf::new())
    }

    #[test]
    fn legacy_section_rules() {
        let ok = "database_url = \"sqlite:t.db\"\ncookie_secret = \"foohash\"";
        let spec = load(&cfg(true, ok).unwrap()).unwrap().unwrap();
        assert_eq!(
            (spec.duration_secs, spec.cookie_name.as_str()),
            (7200, "tapir_session")
        );
        assert_eq!(spec.secret, b"foohash");
        assert!(!format!("{spec:?}").contains("foohash"));
        let e = load(&cfg(false, ok).unwrap()).unwrap_err().to_string();
        assert!(e.contains("only allowed with dev = true"), "{e}");
        for bad in [
            "database_url = \"postgres://x\"\ncookie_secret = \"k\"",
            "database_url = \"sqlite:t.db\"\ncookie_secret = \"k\"\nsession_duration = 0",
            "database_url = \"sqlite:t.db\"\ncookie_secret = \"k\"\ncookie_name = \"a b\"",
            "database_url = \"sqlite:t.db\"",
        ] {
            assert!(load(&cfg(true, bad).unwrap()).is_err(), "{bad}");
        }
        assert!(cfg(true, "database_url = \"sqlite:x\"\nbogus = 1").is_err());
    }
}
