#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;

use authd_auth::{Client, Session, Token, TokenKind};

use super::*;

pub(super) fn new_user(name: &str) -> Command {
    Command::CreateUser(NewUser {
        id: None,
        username: name.into(),
        email: format!("{name}@example.org"),
        name: None,
        profile: None,
        verified: true,
        roles: BTreeSet::from(["user".to_owned()]),
        password_hash: "$argon2id$stub".into(),
        created_ms: 1,
    })
}

fn session(id: &str, user_id: u64, expires_ms: u64) -> Command {
    Command::CreateSession(Session {
        id: id.into(),
        user_id,
        nonce: "n".into(),
        created_ms: 0,
        expires_ms,
        ip: None,
        user_agent: None,
        tapir_session_id: None,
    })
}

fn token(digest: &str, user_id: Option<u64>, client_id: Option<&str>, expires_ms: u64) -> Command {
    Command::IssueToken(Token {
        digest: digest.into(),
        kind: TokenKind::Access,
        user_id,
        client_id: client_id.map(Into::into),
        scopes: BTreeSet::new(),
        created_ms: 0,
        expires_ms,
        family: None,
    })
}

pub(super) fn client(id: &str, owner_id: u64) -> Command {
    Command::CreateClient(Client {
        id: id.into(),
        name: "c".into(),
        url: String::new(),
        description: String::new(),
        owner_id,
        redirect_uris: vec![],
        grant_types: BTreeSet::new(),
        scopes: BTreeSet::new(),
        secret_digest: None,
        created_ms: 0,
    })
}

fn state_with_alice() -> State {
    let mut s = State::default();
    assert_eq!(s.apply(&new_user("alice")), Ok(Applied::UserId(1)));
    s
}

#[test]
fn create_user_assigns_ids_and_refuses_duplicates_case_insensitively() {
    let mut s = state_with_alice();
    assert_eq!(s.apply(&new_user("bob")), Ok(Applied::UserId(2)));
    assert_eq!(s.apply(&new_user("ALICE")), Err(Rejected::UsernameTaken));
    let mut dup_mail = new_user("carol");
    if let Command::CreateUser(nu) = &mut dup_mail {
        nu.email = "Alice@Example.org".into();
    }
    assert_eq!(s.apply(&dup_mail), Err(Rejected::EmailTaken));
    assert_eq!(s.user_by_login("alice@example.org").map(|u| u.id), Some(1));
    assert_eq!(s.user_by_login("Alice").map(|u| u.id), Some(1));
    assert_eq!(s.user_count(), 2);
}

#[test]
fn fixed_ids_are_honoured_and_never_reused() {
    let mut s = State::default();
    let mut c = new_user("legacy");
    if let Command::CreateUser(nu) = &mut c {
        nu.id = Some(500);
    }
    assert_eq!(s.apply(&c), Ok(Applied::UserId(500)));
    assert_eq!(s.apply(&new_user("next")), Ok(Applied::UserId(501)));
    let mut again = new_user("other");
    if let Command::CreateUser(nu) = &mut again {
        nu.id = Some(500);
    }
    assert_eq!(s.apply(&again), Err(Rejected::UserIdTaken));
}

#[test]
fn unknown_role_is_refused_and_changes_nothing() {
    let mut s = State::default();
    let mut c = new_user("x");
    if let Command::CreateUser(nu) = &mut c {
        nu.roles.insert("nope".into());
    }
    let before = s.clone();
    assert!(matches!(s.apply(&c), Err(Rejected::Invalid(_))));
    assert_eq!(s, before);
}

