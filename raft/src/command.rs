//! The commands the log carries: decisions, never per-request traffic.
//!
//! Every field that influences the outcome (ids, times, hashes) is fixed by the proposer, so
//! applying the same entry yields the same state on every replica.

use std::collections::BTreeSet;

use authd_auth::{AuthCode, Client, FullName, LegacyGrants, Profile, Session, Token};

use crate::guard::FailureCount;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A user to create; the state machine assigns the id unless `id` is given (legacy import).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Fixed id, or `None` to take the next free one.
    pub id: Option<u64>,
    /// Unique login name.
    pub username: String,
    /// Unique e-mail (compared case-insensitively).
    pub email: String,
    /// Display name.
    pub name: Option<FullName>,
    /// Profile.
    pub profile: Option<Profile>,
    /// E-mail already verified.
    pub verified: bool,
    /// Initial roles.
    pub roles: BTreeSet<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Creation time, Unix ms.
    pub created_ms: u64,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Register an account.
    CreateUser(NewUser),
    /// Replace the password hash (change, reset, lazy upgrade).
    SetPassword { user_id: u64, password_hash: String },
    /// Mark the e-mail verified (or not).
    SetVerified { user_id: u64, verified: bool },
    /// Replace name and profile.
    UpdateProfile {
        user_id: u64,
        name: Option<FullName>,
        profile: Option<Profile>,
    },
    /// Suspend (ends every session and token of the user) or reinstate.
    SetSuspended { user_id: u64, suspended: bool },
    /// Create or replace a role's scope set.
    DefineRole {
        role: String,
        scopes: BTreeSet<String>,
    },
    /// Give a user a role.
    GrantRole { user_id: u64, role: String },
    /// Take a role away.
    RevokeRole { user_id: u64, role: String },
    /// Give a user an extra scope.
    GrantScope { user_id: u64, scope: String },
    /// Take an extra scope away.
    RevokeScope { user_id: u64, scope: String },
    /// Start a login session.
    CreateSession(Session),
    /// End one session (logout, "end session").
    EndSession { session_id: String },
    /// End every session of a user: one command, one entry. No longer proposed (see
    /// [`Command::EndUserAccess`]); kept so older log entries replay as they did.
    EndUserSessions { user_id: u64 },
    /// Register an API client.
    CreateClient(Client),
    /// Remove a client and every token issued to it.
    RevokeClient { client_id: String },
    /// Record an issued bearer token.
    IssueToken(Token),
    /// Revoke one token by digest (a refresh token takes its whole family with it).
    RevokeToken { digest: String },
    /// Drop sessions and tokens whose end is at or before `now_ms` (leader's clock, in the entry).
    Expire { now_ms: u64 },
    /// Apply `then` only if `key` was never used before, and mark it used: e-mailed links and
    /// captchas work once on the whole cluster. The mark is forgotten after `forget_after_ms`.
    Once {
        key: String,
        forget_after_ms: u64,
        then: Box<Command>,
    },
    /// New password and the end of every other session of the user. No longer proposed (see
    /// [`Command::EndUserAccess`]); kept so older log entries replay as they did.
    ChangePassword {
        user_id: u64,
        password_hash: String,
        keep_session: Option<String>,
    },
    /// Failed logins a node saw since its last flush, aggregated per account and address.
    RecordLoginFailures {
        now_ms: u64,
        window_ms: u64,
        lock_ms: u64,
        counts: Vec<FailureCount>,
    },
    /// Forget an account's failed logins (after a successful one).
    ClearLoginFailures { key: String },
    /// Append audit events a node collected (batched; never secrets).
    RecordAudit {
        events: Vec<crate::audit::AuditEvent>,
        /// The proposing node's bounds, so every replica trims alike.
        bounds: crate::audit::AuditBounds,
    },
    /// Record an OAuth2 authorization code.
    CreateCode(AuthCode),
    /// Redeem a code for `tokens`, which join the new `family`. Single use, decided here so it
    /// holds across nodes: a second redemption ends the family the first one started.
    RedeemCode {
        digest: String,
        client_id: String,
        now_ms: u64,
        family: String,
        tokens: Vec<Token>,
    },
    /// Exchange a live refresh token for `tokens` in its family (the old one is spent);
    /// presenting a spent one ends the family (reuse detection).
    RotateRefresh {
        digest: String,
        client_id: String,
        now_ms: u64,
        tokens: Vec<Token>,
    },
    /// End the authd sessions linked to these `tapir_sessions` rows. `by_legacy`: the legacy
    /// site ended the rows itself; otherwise (a logout with the legacy cookie) the rows are
    /// queued to be ended in the legacy database too, linked or not.
    EndTapirSessions {
        tapir_ids: Vec<u64>,
        by_legacy: bool,
    },
    /// Replace what the legacy database grants a user (classic code, endorsements).
    SetLegacyGrants { user_id: u64, grants: LegacyGrants },
    /// The legacy database now shows these tapir sessions ended: clear them from the outbox.
    TapirEndsWritten { tapir_ids: Vec<u64> },
    /// Schedule an upstream-JWT signing key (see `keyring`); the key it replaces stays
    /// published `retain_ms` past the new one's activation.
    AddSigningKey {
        key: crate::keyring::SigningKey,
        now_ms: u64,
        retain_ms: u64,
    },
    /// End everything a user holds: every session but `keep_session`, every token and refresh
    /// family, every pending code; with `password_hash`, the new password in the same entry.
    /// Password change and reset and "log out everywhere" are this one command.
    EndUserAccess {
        user_id: u64,
        keep_session: Option<String>,
        password_hash: Option<String>,
    },
    /// The user withdraws a client's access: every token, family and code of the pair ends.
    RevokeUserClient { user_id: u64, client_id: String },
    /// [`Command::RedeemCode`], keeping at most `max_families` live token families per (user,
    /// client): the ones that would end first are ended to make room.
    RedeemCodeCapped {
        digest: String,
        client_id: String,
        now_ms: u64,
        family: String,
        tokens: Vec<Token>,
        max_families: u32,
    },
    /// A failed redemption (wrong verifier, redirect URI or client) burns the code: it can no
    /// longer be redeemed, and anything already issued from it ends.
    BurnCode { digest: String },
    /// Start a login session and end the user's oldest live sessions beyond `max_per_user`,
    /// decided here so every replica ends the same ones. Replies `Ended(n)`.
    CreateCappedSession { session: Session, max_per_user: u32 },
    /// Changes nothing. Under [`Command::Once`] it only spends the key: a captcha is burnt
    /// before any costly work (hashing) is done for the form it came with.
    Nothing,
}

