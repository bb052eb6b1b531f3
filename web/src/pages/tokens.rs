//! Signed, self-contained tokens the pages hand out: CSRF form tokens, captcha challenges and
//! e-mailed links. All are HMAC-SHA256 under the node's page key (derived from the cluster's
//! JWT secret, so every node accepts what any node issued) and compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// 32 bytes of key material for page tokens; never leaves the node.
#[derive(Clone)]
pub struct PageKey([u8; 32]);

impl PageKey {
    /// Wrap derived key bytes.
    pub fn new(bytes: [u8; 32]) -> PageKey {
        PageKey(bytes)
    }

    /// MAC over `purpose` and `parts`, each length-prefixed so no two inputs collide.
    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        for p in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for PageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageKey(..)")
    }
}

/// Compare two strings without leaking where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 128 random bits from the OS, hex; `None` only if the OS has no randomness to give.
pub fn random_hex() -> Option<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).ok()?;
    Some(hex::encode(b))
}

/// The form token for a browser (its CSRF cookie) and, once logged in, its session:
/// `<issued, Unix s>.<mac>`. A token lifted from one browser or one session is useless in
/// another.
pub fn csrf_token(key: &PageKey, cookie: &str, session_id: &str, issued_s: u64) -> String {
    let mac = key.mac(
        "csrf",
        &[
            cookie.as_bytes(),
            session_id.as_bytes(),
            &issued_s.to_be_bytes(),
        ],
    );
    format!("{issued_s}.{}", hex::encode(mac))
}

/// Whether `given` is a form token for this cookie and session. One made before login (no
/// session) is good for `login_ttl_s` only, so a token harvested once does not serve forever.
pub fn csrf_ok(
    key: &PageKey,
    cookie: &str,
    session_id: &str,
    given: &str,
    now_s: u64,
    login_ttl_s: u64,
) -> bool {
    let Some(issued_s) = given
        .split_once('.')
        .and_then(|(t, _)| t.parse::<u64>().ok())
    else {
        return false;
    };
    let in_time = !session_id.is_empty() || now_s < issued_s.saturating_add(login_ttl_s);
    in_time && !cookie.is_empty() && same(&csrf_token(key, cookie, session_id, issued_s), given)
}

/// Captcha letters: no 0/O, 1/I/L, 5/S or 2/Z look-alikes.
const CAPTCHA_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRTUVWXY346789";
/// Letters per captcha.
pub const CAPTCHA_LEN: usize = 6;

/// Why a captcha or a link was refused; each gets its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not one of ours (forged, truncated, other address).
    Invalid,
    /// Ours, but past its deadline.
    Expired,
    /// A captcha answered wrongly.
    Wrong,
}

/// A captcha challenge: the answer is derived from the nonce under the key, so the token
/// carries no readable answer (the original put it in a JWT's clear payload).
pub fn captcha_token(key: &PageKey, nonce: &str, expires_s: u64, ip: &str) -> String {
    let mac = key.mac(
        "captcha",
        &[nonce.as_bytes(), &expires_s.to_be_bytes(), ip.as_bytes()],
    );
    format!("{nonce}.{expires_s}.{}", hex::encode(mac))
}

/// The letters a captcha token's image shows; `None` for a token that is not ours.
pub fn captcha_answer(key: &PageKey, token: &str, ip: &str) -> Option<(String, u64)> {
    let (nonce, expires_s) = captcha_parts(key, token, ip)?;
    let bytes = key.mac("captcha-answer", &[nonce.as_bytes()]);
    let n = CAPTCHA_ALPHABET.len();
    let answer = bytes
        .iter()
        .take(CAPTCHA_LEN)
        .filter_map(|b| CAPTCHA_ALPHABET.get(usize::from(*b) % n))
        .map(|b| char::from(*b))
        .collect();
    Some((answer, expires_s))
}

fn captcha_parts<'a>(key: &PageKey, token: &'a str, ip: &str) -> Option<(&'a str, u64)> {
    let mut it = token.splitn(3, '.');
    let (nonce, expires) = (it.next()?, it.next()?);
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let expires_s: u64 = expires.parse().ok()?;
    same(&captcha_token(key, nonce, expires_s, ip), token).then_some((nonce, expires_s))
}

/// Check an answer (case-insensitive, spaces ignored); returns the nonce to burn on success.
pub fn captcha_check(
    key: &PageKey,
    token: &str,
    ip: &str,
    now_s: u64,
    given: &str,
) -> Result<String, TokenError> {
    let (answer, expires_s) = captcha_answer(key, token, ip).ok_or(TokenError::Invalid)?;
    if now_s >= expires_s {
        return Err(TokenError::Expired);
    }
    let given: String = given
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !same(&answer, &given) {
        return Err(TokenError::Wrong);
    }
    let nonce = token.split('.').next().unwrap_or_default();
    Ok(nonce.to_owned())
}

/// A link sent by e-mail: `<user id>.<expires>.<nonce>.<mac>`. The MAC also covers a
/// `binding` the server looks up again on use (the e-mail for verification, the password
/// hash for a reset), so a link dies when what it was about changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Whom it is for.
    pub user_id: u64,
    /// Deadline, Unix seconds.
    pub expires_s: u64,
    /// 128 random bits: the single-use key.
    pub nonce: String,
    mac: String,
}

impl Link {
    /// A new signed link token.
    pub fn issue(
        key: &PageKey,
        purpose: &str,
        user_id: u64,
        expires_s: u64,
        nonce: &str,
        binding: &str,
    ) -> String {
        let mac = link_mac(key, purpose, user_id, expires_s, nonce, binding);
        format!("{user_id}.{expires_s}.{nonce}.{mac}")
    }

