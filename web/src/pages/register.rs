//! `/register`, `/captcha` and `/verify` (reference §4.5, §2.7, fixed): a captcha whose answer
//! only the picture shows, single-use across the cluster; accounts start unverified and a
//! signed, single-use, 24-hour link proves the address.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Page, Posted};
use super::fields::{self, FieldErrors, FormData};
use super::tokens::{self, Link, TokenError};
use super::views::{self, Choices, RegisterPage};
use super::{Ctx, captcha, now_s};
use crate::accounts::{Account, Accounts, RegisterError, Registration};
use crate::backend::BackendError;
use crate::rate_limit::ip_key;

/// How long a captcha may be answered.
const CAPTCHA_TTL_S: u64 = 600;
/// How long a verification link works.
const VERIFY_TTL_S: u64 = 24 * 3600;
/// The purpose a verification link's MAC covers.
const VERIFY: &str = "verify";

fn page<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    status: StatusCode,
    mut values: FormData,
    errors: FieldErrors,
) -> Response {
    let ip = ctx.ip.to_string();
    let nonce = tokens::random_hex().unwrap_or_default();
    let captcha_token = tokens::captcha_token(b.page_key(), &nonce, now_s() + CAPTCHA_TTL_S, &ip);
    values = FormData::from_pairs(
        [
            "email",
            "username",
            "forename",
            "surname",
            "suffix",
            "affiliation",
            "country",
            "rank",
            "default_category",
            "homepage_url",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), values.get(k).to_owned()))
        .chain(
            values
                .all("groups")
                .into_iter()
                .map(|g| ("groups".to_owned(), g.to_owned())),
        )
        .collect(),
    );
    let page = RegisterPage {
        chrome: ctx.chrome(b, "Register for arXiv"),
        values,
        errors,
        csrf: ctx.csrf(b),
        captcha_token,
        choices: Choices::load(),
    };
    ctx.finish(b, views::html(status, &page))
}

/// `GET /register`.
pub async fn form<B: Accounts>(State(b): State<B>, Page(ctx): Page) -> Response {
    if ctx.session.is_some() {
        return views::see_other("/user", &[]);
    }
    page(
        &b,
        &ctx,
        StatusCode::OK,
        FormData::default(),
        FieldErrors::default(),
    )
}

/// `?token=`.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    /// The captcha or link token.
    pub token: Option<String>,
}

/// `GET /captcha?token=`: the picture, only for the address the challenge was made for.
pub async fn captcha_image<B: Accounts>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let client = super::client_ip(peer.ip(), &headers, &b.settings().trusted_proxies);
    let limits = &b.settings().page_limits;
    if let Err(secs) = limits.captcha.allow(&ip_key(client), Instant::now()) {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "too many captchas\n").into_response();
        views::with_retry_after(&mut r, secs);
        return r;
    }
    let ip = client.to_string();
    let Some((answer, _)) = q
        .token
        .as_deref()
        .and_then(|t| tokens::captcha_answer(b.page_key(), t, &ip))
    else {
        return (StatusCode::BAD_REQUEST, "invalid captcha token\n").into_response();
    };
    let png = tokio::task::spawn_blocking(move || captcha::png(&answer))
        .await
        .ok()
        .flatten();
    match png {
        Some(png) => {
            let mut r = png.into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "captcha failed\n").into_response(),
    }
}

