//! EdDSA (Ed25519) upstream JWTs with a `kid`: downstream services verify them with public
//! keys from `/.well-known/jwks.json`, so they hold no secret that could mint sessions, and
//! authd can rotate keys.
//!
//! authd replicates only the public half of each key. Every node derives the private half
//! from the JWT secret and the key's random id (HMAC-SHA256 under its own label), so a private
//! key is never written to the log, a snapshot or the wire.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tokens::TokenError;

/// Re-exported so a service can name the JWKS type without depending on `jsonwebtoken`.
pub use jsonwebtoken::jwk::JwkSet;

/// PKCS#8 v1 wrapping of a raw Ed25519 seed (RFC 8410): what `EncodingKey::from_ed_der` takes.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Domain separation: the derived seeds are never the cookie key or any other derived key.
const DERIVE_LABEL: &[u8] = b"authd upstream EdDSA key v1\0";

/// Whether `kid` is a key id authd issues (and a downstream service should look up): 1-64
/// URL-safe characters, so it can sit in a header, a URL and a log line as is.
pub fn valid_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One signing key, derived on this node; signs upstream JWTs with its `kid` in the header.
#[derive(Clone)]
pub struct Ed25519Signer {
    kid: String,
    enc: EncodingKey,
    public: [u8; 32],
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Signer({}, <redacted>)", self.kid)
    }
}

impl Ed25519Signer {
    /// The key `kid` derives to under `master` (the signing-key seed); the same on every node.
    pub fn derive(master: &[u8], kid: &str) -> Result<Ed25519Signer, TokenError> {
        if !valid_kid(kid) {
            return Err(TokenError::Sign(format!("invalid key id {kid:?}")));
        }
        let mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(master)
            .map_err(|e| TokenError::Sign(e.to_string()))?;
        let seed: [u8; 32] = mac
            .chain_update(DERIVE_LABEL)
            .chain_update(kid.as_bytes())
            .finalize()
            .into_bytes()
            .into();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&PKCS8_ED25519_PREFIX);
        der.extend_from_slice(&seed);
        Ok(Ed25519Signer {
            kid: kid.to_owned(),
            enc: EncodingKey::from_ed_der(&der),
            public,
        })
    }

    /// The key id in the JWT header and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, as replicated and published.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Sign `claims` as an EdDSA JWT naming this key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.enc)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }
}

/// The JWK (RFC 8037 `OKP`/`Ed25519`) that publishes a public key.
pub fn jwk(kid: &str, public: &[u8; 32]) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid.to_owned()),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(public),
        }),
    }
}

/// Verification keys by `kid`, as a downstream service holds them from authd's JWKS.
#[derive(Clone, Default)]
pub struct PublicKeys {
    keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_tuple("PublicKeys").field(&kids).finish()
    }
}

impl PublicKeys {
    /// The Ed25519 keys of a JWKS that carry a valid `kid`; anything else in the set (other
    /// key types, malformed `x`) is skipped, never trusted.
    pub fn from_jwks(set: &JwkSet) -> PublicKeys {
        let keys = set
            .keys
            .iter()
            .filter_map(|k| {
                let kid = k.common.key_id.as_deref().filter(|k| valid_kid(k))?;
                let AlgorithmParameters::OctetKeyPair(p) = &k.algorithm else {
                    return None;
                };
                if p.curve != EllipticCurve::Ed25519 {
                    return None;
                }
                let raw: [u8; 32] = URL_SAFE_NO_PAD.decode(&p.x).ok()?.try_into().ok()?;
                // Refuse bytes that are not a point on the curve now, not at first use.
                ed25519_dalek::VerifyingKey::from_bytes(&raw).ok()?;
                Some((kid.to_owned(), DecodingKey::from_ed_der(&raw)))
            })
            .collect();
        PublicKeys { keys }
    }

    /// Whether a key with this id is known (else the caller may refresh its JWKS).
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No keys at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verify an EdDSA JWT naming one of these keys: algorithm, signature and `exp`.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, leeway: u64) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = leeway;
        v.validate_exp = true;
        v.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        Ok(jsonwebtoken::decode::<T>(token, key, &v)?.claims)
    }
}

#[cfg(test)]
#[path = "signing_tests.rs"]
mod tests;