    /// Split a token; `None` when it is not even shaped like one.
    pub fn parse(token: &str) -> Option<Link> {
        if token.len() > 256 {
            return None;
        }
        let mut it = token.split('.');
        let user_id = it.next()?.parse().ok()?;
        let expires_s = it.next()?.parse().ok()?;
        let nonce = it.next()?;
        let mac = it.next()?;
        if it.next().is_some()
            || nonce.len() != 32
            || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
            || mac.len() != 64
        {
            return None;
        }
        Some(Link {
            user_id,
            expires_s,
            nonce: nonce.to_owned(),
            mac: mac.to_owned(),
        })
    }

    /// Whether this link is ours for `purpose` and `binding`, and still in time.
    pub fn check(
        &self,
        key: &PageKey,
        purpose: &str,
        binding: &str,
        now_s: u64,
    ) -> Result<(), TokenError> {
        let want = link_mac(
            key,
            purpose,
            self.user_id,
            self.expires_s,
            &self.nonce,
            binding,
        );
        // The deadline is in clear in the link: saying "expired" first reveals nothing.
        if now_s >= self.expires_s {
            return Err(TokenError::Expired);
        }
        if !same(&want, &self.mac) {
            return Err(TokenError::Invalid);
        }
        Ok(())
    }
}

fn link_mac(
    key: &PageKey,
    purpose: &str,
    user_id: u64,
    expires_s: u64,
    nonce: &str,
    binding: &str,
) -> String {
    hex::encode(key.mac(
        purpose,
        &[
            &user_id.to_be_bytes(),
            &expires_s.to_be_bytes(),
            nonce.as_bytes(),
            binding.as_bytes(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(b: u8) -> PageKey {
        PageKey::new([b; 32])
    }

    #[test]
    fn csrf_tokens_bind_cookie_session_and_key() {
        let ok = |k: u8, c: &str, s: &str, t: &str| csrf_ok(&key(k), c, s, t, 100, 50);
        let t = csrf_token(&key(1), "c1", "s1", 90);
        assert!(ok(1, "c1", "s1", &t));
        assert!(!ok(1, "c2", "s1", &t));
        assert!(!ok(1, "c1", "s2", &t));
        assert!(!ok(2, "c1", "s1", &t));
        assert!(!ok(1, "", "s1", &csrf_token(&key(1), "", "s1", 90)));
        assert!(!ok(1, "c1", "s1", ""));
        assert!(!ok(1, "c1", "s1", &t.replacen("90.", "91.", 1)));
        // Before login a token lives `login_ttl_s`; a session's token lives with the session.
        assert!(ok(1, "c1", "", &csrf_token(&key(1), "c1", "", 51)));
        assert!(!ok(1, "c1", "", &csrf_token(&key(1), "c1", "", 50)));
        assert!(ok(1, "c1", "s1", &csrf_token(&key(1), "c1", "s1", 1)));
    }

    #[test]
    fn captcha_answer_is_hidden_bound_to_ip_and_checked() {
        let nonce = "0123456789abcdef0123456789abcdef";
        let t = captcha_token(&key(1), nonce, 100, "10.0.0.1");
        let (answer, _) = captcha_answer(&key(1), &t, "10.0.0.1").unwrap();
        assert_eq!(answer.len(), CAPTCHA_LEN);
        assert!(!t.contains(&answer), "the token must not reveal the answer");
        assert_eq!(
            captcha_check(&key(1), &t, "10.0.0.1", 50, &answer.to_lowercase()),
            Ok(nonce.to_owned())
        );
        assert_eq!(
            captcha_check(&key(1), &t, "10.0.0.2", 50, &answer),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            captcha_check(&key(1), &t, "10.0.0.1", 100, &answer),
            Err(TokenError::Expired)
        );
        assert_eq!(
            captcha_check(&key(1), &t, "10.0.0.1", 50, "XXXXXX"),
            Err(TokenError::Wrong)
        );
        assert_eq!(
            captcha_check(&key(2), &t, "10.0.0.1", 50, &answer),
            Err(TokenError::Invalid)
        );
        for bad in ["", ".", "a.b.c", "x.1.y", &t[..t.len() - 1]] {
            assert!(captcha_answer(&key(1), bad, "10.0.0.1").is_none(), "{bad}");
        }
    }

    #[test]
    fn links_bind_purpose_binding_and_time() {
        let nonce = "0123456789abcdef0123456789abcdef";
        let t = Link::issue(&key(1), "verify", 7, 100, nonce, "a@example.org");
        let l = Link::parse(&t).unwrap();
        assert_eq!((l.user_id, l.expires_s), (7, 100));
        assert_eq!(l.check(&key(1), "verify", "a@example.org", 99), Ok(()));
        assert_eq!(
            l.check(&key(1), "verify", "a@example.org", 100),
            Err(TokenError::Expired)
        );
        assert_eq!(
            l.check(&key(1), "reset", "a@example.org", 1),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            l.check(&key(1), "verify", "b@example.org", 1),
            Err(TokenError::Invalid)
        );
        let forged = t.replacen("7.", "8.", 1);
        assert_eq!(
            Link::parse(&forged)
                .unwrap()
                .check(&key(1), "verify", "a@example.org", 1),
            Err(TokenError::Invalid)
        );
        for bad in ["", "1.2.3", "a.1.x.y", "1.2.3.4.5"] {
            assert!(Link::parse(bad).is_none(), "{bad}");
        }
    }
}