#[test]
fn user_edits() {
    let mut s = state_with_alice();
    let set_pw = Command::SetPassword {
        user_id: 1,
        password_hash: "h2".into(),
    };
    assert_eq!(s.apply(&set_pw), Ok(Applied::Done));
    assert_eq!(s.user(1).unwrap().password_hash, "h2");
    assert_eq!(
        s.apply(&Command::SetVerified {
            user_id: 1,
            verified: false
        }),
        Ok(Applied::Done)
    );
    assert!(!s.user(1).unwrap().verified);
    let profile = Some(authd_auth::Profile {
        affiliation: "Cornell".into(),
        ..Default::default()
    });
    let upd = Command::UpdateProfile {
        user_id: 1,
        name: None,
        profile: profile.clone(),
    };
    assert_eq!(s.apply(&upd), Ok(Applied::Done));
    assert_eq!(s.user(1).unwrap().profile, profile);
    assert_eq!(
        s.apply(&Command::SetVerified {
            user_id: 9,
            verified: true
        }),
        Err(Rejected::UnknownUser)
    );
}

#[test]
fn roles_and_scopes_resolve_at_check_time() {
    let mut s = state_with_alice();
    let alice = s.user(1).unwrap().clone();
    assert!(s.effective_scopes(&alice).contains("submission:create"));
    assert!(!s.effective_scopes(&alice).contains("submission:read:*"));
    assert_eq!(
        s.apply(&Command::GrantRole {
            user_id: 1,
            role: "admin".into()
        }),
        Ok(Applied::Done)
    );
    assert_eq!(
        s.apply(&Command::GrantRole {
            user_id: 1,
            role: "ghost".into()
        }),
        Err(Rejected::UnknownRole)
    );
    let alice = s.user(1).unwrap().clone();
    assert!(s.effective_scopes(&alice).contains("submission:read:*"));
    assert_eq!(
        s.apply(&Command::RevokeRole {
            user_id: 1,
            role: "admin".into()
        }),
        Ok(Applied::Done)
    );
    assert_eq!(
        s.apply(&Command::GrantScope {
            user_id: 1,
            scope: "fulltext:read".into()
        }),
        Ok(Applied::Done)
    );
    assert!(matches!(
        s.apply(&Command::GrantScope {
            user_id: 1,
            scope: "bad".into()
        }),
        Err(Rejected::Invalid(_))
    ));
    let alice = s.user(1).unwrap().clone();
    assert!(s.effective_scopes(&alice).contains("fulltext:read"));
    assert!(!s.effective_scopes(&alice).contains("submission:read:*"));
    assert_eq!(
        s.apply(&Command::RevokeScope {
            user_id: 1,
            scope: "fulltext:read".into()
        }),
        Ok(Applied::Done)
    );
    // Redefining a role changes every holder at once.
    let def = Command::DefineRole {
        role: "user".into(),
        scopes: BTreeSet::from(["public:read".to_owned()]),
    };
    assert_eq!(s.apply(&def), Ok(Applied::Done));
    let alice = s.user(1).unwrap().clone();
    assert_eq!(
        s.effective_scopes(&alice),
        BTreeSet::from(["public:read".to_owned()])
    );
}

#[test]
fn sessions_create_end_and_end_all_of_user() {
    let mut s = state_with_alice();
    s.apply(&new_user("bob")).unwrap();
    for (id, uid) in [("a1", 1), ("a2", 1), ("a3", 1), ("b1", 2)] {
        assert_eq!(s.apply(&session(id, uid, 1_000)), Ok(Applied::Done));
    }
    assert_eq!(s.apply(&session("a1", 1, 1_000)), Err(Rejected::Duplicate));
    assert_eq!(
        s.apply(&session("z", 42, 1_000)),
        Err(Rejected::UnknownUser)
    );
    assert_eq!(s.sessions_of(1).len(), 3);
    assert_eq!(
        s.apply(&Command::EndSession {
            session_id: "a1".into()
        }),
        Ok(Applied::Ended(1))
    );
    assert_eq!(
        s.apply(&Command::EndSession {
            session_id: "a1".into()
        }),
        Ok(Applied::Ended(0))
    );
    assert_eq!(
        s.apply(&Command::EndUserSessions { user_id: 1 }),
        Ok(Applied::Ended(2))
    );
    assert!(s.sessions_of(1).is_empty());
    assert!(s.session("a2").is_none());
    assert!(
        s.live_session("b1", 0).is_some(),
        "other users are untouched"
    );
}

