//! The OAuth2 part of [`State`]: authorization codes, token families, refresh rotation.
//!
//! Single use is decided here, in the log's order, so it holds across nodes: the second of two
//! concurrent redemptions of one code (or one refresh token) is the reuse, and ends the family.

use std::sync::Arc;

use authd_auth::{AuthCode, Token, TokenKind};

use super::{Key, Spent, State, key};
use crate::command::{Applied, Rejected, Reply};

impl State {
    /// An authorization code by digest (redeemed ones too, until they expire).
    pub fn code(&self, digest: &str) -> Option<&Arc<AuthCode>> {
        self.codes.get(digest)
    }

    /// A rotated-away refresh token by digest, if still remembered.
    pub fn spent_refresh(&self, digest: &str) -> Option<&Arc<Spent>> {
        self.spent.get(digest)
    }

    /// Number of live tokens in a family, for tests and introspection.
    pub fn family_size(&self, family: &str) -> usize {
        self.family_digests(family).len()
    }

    pub(super) fn create_code(&mut self, c: &AuthCode) -> Reply {
        if c.digest.is_empty() || self.codes.contains_key(c.digest.as_str()) {
            return Err(Rejected::Duplicate);
        }
        if !self.clients.contains_key(c.client_id.as_str()) {
            return Err(Rejected::UnknownClient);
        }
        match self.users.get(&c.user_id) {
            None => return Err(Rejected::UnknownUser),
            Some(u) if u.suspended => return Err(Rejected::Suspended),
            Some(_) => {}
        }
        self.codes.insert(key(&c.digest), Arc::new(c.clone()));
        Ok(Applied::Done)
    }

    pub(super) fn redeem_code(
        &mut self,
        digest: &str,
        client_id: &str,
        now_ms: u64,
        family: &str,
        tokens: &[Token],
    ) -> Reply {
        let code = self
            .codes
            .get(digest)
            .filter(|c| c.expires_ms > now_ms && c.client_id == client_id)
            .cloned()
            .ok_or(Rejected::InvalidGrant)?;
        if let Some(f) = &code.redeemed_family {
            return Ok(Applied::Reused(self.end_family(f)));
        }
        if family.is_empty() {
            return Err(Rejected::Invalid("empty token family".into()));
        }
        // All or nothing: work on an O(1) copy and keep it only if every token was accepted.
        let mut next = self.clone();
        next.issue_family(tokens, family, Some(code.user_id), client_id, now_ms)?;
        if let Some(c) = next.codes.get_mut(digest) {
            Arc::make_mut(c).redeemed_family = Some(family.to_owned());
        }
        *self = next;
        Ok(Applied::Done)
    }

    pub(super) fn rotate_refresh(
        &mut self,
        digest: &str,
        client_id: &str,
        now_ms: u64,
        tokens: &[Token],
    ) -> Reply {
        if let Some(sp) = self.spent.get(digest) {
            if sp.client_id != client_id {
                return Err(Rejected::InvalidGrant);
            }
            let family = sp.family.clone();
            return Ok(Applied::Reused(self.end_family(&family)));
        }
        let old = self
            .tokens
            .get(digest)
            .filter(|t| {
                t.kind == TokenKind::Refresh
                    && t.expires_ms > now_ms
                    && t.client_id.as_deref() == Some(client_id)
            })
            .cloned()
            .ok_or(Rejected::InvalidGrant)?;
        let family = old.family.clone().ok_or(Rejected::InvalidGrant)?;
        let mut next = self.clone();
        next.remove_token(digest);
        next.spent.insert(
            key(digest),
            Arc::new(Spent {
                family: family.clone(),
                client_id: client_id.to_owned(),
                expires_ms: old.expires_ms,
            }),
        );
        next.issue_family(tokens, &family, old.user_id, client_id, now_ms)?;
        *self = next;
        Ok(Applied::Done)
    }

    /// Issue `tokens` into `family`; each must be for exactly this user and client.
    fn issue_family(
        &mut self,
        tokens: &[Token],
        family: &str,
        user_id: Option<u64>,
        client_id: &str,
        now_ms: u64,
    ) -> Result<(), Rejected> {
        for t in tokens {
            if t.user_id != user_id
                || t.client_id.as_deref() != Some(client_id)
                || t.expires_ms <= now_ms
            {
                return Err(Rejected::Invalid("token does not match its grant".into()));
            }
            let mut t = t.clone();
            t.family = Some(family.to_owned());
            self.issue_token(&t)?;
        }
        Ok(())
    }

    /// Revoke one token; a refresh token ends its whole family (RFC 7009 §2.1).
    pub(super) fn revoke_token(&mut self, digest: &str) -> u64 {
        let family = self
            .tokens
            .get(digest)
            .filter(|t| t.kind == TokenKind::Refresh)
            .and_then(|t| t.family.clone());
        match family {
            Some(f) => self.end_family(&f),
            None => u64::from(self.remove_token(digest)),
        }
    }

    fn family_digests(&self, family: &str) -> Vec<Key> {
        self.family_tokens
            .range((key(family), key(""))..)
            .take_while(|(f, _)| &**f == family)
            .map(|(_, d)| d.clone())
            .collect()
    }

    fn end_family(&mut self, family: &str) -> u64 {
        let ds = self.family_digests(family);
        ds.iter().map(|d| u64::from(self.remove_token(d))).sum()
    }

    /// Forget codes and spent refresh tokens past their end.
    pub(super) fn expire_grants(&mut self, now_ms: u64) {
        self.codes.retain(|_, c| c.expires_ms > now_ms);
        self.spent.retain(|_, s| s.expires_ms > now_ms);
    }
}

#[cfg(test)]
#[path = "state_oauth_tests.rs"]
mod tests;
