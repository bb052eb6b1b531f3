//! Legacy (tapir) databases for the tests: a fresh SQLite file, a fresh database on the MariaDB
//! server `.ci/run` starts (`AUTHD_TEST_MARIADB_URL`), or a private `mariadbd` a test may stop.
//!
//! Without `AUTHD_TEST_MARIADB_URL` (or the MariaDB binaries) the MariaDB tests are skipped
//! loudly; with `AUTHD_TEST_REQUIRE_MARIADB=1` (CI) that is a failure instead.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use authd_legacy::{Flag, LegacyDb, NewAccount, TapirStore, password};

use crate::config::{free_ports, random_hex};
use crate::wait::wait_until;

/// Whether a missing MariaDB must fail the test rather than skip it.
fn mariadb_required() -> bool {
    std::env::var("AUTHD_TEST_REQUIRE_MARIADB").is_ok_and(|v| v == "1")
}

fn skip_or_fail(what: &str) -> Result<()> {
    if mariadb_required() {
        bail!("{what}, and AUTHD_TEST_REQUIRE_MARIADB=1: the MariaDB tests must run (.ci/run)");
    }
    eprintln!("\n######## SKIPPED (MariaDB half): {what} ########\n");
    Ok(())
}

/// A fresh tapir database with the tables created.
pub struct TapirDb {
    /// The URL authd is given.
    pub url: String,
    /// The test's own connection to it (seeding rows, checking what authd wrote).
    pub db: LegacyDb,
    _dir: Option<tempfile::TempDir>,
}

impl TapirDb {
    /// A new SQLite file in a temp dir.
    pub async fn sqlite() -> Result<TapirDb> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("tapir.db").display());
        let db = LegacyDb::connect_lazy(&url)?;
        db.init_schema().await?;
        Ok(TapirDb {
            url,
            db,
            _dir: Some(dir),
        })
    }

    /// A new database on the CI MariaDB server; `None` (skip) when there is none.
    pub async fn mariadb() -> Result<Option<TapirDb>> {
        let Ok(server) = std::env::var("AUTHD_TEST_MARIADB_URL") else {
            skip_or_fail("AUTHD_TEST_MARIADB_URL is not set")?;
            return Ok(None);
        };
        Ok(Some(TapirDb::on_server(&server).await?))
    }

    /// A new database on the MariaDB server at `server` (`mysql://user@host:port`).
    pub async fn on_server(server: &str) -> Result<TapirDb> {
        let name = format!("authd_it_{}", random_hex(8)?);
        let url = authd_legacy::dev::create_mysql_database(server, &name).await?;
        let db = LegacyDb::connect_lazy(&url)?;
        db.init_schema().await?;
        Ok(TapirDb {
            url,
            db,
            _dir: None,
        })
    }

    /// A new connection to an existing database (after its server restarted).
    pub fn reopen(url: &str) -> Result<TapirDb> {
        Ok(TapirDb {
            url: url.to_owned(),
            db: LegacyDb::connect_lazy(url)?,
            _dir: None,
        })
    }

    /// Register a legacy user (policy class 2) with `password`; its tapir user id.
    pub async fn add_user(&self, nick: &str, password: &str, verified: bool) -> Result<u64> {
        let enc = password::hash(password).ok_or_else(|| anyhow!("password not ASCII"))?;
        let id = self
            .db
            .register(&NewAccount {
                nickname: nick.into(),
                email: format!("{nick}@example.org"),
                first_name: "Test".into(),
                last_name: nick.into(),
                password_enc: enc,
                policy_class: 2,
                verified,
                ip: "127.0.0.1".into(),
                joined: 1_700_000_000,
            })
            .await?;
        Ok(id)
    }

    /// Run a statement the test wrote (seeding tables the adapter only reads).
    pub async fn exec(&self, sql: String) -> Result<()> {
        let q = sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match &self.db {
            LegacyDb::MySql(p) => q.execute(p).await.map(|_| ())?,
            LegacyDb::Sqlite(p) => q.execute(p).await.map(|_| ())?,
        }
        Ok(())
    }

    /// Set an account flag, as the legacy site's admins would.
    pub async fn set_flag(&self, user_id: u64, flag: Flag, value: bool) -> Result<()> {
        Ok(self.db.set_flag(user_id, flag, value).await?)
    }
}

fn find(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists())
}

/// A MariaDB server of the test's own (temp data dir, free loopback port), so a test can stop
/// and restart it without disturbing the others. Killed on drop.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    mariadbd: PathBuf,
}

impl PrivateMariaDb {
    /// Install a data dir and start the server; `None` (skip) when MariaDB is not installed.
    pub async fn start() -> Result<Option<PrivateMariaDb>> {
        let (Some(install), Some(mariadbd)) = (find("mariadb-install-db"), find("mariadbd")) else {
            skip_or_fail("mariadb-install-db / mariadbd not found")?;
            return Ok(None);
        };
        let dir = tempfile::tempdir()?;
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let out = Command::new(install)
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg(format!("--user={user}"))
            .stdout(Stdio::null())
            .output()
            .context("running mariadb-install-db")?;
        if !out.status.success() {
            bail!(
                "mariadb-install-db: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = *free_ports(1)?
            .first()
            .ok_or_else(|| anyhow!("no free port"))?;
        let mut m = PrivateMariaDb {
            dir,
            port,
            child: None,
            mariadbd,
        };
        m.resume().await?;
        Ok(Some(m))
    }

    /// `mysql://root@127.0.0.1:PORT`.
    pub fn server_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same data and port, and wait until it answers.
    pub async fn resume(&mut self) -> Result<()> {
        let d = self.dir.path();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let child = Command::new(&self.mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--user={user}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg("--skip-name-resolve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mariadbd")?;
        self.child = Some(child);
        let url = self.server_url();
        wait_until("private mariadbd answers", Duration::from_secs(60), || {
            let url = url.clone();
            async move {
                let db = LegacyDb::connect_lazy(&url)?;
                let r = db.ping().await;
                db.close().await;
                Ok(r?)
            }
        })
        .await
    }

    /// Stop the server (SIGKILL: as abrupt as an outage gets) and wait for it to exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().context("killing mariadbd")?;
            c.wait().context("waiting for mariadbd")?;
        }
        Ok(())
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
