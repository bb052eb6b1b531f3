//! Secret loading: environment, then file, then (dev only) inline; never printed.

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::config_signing::UpstreamAlg;

/// The shipped `cluster.toml`: any secret that appears in it is public, so production refuses it.
const SHIPPED_CONFIG: &str = include_str!("../../cluster.toml");
/// Production secrets must have at least this many bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The keys a node runs with.
#[derive(Clone)]
pub struct Secrets {
    /// HS256 key for upstream JWTs and NG cookies.
    pub jwt: Vec<u8>,
    /// Key for the internal transport and operator request signatures.
    pub cluster: Vec<u8>,
    /// What the EdDSA private keys derive from: independent of `jwt`, so the services that hold
    /// the HS256 secret cannot mint EdDSA tokens. `None`: no EdDSA keys (HS256 only).
    pub signing_seed: Option<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// One secret: environment, then file (relative to the config), then inline in dev mode only;
/// outside dev mode short or repository secrets are refused.
pub(crate) fn resolve(
    cfg: &Config,
    what: &str,
    env: &str,
    file: Option<&Path>,
    inline: Option<&String>,
) -> Result<Vec<u8>, ConfigError> {
    let err = ConfigError::Secret;
    let value = if let Ok(v) = std::env::var(env) {
        v.into_bytes()
    } else if let Some(f) = file {
        let path = cfg.base_dir.join(f);
        let raw = std::fs::read(&path)
            .map_err(|e| err(format!("cannot read {what} file {}: {e}", path.display())))?;
        trim_newline(raw)
    } else if let Some(v) = inline {
        if !cfg.file.dev {
            return Err(err(format!(
                "inline {what} is only allowed with dev = true; use {what}_file or {env}"
            )));
        }
        v.clone().into_bytes()
    } else {
        return Err(err(format!("no {what}: set {what}_file (or {env})")));
    };
    if value.is_empty() {
        return Err(err(format!("{what} is empty")));
    }
    if !cfg.file.dev {
        if value.len() < MIN_SECRET_LEN {
            return Err(err(format!(
                "{what} is shorter than {MIN_SECRET_LEN} bytes; refusing to start outside dev mode"
            )));
        }
        if std::str::from_utf8(&value).is_ok_and(|s| SHIPPED_CONFIG.contains(s)) {
            return Err(err(format!(
                "{what} is the public one from the repository; refusing to start outside dev mode"
            )));
        }
    }
    Ok(value)
}

fn trim_newline(mut v: Vec<u8>) -> Vec<u8> {
    while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        v.pop();
    }
    v
}

/// Load the secrets for `cfg` (see the module docs for the order).
pub fn load(cfg: &Config) -> Result<Secrets, ConfigError> {
    let s = &cfg.file.secrets;
    let cluster = resolve(
        cfg,
        "cluster_secret",
        "AUTHD_CLUSTER_SECRET",
        s.cluster_secret_file.as_deref(),
        s.cluster_secret.as_ref(),
    )?;
    let jwt = resolve(
        cfg,
        "jwt_secret",
        "AUTHD_JWT_SECRET",
        s.jwt_secret_file.as_deref(),
        s.jwt_secret.as_ref(),
    )?;
    let configured = std::env::var_os(SEED_ENV).is_some()
        || s.signing_key_seed_file.is_some()
        || s.signing_key_seed.is_some();
    let signing_seed = if configured {
        Some(resolve(
            cfg,
            "signing_key_seed",
            SEED_ENV,
            s.signing_key_seed_file.as_deref(),
            s.signing_key_seed.as_ref(),
        )?)
    } else if cfg.file.signing.upstream_alg == UpstreamAlg::EdDSA {
        return Err(ConfigError::Secret(format!(
            "[signing] upstream_alg = \"EdDSA\" needs its own key material: set \
             [secrets] signing_key_seed_file (or {SEED_ENV})"
        )));
    } else {
        None
    };
    independent(&jwt, &cluster, signing_seed.as_deref())?;
    Ok(Secrets {
        jwt,
        cluster,
        signing_seed,
    })
}

/// The environment variable that overrides `[secrets] signing_key_seed_file`.
const SEED_ENV: &str = "AUTHD_SIGNING_KEY_SEED";

