//! Helpers of the OAuth2 tests: token-endpoint requests and their RFC 6749 checks, client
//! registration, bearer checks on every node, and the browser side of the consent flow.

use anyhow::{Context, Result, bail, ensure};
use authd_tests::Cluster;
use authd_tests::browser::html_unescape;
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

use crate::authd_http::{AuthReq, Web, cookie_header, form_encode};

/// A token-endpoint answer with the headers RFC 6749 cares about.
#[derive(Debug)]
pub struct OAuthResp {
    pub status: u16,
    pub body: Value,
    pub cache_control: Option<String>,
    pub pragma: Option<String>,
    pub www_authenticate: Option<String>,
}

impl OAuthResp {
    /// The `error` code, having checked the status.
    pub fn error(&self, status: u16) -> Result<String> {
        ensure!(self.status == status, "expected {status}: {self:?}");
        ensure!(
            self.cache_control.as_deref() == Some("no-store"),
            "no Cache-Control: no-store: {self:?}"
        );
        self.body["error"]
            .as_str()
            .map(str::to_owned)
            .context("no error field")
    }

    /// The body of a 200, having checked the no-store headers.
    pub fn ok(&self) -> Result<&Value> {
        ensure!(self.status == 200, "expected 200: {self:?}");
        ensure!(
            self.cache_control.as_deref() == Some("no-store")
                && self.pragma.as_deref() == Some("no-cache"),
            "token responses must not be cached: {self:?}"
        );
        Ok(&self.body)
    }

    /// A string field of the body.
    pub fn field(&self, name: &str) -> Result<String> {
        self.ok()?[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in {self:?}"))
    }
}

/// POST a form to `url`, with HTTP Basic credentials when given.
pub async fn post_form(
    client: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Result<OAuthResp> {
    let mut req = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(fields));
    if let Some((id, secret)) = basic {
        let raw = format!(
            "{}:{}",
            form_encode(&[("x", id)]).trim_start_matches("x="),
            form_encode(&[("x", secret)]).trim_start_matches("x=")
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        req = req.header("authorization", format!("Basic {b64}"));
    }
    let r = req.send().await.with_context(|| format!("POST {url}"))?;
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (cache_control, pragma, www_authenticate) =
        (h("cache-control"), h("pragma"), h("www-authenticate"));
    let status = r.status().as_u16();
    let text = r.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(OAuthResp {
        status,
        body,
        cache_control,
        pragma,
        www_authenticate,
    })
}

/// Register a client through node `node`'s admin API; (client_id, secret).
pub async fn register(
    cluster: &Cluster,
    node: u64,
    body: Value,
) -> Result<(String, Option<String>)> {
    let r = cluster
        .api(node)
        .signed(Method::POST, "/api/v1/clients", Some(&body))
        .await?;
    let v = r.expect(201)?;
    let id = v["client_id"].as_str().context("client_id")?.to_owned();
    Ok((id, v["client_secret"].as_str().map(str::to_owned)))
}

/// `/auth` with a bearer token on one node: (status, upstream JWT).
pub async fn bearer(web: &Web, token: &str) -> Result<(u16, Option<String>)> {
    let h = format!("Bearer {token}");
    let r = web
        .auth(&AuthReq {
            authorization: Some(&h),
            ..AuthReq::default()
        })
        .await?;
    Ok((r.status, r.authorization.clone()))
}

/// Every node answers `want` for this token, asked concurrently.
pub async fn bearer_everywhere(nodes: &[(u64, Web)], token: &str, want: u16) -> Result<()> {
    let answers = futures::future::join_all(
        nodes
            .iter()
            .map(|(id, w)| async move { (*id, bearer(w, token).await) }),
    )
    .await;
    for (id, a) in answers {
        let (status, _) = a?;
        if status != want {
            bail!("node {id} answered {status} for the token, expected {want}");
        }
    }
    Ok(())
}

pub fn url(cluster: &Cluster, node: u64, path: &str) -> Result<String> {
    Ok(format!("http://{}{path}", cluster.node(node)?.http))
}

/// The hidden inputs of the consent form, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let rest = rest.strip_prefix(" value=\"")?;
            let (value, _) = rest.split_once('"')?;
            Some((name.to_owned(), html_unescape(value)))
        })
        .collect()
}

/// One query parameter of a URL.
pub fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// GET the authorize URL (path and query) with the cookie: the consent page's form fields.
pub async fn consent_form(web: &Web, cookie: &str, path: &str) -> Result<Vec<(String, String)>> {
    let h = cookie_header(cookie);
    let r = web
        .get_with(
            path,
            &AuthReq {
                cookie_header: Some(&h),
                ..AuthReq::default()
            },
        )
        .await?;
    ensure!(r.status == 200, "consent page: {}", r.describe());
    let fields = hidden_fields(&r.body);
    ensure!(
        fields.iter().any(|(k, _)| k == "csrf_token"),
        "no CSRF token: {}",
        r.body
    );
    Ok(fields)
}

/// POST the consent form with `decision`; the redirect's Location.
pub async fn decide(
    web: &Web,
    cookie: &str,
    fields: &[(String, String)],
    decision: &str,
) -> Result<String> {
    let mut f: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    f.push(("decision", decision));
    let r = web.post_form("/oauth2/authorize", Some(cookie), &f).await?;
    ensure!(r.status == 303, "consent POST: {}", r.describe());
    r.location.context("no Location")
}

pub fn authorize_path(pairs: &[(&str, &str)]) -> String {
    format!(
        "/oauth2/authorize?{}",
        crate::authd_http::form_encode(pairs)
    )
}