#[test]
fn expiry_is_decided_by_the_entry_not_the_clock() {
    let mut s = state_with_alice();
    s.apply(&session("old", 1, 100)).unwrap();
    s.apply(&session("new", 1, 300)).unwrap();
    s.apply(&token("t-old", Some(1), None, 100)).unwrap();
    assert!(s.live_session("old", 99).is_some());
    assert!(
        s.live_session("old", 100).is_none(),
        "dead at its end instant"
    );
    assert_eq!(
        s.apply(&Command::Expire { now_ms: 100 }),
        Ok(Applied::Ended(2))
    );
    assert!(s.session("old").is_none());
    assert!(s.session("new").is_some());
    assert!(s.sessions_of(1).iter().all(|x| x.id == "new"));
}

#[test]
fn suspension_ends_sessions_and_tokens_and_blocks_new_ones() {
    let mut s = state_with_alice();
    s.apply(&session("a1", 1, 1_000)).unwrap();
    s.apply(&token("t1", Some(1), None, 1_000)).unwrap();
    assert_eq!(
        s.apply(&Command::SetSuspended {
            user_id: 1,
            suspended: true
        }),
        Ok(Applied::Ended(2))
    );
    assert!(s.session("a1").is_none());
    assert!(s.live_token("t1", 0).is_none());
    assert_eq!(s.apply(&session("a2", 1, 1_000)), Err(Rejected::Suspended));
    assert_eq!(
        s.apply(&token("t2", Some(1), None, 1_000)),
        Err(Rejected::Suspended)
    );
    assert_eq!(
        s.apply(&Command::SetSuspended {
            user_id: 1,
            suspended: false
        }),
        Ok(Applied::Done)
    );
    assert_eq!(s.apply(&session("a2", 1, 1_000)), Ok(Applied::Done));
}

#[test]
fn clients_and_tokens() {
    let mut s = state_with_alice();
    assert_eq!(s.apply(&client("c1", 1)), Ok(Applied::Done));
    assert_eq!(s.apply(&client("c1", 1)), Err(Rejected::Duplicate));
    assert_eq!(s.apply(&client("c2", 99)), Err(Rejected::UnknownUser));
    assert_eq!(
        s.apply(&token("t1", None, Some("c1"), 1_000)),
        Ok(Applied::Done)
    );
    assert_eq!(
        s.apply(&token("t2", Some(1), Some("c1"), 1_000)),
        Ok(Applied::Done)
    );
    assert_eq!(
        s.apply(&token("t3", Some(1), Some("nope"), 1_000)),
        Err(Rejected::UnknownClient)
    );
    assert!(
        s.live_token("t3", 0).is_none(),
        "a refused token leaves no trace"
    );
    assert_eq!(
        s.apply(&token("t1", None, None, 1_000)),
        Err(Rejected::Duplicate)
    );
    assert!(s.live_token("t1", 999).is_some());
    assert!(s.live_token("t1", 1_000).is_none());
    assert_eq!(
        s.apply(&Command::RevokeToken {
            digest: "t2".into()
        }),
        Ok(Applied::Ended(1))
    );
    assert_eq!(
        s.apply(&token("t4", Some(1), Some("c1"), 1_000)),
        Ok(Applied::Done)
    );
    assert_eq!(
        s.apply(&Command::RevokeClient {
            client_id: "c1".into()
        }),
        Ok(Applied::Ended(2))
    );
    assert!(s.client("c1").is_none());
    assert!(s.live_token("t4", 0).is_none());
    assert_eq!(
        s.apply(&Command::RevokeClient {
            client_id: "c1".into()
        }),
        Err(Rejected::UnknownClient)
    );
}

#[test]
fn snapshot_clone_is_isolated_from_later_applies() {
    let mut s = state_with_alice();
    let view = s.clone();
    s.apply(&session("a1", 1, 1_000)).unwrap();
    assert!(view.session("a1").is_none());
    assert!(s.session("a1").is_some());
}

