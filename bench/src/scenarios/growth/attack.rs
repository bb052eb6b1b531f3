//! The one account's attack: login loops (each login a new session) and consent-and-token
//! loops with a public client (authorize → approve → redeem with PKCE: no client secret, no
//! password hash per grant), as fast as the nodes answer, rotated over the nodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Result;
use authd_tests::browser::{Browser, hidden_fields, query_param};

/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Where the attack aims: every node, one user, one public client.
#[derive(Clone)]
pub struct Target {
    pub bases: Arc<[String]>,
    pub username: String,
    pub password: String,
    pub client_id: String,
    pub redirect_uri: String,
}

/// What the attack got, counted while it runs.
#[derive(Debug, Default)]
pub struct Counts {
    pub logins: AtomicU64,
    pub grants: AtomicU64,
    /// 429s (and consent redirects carrying an error) on any step.
    pub limited: AtomicU64,
    pub other: AtomicU64,
}

/// A copy of [`Counts`] at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub logins: u64,
    pub grants: u64,
    pub limited: u64,
    pub other: u64,
}

impl Counts {
    pub fn tally(&self) -> Tally {
        Tally {
            logins: self.logins.load(Ordering::Relaxed),
            grants: self.grants.load(Ordering::Relaxed),
            limited: self.limited.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn base(t: &Target, seq: u64) -> &str {
    let n = t.bases.len().max(1) as u64;
    t.bases
        .get(usize::try_from(seq % n).unwrap_or(0))
        .map_or("", String::as_str)
}

/// Logs the user in again and again, each time from a fresh cookie jar.
pub async fn login_loop(t: Target, seed: u64, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    let mut seq = seed;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let Ok(b) = Browser::new(base(&t, seq)) else {
            bump(&counts.other);
            continue;
        };
        match b.login(&t.username, &t.password).await {
            Ok(p) if p.status == 303 => bump(&counts.logins),
            Ok(p) if p.status == 429 => bump(&counts.limited),
            _ => bump(&counts.other),
        }
    }
}

/// One logged-in browser granting the public client again and again.
pub async fn grant_loop(
    t: Target,
    seed: u64,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) -> Result<()> {
    let b = Browser::new(base(&t, seed))?;
    login(&b, &t).await?;
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&state=s&scope=profile%3Aread&code_challenge={CHALLENGE}&code_challenge_method=S256",
        t.client_id,
        t.redirect_uri.replace(':', "%3A").replace('/', "%2F"),
    );
    let mut seq = seed;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let node = b.at(base(&t, seq));
        match grant_once(&node, &t, &authorize).await {
            Ok(Step::Granted) => bump(&counts.grants),
            // The login loops' new sessions pushed this one out (the session cap): log in
            // again, as an attacker would.
            Ok(Step::LoggedOut) => {
                bump(&counts.other);
                if login(&b, &t).await.is_ok() {
                    bump(&counts.logins);
                }
            }
            Ok(Step::Limited) => bump(&counts.limited),
            Ok(Step::Other) | Err(_) => bump(&counts.other),
        }
    }
    Ok(())
}

async fn login(b: &Browser, t: &Target) -> Result<()> {
    let page = b.login(&t.username, &t.password).await?;
    anyhow::ensure!(page.status == 303, "login: {}", page.describe());
    Ok(())
}

enum Step {
    Granted,
    LoggedOut,
    Limited,
    Other,
}

async fn grant_once(b: &Browser, t: &Target, authorize: &str) -> Result<Step> {
    let page = b.get(authorize).await?;
    if page.status == 429 {
        return Ok(Step::Limited);
    }
    if page.status == 303
        && page
            .location
            .as_deref()
            .is_some_and(|l| l.contains("/login"))
    {
        return Ok(Step::LoggedOut);
    }
    if page.status != 200 {
        return Ok(Step::Other);
    }
    let mut fields: Vec<(String, String)> = hidden_fields(&page.body);
    fields.push(("decision".into(), "approve".into()));
    let f: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let decided = b.post("/oauth2/authorize", &f).await?;
    if decided.status == 429 {
        return Ok(Step::Limited);
    }
    let Some(location) = decided.location.filter(|_| decided.status == 303) else {
        return Ok(Step::Other);
    };
    let Some(code) = query_param(&location, "code") else {
        let limited = query_param(&location, "error").is_some();
        return Ok(if limited { Step::Limited } else { Step::Other });
    };
    // The token endpoint ignores the browser's cookies; a public client sends no secret.
    let r = b
        .post(
            "/oauth2/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", t.redirect_uri.as_str()),
                ("client_id", t.client_id.as_str()),
                ("code_verifier", VERIFIER),
            ],
        )
        .await?;
    Ok(match r.status {
        200 => Step::Granted,
        429 => Step::Limited,
        _ => Step::Other,
    })
}
