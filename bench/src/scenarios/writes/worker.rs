//! The `writes` client: one closed-loop worker per client, and the user it writes for.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use authd_tests::{Cluster, unix_now};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use crate::load::Worker;

pub const PATH: &str = "/api/v1/sessions";

/// The user every session belongs to (created through the leader: one Argon2 hash).
pub async fn create_user(cluster: &Cluster, leader: u64) -> Result<u64> {
    let resp = cluster
        .api(leader)
        .create_user(
            "bench",
            "bench@example.invalid",
            "bench-password-not-secret-0123",
            false,
        )
        .await?;
    resp.expect(201).context("creating the benchmark user")?;
    resp.field("id")?
        .parse::<u64>()
        .map_err(|e| anyhow!("user id is not a number: {e}"))
}

/// One closed-loop client: `POST /api/v1/sessions {"user_id": N}`, rotating over the nodes.
pub struct SessionWriter {
    client: reqwest::Client,
    urls: Arc<[reqwest::Url]>,
    body: Bytes,
    secret: Arc<[u8]>,
    /// The signature of the current second: the body never changes, so one HMAC per second
    /// per client keeps the load generator's own CPU out of the way (the server still checks
    /// every request).
    sig: Option<(u64, HeaderValue)>,
    first: usize,
}

impl SessionWriter {
    /// Client number `first` starts at node `urls[first % n]` and then rotates.
    pub fn new(
        client: reqwest::Client,
        urls: Arc<[reqwest::Url]>,
        body: Bytes,
        secret: Arc<[u8]>,
        first: usize,
    ) -> Self {
        SessionWriter {
            client,
            urls,
            body,
            secret,
            sig: None,
            first,
        }
    }

    fn signature(&mut self) -> Result<HeaderValue, String> {
        let now = unix_now();
        match &self.sig {
            Some((t, v)) if *t == now => Ok(v.clone()),
            _ => {
                let s = authd_web::cli_auth::sign(&self.secret, "POST", PATH, &self.body, now);
                let v =
                    HeaderValue::from_str(&s).map_err(|e| format!("bad signature header: {e}"))?;
                self.sig = Some((now, v.clone()));
                Ok(v)
            }
        }
    }
}

impl Worker for SessionWriter {
    fn class(&self, seq: u64) -> usize {
        crate::scenarios::rotate(self.first, seq, self.urls.len())
    }

    fn classes(&self) -> usize {
        self.urls.len()
    }

    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let (idx, url) = crate::scenarios::pick(&self.urls, self.first, seq)?;
        let sig = self.signature()?;
        let sent = self
            .client
            .post(url)
            .header(HeaderName::from_static(authd_web::cli_auth::HEADER), sig)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(self.body.clone())
            .send()
            .await;
        crate::scenarios::expect_status(sent, idx, StatusCode::CREATED)
            .await
            .map(|_| ())
    }
}