#[test]
fn once_applies_its_command_a_single_time() {
    let mut s = State::default();
    s.apply(&new_user("alice")).unwrap();
    let verify = Command::Once {
        key: "verify:n1".into(),
        forget_after_ms: 10,
        then: Box::new(Command::SetVerified {
            user_id: 1,
            verified: true,
        }),
    };
    assert_eq!(s.apply(&verify), Ok(Applied::Done));
    assert_eq!(s.apply(&verify), Err(Rejected::AlreadyUsed));
    let missing = Command::Once {
        key: "verify:n2".into(),
        forget_after_ms: 10,
        then: Box::new(Command::SetVerified {
            user_id: 9,
            verified: true,
        }),
    };
    assert_eq!(s.apply(&missing), Err(Rejected::UnknownUser));
    assert!(
        !s.guards().is_used("verify:n2"),
        "a rejected inner command does not use the key up"
    );
}

#[test]
fn change_password_ends_every_other_session() {
    let mut s = State::default();
    s.apply(&new_user("alice")).unwrap();
    for id in ["a", "b", "c"] {
        s.apply(&session(id, 1, 100)).unwrap();
    }
    let r = s.apply(&Command::ChangePassword {
        user_id: 1,
        password_hash: "$argon2id$new".into(),
        keep_session: Some("b".into()),
    });
    assert_eq!(r, Ok(Applied::Ended(2)));
    assert_eq!(s.user(1).unwrap().password_hash, "$argon2id$new");
    let left: Vec<&str> = s.sessions_of(1).iter().map(|x| x.id.as_str()).collect();
    assert_eq!(left, ["b"]);
}

#[test]
fn login_failures_lock_through_commands() {
    let mut s = State::default();
    let rec = |n| Command::RecordLoginFailures {
        now_ms: 1_000,
        window_ms: 60_000,
        lock_ms: 60_000,
        counts: vec![crate::guard::FailureCount {
            key: "user:1".into(),
            count: n,
            limit: 10,
        }],
    };
    assert_eq!(s.apply(&rec(4)), Ok(Applied::Locked(0)));
    assert_eq!(s.apply(&rec(6)), Ok(Applied::Locked(1)));
    let f = s.guards().failures("user:1").unwrap();
    assert_eq!(f.locked_until(1_000), Some(61_000));
}

fn capped(id: &str, user_id: u64, created_ms: u64, max_per_user: u32) -> Command {
    Command::CreateCappedSession {
        session: Session {
            id: id.into(),
            user_id,
            nonce: "n".into(),
            created_ms,
            expires_ms: 1_000_000,
            ip: None,
            user_agent: None,
            tapir_session_id: None,
        },
        max_per_user,
    }
}

#[test]
fn the_session_cap_ends_the_oldest_and_leaves_a_notice() {
    let mut st = State::default();
    st.apply(&new_user("capper")).unwrap();
    // Started out of id order: the cap goes by start time, not by id.
    for (id, t) in [("s-b", 10), ("s-a", 20), ("s-c", 30)] {
        assert_eq!(st.apply(&capped(id, 1, t, 3)), Ok(Applied::Ended(0)));
    }
    assert!(!st.sessions_capped(1));
    assert_eq!(st.apply(&capped("s-d", 1, 40, 3)), Ok(Applied::Ended(1)));
    assert!(st.session("s-b").is_none(), "the oldest went");
    for id in ["s-a", "s-c", "s-d"] {
        assert!(st.session(id).is_some(), "{id} stays");
    }
    assert!(st.sessions_capped(1));
    // A lower cap (config changed) ends as many as needed, never the new session.
    assert_eq!(st.apply(&capped("s-e", 1, 5, 1)), Ok(Applied::Ended(3)));
    assert_eq!(st.sessions_of(1).len(), 1);
    assert!(st.session("s-e").is_some());
    // Acknowledged like a revocation only when it ended something.
    let batch = crate::Batch(vec![capped("s-f", 1, 50, 9)]);
    let ack = batch.acknowledge();
    let ended = crate::BatchReply(vec![Ok(Applied::Ended(1))]);
    let none = crate::BatchReply(vec![Ok(Applied::Ended(0))]);
    assert_eq!(ack.after(&ended), crate::Visibility::Revoked);
    assert_eq!(ack.after(&none), crate::Visibility::Committed);
}
