//! `authd-example ADDR`: serve the example on ADDR, verifying EdDSA tokens with the JWKS at
//! `AUTHD_JWKS_URL`, or HS256 tokens with `AUTHD_JWT_SECRET`.

use anyhow::Context;
use authd_auth::service::Verifier;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_owned());
    let verifier = match std::env::var("AUTHD_JWKS_URL") {
        Ok(url) => authd_example::jwks_verifier(url),
        Err(_) => {
            let secret = std::env::var("AUTHD_JWT_SECRET")
                .context("set AUTHD_JWKS_URL (EdDSA) or AUTHD_JWT_SECRET (HS256)")?;
            Verifier::new(secret.as_bytes())
        }
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, authd_example::app(verifier))
        .await
        .context("serving")
}
