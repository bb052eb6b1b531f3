//! The three grants of `POST /oauth2/token`. Reads and checks happen on local state; the
//! single-use decisions (code redemption, refresh rotation) happen in the state machine.

use authd_auth::{AuthCode, Client, TokenKind, grantable, pkce, split_bearer, token_digest};
use authd_raft::{Applied, Command};
use authd_web::BackendError;
use authd_web::oauth2::{OAuthError, TokenResponse};

use super::{ACCESS_TTL_MS, REFRESH_TTL_MS, new_token, random_secret};
use crate::actors::now_ms;
use crate::backend::NodeBackend;

fn split_scope(s: &str) -> Vec<&str> {
    s.split(' ').filter(|s| !s.is_empty()).collect()
}

fn response(access: String, refresh: Option<String>, scopes: &[String]) -> TokenResponse {
    TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ACCESS_TTL_MS / 1000,
        refresh_token: refresh,
        scope: scopes.join(" "),
    }
}

fn narrow(
    requested: Vec<&str>,
    holders: &[&std::collections::BTreeSet<String>],
) -> Result<Vec<String>, OAuthError> {
    let any = !requested.is_empty();
    let granted = grantable(requested, holders)
        .map_err(|s| OAuthError::scope(format!("malformed scope {s:?}")))?;
    if any && granted.is_empty() {
        return Err(OAuthError::scope(
            "none of the requested scopes can be granted",
        ));
    }
    Ok(granted)
}

fn verdict(r: Result<Applied, authd_raft::Rejected>, what: &str) -> Result<(), OAuthError> {
    match r {
        Ok(Applied::Reused(_)) => Err(OAuthError::grant(format!(
            "this {what} was already used; every token issued from it is revoked"
        ))),
        Ok(_) => Ok(()),
        Err(rej) => Err(OAuthError::grant(format!("{what} refused: {rej}"))),
    }
}

/// Why this client may not redeem this (live) code, if it may not: another client's code, a
/// redirect URI other than the authorization request's, or a PKCE verifier that fails.
fn redemption_fault(
    c: &AuthCode,
    client: &Client,
    redirect_uri: Option<&str>,
    verifier: Option<String>,
) -> Option<&'static str> {
    if c.client_id != client.id {
        return Some("this code was issued to another client");
    }
    let redirect_ok = match (&c.redirect_uri, redirect_uri) {
        (Some(a), Some(b)) => a == b,
        (Some(_), None) => false,
        (None, Some(b)) => client.redirect_uris.iter().any(|r| r == b),
        (None, None) => true,
    };
    if !redirect_ok {
        return Some("redirect_uri differs from the authorization request's");
    }
    let pkce_ok = match (&c.code_challenge, &verifier) {
        (Some(ch), Some(v)) => pkce::verify(v, ch),
        (None, None) => client.secret_digest.is_some(),
        _ => false,
    };
    (!pkce_ok).then_some("PKCE verification failed")
}

