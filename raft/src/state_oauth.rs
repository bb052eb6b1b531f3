//! The OAuth2 part of [`State`]: authorization codes, token families, refresh rotation.
//!
//! Single use is decided here, in the log's order, so it holds across nodes: the second of two
//! concurrent redemptions of one code (or one refresh token) is the reuse, and ends the family.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use authd_auth::{AuthCode, Token, TokenKind};
use serde::{Deserialize, Serialize};

use super::{Key, Spent, State, key};
use crate::command::{Applied, Rejected, Reply};

/// A client a user authorized, as the "Connected applications" page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrant {
    /// The client.
    pub client_id: String,
    /// Every scope its live tokens carry.
    pub scopes: BTreeSet<String>,
    /// When its oldest live token was issued, Unix ms.
    pub since_ms: u64,
}

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

    /// Redeem a code; with `max_families`, first end the (user, client) families that would
    /// end first until the new one fits.
    pub(super) fn redeem_code_capped(
        &mut self,
        digest: &str,
        client_id: &str,
        now_ms: u64,
        family: &str,
        tokens: &[Token],
        max_families: Option<u32>,
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
        if let Some(max) = max_families {
            next.make_room(code.user_id, client_id, now_ms, max);
        }
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

    /// Live token families of (user, client) at `now_ms`, the one that ends first first.
    fn live_families(&self, user_id: u64, client_id: &str, now_ms: u64) -> Vec<String> {
        let mut ends: BTreeMap<&str, u64> = BTreeMap::new();
        for t in self.user_client_tokens(user_id, client_id) {
            if let Some(f) = t.family.as_deref().filter(|_| t.expires_ms > now_ms) {
                let e = ends.entry(f).or_default();
                *e = (*e).max(t.expires_ms);
            }
        }
        let mut v: Vec<(u64, &str)> = ends.into_iter().map(|(f, e)| (e, f)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, f)| f.to_owned()).collect()
    }

    /// End the oldest live families of (user, client) so that one more stays within `max`.
    fn make_room(&mut self, user_id: u64, client_id: &str, now_ms: u64, max: u32) {
        let live = self.live_families(user_id, client_id, now_ms);
        let keep = usize::try_from(max.max(1) - 1).unwrap_or(usize::MAX);
        let excess = live.len().saturating_sub(keep);
        for f in live.iter().take(excess) {
            self.end_family(f);
        }
    }

    /// Every token a user holds from one client (live or not yet expired away).
    fn user_client_tokens<'a>(
        &'a self,
        user_id: u64,
        client_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Token>> + 'a {
        self.user_tokens
            .range((user_id, key(""))..)
            .take_while(move |(u, _)| *u == user_id)
            .filter_map(|(_, d)| self.tokens.get(d))
            .filter(move |t| t.client_id.as_deref() == Some(client_id))
    }

    /// The clients a user granted access that still holds live tokens, by client id.
    pub fn user_grants(&self, user_id: u64, now_ms: u64) -> Vec<UserGrant> {
        let mut grants: BTreeMap<String, UserGrant> = BTreeMap::new();
        let tokens = self
            .user_tokens
            .range((user_id, key(""))..)
            .take_while(|(u, _)| *u == user_id)
            .filter_map(|(_, d)| self.tokens.get(d))
            .filter(|t| t.expires_ms > now_ms);
        for t in tokens {
            let Some(cid) = &t.client_id else { continue };
            let g = grants.entry(cid.clone()).or_insert_with(|| UserGrant {
                client_id: cid.clone(),
                scopes: BTreeSet::new(),
                since_ms: t.created_ms,
            });
            g.scopes.extend(t.scopes.iter().cloned());
            g.since_ms = g.since_ms.min(t.created_ms);
        }
        grants.into_values().collect()
    }

    /// End every token, family and pending code of (user, client).
    pub(super) fn revoke_user_client(&mut self, user_id: u64, client_id: &str) -> u64 {
        let ds: Vec<String> = self
            .user_client_tokens(user_id, client_id)
            .map(|t| t.digest.clone())
            .collect();
        self.codes
            .retain(|_, c| c.user_id != user_id || c.client_id != client_id);
        ds.iter().map(|d| u64::from(self.remove_token(d))).sum()
    }

    /// Make a code unusable and end whatever was issued from it.
    pub(super) fn burn_code(&mut self, digest: &str) -> u64 {
        match self.codes.remove(digest) {
            Some(c) => c
                .redeemed_family
                .as_deref()
                .map_or(0, |f| self.end_family(f)),
            None => 0,
        }
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
