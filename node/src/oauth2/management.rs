//! Introspection (RFC 7662) and revocation (RFC 7009) on local replicated state.
//!
//! A client learns only about tokens issued to itself (RFC 7662 §4): any other token is
//! `{"active": false}`, and revoking one answers 200 and changes nothing (RFC 7009 §2.2), so
//! neither endpoint tells a client that another client's token exists. Introspection reports
//! a token exactly as `/auth` sees it (`token_view::live`: narrowed scopes, suspended users and
//! removed clients inactive).

use std::sync::Arc;

use authd_auth::{Token, TokenKind, split_bearer, token_digest};
use authd_raft::Command;
use authd_web::Backend;
use authd_web::oauth2::{ClientAuth, Introspection, OAuthError, OAuthErrorCode};

use super::BEHIND_WAIT;
use crate::actors::now_ms;
use crate::backend::NodeBackend;
use crate::token_view;

fn behind() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::TemporarilyUnavailable,
        "this node has not caught up with the token yet; try again",
    )
}

impl NodeBackend {
    /// The stored token with this digest, if live here now.
    fn stored_token(&self, digest: &str) -> Option<Arc<Token>> {
        self.inner()
            .reader
            .load()
            .state
            .live_token(digest, now_ms())
            .cloned()
    }

    /// Its digest, having waited (briefly, and only up to what this node knows a leader
    /// wrote) for the index its bearer value names.
    async fn settle(&self, value: &str) -> String {
        let (secret, idx) = split_bearer(value);
        let digest = token_digest(secret);
        if self.stored_token(&digest).is_none() {
            self.catch_up(idx).await;
        }
        digest
    }

    /// RFC 7662 for an authenticated confidential client, about its own tokens only.
    pub(super) async fn introspect_token(
        &self,
        auth: ClientAuth,
        token: String,
    ) -> Result<Introspection, OAuthError> {
        let client = self.authenticate(&auth)?;
        if client.secret_digest.is_none() {
            return Err(OAuthError::client(auth.via_basic));
        }
        let digest = self.settle(&token).await;
        let view = self.inner().reader.load();
        if !self.inner().authorizer.is_current(view.last_applied) {
            return Err(OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "node is not current; retry",
            ));
        }
        let Some(live) = token_view::live(&view.state, &digest, now_ms()) else {
            return Ok(Introspection::default());
        };
        let t = live.token;
        if t.client_id.as_deref() != Some(client.id.as_str()) {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(live.scopes.join(" ")),
            client_id: t.client_id.clone(),
            username: live.user.map(|u| u.username.clone()),
            sub: live.user.map(|u| u.id.to_string()),
            token_type: Some(match t.kind {
                TokenKind::Access => "access_token",
                TokenKind::Refresh => "refresh_token",
            }),
            exp: Some(t.expires_ms / 1000),
            iat: Some(t.created_ms / 1000),
        })
    }

    /// RFC 7009: revoke a token issued to this client; 200 for any other or unknown token.
    pub(super) async fn revoke_token(
        &self,
        auth: ClientAuth,
        token: String,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate(&auth)?;
        let digest = self.settle(&token).await;
        let t = match self.stored_token(&digest) {
            Some(t) => t,
            None => match self.unseen(&token, &digest).await? {
                Some(t) => t,
                None => return Ok(()),
            },
        };
        if t.client_id.as_deref() != Some(client.id.as_str()) {
            return Ok(());
        }
        let (_ended, _index) = self.propose_oauth(Command::RevokeToken { digest }).await?;
        Ok(())
    }

    /// A token this node does not hold: `None` if it names nothing, the token once this node
    /// has applied it, or 503 while this node cannot tell (a 200 would acknowledge a
    /// revocation that never happened, and the token would stay valid everywhere).
    ///
    /// The index a bearer value names is the client's to choose, so this node never waits on
    /// it beyond what a leader wrote: an index past this node's log is checked against its
    /// next lease renewal (which says what the leader had applied after this request came),
    /// a bounded wait that costs no message. Past that too, it names nothing: 200.
    async fn unseen(&self, token: &str, digest: &str) -> Result<Option<Arc<Token>>, OAuthError> {
        let applied = self.inner().reader.applied_index().unwrap_or(0);
        let Some(i) = split_bearer(token).1.filter(|&i| i > applied) else {
            return Ok(None);
        };
        if !self.may_wait_for(i) {
            let Some(required) = self.inner().lease.confirmed_since_now().await else {
                return Err(behind());
            };
            let known = self.inner().committed.highest_known().unwrap_or(0);
            if i > required.max(known) {
                return Ok(None);
            }
        }
        if !self.wait_applied(i, BEHIND_WAIT).await {
            return Err(behind());
        }
        Ok(self.stored_token(digest))
    }
}
