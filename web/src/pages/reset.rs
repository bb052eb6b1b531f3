//! `/password-reset`: ask for a link (the same answer whether or not the address has an
//! account), then set a new password from the link. A link works once, for an hour, and dies
//! as soon as the password changes; using it logs the account out everywhere.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::{Page, Posted};
use super::fields::{self, FieldErrors, FormData};
use super::register::TokenQuery;
use super::tokens::{self, Link, TokenError};
use super::views::{self, PasswordPage, ResetRequestPage};
use super::{Ctx, now_s};
use crate::accounts::{Account, Accounts};
use crate::backend::BackendError;

const RESET: &str = "reset";
const RESET_TTL_S: u64 = 3600;

fn request_page<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    status: StatusCode,
    values: FormData,
    errors: FieldErrors,
) -> Response {
    let page = ResetRequestPage {
        chrome: ctx.chrome(b, "Reset your password"),
        values,
        errors,
        csrf: ctx.csrf(b),
    };
    ctx.finish(b, views::html(status, &page))
}

fn new_password_page<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    status: StatusCode,
    token: &str,
    errors: FieldErrors,
) -> Response {
    let page = PasswordPage {
        chrome: ctx.chrome(b, "Choose a new password"),
        action: "/password-reset".into(),
        ask_current: false,
        token: token.to_owned(),
        values: FormData::default(),
        errors,
        csrf: ctx.csrf(b),
    };
    ctx.finish(b, views::html(status, &page))
}

fn refuse<B: Accounts>(b: &B, ctx: &Ctx, why: TokenError) -> Response {
    let msg = match why {
        TokenError::Expired => "This password reset link has expired.",
        _ => "This password reset link is not valid or was already used.",
    };
    let r = views::message(
        StatusCode::BAD_REQUEST,
        ctx.chrome(b, "Reset your password"),
        &[msg, "You can ask for a new one."],
        Some(("/password-reset", "Ask for a new link")),
    );
    ctx.finish(b, r)
}

/// The account a link is for, if the link is ours, current and unused.
fn check_link<B: Accounts>(b: &B, token: &str) -> Result<(Link, Account), TokenError> {
    let link = Link::parse(token).ok_or(TokenError::Invalid)?;
    let account = b.account(link.user_id).ok_or(TokenError::Invalid)?;
    let binding = b
        .password_binding(link.user_id)
        .ok_or(TokenError::Invalid)?;
    link.check(b.page_key(), RESET, &binding, now_s())?;
    Ok((link, account))
}

/// `GET /password-reset[?token=]`.
pub async fn form<B: Accounts>(
    State(b): State<B>,
    Page(ctx): Page,
    Query(q): Query<TokenQuery>,
) -> Response {
    match q.token.as_deref() {
        None => request_page(
            &b,
            &ctx,
            StatusCode::OK,
            FormData::default(),
            FieldErrors::default(),
        ),
        Some(t) => match check_link(&b, t) {
            Ok(_) => new_password_page(&b, &ctx, StatusCode::OK, t, FieldErrors::default()),
            Err(e) => refuse(&b, &ctx, e),
        },
    }
}

/// `POST /password-reset`: with `email`, send a link; with `token`, set the password.
pub async fn submit<B: Accounts>(State(b): State<B>, Posted(ctx, f): Posted) -> Response {
    let token = f.get("token");
    if token.is_empty() {
        return send_link(&b, &ctx, &f).await;
    }
    let (link, account) = match check_link(&b, token) {
        Ok(x) => x,
        Err(e) => return refuse(&b, &ctx, e),
    };
    let mut errors = FieldErrors::default();
    let new = fields::new_password(
        &f,
        &mut errors,
        ("new_password", "new_password2"),
        &account.username,
        &account.email,
    );
    if !errors.is_empty() {
        return new_password_page(&b, &ctx, StatusCode::BAD_REQUEST, token, errors);
    }
    let result = b
        .set_password(account.id, new, None, Some(link.nonce.clone()))
        .await;
    ctx.audit(
        &b,
        &account.username,
        "password_reset",
        &account.username,
        &result,
    );
    match result {
        Ok(_) => {
            tracing::info!(user = account.id, "password reset by e-mailed link");
            let r = views::message(
                StatusCode::OK,
                ctx.chrome(&b, "Password changed"),
                &["Your password is changed and every session of your account was logged out."],
                Some(("/login", "Log in")),
            );
            ctx.finish(&b, r)
        }
        Err(BackendError::Conflict(_)) => refuse(&b, &ctx, TokenError::Invalid),
        Err(BackendError::Invalid(why)) => {
            let mut errors = FieldErrors::default();
            errors.add("new_password", &why);
            new_password_page(&b, &ctx, StatusCode::BAD_REQUEST, token, errors)
        }
        Err(_) => ctx.unavailable(&b),
    }
}

async fn send_link<B: Accounts>(b: &B, ctx: &Ctx, f: &FormData) -> Response {
    let email = f.get("email").trim().to_lowercase();
    if fields::email(&email).is_err() {
        let mut errors = FieldErrors::default();
        errors.add("email", "Enter a valid e-mail address.");
        let kept = FormData::from_pairs(vec![("email".into(), email)]);
        return request_page(b, ctx, StatusCode::BAD_REQUEST, kept, errors);
    }
    let account = b.account_by_login(&email).filter(|a| a.email == email);
    if let (Some(a), Some(binding), Some(nonce)) = (
        account.as_ref(),
        account.as_ref().and_then(|a| b.password_binding(a.id)),
        tokens::random_hex(),
    ) {
        let token = Link::issue(
            b.page_key(),
            RESET,
            a.id,
            now_s() + RESET_TTL_S,
            &nonce,
            &binding,
        );
        let body = format!(
            "Hello {},\n\nsomeone (perhaps you) asked to reset the password of your arXiv \
             account. To choose a new one, open this link within an hour:\n\n\
             {}/password-reset?token={token}\n\nIf it was not you, ignore this message; your \
             password stays as it is.\n",
            a.username,
            b.public_url()
        );
        super::mail_in_background(b, a.email.clone(), "Reset your arXiv password", body);
    }
    let text = format!(
        "If {email} belongs to an arXiv account, we have sent it a link to choose a new \
         password. The link works for an hour."
    );
    let r = views::message(
        StatusCode::OK,
        ctx.chrome(b, "Check your e-mail"),
        &[&text],
        None,
    );
    ctx.finish(b, r)
}
