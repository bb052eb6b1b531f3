//! A legacy account as authd needs it: identity, flags, hash, profile; and the login rules of
//! reference §3.13 and §4.3 applied to it.

use authd_auth::{FullName, Profile};

/// One tapir user joined with a valid nickname and password row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    /// `tapir_users.user_id`.
    pub user_id: i64,
    /// The nickname (username) row used.
    pub nickname: String,
    /// `tapir_users.email`.
    pub email: String,
    /// Names.
    pub first_name: Option<String>,
    /// Names.
    pub last_name: Option<String>,
    /// Names.
    pub suffix_name: Option<String>,
    /// Selects the scope set (§1.7).
    pub policy_class: i64,
    /// Capability and eligibility flags.
    pub flag_email_verified: i64,
    /// Capability flag (classic 2).
    pub flag_edit_users: i64,
    /// Capability flag (classic 8).
    pub flag_edit_system: i64,
    /// Eligibility flags.
    pub flag_approved: i64,
    /// Eligibility flags.
    pub flag_deleted: i64,
    /// Eligibility flags.
    pub flag_banned: i64,
    /// `tapir_users_password.password_enc`, when a row exists.
    pub password_enc: Option<String>,
    /// `arXiv_demographics` fields, when a row exists.
    pub country: Option<String>,
    /// Demographics.
    pub affiliation: Option<String>,
    /// Demographics.
    pub url: Option<String>,
    /// Demographics (`type`, the rank).
    #[sqlx(rename = "user_rank")]
    pub rank: Option<i64>,
    /// Demographics.
    pub archive: Option<String>,
    /// Demographics.
    pub subject_class: Option<String>,
}

/// Why a login was refused; the user only ever sees one generic message (no account probing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Input not ASCII, empty or longer than 255 bytes.
    #[error("unusable input")]
    BadInput,
    /// No such user (or no valid nickname).
    #[error("unknown user")]
    Unknown,
    /// Banned, deleted or not approved.
    #[error("ineligible user")]
    Ineligible,
    /// No password row, or a malformed one.
    #[error("no usable password")]
    NoPassword,
    /// Wrong password.
    #[error("wrong password")]
    WrongPassword,
    /// Correct password but the e-mail is not verified.
    #[error("e-mail not verified")]
    Unverified,
}

/// Longest username or e-mail the legacy site accepts (§4.3).
pub const MAX_LOGIN_LEN: usize = 255;

/// Whether `login` and `password` are worth a database query (§4.3 input rules).
pub fn input_ok(login: &str, password: &str) -> bool {
    !login.trim().is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login.is_ascii()
        && !password.is_empty()
        && password.len() <= MAX_LOGIN_LEN
        && password.is_ascii()
}

impl AccountRow {
    /// The id as authd stores it; `None` for ids authd cannot use (zero or negative).
    pub fn id(&self) -> Option<u64> {
        u64::try_from(self.user_id).ok().filter(|id| *id > 0)
    }

    /// §3.13 eligibility: approved, not deleted, not banned. Also checked when a legacy
    /// session is first accepted (the original did not re-check then, §11.12).
    pub fn eligible(&self) -> bool {
        self.flag_approved == 1 && self.flag_deleted == 0 && self.flag_banned == 0
    }

    /// §3.13 eligibility, then the password, then verification; `Ok` only if all pass.
    pub fn check(&self, password: &str) -> Result<(), Refusal> {
        if self.id().is_none() {
            return Err(Refusal::Unknown);
        }
        if !self.eligible() {
            return Err(Refusal::Ineligible);
        }
        let stored = self.password_enc.as_deref().ok_or(Refusal::NoPassword)?;
        if !crate::password::verify(password, stored) {
            return Err(Refusal::WrongPassword);
        }
        if self.flag_email_verified != 1 {
            return Err(Refusal::Unverified);
        }
        Ok(())
    }

    /// Classic capability code: `2·edit_users + 4·email_verified + 8·edit_system`.
    pub fn classic(&self) -> u32 {
        let f = |v: i64| u32::from(v != 0);
        2 * f(self.flag_edit_users) + 4 * f(self.flag_email_verified) + 8 * f(self.flag_edit_system)
    }

    /// authd role names for the policy class (§1.7): 1 admin, 2 user, anything else none.
    pub fn roles(&self) -> Vec<String> {
        match self.policy_class {
            1 => vec!["admin".into()],
            2 => vec!["user".into()],
            _ => Vec::new(),
        }
    }

    /// Display name, if any part is set.
    pub fn name(&self) -> Option<FullName> {
        let part = |s: &Option<String>| s.as_deref().unwrap_or("").trim().to_owned();
        let n = FullName {
            forename: part(&self.first_name),
            surname: part(&self.last_name),
            suffix: part(&self.suffix_name),
        };
        (n != FullName::default()).then_some(n)
    }

    /// Profile from the demographics row, if there is one. The literal `'null'` defaults of
    /// `archive`/`subject_class` (§11.15) mean "none".
    pub fn profile(&self) -> Option<Profile> {
        let country = self.country.clone()?;
        let real = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("null"))
                .map(str::to_owned)
        };
        let default_category = match (real(&self.archive), real(&self.subject_class)) {
            (Some(a), Some(s)) => format!("{a}.{s}"),
            (Some(a), None) => a,
            _ => String::new(),
        };
        Some(Profile {
            affiliation: self.affiliation.clone().unwrap_or_default(),
            country,
            rank: self
                .rank
                .and_then(|r| u8::try_from(r).ok())
                .unwrap_or_default(),
            submission_groups: Vec::new(),
            default_category,
            homepage_url: self.url.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
