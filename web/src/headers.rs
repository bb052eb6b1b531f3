//! Security headers for every page authd renders (threat model §11.2: click-jacking, sniffing,
//! referrer leaks). `/auth` answers NGINX only and skips them to stay small.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'";

/// Add the page security headers (and HSTS when cookies are `Secure`, i.e. behind HTTPS).
pub fn secure_pages<S: Clone + Send + Sync + 'static>(router: Router<S>, hsts: bool) -> Router<S> {
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut r = router;
    for (name, value) in fixed {
        r = r.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    strict_transport(r, hsts)
}

/// Add HSTS when `on` (cookies are `Secure`, i.e. authd is served over HTTPS); the OAuth2
/// routes set their other page headers themselves (their CSP depends on the client).
pub fn strict_transport<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    on: bool,
) -> Router<S> {
    if !on {
        return router;
    }
    router.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    ))
}
