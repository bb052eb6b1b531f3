//! The adapter against real databases: SQLite always, MariaDB when `AUTHD_TEST_MARIADB_URL`
//! names a server (required when `AUTHD_TEST_REQUIRE_MARIADB=1`).

use std::collections::BTreeSet;

use authd_legacy::{
    Flag, LegacyDb, LegacyError, LoginError, NewAccount, Refusal, TapirStore, authenticate,
    open_session, password,
};

type R = Result<(), Box<dyn std::error::Error>>;

async fn sqlite() -> Result<(LegacyDb, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("tapir.db").display());
    let db = LegacyDb::connect_lazy(&url)?;
    db.init_schema().await?;
    Ok((db, dir))
}

async fn mariadb() -> Result<Option<LegacyDb>, Box<dyn std::error::Error>> {
    let Ok(server) = std::env::var("AUTHD_TEST_MARIADB_URL") else {
        if std::env::var("AUTHD_TEST_REQUIRE_MARIADB").as_deref() == Ok("1") {
            return Err(
                "AUTHD_TEST_REQUIRE_MARIADB=1 but AUTHD_TEST_MARIADB_URL is not set".into(),
            );
        }
        eprintln!("skipping MariaDB half: AUTHD_TEST_MARIADB_URL not set");
        return Ok(None);
    };
    let name = authd_legacy::dev::random_name("authd_legacy");
    let url = authd_legacy::dev::create_mysql_database(&server, &name).await?;
    let db = LegacyDb::connect_lazy(&url)?;
    db.init_schema().await?;
    Ok(Some(db))
}

fn account(nick: &str, verified: bool) -> NewAccount {
    NewAccount {
        nickname: nick.into(),
        email: format!("{nick}@example.org"),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        password_enc: password::hash("thepassword").unwrap_or_default(),
        policy_class: 2,
        verified,
        ip: "10.0.0.1".into(),
        joined: 1_700_000_000,
    }
}

fn refused(r: Result<authd_legacy::AccountRow, LoginError>) -> Option<Refusal> {
    match r {
        Err(LoginError::Refused(why)) => Some(why),
        _ => None,
    }
}

async fn login_matrix(db: &LegacyDb) -> R {
    let ok = db.register(&account("alice", true)).await?;
    let a = authenticate(db, "alice", "thepassword").await?;
    assert_eq!(
        (a.id(), a.nickname.as_str(), a.classic()),
        (Some(ok), "alice", 4)
    );
    assert_eq!(a.roles(), vec!["user".to_owned()]);
    let by_mail = authenticate(db, "ALICE@example.org", "thepassword").await?;
    assert_eq!(by_mail.id(), Some(ok));
    assert_eq!(
        refused(authenticate(db, "alice", "wrong").await),
        Some(Refusal::WrongPassword)
    );
    assert_eq!(
        refused(authenticate(db, "nobody", "thepassword").await),
        Some(Refusal::Unknown)
    );
    assert_eq!(
        refused(authenticate(db, "alïce", "thepassword").await),
        Some(Refusal::BadInput)
    );
    assert_eq!(
        refused(authenticate(db, "alice", "thépassword").await),
        Some(Refusal::BadInput)
    );
    let long = "a".repeat(256);
    assert_eq!(
        refused(authenticate(db, &long, "thepassword").await),
        Some(Refusal::BadInput)
    );
    assert_eq!(
        refused(authenticate(db, "alice", &long).await),
        Some(Refusal::BadInput)
    );

    let cases = [
        ("bob", Flag::Banned, true, Refusal::Ineligible),
        ("carol", Flag::Deleted, true, Refusal::Ineligible),
        ("dave", Flag::Approved, false, Refusal::Ineligible),
        ("erin", Flag::NicknameValid, false, Refusal::Unknown),
        ("frank", Flag::Verified, false, Refusal::Unverified),
    ];
    for (nick, flag, value, want) in cases {
        let id = db.register(&account(nick, true)).await?;
        db.set_flag(id, flag, value).await?;
        assert_eq!(
            refused(authenticate(db, nick, "thepassword").await),
            Some(want),
            "{nick}"
        );
        let mail = format!("{nick}@example.org");
        assert_eq!(
            refused(authenticate(db, &mail, "thepassword").await),
            Some(want),
            "{mail}"
        );
    }
    Ok(())
}

async fn sessions(db: &LegacyDb) -> R {
    let uid = db.register(&account("grace", true)).await?;
    let acct = authenticate(db, "grace", "thepassword").await?;
    let long_v6 = "2001-db8-85a3-8d3-1319-8a2e-370-7348";
    let c = open_session(db, &acct, long_v6, 1_800_000_000).await?;
    assert_eq!(c.ip, long_v6);
    assert_eq!(
        (c.user_id, c.issued_at, c.capabilities),
        (uid, 1_800_000_000, 4)
    );
    let row = db.session(c.session_id).await?.ok_or("no session row")?;
    assert_eq!((row.start_time, row.end_time), (1_800_000_000, 0));
    assert!(row.open_at(1_900_000_000));
    // IPv6 does not fit the 16-character audit column: left empty there, kept in the cookie.
    assert_eq!(db.audit_ip(c.session_id).await?.as_deref(), Some(""));
    let v4 = open_session(db, &acct, "192.168.100.200", 1_800_000_001).await?;
    assert_eq!(
        db.audit_ip(v4.session_id).await?.as_deref(),
        Some("192.168.100.200")
    );

    assert!(db.end_session(c.session_id, 1_800_000_100).await?);
    assert!(
        !db.end_session(c.session_id, 1_800_000_200).await?,
        "already ended"
    );
    let row = db.session(c.session_id).await?.ok_or("no session row")?;
    assert_eq!(row.end_time, 1_800_000_099);
    assert!(!row.open_at(1_800_000_100));
    assert_eq!(
        db.ended_between(1_800_000_000, 1_800_000_100).await?,
        vec![c.session_id]
    );
    assert!(
        db.ended_between(1_800_000_100, 1_800_000_200)
            .await?
            .is_empty()
    );

    // 100 concurrent logins: 100 distinct rows.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (db, acct) = (db.clone(), acct.clone());
            tokio::spawn(
                async move { open_session(&db, &acct, "10.1.2.3", 1_800_001_000 + i).await },
            )
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await??.session_id);
    }
    assert_eq!(ids.len(), 100);
    assert_eq!(db.sessions_of(uid).await?.len(), 102);
    Ok(())
}