/// One secret reused for another purpose defeats the split: refuse it.
fn independent(jwt: &[u8], cluster: &[u8], seed: Option<&[u8]>) -> Result<(), ConfigError> {
    let same = |a: &[u8], b: &[u8]| bool::from(subtle::ConstantTimeEq::ct_eq(a, b));
    if same(jwt, cluster) {
        return Err(ConfigError::Secret(
            "jwt_secret and cluster_secret must differ".into(),
        ));
    }
    if seed.is_some_and(|s| same(s, jwt) || same(s, cluster)) {
        return Err(ConfigError::Secret(
            "signing_key_seed must differ from jwt_secret and cluster_secret".into(),
        ));
    }
    Ok(())
}

/// For `authd serve` with no config: random secrets kept in the data dir, created on first start.
pub fn load_or_create_dev(dir: &Path) -> Result<Secrets, ConfigError> {
    let err =
        |e: std::io::Error| ConfigError::Secret(format!("dev secrets in {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(err)?;
    let get = |name: &str| -> Result<Vec<u8>, ConfigError> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(v) if !v.is_empty() => Ok(trim_newline(v)),
            _ => {
                let v =
                    authd_auth::random_hex(32).map_err(|e| ConfigError::Secret(e.to_string()))?;
                write_private(&path, v.as_bytes()).map_err(err)?;
                tracing::warn!(path = %path.display(), "dev mode: generated a random secret (not for production)");
                Ok(v.into_bytes())
            }
        }
    };
    Ok(Secrets {
        cluster: get("cluster.secret")?,
        jwt: get("jwt.secret")?,
        signing_seed: Some(get("signing.seed")?),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::PathBuf;

    use super::*;

    fn cfg(dev: bool, secrets: &str) -> Config {
        let text = format!(
            "dev = {dev}\n[secrets]\n{secrets}\n[[nodes]]\nid = 1\nhttp = \"127.0.0.1:1\"\nraft = \"127.0.0.1:2\"\ndata_dir = \"d\"\n"
        );
        Config::parse(&text, Path::new("t.toml"), PathBuf::new()).unwrap()
    }

    #[test]
    fn inline_secrets_only_in_dev() {
        let s = "jwt_secret = \"a\"\ncluster_secret = \"b\"";
        assert!(load(&cfg(true, s)).is_ok());
        let e = load(&cfg(false, s)).unwrap_err().to_string();
        assert!(e.contains("only allowed with dev = true"), "{e}");
        assert!(
            !e.contains("\"a\""),
            "the secret itself is never in a message"
        );
    }

    #[test]
    fn missing_short_and_shipped_secrets_refused_in_production() {
        assert!(
            load(&cfg(true, "jwt_secret = \"a\""))
                .unwrap_err()
                .to_string()
                .contains("no cluster_secret")
        );
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "tooshort\n").unwrap();
        let long = dir.path().join("long");
        std::fs::write(&long, "q".repeat(40)).unwrap();
        let c = cfg(
            false,
            &format!(
                "jwt_secret_file = {:?}\ncluster_secret_file = {:?}",
                long, short
            ),
        );
        assert!(
            load(&c)
                .unwrap_err()
                .to_string()
                .contains("shorter than 32")
        );
        let shipped = SHIPPED_CONFIG
            .lines()
            .find_map(|l| {
                l.strip_prefix("cluster_secret = \"")
                    .and_then(|r| r.strip_suffix('"'))
            })
            .unwrap();
        let pub_file = dir.path().join("pub");
        std::fs::write(&pub_file, shipped).unwrap();
        let c = cfg(
            false,
            &format!(
                "jwt_secret_file = {:?}\ncluster_secret_file = {:?}",
                long, pub_file
            ),
        );
        assert!(
            load(&c)
                .unwrap_err()
                .to_string()
                .contains("public one from the repository")
        );
        let c = cfg(
            false,
            &format!(
                "jwt_secret_file = {:?}\ncluster_secret_file = {:?}",
                long, long
            ),
        );
        assert!(load(&c).unwrap_err().to_string().contains("must differ"));
        let other = dir.path().join("other");
        std::fs::write(&other, "b".repeat(40)).unwrap();
        let c = cfg(
            false,
            &format!(
                "jwt_secret_file = {:?}\ncluster_secret_file = {:?}",
                long, other
            ),
        );
        assert!(load(&c).is_ok());
    }
}
