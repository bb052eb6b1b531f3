//! `/user` (profile), `/user/edit` and `/user/password`: only for the logged-in owner.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::fields::{self, FieldErrors, FormData};
use super::views::{self, Choices, EditPage, PasswordPage, UserPage};
use super::{Ctx, form_body, taxonomy};
use crate::accounts::{Account, Accounts};

/// The logged-in account, or the redirect to log in first.
pub(super) async fn owner<B: Accounts>(
    b: &B,
    peer: SocketAddr,
    headers: &HeaderMap,
    back: &str,
) -> Result<(Ctx, Account), Response> {
    let ctx = Ctx::load(b, peer, headers).await;
    let account = ctx.session.as_ref().and_then(|s| b.account(s.user_id));
    match account {
        Some(a) => Ok((ctx, a)),
        None => Err(ctx.to_login(back)),
    }
}

/// `GET /user`.
pub async fn view<B: Accounts>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let (ctx, account) = match owner(&b, peer, &headers, "/user").await {
        Ok(x) => x,
        Err(r) => return r,
    };
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
    let c = Choices::load();
    let page = EditPage {
        chrome: ctx.chrome(b, "Edit your profile"),
        values,
        errors,
        csrf: ctx.csrf(b),
        countries: c.countries,
        categories: c.categories,
        ranks: c.ranks,
        groups: c.groups,
    };
    ctx.finish(b, views::html(status, &page))
}

/// `GET /user/edit`.
pub async fn edit_form<B: Accounts>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match owner(&b, peer, &headers, "/user/edit").await {
        Ok((ctx, a)) => edit_page(
            &b,
            &ctx,
            StatusCode::OK,
            profile_values(&a),
            FieldErrors::default(),
        ),
        Err(r) => r,
    }
}

/// `POST /user/edit`.
pub async fn edit<B: Accounts>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, account) = match owner(&b, peer, &headers, "/user/edit").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(f) = form_body(&headers, &body).filter(|f| ctx.csrf_ok(&b, f)) else {
        return ctx.csrf_refused(&b);
    };
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
pub async fn password_form<B: Accounts>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match owner(&b, peer, &headers, "/user/password").await {
        Ok((ctx, _)) => password_page(&b, &ctx, StatusCode::OK, FieldErrors::default()),
        Err(r) => r,
    }
}

/// `POST /user/password`: needs the current password; ends every other session.
pub async fn password<B: Accounts>(
    State(b): State<B>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, account) = match owner(&b, peer, &headers, "/user/password").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(f) = form_body(&headers, &body).filter(|f| ctx.csrf_ok(&b, f)) else {
        return ctx.csrf_refused(&b);
    };
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
    } else if !b.check_password(account.id, current).await {
        errors.add("current_password", "That is not your current password.");
    }
    if !errors.is_empty() {
        return password_page(&b, &ctx, StatusCode::BAD_REQUEST, errors);
    }
    let keep = ctx.session.as_ref().map(|s| s.session_id.clone());
    match b.set_password(account.id, new, keep, None).await {
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
        Err(e) => {
            tracing::warn!(error = %e, "password not changed");
            ctx.unavailable(&b)
        }
    }
}
