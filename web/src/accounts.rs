//! What the accounts pages need from a node beyond [`Backend`]: accounts, profile and password
//! changes, single-use links, the page key and outgoing mail.

use std::future::Future;

use authd_auth::{FullName, Profile};
use thiserror::Error;

use crate::backend::{Backend, BackendError, SessionView};
use crate::pages::tokens::PageKey;

/// Why a login was refused; the page shows the same text for `Invalid` whatever the cause.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown user, wrong password or suspended: never says which.
    #[error("invalid credentials")]
    Invalid,
    /// Right password, but the e-mail address is not verified yet.
    #[error("e-mail not verified")]
    Unverified,
    /// Too many failures for this account or address; try again after `retry_after` seconds.
    /// (The text is fixed, so the audit log merges repeats of one lockout.)
    #[error("locked")]
    Locked {
        /// Seconds until the next attempt may be made.
        retry_after: u64,
        /// What is locked: `user:<id>`, `login:<name>` or `ip:<address>`.
        key: String,
    },
    /// The node could not finish the login.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A browser's logged-in session, as the pages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSession {
    /// The session id (binds CSRF tokens to the session).
    pub session_id: String,
    /// Whose it is.
    pub user_id: u64,
}

/// An account as its owner sees it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Numeric id.
    pub id: u64,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// E-mail verified.
    pub verified: bool,
    /// Name, when given.
    pub name: Option<FullName>,
    /// Profile, when given.
    pub profile: Option<Profile>,
    /// Registration time, Unix ms.
    pub created_ms: u64,
}

/// A validated registration.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Plain password, hashed before it goes anywhere.
    pub password: String,
    /// Name.
    pub name: FullName,
    /// Profile.
    pub profile: Profile,
}

/// Why a registration was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The username is taken (usernames are public, so saying so leaks nothing).
    #[error("username taken")]
    UsernameTaken,
    /// The e-mail is registered: the page answers as for success and the owner is told by mail.
    #[error("e-mail registered")]
    EmailTaken,
    /// The captcha was already used.
    #[error("captcha used")]
    CaptchaUsed,
    /// The node could not finish it.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The accounts pages' view of a node.
pub trait Accounts: Backend {
    /// Key for CSRF tokens, captchas and e-mailed links; the same on every node.
    fn page_key(&self) -> &PageKey;
    /// An account by id.
    fn account(&self, user_id: u64) -> Option<Account>;
    /// An account by username or e-mail (case-insensitive).
    fn account_by_login(&self, login: &str) -> Option<Account>;
    /// A digest of the current password hash: reset links die once the password changes.
    fn password_binding(&self, user_id: u64) -> Option<String>;
    /// Create an unverified account. The captcha nonce is burnt first (a spent one costs no
    /// hashing); then the same work whether or not the e-mail is taken (`EmailTaken`).
    fn register(
        &self,
        reg: Registration,
        captcha_nonce: String,
    ) -> impl Future<Output = Result<u64, RegisterError>> + Send;
    /// Mark the e-mail verified, once per link nonce; `Conflict` if the link was used.
    fn verify_email(
        &self,
        user_id: u64,
        nonce: String,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Replace name and profile.
    fn update_profile(
        &self,
        user_id: u64,
        name: FullName,
        profile: Profile,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Whether `password` is the user's current one (Argon2id on the bounded pool), counted
    /// like a login attempt from `ip`: a wrong one is a failed login for the account, and
    /// `Err(retry_after_secs)` while the account or address is locked (no hashing then).
    fn check_password(
        &self,
        user_id: u64,
        password: String,
        ip: String,
    ) -> impl Future<Output = Result<bool, u64>> + Send;
    /// Set a new password and end every other session; with `link_nonce`, only once per link
    /// (`Conflict` if used). Returns how many sessions ended.
    fn set_password(
        &self,
        user_id: u64,
        password: String,
        keep_session: Option<String>,
        link_nonce: Option<String>,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// The user's live sessions, newest first.
    fn own_sessions(&self, user_id: u64) -> Vec<SessionView>;
    /// Whether the per-user session cap recently ended some of the user's sessions.
    fn sessions_capped(&self, user_id: u64) -> bool;
    /// Send (or, without SMTP, store in the outbox) one plain-text mail.
    fn send_mail(
        &self,
        to: String,
        subject: String,
        body: String,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// The public base URL links in mails point to, e.g. `https://arxiv.org`.
    fn public_url(&self) -> &str;
}

/// This node's state may be behind a revocation (no current read lease): answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotCurrent;