async fn schema_and_rows(db: &LegacyDb) -> R {
    assert!(matches!(
        db.init_schema().await,
        Err(LegacyError::SchemaExists)
    ));
    let uid = db.register(&account("heidi", true)).await?;
    let enc = password::hash("n3w-pass").ok_or("hash")?;
    db.set_password(uid, &enc).await?;
    assert!(authenticate(db, "heidi", "n3w-pass").await.is_ok());
    assert!(db.account_by_id(uid).await?.is_some());
    assert!(db.account_by_id(999_999).await?.is_none());
    assert!(
        db.session(u64::MAX).await.is_err(),
        "out-of-range id is an error, not a panic"
    );
    assert!(
        db.register(&account("heidi", true)).await.is_err(),
        "duplicate nickname refused"
    );
    db.ping().await?;
    Ok(())
}

async fn exec(db: &LegacyDb, sql: &'static str) -> R {
    match db {
        LegacyDb::MySql(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?,
        LegacyDb::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?,
    }
    Ok(())
}

async fn endorsements(db: &LegacyDb) -> R {
    let uid = db.register(&account("ivan", true)).await?;
    exec(db, "INSERT INTO arXiv_endorsement_domains (endorsement_domain, endorse_all, endorse_email, papers_to_endorse)
              VALUES ('math', 'n', 'n', 2), ('cs', 'n', 'y', 4)").await?;
    exec(db, "INSERT INTO arXiv_categories (archive, subject_class, definitive, active, endorsement_domain)
              VALUES ('math', 'GM', 1, 1, 'math'), ('math', 'AG', 1, 1, 'math'),
                     ('cs', 'AI', 1, 1, 'cs'), ('cs', 'LG', 1, 1, 'cs'), ('cs', 'XX', 1, 0, 'cs')").await?;
    exec(
        db,
        "INSERT INTO arXiv_black_email (pattern) VALUES ('%.biz.%'), ('%example.org')",
    )
    .await?;
    exec(db, "INSERT INTO arXiv_documents (document_id, paper_id, dated) VALUES (1, '2401.00001', 0), (2, '2401.00002', 0)").await?;
    let sql = |s: &str| s.replace("UID", &uid.to_string());
    for s in [
        "INSERT INTO arXiv_paper_owners (document_id, user_id, valid) VALUES (1, UID, 1), (2, UID, 1)",
        // A cross-list counts once per domain.
        "INSERT INTO arXiv_in_category (document_id, archive, subject_class) VALUES (1, 'math', 'GM'), (1, 'math', 'AG'), (2, 'math', 'AG')",
        "INSERT INTO arXiv_endorsements (endorsee_id, archive, subject_class, flag_valid, type, point_value)
         VALUES (UID, 'cs', 'LG', 1, 'user', 10), (UID, 'cs', 'AI', 1, 'user', -10), (UID, 'cs', 'AI', 1, 'admin', 5)",
    ] {
        let s = sql(s);
        match db {
            LegacyDb::MySql(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(s)).execute(p).await.map(|_| ())?,
            LegacyDb::Sqlite(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(s)).execute(p).await.map(|_| ())?,
        }
    }
    let f = db.endorsement_facts(uid, "ivan@example.org").await?;
    assert!(f.blacklisted && !f.whitelisted);
    assert_eq!(f.papers.get("math"), Some(&2));
    assert_eq!(f.explicit.get("cs.AI"), Some(&-5));
    assert_eq!(f.active.get("cs").map(|c| c.len()), Some(2));
    assert_eq!(
        f.endorsements(),
        vec!["cs.LG".to_owned(), "math.*".to_owned()]
    );
    Ok(())
}

async fn all(db: &LegacyDb) -> R {
    endorsements(db).await?;
    login_matrix(db).await?;
    sessions(db).await?;
    schema_and_rows(db).await
}

#[tokio::test]
async fn sqlite_adapter() -> R {
    let (db, _dir) = sqlite().await?;
    all(&db).await
}

#[tokio::test]
async fn mariadb_adapter() -> R {
    match mariadb().await? {
        Some(db) => all(&db).await,
        None => Ok(()),
    }
}

#[tokio::test]
async fn unknown_scheme_and_unreachable_server_are_clear_errors() -> R {
    assert!(matches!(
        LegacyDb::connect_lazy("postgres://x/y"),
        Err(LegacyError::Config(_))
    ));
    let db = LegacyDb::connect_lazy("mysql://root@127.0.0.1:9/none")?;
    assert!(matches!(db.ping().await, Err(LegacyError::Unavailable(_))));
    let r = authenticate(&db, "alice", "thepassword").await;
    assert!(matches!(
        r,
        Err(LoginError::Db(LegacyError::Unavailable(_)))
    ));
    Ok(())
}
