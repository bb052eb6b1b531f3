//! Extractors that every page shares: the request's context, the logged-in owner, and a
//! posted form whose CSRF token was checked (or the 403 / login redirect instead).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;

use super::fields::FormData;
use super::{Ctx, form_body};
use crate::accounts::{Account, Accounts};

fn peer(parts: &Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0)
}

/// Any page: its [`Ctx`].
pub struct Page(pub Ctx);

impl<B: Accounts> FromRequestParts<B> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, b: &B) -> Result<Self, Response> {
        let ctx = Ctx::load(b, peer(parts), &parts.headers).await;
        if ctx.not_current {
            return Err(ctx.unavailable(b));
        }
        Ok(Page(ctx))
    }
}

/// A page only for the logged-in user: anyone else is sent to log in and come back.
pub struct Owner(pub Ctx, pub Account);

impl<B: Accounts> FromRequestParts<B> for Owner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, b: &B) -> Result<Self, Response> {
        let Page(ctx) = Page::from_request_parts(parts, b).await?;
        match ctx.session.as_ref().and_then(|s| b.account(s.user_id)) {
            Some(a) => Ok(Owner(ctx, a)),
            None => {
                let back = match parts.uri.path() {
                    p if p.starts_with("/user") && !p.contains("/end") => p,
                    _ => "/user",
                };
                Err(ctx.to_login(back))
            }
        }
    }
}

async fn checked_form<B: Accounts>(ctx: &Ctx, req: Request, b: &B) -> Option<FormData> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), b)
        .await
        .ok()?;
    form_body(&parts.headers, &bytes).filter(|f| ctx.csrf_ok(b, f))
}

/// A submitted urlencoded form carrying this browser's CSRF token; otherwise 403, unchanged.
pub struct Posted(pub Ctx, pub FormData);

impl<B: Accounts> FromRequest<B> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, b: &B) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Page(ctx) = Page::from_request_parts(&mut parts, b).await?;
        match checked_form(&ctx, Request::from_parts(parts, body), b).await {
            Some(f) => Ok(Posted(ctx, f)),
            None => Err(ctx.csrf_refused(b)),
        }
    }
}

/// [`Posted`] by the logged-in user (the login redirect first, then the CSRF check).
pub struct OwnerPosted(pub Ctx, pub Account, pub FormData);

impl<B: Accounts> FromRequest<B> for OwnerPosted {
    type Rejection = Response;

    async fn from_request(req: Request, b: &B) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Owner(ctx, account) = Owner::from_request_parts(&mut parts, b).await?;
        match checked_form(&ctx, Request::from_parts(parts, body), b).await {
            Some(f) => Ok(OwnerPosted(ctx, account, f)),
            None => Err(ctx.csrf_refused(b)),
        }
    }
}
