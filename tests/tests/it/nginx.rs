//! A real nginx with the shipped `deploy/nginx/authd.conf` (ports rewritten) in front of a real
//! 3-node cluster and a small upstream app that records what it receives.
//!
//! nginx must be installed (`.ci/run` installs the Debian package). Without it the test is
//! skipped loudly on a developer machine, and FAILS when `CI` or `AUTHD_TEST_REQUIRE_NGINX` is
//! set, so CI never passes by skipping it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use authd_tests::{Cluster, free_ports, workspace_root};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::{Value, json};

use crate::authd_http::{
    AuthReq, Web, WebResp, assert_accepted_everywhere, claims_unchecked_exp, cookie_header,
    jwt_secret, random_id, sign_hs256, verify_hs256, web_client, webs,
};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

// ---- nginx as a child process ------------------------------------------------------------

/// The nginx binary: `$NGINX_BIN`, `nginx` on `PATH`, or the usual sbin locations.
fn find_nginx() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NGINX_BIN") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(
        [
            "/usr/sbin",
            "/usr/local/sbin",
            "/sbin",
            "/usr/local/nginx/sbin",
        ]
        .map(PathBuf::from),
    );
    dirs.into_iter()
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// `Some(nginx)`, `None` to skip (loudly) on a developer machine, an error in CI.
pub(crate) fn nginx_or_skip() -> Result<Option<PathBuf>> {
    if let Some(p) = find_nginx() {
        return Ok(Some(p));
    }
    let required = ["CI", "AUTHD_TEST_REQUIRE_NGINX"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if required {
        bail!(
            "nginx is not installed, and CI / AUTHD_TEST_REQUIRE_NGINX is set: the nginx tests must \
             run in CI. Install it (`apt-get install -y nginx`; .ci/run does) or set NGINX_BIN."
        );
    }
    eprintln!(
        "\n################################################################################\n\
         # SKIPPED: nginx_in_front_of_the_cluster: nginx is not installed.\n\
         # Install it (`apt-get install -y --no-install-recommends nginx`) or set NGINX_BIN.\n\
         # (With CI or AUTHD_TEST_REQUIRE_NGINX set, this is a failure, not a skip.)\n\
         ################################################################################\n"
    );
    Ok(None)
}

/// An nginx master process in a temp prefix; stopped (SIGTERM, then SIGKILL) on drop.
pub(crate) struct Nginx {
    child: Option<Child>,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nginx {
    /// Writes `nginx.conf` (a minimal `http {}` that includes `site`) and starts nginx in the
    /// foreground. `addr` is where `site` listens.
    pub(crate) fn start(bin: &Path, site: &str, addr: SocketAddr) -> Result<Nginx> {
        let dir = tempfile::Builder::new().prefix("authd-nginx-").tempdir()?;
        let d = dir.path();
        for sub in ["tmp", "logs"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        // The shipped config logs under /var/log/nginx/: here, under this prefix.
        let site = site.replace("/var/log/nginx/", &format!("{}/logs/", d.display()));
        std::fs::write(d.join("authd.conf"), site)?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let main = format!(
            "{user}worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/logs/error.log info;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n\
             \x20   access_log {d}/logs/access.log;\n\
             \x20   client_body_temp_path {d}/tmp/body;\n\
             \x20   proxy_temp_path {d}/tmp/proxy;\n\
             \x20   fastcgi_temp_path {d}/tmp/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n\
             \x20   scgi_temp_path {d}/tmp/scgi;\n\
             \x20   include {d}/authd.conf;\n\
             }}\n",
            user = if root { "user root;\n" } else { "" },
            d = d.display()
        );
        std::fs::write(d.join("nginx.conf"), main)?;
        let child = Command::new(bin)
            .arg("-e")
            .arg(d.join("logs/error.log"))
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                d.join("logs/stderr.log"),
            )?))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Nginx {
            child: Some(child),
            dir,
            addr,
        })
    }

    pub(crate) fn logs(&self) -> String {
        let d = self.dir.path();
        let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap_or_default();
        format!(
            "--- nginx stderr ---\n{}\n--- nginx error.log ---\n{}",
            read("logs/stderr.log"),
            read("logs/error.log")
        )
    }

    /// Every log file nginx wrote (access logs and the error log), concatenated.
    pub(crate) fn all_logs(&self) -> String {
        let Ok(dir) = std::fs::read_dir(self.dir.path().join("logs")) else {
            return String::new();
        };
        dir.filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }

    /// Waits until nginx accepts connections on its port (or fails if it exited).
    pub(crate) async fn wait_ready(&mut self) -> Result<()> {
        let addr = self.addr;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                bail!("nginx exited at start-up ({status}):\n{}", self.logs());
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "nginx did not listen on {addr} within 15 s:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on the pid of a child we have not reaped. SIGTERM: the master
            // stops its workers too (SIGKILL would orphan them, still listening).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The shipped config, pointed at this cluster, this app and this listen address, with one
/// extra location that requires a scope plain users lack.
pub(crate) fn site_config(
    cluster: &Cluster,
    app: SocketAddr,
    listen: SocketAddr,
) -> Result<String> {
    let path = workspace_root().join("deploy/nginx/authd.conf");
    let mut text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut replace_once = |from: &str, to: &str| -> Result<()> {
        let n = text.matches(from).count();
        if n != 1 {
            bail!("deploy/nginx/authd.conf: expected {from:?} once, found it {n} times");
        }
        text = text.replacen(from, to, 1);
        Ok(())
    };
    for (i, id) in cluster.node_ids().into_iter().enumerate() {
        let shipped = format!("server 127.0.0.1:{} ", 8081 + i);
        replace_once(&shipped, &format!("server {} ", cluster.node(id)?.http))?;
    }
    replace_once("server 127.0.0.1:9000;", &format!("server {app};"))?;
    replace_once("listen 127.0.0.1:8000;", &format!("listen {listen};"))?;
    // Clone the /submit/ location as /fulltext/, which requires `fulltext:read`.
    let start = text
        .find("    location /submit/ {")
        .ok_or_else(|| anyhow!("deploy/nginx/authd.conf has no `location /submit/` block"))?;
    let len = text
        .get(start..)
        .and_then(|rest| rest.find("\n    }\n"))
        .ok_or_else(|| anyhow!("unterminated /submit/ block"))?
        + "\n    }\n".len();
    let block = text.get(start..start + len).unwrap_or_default().to_owned();
    if !block.contains("set $authd_required_scopes \"submission:create\";") {
        bail!("the /submit/ block no longer sets $authd_required_scopes: {block}");
    }
    let fulltext = block
        .replace("location /submit/", "location /fulltext/")
        .replace("\"submission:create\"", "\"fulltext:read\"");
    text.insert_str(start, &format!("{fulltext}\n"));
    Ok(text)
}

// ---- the upstream app -----------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) uri: String,
    pub(crate) authorization: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

#[derive(Clone, Default)]
pub(crate) struct AppLog(Arc<Mutex<Vec<Received>>>);

impl AppLog {
    pub(crate) fn all(&self) -> Vec<Received> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn len(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
}

async fn echo(State(log): State<AppLog>, uri: Uri, headers: HeaderMap) -> Json<Value> {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let authorization = headers
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Ok(mut l) = log.0.lock() {
        l.push(Received {
            uri: uri.to_string(),
            authorization: authorization.clone(),
            headers: pairs.clone(),
        });
    }
    Json(json!({ "uri": uri.to_string(), "authorization": authorization, "headers": pairs }))
}

/// Starts the upstream app on a loopback port; it runs until the runtime ends.
pub(crate) async fn start_app() -> Result<(SocketAddr, AppLog)> {
    let log = AppLog::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(echo).with_state(log.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, log))
}

// ---- the test -------------------------------------------------------------------------------

fn json_reason(r: &WebResp, status: u16, what: &str) -> Result<String> {
    if r.status != status {
        bail!("{what}: expected HTTP {status}: {}", r.describe());
    }
    if !r
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        bail!("{what}: not JSON ({:?}): {}", r.content_type, r.describe());
    }
    r.reason().with_context(|| what.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_the_cluster_with_the_shipped_config() -> Result<()> {
    let Some(bin) = nginx_or_skip()? else {
        return Ok(());
    };
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let secret = jwt_secret(&cluster)?;
    let (app_addr, app) = start_app().await?;
    let listen = authd_tests::config::loopback(*free_ports(1)?.first().context("no port")?);
    let site = site_config(&cluster, app_addr, listen)?;
    let mut nginx = Nginx::start(&bin, &site, listen)?;
    nginx.wait_ready().await?;
    let client = web_client()?;
    let edge = Web::new(listen, client.clone());
    let nodes = webs(&cluster, &client)?;
    let result = run_checks(&mut cluster, &secret, &edge, &nodes, &app).await;
    if result.is_err() {
        eprintln!("{}", nginx.logs());
    }
    result
}

async fn run_checks(
    cluster: &mut Cluster,
    secret: &[u8],
    edge: &Web,
    nodes: &[(u64, Web)],
    app: &AppLog,
) -> Result<()> {
    let name = uniq("edge");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, &name, &user["id"]).await?;
    }
    let anon = AuthReq::anonymous();

    // Anonymous: passes through to the app with no Authorization.
    let r = edge.get_with("/hello?x=1", &anon).await?;
    assert_eq!(r.status, 200, "anonymous through nginx: {}", r.describe());
    let seen = app.all();
    let last = seen.last().context("the app saw nothing")?;
    assert_eq!(last.uri, "/hello?x=1");
    assert!(
        last.authorization.is_none(),
        "anonymous request reached the app with {:?}",
        last.authorization
    );

    // Login through nginx (authd's own routes are proxied to the cluster).
    let cookie = edge.login_ok(&name, PASSWORD).await?;
    assert_accepted_everywhere(nodes, &cookie).await?;
    let ch = cookie_header(&cookie);
    let with_cookie = AuthReq {
        cookie_header: Some(&ch),
        ..AuthReq::default()
    };

    // A valid session: the app gets authd's JWT, never the cookie.
    for path in ["/page", "/submit/new"] {
        let before = app.len();
        let r = edge.get_with(path, &with_cookie).await?;
        assert_eq!(
            r.status,
            200,
            "{path} with a valid session: {}",
            r.describe()
        );
        assert_eq!(app.len(), before + 1, "{path}: the app was not called once");
        let got = app.all().last().cloned().context("app log")?;
        let jwt = got
            .authorization
            .clone()
            .context("the app got no Authorization header")?;
        assert_ne!(
            jwt, cookie,
            "{path}: the raw cookie reached the app's Authorization"
        );
        assert!(
            !jwt.contains(&cookie),
            "{path}: the cookie is inside Authorization"
        );
        let claims =
            verify_hs256(&jwt, secret).with_context(|| format!("{path}: the JWT the app got"))?;
        assert_eq!(
            claims["user"]["username"],
            name.as_str(),
            "{path}: {claims}"
        );
        let body: Value = r.json()?;
        assert_eq!(body["authorization"], jwt.as_str(), "the app's echo");
        assert!(
            got.headers
                .iter()
                .any(|(k, v)| k == "x-request-id" && !v.is_empty()),
            "{path}: the shipped config passes X-Request-ID: {:?}",
            got.headers
        );
    }

    // Refusals: the app is never called.
    let before = app.len();
    let r = edge.get_with("/fulltext/paper.pdf", &with_cookie).await?;
    let why = json_reason(&r, 403, "a session lacking fulltext:read")?;
    assert!(why.contains("scope"), "403 reason: {why}");
    // The client cannot drop the requirement by sending its own X-Required-Scopes.
    let spoof = AuthReq {
        cookie_header: Some(&ch),
        scopes: Some(""),
        ..AuthReq::default()
    };
    json_reason(
        &edge.get_with("/fulltext/paper.pdf", &spoof).await?,
        403,
        "X-Required-Scopes from the client",
    )?;
    json_reason(
        &edge.get_with("/submit/new", &anon).await?,
        401,
        "anonymous on /submit/",
    )?;
    for bad in ["Basic dXNlcjpwYXNz", "abc", "Bearer "] {
        let req = AuthReq {
            authorization: Some(bad),
            ..AuthReq::default()
        };
        json_reason(
            &edge.get_with("/page", &req).await?,
            400,
            &format!("Authorization {bad:?}"),
        )?;
    }
    let unknown = format!("Bearer {}", random_id());
    let req = AuthReq {
        authorization: Some(&unknown),
        cookie_header: Some(&ch),
        ..AuthReq::default()
    };
    json_reason(
        &edge.get_with("/page", &req).await?,
        401,
        "unknown bearer beside a valid cookie",
    )?;
    // An upstream JWT is not a credential, with or without a scheme.
    let jwt = app
        .all()
        .last()
        .and_then(|r| r.authorization.clone())
        .context("a JWT")?;
    let as_bearer = format!("Bearer {jwt}");
    json_reason(
        &edge
            .get_with(
                "/page",
                &AuthReq {
                    authorization: Some(&as_bearer),
                    ..AuthReq::default()
                },
            )
            .await?,
        401,
        "an upstream JWT as a bearer token",
    )?;
    json_reason(
        &edge
            .get_with(
                "/page",
                &AuthReq {
                    authorization: Some(&jwt),
                    ..AuthReq::default()
                },
            )
            .await?,
        400,
        "an upstream JWT as a bare Authorization header",
    )?;
    // A forged cookie: 401 JSON, and the Set-Cookie that clears it is passed on.
    let forged = sign_hs256(
        &claims_unchecked_exp(&cookie, secret)?,
        b"a-forger's-key-0123456789abcdef",
    )?;
    let fh = cookie_header(&forged);
    let r = edge
        .get_with(
            "/page",
            &AuthReq {
                cookie_header: Some(&fh),
                ..AuthReq::default()
            },
        )
        .await?;
    json_reason(&r, 401, "a forged cookie")?;
    assert!(
        r.clears_cookie(),
        "nginx must pass on the clearing Set-Cookie: {}",
        r.describe()
    );
    assert_eq!(app.len(), before, "a refused request reached the app");

    // The sub-request location is internal.
    let r = edge.get_with("/_authd", &with_cookie).await?;
    assert_eq!(
        r.status,
        404,
        "/_authd must not be reachable from outside: {}",
        r.describe()
    );
    assert!(r.authorization.is_none());

    // Revoked: logout through nginx, then the old cookie is a 401 that clears it.
    let second = edge.login_ok(&name, PASSWORD).await?;
    let out = edge.logout(&cookie).await?;
    assert_eq!(out.status, 303, "logout through nginx: {}", out.describe());
    assert!(
        out.clears_cookie(),
        "logout through nginx clears the cookie: {}",
        out.describe()
    );
    let before = app.len();
    for path in ["/page", "/submit/new", "/fulltext/paper.pdf"] {
        let r = edge.get_with(path, &with_cookie).await?;
        json_reason(&r, 401, &format!("{path} with a revoked session"))?;
        assert!(
            r.clears_cookie(),
            "{path}: the 401 for a revoked cookie must clear it: {}",
            r.describe()
        );
        assert!(r.authorization.is_none());
    }
    assert_eq!(app.len(), before, "a revoked session reached the app");

    // Every node down: 503 JSON, never a bare 500, never the app.
    assert_accepted_everywhere(nodes, &second).await?;
    let sh = cookie_header(&second);
    let r = edge
        .get_with(
            "/page",
            &AuthReq {
                cookie_header: Some(&sh),
                ..AuthReq::default()
            },
        )
        .await?;
    assert_eq!(
        r.status,
        200,
        "a second session before the outage: {}",
        r.describe()
    );
    cluster.kill_all()?;
    let before = app.len();
    for (what, req) in [
        (
            "a valid session",
            AuthReq {
                cookie_header: Some(&sh),
                ..AuthReq::default()
            },
        ),
        ("anonymous", AuthReq::anonymous()),
    ] {
        // At once: the nodes are dead and reaped, and a bare 500 in between would be a bug.
        let r = edge.get_with("/page", &req).await?;
        json_reason(&r, 503, &format!("{what} with every authd node down"))?;
        assert!(r.authorization.is_none());
    }
    assert_eq!(
        app.len(),
        before,
        "with authd down, a request reached the app"
    );

    // Nothing the app ever received carried a client credential in Authorization.
    for rec in app.all() {
        if let Some(a) = &rec.authorization {
            for secret_value in [&cookie, &second, &forged] {
                assert!(
                    !a.contains(secret_value.as_str()),
                    "{} got a raw cookie in Authorization",
                    rec.uri
                );
            }
            assert!(
                !a.starts_with("Bearer") && !a.starts_with("Basic"),
                "{}: {a}",
                rec.uri
            );
            verify_hs256(a, secret).or_else(|e| {
                // Old JWTs may have expired by now; the signature must still be authd's.
                claims_unchecked_exp(a, secret).map_err(|_| e)
            })?;
        }
    }
    Ok(())
}
