//! The accounts parts of `cluster.toml`: `[login]` (brute-force limits), `[register]`
//! (per-address limits on anonymous costly pages), `[mail]` (how links are sent) and
//! `[passwords]` (the hashing pool).

use serde::Deserialize;

/// `[login]`: DESIGN.md's brute-force policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed logins for one account within the window that lock it.
    pub max_failures_per_account: u32,
    /// Failed logins from one client address within the window that lock it.
    pub max_failures_per_ip: u32,
    /// Counting window.
    pub window_secs: u64,
    /// How long a lock lasts.
    pub lockout_secs: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            max_failures_per_account: 10,
            max_failures_per_ip: 100,
            window_secs: 900,
            lockout_secs: 900,
        }
    }
}

/// `[register]`: per client address (IPv6: per /64), per node, within `window_secs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterConfig {
    /// `POST /register`s (each may cost an Argon2id hash).
    pub max_posts_per_ip: usize,
    /// `GET /captcha` pictures (each costs ~10 ms of CPU).
    pub max_captchas_per_ip: usize,
    /// Counting window.
    pub window_secs: u64,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        RegisterConfig {
            max_posts_per_ip: 20,
            max_captchas_per_ip: 60,
            window_secs: 600,
        }
    }
}

/// `[mail]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Sender address.
    pub from: String,
    /// `smtp://`, `smtps://` URL (lettre syntax); without it mail goes to `<data_dir>/outbox`.
    pub smtp_url: Option<String>,
    /// Base of the links in mails, e.g. `https://arxiv.org`; default: this node's HTTP address.
    pub public_url: Option<String>,
    /// Mails one node sends to one address within `per_address_window_secs`; more are dropped.
    pub max_per_address: usize,
    /// The window of `max_per_address`.
    pub per_address_window_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: "arXiv accounts <no-reply@arxiv.org>".into(),
            smtp_url: None,
            public_url: None,
            max_per_address: 5,
            per_address_window_secs: 3600,
        }
    }
}

/// `[passwords]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// Argon2id threads (idle priority); default: half the cores, at least one.
    pub hash_threads: Option<usize>,
    /// CPUs the hashing threads may run on; default: the upper half of the machine's CPUs
    /// (none on a single-CPU machine), so the lower half always serves `/auth`. `[]` = any.
    pub hash_cpus: Option<Vec<usize>>,
}

impl PasswordsConfig {
    /// The CPUs to confine hashing to.
    pub fn cpus(&self) -> Vec<usize> {
        self.hash_cpus.clone().unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (n / 2..n).filter(|_| n > 1).collect()
        })
    }

    /// The pool size to use.
    pub fn threads(&self) -> usize {
        self.hash_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        })
    }
}

/// Check the limits; the message names the key.
pub fn validate(
    login: &LoginConfig,
    register: &RegisterConfig,
    mail: &MailConfig,
    passwords: &PasswordsConfig,
) -> Result<(), String> {
    if register.max_posts_per_ip == 0
        || register.max_captchas_per_ip == 0
        || register.window_secs == 0
    {
        return Err(
            "[register] max_posts_per_ip, max_captchas_per_ip and window_secs must be > 0".into(),
        );
    }
    if mail.max_per_address == 0 || mail.per_address_window_secs == 0 {
        return Err("[mail] max_per_address and per_address_window_secs must be > 0".into());
    }
    if login.max_failures_per_account == 0 || login.max_failures_per_ip == 0 {
        return Err("[login] max_failures_per_account and max_failures_per_ip must be > 0".into());
    }
    if login.window_secs == 0 || login.lockout_secs == 0 {
        return Err("[login] window_secs and lockout_secs must be > 0".into());
    }
    if passwords.hash_threads == Some(0) {
        return Err("[passwords] hash_threads must be > 0".into());
    }
    Ok(())
}
