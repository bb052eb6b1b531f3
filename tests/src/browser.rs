//! A scripted browser for the accounts pages over plain HTTP: a cookie jar shared across
//! nodes (like one browser talking to a load balancer), form tokens read from the pages,
//! mails read from a node's outbox, and captchas solved with the key the test wrote into the
//! config (a script without that key would have to read the picture).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use authd_web::pages::tokens::{PageKey, captcha_answer};
use hmac::{KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

/// One answer, with what the tests look at.
#[derive(Debug, Clone)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// Every `Set-Cookie`.
    pub set_cookie: Vec<String>,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

fn attr(body: &str, marker: &str) -> Option<String> {
    let start = body.find(marker)? + marker.len();
    let rest = body.get(start..)?;
    let end = rest.find('"')?;
    Some(html_unescape(rest.get(..end)?))
}

/// The hidden inputs of a form (the consent page's), in order.
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

/// One query parameter of an absolute URL (a redirect's `Location`).
pub fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Undo askama's HTML escaping (named and numeric forms) in an attribute or text.
pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

impl Page {
    /// The page's CSRF form token.
    pub fn csrf(&self) -> Option<String> {
        attr(&self.body, "name=\"csrf_token\" value=\"")
    }

    /// The registration page's captcha token.
    pub fn captcha_token(&self) -> Option<String> {
        attr(&self.body, "name=\"captcha_token\" value=\"")
    }

    /// The error message tied to `field` (`<p class="error" id="FIELD-error">`).
    pub fn field_error(&self, field: &str) -> Option<String> {
        let marker = format!("id=\"{field}-error\">");
        let start = self.body.find(&marker)? + marker.len();
        let rest = self.body.get(start..)?;
        Some(html_unescape(rest.get(..rest.find('<')?)?))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// One line for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "HTTP {} location={:?} set-cookie={:?} body={:?}",
            self.status,
            self.location,
            self.set_cookie,
            self.body.chars().take(600).collect::<String>()
        )
    }
}

/// A browser: one cookie jar, any node.
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    base: String,
    jar: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Browser {
    /// A browser with an empty jar, talking to `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Result<Browser> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the browser client")?;
        Ok(Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            jar: Arc::default(),
        })
    }

    /// The same browser (same cookies) talking to another node.
    pub fn at(&self, base: &str) -> Browser {
        Browser {
            client: self.client.clone(),
            base: base.trim_end_matches('/').to_owned(),
            jar: self.jar.clone(),
        }
    }

    /// The node this browser talks to (`http://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A cookie's current value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().ok()?.get(name).cloned()
    }

    /// Set (or with `None` drop) a cookie by hand.
    pub fn set_cookie(&self, name: &str, value: Option<&str>) {
        if let Ok(mut j) = self.jar.lock() {
            match value {
                Some(v) => j.insert(name.to_owned(), v.to_owned()),
                None => j.remove(name),
            };
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .lock()
            .map(|j| {
                j.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    async fn read(&self, resp: reqwest::Response) -> Result<Page> {
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let set_cookie: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if let Ok(mut j) = self.jar.lock() {
            for c in &set_cookie {
                let Some((k, v)) = c.split(';').next().and_then(|p| p.split_once('=')) else {
                    continue;
                };
                if v.is_empty() || c.to_ascii_lowercase().contains("max-age=0") {
                    j.remove(k.trim());
                } else {
                    j.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = resp.text().await.context("reading a page")?;
        Ok(Page {
            status,
            location,
            set_cookie,
            headers,
            body,
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Page> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .with_context(|| format!("GET {}{path}", self.base))?;
        self.read(resp).await
    }

    /// `POST path` with exactly these fields.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Result<Page> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {}{path}", self.base))?;
        self.read(resp).await
    }

    /// Load `form_path`, then post `fields` plus its CSRF token to `action`.
    pub async fn submit(
        &self,
        form_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Result<Page> {
        let form = self.get(form_path).await?;
        let csrf = form
            .csrf()
            .ok_or_else(|| anyhow!("no CSRF token on {form_path}: {}", form.describe()))?;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &csrf));
        self.post(action, &all).await
    }

    /// Log in through the form; the answer (303 with the session cookie on success).
    pub async fn login(&self, login: &str, password: &str) -> Result<Page> {
        self.submit(
            "/login",
            "/login",
            &[("username", login), ("password", password)],
        )
        .await
    }
}

/// The page key a node derives from the JWT secret (mirrors the node; see `server.rs`).
pub fn page_key(jwt_secret: &[u8]) -> Result<PageKey> {
    let mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(jwt_secret)
        .map_err(|e| anyhow!("page key: {e}"))?;
    let bytes: [u8; 32] = mac
        .chain_update(b"authd page key v1")
        .finalize()
        .into_bytes()
        .into();
    Ok(PageKey::new(bytes))
}

/// What the captcha picture for `token` shows to a client at `ip`.
pub fn solve_captcha(jwt_secret: &[u8], token: &str, ip: &str) -> Result<String> {
    captcha_answer(&page_key(jwt_secret)?, token, ip)
        .map(|(a, _)| a)
        .ok_or_else(|| anyhow!("not a captcha token of this cluster: {token}"))
}

/// Decode a quoted-printable mail (soft line breaks, `=XX` escapes); headers pass through.
fn quoted_printable(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'=' {
            match (raw.get(i + 1), raw.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(b'\n'), _) => i += 2,
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    let hex = [*h, *l];
                    let byte = std::str::from_utf8(&hex)
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok());
                    out.push(byte.unwrap_or(b'='));
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every link starting with `prefix` in the mails to `to` in a node's outbox, oldest first.
pub fn mailed_links(data_dir: &Path, to: &str, prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(data_dir.join("outbox")) else {
        return Vec::new();
    };
    let mut mails: Vec<(std::time::SystemTime, String)> = dir
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let t = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((t, quoted_printable(&std::fs::read(e.path()).ok()?)))
        })
        .filter(|(_, m)| {
            m.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
        })
        .collect();
    mails.sort_by_key(|(t, _)| *t);
    mails
        .iter()
        .flat_map(|(_, m)| {
            m.split_whitespace()
                .filter(|w| w.starts_with(prefix))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}
