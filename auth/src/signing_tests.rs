#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use super::*;

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

const FAR: u64 = 4_000_000_000;

fn set(keys: &[&Ed25519Signer]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|k| jwk(k.kid(), &k.public())).collect(),
    }
}

#[test]
fn derivation_is_deterministic_per_secret_and_kid() {
    let a = Ed25519Signer::derive(b"master-secret", "k1").unwrap();
    let b = Ed25519Signer::derive(b"master-secret", "k1").unwrap();
    assert_eq!(a.public(), b.public());
    assert_ne!(
        a.public(),
        Ed25519Signer::derive(b"master-secret", "k2")
            .unwrap()
            .public()
    );
    assert_ne!(
        a.public(),
        Ed25519Signer::derive(b"other-secret", "k1")
            .unwrap()
            .public()
    );
    assert!(Ed25519Signer::derive(b"m", "").is_err());
    assert!(Ed25519Signer::derive(b"m", "bad kid").is_err());
    assert!(Ed25519Signer::derive(b"m", &"x".repeat(65)).is_err());
}

#[test]
fn signed_token_names_its_key_and_verifies_with_the_jwks() {
    let k = Ed25519Signer::derive(b"m", "key-1").unwrap();
    let c = Claims {
        sub: "u".into(),
        exp: FAR,
    };
    let t = k.sign(&c).unwrap();
    let h = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(h.alg, Algorithm::EdDSA);
    assert_eq!(h.kid.as_deref(), Some("key-1"));
    // The JWKS round-trips through JSON as a service would fetch it.
    let json = serde_json::to_string(&set(&[&k])).unwrap();
    assert!(json.contains("\"kty\":\"OKP\"") && json.contains("\"crv\":\"Ed25519\""));
    let keys = PublicKeys::from_jwks(&serde_json::from_str(&json).unwrap());
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.verify::<Claims>(&t, 0).unwrap(), c);
}

#[test]
fn refusals() {
    let k1 = Ed25519Signer::derive(b"m", "k1").unwrap();
    let k2 = Ed25519Signer::derive(b"m", "k2").unwrap();
    let only_k2 = PublicKeys::from_jwks(&set(&[&k2]));
    let good = k1
        .sign(&Claims {
            sub: "u".into(),
            exp: FAR,
        })
        .unwrap();
    // Unknown kid: its own error, so a service knows to refresh the JWKS.
    assert_eq!(
        only_k2.verify::<Claims>(&good, 0),
        Err(TokenError::UnknownKey)
    );
    let both = PublicKeys::from_jwks(&set(&[&k1, &k2]));
    // Expired.
    let old = k1
        .sign(&Claims {
            sub: "u".into(),
            exp: 1,
        })
        .unwrap();
    assert_eq!(both.verify::<Claims>(&old, 0), Err(TokenError::Expired));
    // Signature by another key under the same kid.
    let forged = Ed25519Signer::derive(b"attacker", "k1")
        .unwrap()
        .sign(&Claims {
            sub: "admin".into(),
            exp: FAR,
        })
        .unwrap();
    assert_eq!(both.verify::<Claims>(&forged, 0), Err(TokenError::Invalid));
    // HS256 (alg confusion with the public key as an HMAC secret) and alg=none.
    let hs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &Claims {
            sub: "u".into(),
            exp: FAR,
        },
        &EncodingKey::from_secret(&k1.public()),
    )
    .unwrap();
    assert_eq!(
        both.verify::<Claims>(&hs_token, 0),
        Err(TokenError::Invalid)
    );
    let none = format!(
        "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.{}.",
        good.split('.').nth(1).unwrap()
    );
    assert_eq!(both.verify::<Claims>(&none, 0), Err(TokenError::Invalid));
    // A flipped signature byte.
    let mut bad = good.clone().into_bytes();
    let last = bad.len() - 2;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        both.verify::<Claims>(std::str::from_utf8(&bad).unwrap(), 0),
        Err(TokenError::Invalid)
    );
    assert_eq!(
        both.verify::<Claims>("garbage", 0),
        Err(TokenError::Invalid)
    );
}

#[test]
fn malformed_jwks_entries_are_skipped_not_trusted() {
    let k = Ed25519Signer::derive(b"m", "k1").unwrap();
    let json = serde_json::json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(k.public())},
        {"kty": "OKP", "crv": "Ed25519", "kid": "bad kid", "x": URL_SAFE_NO_PAD.encode(k.public())},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": URL_SAFE_NO_PAD.encode(k.public())},
    ]});
    let keys = PublicKeys::from_jwks(&serde_json::from_value(json).unwrap());
    assert_eq!(keys.len(), 1);
    assert!(keys.contains("k1") && !keys.contains("short") && !keys.contains("hmac"));
}
