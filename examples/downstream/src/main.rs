//! `authd-example ADDR`: serve the example on ADDR with `AUTHD_JWT_SECRET`.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_owned());
    let secret = std::env::var("AUTHD_JWT_SECRET").context("AUTHD_JWT_SECRET is not set")?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, authd_example::app(secret.as_bytes()))
        .await
        .context("serving")
}