impl NodeBackend {
    /// RFC 6749 §4.4: a confidential client acting for itself; no refresh token.
    pub(super) async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let requested = match &scope {
            Some(s) => split_scope(s),
            None => client.scopes.iter().map(String::as_str).collect(),
        };
        let scopes = narrow(requested, &[&client.scopes])?;
        let now = now_ms();
        let (secret, t) = new_token(
            TokenKind::Access,
            None,
            &client.id,
            &scopes,
            now,
            now + ACCESS_TTL_MS,
        )?;
        match self.propose_oauth(Command::IssueToken(t)).await? {
            (Ok(_), idx) => Ok(response(format!("{secret}.{idx}"), None, &scopes)),
            (Err(rej), _) => Err(super::unavailable(BackendError::Internal(rej.to_string()))),
        }
    }

    /// RFC 6749 §4.1.3 with RFC 7636: exchange a code once, for a new token family.
    pub(super) async fn redeem(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let (secret, idx) = split_bearer(code);
        let digest = token_digest(secret);
        let look = || self.inner().reader.load().state.code(&digest).cloned();
        let mut found = look();
        if found.is_none() && self.catch_up(idx).await {
            found = look();
        }
        let now = now_ms();
        let c = found
            .filter(|c| c.expires_ms > now)
            .ok_or_else(|| OAuthError::grant("unknown or expired authorization code"))?;
        self.inner().grant_limits.user(c.user_id)?;
        if let Some(why) = redemption_fault(&c, client, redirect_uri.as_deref(), verifier) {
            // A failed redemption burns the code, as reuse does: whoever holds it now may be
            // an attacker, so neither they nor the client get anything from it any more.
            let (reply, _) = self.propose_oauth(Command::BurnCode { digest }).await?;
            if let Err(rej) = reply {
                tracing::warn!(error = %rej, "authorization code not burnt");
            }
            return Err(OAuthError::grant(format!(
                "{why}; the authorization code is no longer valid"
            )));
        }
        let scopes: Vec<String> = c.scopes.iter().cloned().collect();
        let (access, a) = new_token(
            TokenKind::Access,
            Some(c.user_id),
            &client.id,
            &scopes,
            now,
            now + ACCESS_TTL_MS,
        )?;
        let mut tokens = vec![a];
        let mut refresh = None;
        if client.grant_types.contains("refresh_token") {
            let (r, rt) = new_token(
                TokenKind::Refresh,
                Some(c.user_id),
                &client.id,
                &scopes,
                now,
                now + REFRESH_TTL_MS,
            )?;
            tokens.push(rt);
            refresh = Some(r);
        }
        let cmd = Command::RedeemCodeCapped {
            digest,
            client_id: client.id.clone(),
            now_ms: now,
            family: random_secret()?,
            tokens,
            max_families: self.inner().grant_limits.max_families,
        };
        let (reply, idx) = self.propose_oauth(cmd).await?;
        verdict(reply, "authorization code")?;
        Ok(response(
            format!("{access}.{idx}"),
            refresh.map(|r| format!("{r}.{idx}")),
            &scopes,
        ))
    }

    /// RFC 6749 §6: rotate a refresh token; a spent one revokes its family.
    pub(super) async fn refresh(
        &self,
        client: &Client,
        value: &str,
        scope: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let (secret, idx) = split_bearer(value);
        let digest = token_digest(secret);
        let now = now_ms();
        let look = || {
            let view = self.inner().reader.load();
            let live = view
                .state
                .live_token(&digest, now)
                .filter(|t| t.kind == TokenKind::Refresh)
                .cloned();
            let spent = view.state.spent_refresh(&digest).is_some();
            (live, spent)
        };
        let (mut live, mut spent) = look();
        if live.is_none() && !spent && self.catch_up(idx).await {
            (live, spent) = look();
        }
        let mut scopes = Vec::new();
        let mut tokens = Vec::new();
        let mut pair = None;
        match live {
            Some(old) if old.client_id.as_deref() == Some(client.id.as_str()) => {
                if let Some(uid) = old.user_id {
                    self.inner().grant_limits.user(uid)?;
                }
                let requested = match &scope {
                    Some(s) => split_scope(s),
                    None => old.scopes.iter().map(String::as_str).collect(),
                };
                if let Some(s) = requested.iter().find(|s| !old.scopes.contains(**s)) {
                    return Err(OAuthError::scope(format!(
                        "{s:?} was not part of the original grant"
                    )));
                }
                let user_scopes = {
                    let view = self.inner().reader.load();
                    let u = old.user_id.and_then(|id| view.state.user(id).cloned());
                    u.map(|u| view.state.effective_scopes(&u))
                        .unwrap_or_default()
                };
                scopes = narrow(requested, &[&client.scopes, &user_scopes])?;
                let (a, at) = new_token(
                    TokenKind::Access,
                    old.user_id,
                    &client.id,
                    &scopes,
                    now,
                    now + ACCESS_TTL_MS,
                )?;
                // RFC 6749 §6: the new refresh token keeps the old one's scope; only the
                // access token is narrowed.
                let kept: Vec<String> = old.scopes.iter().cloned().collect();
                let (r, rt) = new_token(
                    TokenKind::Refresh,
                    old.user_id,
                    &client.id,
                    &kept,
                    now,
                    old.expires_ms,
                )?;
                tokens = vec![at, rt];
                pair = Some((a, r));
            }
            // A spent token goes to the state machine, which ends its family.
            None if spent => {}
            _ => {
                return Err(OAuthError::grant(
                    "unknown, expired or foreign refresh token",
                ));
            }
        }
        let cmd = Command::RotateRefresh {
            digest,
            client_id: client.id.clone(),
            now_ms: now,
            tokens,
        };
        let (reply, idx) = self.propose_oauth(cmd).await?;
        verdict(reply, "refresh token")?;
        let (a, r) = pair.ok_or_else(|| OAuthError::grant("refresh token refused"))?;
        Ok(response(
            format!("{a}.{idx}"),
            Some(format!("{r}.{idx}")),
            &scopes,
        ))
    }
}
