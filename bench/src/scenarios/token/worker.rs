//! The `token` client: `POST /oauth2/token` (client credentials, `client_secret_basic`),
//! rotating over the nodes; a 200 with an access token is a success.

use std::sync::Arc;

use anyhow::{Context, Result};
use authd_tests::Cluster;
use base64::Engine as _;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use crate::load::Worker;

/// The token endpoint.
pub const PATH: &str = "/oauth2/token";
/// The request body: the grant and one scope.
const BODY: &str = "grant_type=client_credentials&scope=public%3Aread";

/// Registers the benchmark's owner and confidential client; the `Authorization: Basic` value.
pub async fn register_client(cluster: &Cluster, leader: u64) -> Result<HeaderValue> {
    let api = cluster.api(leader);
    api.create_user(
        "benchowner",
        "benchowner@example.invalid",
        "bench-password-not-secret-0123",
        false,
    )
    .await?
    .expect(201)
    .context("creating the client's owner")?;
    let body = serde_json::json!({"name": "bench", "owner": "benchowner",
        "grant_types": ["client_credentials"], "scopes": ["public:read"]});
    let created = api
        .signed(reqwest::Method::POST, "/api/v1/clients", Some(&body))
        .await?
        .expect(201)
        .context("registering the benchmark client")?;
    let id = created
        .get("client_id")
        .and_then(|v| v.as_str())
        .context("client_id")?;
    let secret = created
        .get("client_secret")
        .and_then(|v| v.as_str())
        .context("client_secret")?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    HeaderValue::from_str(&format!("Basic {basic}")).context("Basic header")
}

/// One closed-loop client.
pub struct TokenWorker {
    client: reqwest::Client,
    urls: Arc<[reqwest::Url]>,
    basic: HeaderValue,
    first: usize,
}

impl TokenWorker {
    /// Client number `first` starts at node `urls[first % n]` and then rotates.
    pub fn new(
        client: reqwest::Client,
        urls: Arc<[reqwest::Url]>,
        basic: HeaderValue,
        first: usize,
    ) -> Self {
        TokenWorker {
            client,
            urls,
            basic,
            first,
        }
    }
}

impl Worker for TokenWorker {
    fn class(&self, seq: u64) -> usize {
        crate::scenarios::rotate(self.first, seq, self.urls.len())
    }

    fn classes(&self) -> usize {
        self.urls.len()
    }

    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let (idx, url) = crate::scenarios::pick(&self.urls, self.first, seq)?;
        let sent = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.basic.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(Bytes::from_static(BODY.as_bytes()))
            .send()
            .await;
        let body = crate::scenarios::expect_status(sent, idx, StatusCode::OK).await?;
        // The body names an access token (cheap check; the tests verify the full response).
        if body.windows(14).any(|w| w == b"\"access_token\"") {
            Ok(())
        } else {
            Err(format!("node #{idx}: 200 without an access token"))
        }
    }
}