/// What a successful command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// Nothing more to report.
    Done,
    /// A user was created with this id.
    UserId(u64),
    /// This many sessions or tokens ended.
    Ended(u64),
    /// This many accounts or addresses became locked.
    Locked(u64),
    /// The code or refresh token was already used: its family (this many tokens) was ended.
    Reused(u64),
}

/// Why a command changed nothing; every replica reaches the same verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum Rejected {
    /// No such user.
    #[error("unknown user")]
    UnknownUser,
    /// The user is suspended.
    #[error("user is suspended")]
    Suspended,
    /// Username already registered.
    #[error("username already taken")]
    UsernameTaken,
    /// E-mail already registered.
    #[error("e-mail already registered")]
    EmailTaken,
    /// A fixed user id is already in use.
    #[error("user id already in use")]
    UserIdTaken,
    /// No such role.
    #[error("unknown role")]
    UnknownRole,
    /// Id already present (sessions, clients, tokens).
    #[error("identifier already in use")]
    Duplicate,
    /// No such client.
    #[error("unknown client")]
    UnknownClient,
    /// A field failed validation.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A single-use key (link, captcha) was used before.
    #[error("already used")]
    AlreadyUsed,
    /// An authorization code or refresh token that is unknown, expired or not this client's.
    #[error("invalid, expired or foreign grant")]
    InvalidGrant,
}

/// Outcome of one command.
pub type Reply = Result<Applied, Rejected>;

/// The payload of one log entry: commands proposed together, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Batch(pub Vec<Command>);

/// How far a write must have spread before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    /// Committed on a majority (durable). Enough for creations whose credential carries its
    /// log index (the NG cookie): a node that has not applied it yet waits for it.
    Committed,
    /// Also applied on every reachable voter, so any node shows it at once (user and grant changes).
    Everywhere,
    /// Also no node can serve the state before it: reachable voters applied it, unreachable
    /// ones' read leases ran out. For everything that takes access away.
    Revoked,
}

