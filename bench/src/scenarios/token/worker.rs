//! The `token` client: `POST /oauth2/token` (client credentials, `client_secret_basic`),
//! rotating over the nodes; a 200 with an access token is a success.

use std::sync::Arc;

use anyhow::{Context, Result};
use authd_tests::{Cluster, NodeApi};
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
    register_owner(&api).await?;
    Ok(register_named(&api, "bench").await?.1)
}

/// Creates the user `benchowner` that owns the benchmark's clients.
pub async fn register_owner(api: &NodeApi) -> Result<()> {
    api.create_user(
        "benchowner",
        "benchowner@example.invalid",
        "bench-password-not-secret-0123",
        false,
    )
    .await?
    .expect(201)
    .context("creating the client's owner")?;
    Ok(())
}

/// Registers one more confidential client of `benchowner` (`client_credentials`, scope
/// `public:read`): its id and its `Authorization: Basic` value.
pub async fn register_named(api: &NodeApi, name: &str) -> Result<(String, HeaderValue)> {
    let body = serde_json::json!({"name": name, "owner": "benchowner",
        "grant_types": ["client_credentials"], "scopes": ["public:read"]});
    let created = api
        .signed(reqwest::Method::POST, "/api/v1/clients", Some(&body))
        .await?
        .expect(201)
        .with_context(|| format!("registering the benchmark client {name}"))?;
    let id = created
        .get("client_id")
        .and_then(|v| v.as_str())
        .context("client_id")?;
    let secret = created
        .get("client_secret")
        .and_then(|v| v.as_str())
        .context("client_secret")?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let header = HeaderValue::from_str(&format!("Basic {basic}")).context("Basic header")?;
    Ok((id.to_owned(), header))
}

/// A form `POST` to an OAuth2 endpoint with the client's `Authorization: Basic` value.
pub fn form_post(
    client: &reqwest::Client,
    url: reqwest::Url,
    basic: &HeaderValue,
    body: Bytes,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(AUTHORIZATION, basic.clone())
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(body)
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
        let sent = form_post(
            &self.client,
            url,
            &self.basic,
            Bytes::from_static(BODY.as_bytes()),
        )
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