/// `POST /register`.
pub async fn submit<B: Accounts>(State(b): State<B>, Posted(ctx, f): Posted) -> Response {
    if ctx.session.is_some() {
        return views::see_other("/user", &[]);
    }
    let limits = &b.settings().page_limits;
    if let Err(secs) = limits.register.allow(&ip_key(ctx.ip), Instant::now()) {
        let chrome = ctx.chrome(&b, "Register for arXiv");
        let why = "Too many registration attempts from your network.";
        return ctx.finish(&b, views::too_many(chrome, why, secs));
    }
    let mut errors = FieldErrors::default();
    let email = f.get("email").trim().to_lowercase();
    if let Err(m) = fields::email(&email) {
        errors.add("email", m);
    }
    let username = f.get("username").trim().to_owned();
    if let Err(m) = fields::username(&username) {
        errors.add("username", m);
    }
    let password = fields::new_password(
        &f,
        &mut errors,
        ("password", "password2"),
        &username,
        &email,
    );
    let (name, profile) = fields::name_and_profile(&f, &mut errors);
    let captcha = tokens::captcha_check(
        b.page_key(),
        f.get("captcha_token"),
        &ctx.ip.to_string(),
        now_s(),
        f.get("captcha_value"),
    );
    let nonce = match captcha {
        Ok(n) => Some(n),
        Err(TokenError::Wrong) => {
            errors.add(
                "captcha_value",
                "That was not it. Please try again with the new picture.",
            );
            None
        }
        Err(_) => {
            errors.add(
                "captcha_value",
                "The picture expired. Please type the new one.",
            );
            None
        }
    };
    let Some(nonce) = nonce.filter(|_| errors.is_empty()) else {
        return page(&b, &ctx, StatusCode::BAD_REQUEST, f, errors);
    };
    let reg = Registration {
        username,
        email: email.clone(),
        password,
        name,
        profile,
    };
    match b.register(reg, nonce).await {
        Ok(id) => {
            if let Some(a) = b.account(id) {
                send_verification(&b, &a).await;
            }
            check_your_mail(&b, &ctx, &email)
        }
        Err(RegisterError::EmailTaken) => {
            // Same answer as success: whether an address has an account is not for strangers.
            let body = "Someone (perhaps you) tried to register a new arXiv account with this \
                        address, which already has one. If that was you, log in or reset your \
                        password at the site. If not, you can ignore this message.\n";
            super::mail_in_background(&b, email.clone(), "arXiv registration attempt", body.into());
            check_your_mail(&b, &ctx, &email)
        }
        Err(RegisterError::UsernameTaken) => {
            errors.add("username", "This username is taken; please choose another.");
            page(&b, &ctx, StatusCode::BAD_REQUEST, f, errors)
        }
        Err(RegisterError::CaptchaUsed) => {
            errors.add(
                "captcha_value",
                "The picture expired. Please type the new one.",
            );
            page(&b, &ctx, StatusCode::BAD_REQUEST, f, errors)
        }
        Err(RegisterError::Backend(BackendError::Unavailable(_))) => ctx.unavailable(&b),
        Err(RegisterError::Backend(e)) => {
            tracing::error!(error = %e, "registration failed");
            ctx.unavailable(&b)
        }
    }
}

fn check_your_mail<B: Accounts>(b: &B, ctx: &Ctx, email: &str) -> Response {
    let text = format!(
        "We have sent a link to {email}. Follow it within 24 hours to verify your address, \
         then log in."
    );
    let r = views::message(
        StatusCode::OK,
        ctx.chrome(b, "Check your e-mail"),
        &[&text],
        Some(("/login", "Go to the login page")),
    );
    ctx.finish(b, r)
}

/// Mail a fresh verification link (it dies if the address changes or once used).
pub async fn send_verification<B: Accounts>(b: &B, a: &Account) {
    let Some(nonce) = tokens::random_hex() else {
        return;
    };
    let token = Link::issue(
        b.page_key(),
        VERIFY,
        a.id,
        now_s() + VERIFY_TTL_S,
        &nonce,
        &a.email,
    );
    let body = format!(
        "Hello {},\n\nplease verify your e-mail address for arXiv by opening this link within \
         24 hours:\n\n{}/verify?token={token}\n\nIf you did not register, ignore this message.\n",
        a.username,
        b.public_url()
    );
    super::mail_in_background(b, a.email.clone(), "Verify your arXiv e-mail address", body);
}

/// `GET /verify?token=`.
pub async fn verify<B: Accounts>(
    State(b): State<B>,
    Page(ctx): Page,
    Query(q): Query<TokenQuery>,
) -> Response {
    let title = "Verify your e-mail address";
    let refuse = |msg: &str| {
        let r = views::message(
            StatusCode::BAD_REQUEST,
            ctx.chrome(&b, title),
            &[
                msg,
                "Log in to get a new link if your address is not verified yet.",
            ],
            Some(("/login", "Go to the login page")),
        );
        ctx.finish(&b, r)
    };
    let Some(link) = q.token.as_deref().and_then(Link::parse) else {
        return refuse("This verification link is not valid.");
    };
    let Some(account) = b.account(link.user_id) else {
        return refuse("This verification link is not valid.");
    };
    match link.check(b.page_key(), VERIFY, &account.email, now_s()) {
        Ok(()) => {}
        Err(TokenError::Expired) => return refuse("This verification link has expired."),
        Err(_) => return refuse("This verification link is not valid."),
    }
    match b.verify_email(account.id, link.nonce.clone()).await {
        Ok(()) => {
            let r = views::message(
                StatusCode::OK,
                ctx.chrome(&b, title),
                &["Thank you: your e-mail address is verified. You can now log in."],
                Some(("/login", "Log in")),
            );
            ctx.finish(&b, r)
        }
        Err(BackendError::Conflict(_)) => refuse("This verification link was already used."),
        Err(_) => ctx.unavailable(&b),
    }
}