impl Command {
    /// What acknowledging this command requires; see [`Visibility`] and `node::lease`.
    pub fn visibility(&self) -> Visibility {
        match self {
            Command::CreateSession(_)
            | Command::CreateCappedSession { .. }
            | Command::IssueToken(_)
            | Command::Expire { .. }
            | Command::ClearLoginFailures { .. }
            | Command::RecordAudit { .. }
            | Command::CreateCode(_)
            | Command::TapirEndsWritten { .. }
            | Command::Nothing => Visibility::Committed,
            Command::Once { then, .. } => then.visibility(),
            Command::RecordLoginFailures { .. } => Visibility::Everywhere,
            Command::CreateUser(_)
            | Command::CreateClient(_)
            | Command::SetVerified { .. }
            | Command::GrantRole { .. }
            | Command::GrantScope { .. }
            // Every node publishes the key before the call returns.
            | Command::AddSigningKey { .. } => Visibility::Everywhere,
            Command::SetSuspended { suspended, .. } => {
                if *suspended {
                    Visibility::Revoked
                } else {
                    Visibility::Everywhere
                }
            }
            Command::SetPassword { .. }
            | Command::UpdateProfile { .. }
            | Command::DefineRole { .. }
            | Command::RevokeRole { .. }
            | Command::RevokeScope { .. }
            | Command::EndSession { .. }
            | Command::EndUserSessions { .. }
            | Command::RevokeClient { .. }
            | Command::RevokeToken { .. }
            | Command::ChangePassword { .. }
            // Both may end a family (reuse), so they are acknowledged like a revocation.
            | Command::RedeemCode { .. }
            | Command::RotateRefresh { .. }
            | Command::EndTapirSessions { .. }
            | Command::SetLegacyGrants { .. }
            | Command::EndUserAccess { .. }
            | Command::RevokeUserClient { .. }
            | Command::RedeemCodeCapped { .. }
            | Command::BurnCode { .. } => Visibility::Revoked,
        }
    }

    /// Whether applying it twice has the same effect and reply as once, so a write whose
    /// outcome is unknown (leader lost mid-call) may simply be sent again.
    pub fn idempotent(&self) -> bool {
        !matches!(
            self,
            Command::CreateUser(_)
                | Command::CreateSession(_)
                | Command::CreateCappedSession { .. }
                | Command::CreateClient(_)
                | Command::IssueToken(_)
                | Command::RevokeClient { .. }
                | Command::Once { .. }
                | Command::RecordLoginFailures { .. }
                | Command::RecordAudit { .. }
                | Command::CreateCode(_)
                | Command::RedeemCode { .. }
                | Command::RedeemCodeCapped { .. }
                | Command::RotateRefresh { .. }
                | Command::AddSigningKey { .. }
        )
    }

    /// Whether applying this can take away access a node might still grant.
    pub fn narrows_access(&self) -> bool {
        self.visibility() == Visibility::Revoked
    }
}

impl Batch {
    /// Whether every command of the batch is [`Command::idempotent`].
    pub fn idempotent(&self) -> bool {
        self.0.iter().all(Command::idempotent)
    }

    /// The strictest requirement of the batch's commands.
    pub fn visibility(&self) -> Visibility {
        self.0
            .iter()
            .map(Command::visibility)
            .max()
            .unwrap_or(Visibility::Committed)
    }

    /// What acknowledging the batch requires, before and after it applied.
    pub fn acknowledge(&self) -> Acknowledge {
        Acknowledge {
            before: self.visibility(),
            capped: self
                .0
                .iter()
                .enumerate()
                .filter(|(_, c)| matches!(c, Command::CreateCappedSession { .. }))
                .map(|(i, _)| i)
                .collect(),
        }
    }
}

/// A batch's acknowledgement rule, kept while the batch itself goes to Raft: a login that
/// ended older sessions (the cap) is acknowledged like any revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledge {
    before: Visibility,
    /// Positions of [`Command::CreateCappedSession`] in the batch.
    capped: Vec<usize>,
}

impl Acknowledge {
    /// The requirement given the batch's replies.
    pub fn after(&self, replies: &BatchReply) -> Visibility {
        let ended = self
            .capped
            .iter()
            .any(|i| matches!(replies.0.get(*i), Some(Ok(Applied::Ended(n))) if *n > 0));
        if ended {
            Visibility::Revoked.max(self.before)
        } else {
            self.before
        }
    }
}

/// One reply per command of the batch, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BatchReply(pub Vec<Reply>);
