//! `/user` (profile), `/user/edit` and `/user/password`: only for the logged-in owner.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::extract::{Owner, OwnerPosted};
use super::fields::{self, FieldErrors, FormData};
use super::views::{self, Choices, EditPage, PasswordPage, UserPage};
use super::{Ctx, taxonomy};
use crate::accounts::{Account, Accounts};
use crate::backend::BackendError;

/// `GET /user`.
pub async fn view<B: Accounts>(State(b): State<B>, Owner(ctx, account): Owner) -> Response {
    let (country, rank, groups) = account.profile.as_ref().map_or_else(Default::default, |p| {
        let country = taxonomy::countries()
            .into_iter()
            .find(|(c, _)| *c == p.country)
            .map_or_else(|| p.country.clone(), |(_, n)| n.to_owned());
        let groups: Vec<&str> = p
            .submission_groups
            .iter()
            .map(|g| taxonomy::group_label(g))
            .collect();
        (
            country,
            taxonomy::rank_label(p.rank).to_owned(),
            groups.join(", "),
        )
    });
    let page = UserPage {
        chrome: ctx.chrome(&b, "Your account"),
        since: views::utc_minutes(account.created_ms),
        account,
        country,
        rank,
        groups,
    };
    ctx.finish(&b, views::html(StatusCode::OK, &page))
}

fn profile_values(a: &Account) -> FormData {
    let mut v: Vec<(String, String)> = Vec::new();
    if let Some(n) = &a.name {
        v.push(("forename".into(), n.forename.clone()));
        v.push(("surname".into(), n.surname.clone()));
        v.push(("suffix".into(), n.suffix.clone()));
    }
    if let Some(p) = &a.profile {
        v.push(("affiliation".into(), p.affiliation.clone()));
        v.push(("country".into(), p.country.clone()));
        v.push(("rank".into(), p.rank.to_string()));
        v.push(("default_category".into(), p.default_category.clone()));
        v.push(("homepage_url".into(), p.homepage_url.clone()));
        v.extend(
            p.submission_groups
                .iter()
                .map(|g| ("groups".to_owned(), g.clone())),
        );
    }
    FormData::from_pairs(v)
}

fn edit_page<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    status: StatusCode,
    values: FormData,
    errors: FieldErrors,
) -> Response {
    let page = EditPage {
        chrome: ctx.chrome(b, "Edit your profile"),
        values,
        errors,
        csrf: ctx.csrf(b),
        choices: Choices::load(),
    };
    ctx.finish(b, views::html(status, &page))
}

/// `GET /user/edit`.
pub async fn edit_form<B: Accounts>(State(b): State<B>, Owner(ctx, a): Owner) -> Response {
    let values = profile_values(&a);
    edit_page(&b, &ctx, StatusCode::OK, values, FieldErrors::default())
}

/// `POST /user/edit`.
pub async fn edit<B: Accounts>(
    State(b): State<B>,
    OwnerPosted(ctx, account, f): OwnerPosted,
) -> Response {
    let mut errors = FieldErrors::default();
    let (name, profile) = fields::name_and_profile(&f, &mut errors);
    if !errors.is_empty() {
        return edit_page(&b, &ctx, StatusCode::BAD_REQUEST, f, errors);
    }
    match b.update_profile(account.id, name, profile).await {
        Ok(()) => views::see_other("/user", &[]),
        Err(e) => {
            tracing::warn!(error = %e, "profile not saved");
            ctx.unavailable(&b)
        }
    }
}

fn password_page<B: Accounts>(
    b: &B,
    ctx: &Ctx,
    status: StatusCode,
    errors: FieldErrors,
) -> Response {
    let page = PasswordPage {
        chrome: ctx.chrome(b, "Change your password"),
        action: "/user/password".into(),
        ask_current: true,
        token: String::new(),
        values: FormData::default(),
        errors,
        csrf: ctx.csrf(b),
    };
    ctx.finish(b, views::html(status, &page))
}

/// `GET /user/password`.
pub async fn password_form<B: Accounts>(State(b): State<B>, Owner(ctx, _): Owner) -> Response {
    password_page(&b, &ctx, StatusCode::OK, FieldErrors::default())
}

/// `POST /user/password`: needs the current password; ends every other session.
pub async fn password<B: Accounts>(
    State(b): State<B>,
    OwnerPosted(ctx, account, f): OwnerPosted,
) -> Response {
    let mut errors = FieldErrors::default();
    let new = fields::new_password(
        &f,
        &mut errors,
        ("new_password", "new_password2"),
        &account.username,
        &account.email,
    );
    let current = f.get("current_password").to_owned();
    if current.is_empty() || current.len() > 1024 {
        errors.add("current_password", "Enter your current password.");
    } else {
        match b
            .check_password(account.id, current, ctx.ip.to_string())
            .await
        {
            Ok(true) => {}
            Ok(false) => errors.add("current_password", "That is not your current password."),
            Err(secs) => {
                let chrome = ctx.chrome(&b, "Change your password");
                return ctx.finish(&b, views::locked(chrome, secs));
            }
        }
    }
    if !errors.is_empty() {
        return password_page(&b, &ctx, StatusCode::BAD_REQUEST, errors);
    }
    let keep = ctx.session.as_ref().map(|s| s.session_id.clone());
    let result = b.set_password(account.id, new, keep, None).await;
    ctx.audit(
        &b,
        &account.username,
        "password_change",
        &account.username,
        &result,
    );
    match result {
        Ok(ended) => {
            let text = format!(
                "Your password is changed. {ended} other session{} logged out.",
                if ended == 1 { " was" } else { "s were" }
            );
            let r = views::message(
                StatusCode::OK,
                ctx.chrome(&b, "Password changed"),
                &[&text],
                Some(("/user", "Back to your account")),
            );
            ctx.finish(&b, r)
        }
        Err(BackendError::Invalid(why)) => {
            // e.g. legacy mode: a password the classic site's format cannot hold.
            let mut errors = FieldErrors::default();
            errors.add("new_password", &why);
            password_page(&b, &ctx, StatusCode::BAD_REQUEST, errors)
        }
        Err(e) => {
            tracing::warn!(error = %e, "password not changed");
            ctx.unavailable(&b)
        }
    }
}
