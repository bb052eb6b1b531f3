#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use authd_auth::Session;

use super::*;
use crate::Visibility;

fn state_with_user() -> State {
    let mut st = State::default();
    let r = st.apply(&Command::CreateUser(NewUser {
        id: Some(42),
        username: "legacy".into(),
        email: "legacy@example.org".into(),
        name: None,
        profile: None,
        verified: true,
        roles: BTreeSet::new(),
        password_hash: "!".into(),
        created_ms: 1,
    }));
    assert_eq!(r, Ok(Applied::UserId(42)));
    st
}

fn linked(id: &str, tapir: u64, expires_ms: u64) -> Command {
    Command::CreateSession(Session {
        id: id.into(),
        user_id: 42,
        nonce: "n".into(),
        created_ms: 0,
        expires_ms,
        ip: None,
        user_agent: None,
        tapir_session_id: Some(tapir),
    })
}

#[test]
fn a_tapir_session_links_once() {
    let mut st = state_with_user();
    assert_eq!(st.apply(&linked("a", 7, 100)), Ok(Applied::Done));
    assert_eq!(st.apply(&linked("b", 7, 100)), Err(Rejected::Duplicate));
    assert!(st.session("b").is_none());
    assert_eq!(
        st.live_tapir_session(7, 50).map(|(s, _)| s.id.as_str()),
        Some("a")
    );
    assert!(st.live_tapir_session(7, 100).is_none(), "expired");
    assert!(st.live_tapir_session(8, 50).is_none());
}

#[test]
fn authd_logout_queues_the_legacy_end_and_refuses_relinking() {
    let mut st = state_with_user();
    st.apply(&linked("a", 7, 100)).unwrap();
    assert_eq!(
        st.apply(&Command::EndSession {
            session_id: "a".into()
        }),
        Ok(Applied::Ended(1))
    );
    assert!(st.tapir().session_of(7).is_none());
    assert!(st.tapir().is_ended(7));
    assert_eq!(st.tapir().outbox(), vec![7]);
    assert_eq!(st.apply(&linked("c", 7, 100)), Err(Rejected::Duplicate));
    let w = Command::TapirEndsWritten {
        tapir_ids: vec![7, 9],
    };
    assert_eq!(st.apply(&w), Ok(Applied::Ended(1)));
    assert_eq!(st.apply(&w), Ok(Applied::Ended(0)), "idempotent");
    assert!(st.tapir().outbox().is_empty());
    st.apply(&Command::Expire { now_ms: 100 }).unwrap();
    assert!(
        !st.tapir().is_ended(7),
        "tombstone forgotten once the session would have expired"
    );
}

#[test]
fn legacy_logout_ends_the_linked_session_without_writing_back() {
    let mut st = state_with_user();
    st.apply(&linked("a", 7, 100)).unwrap();
    st.apply(&linked("b", 8, 100)).unwrap();
    let cmd = Command::EndTapirSessions {
        tapir_ids: vec![7, 99],
        by_legacy: true,
    };
    assert_eq!(cmd.visibility(), Visibility::Revoked);
    assert!(cmd.idempotent());
    assert_eq!(st.apply(&cmd), Ok(Applied::Ended(1)));
    assert_eq!(st.apply(&cmd), Ok(Applied::Ended(0)));
    assert!(st.session("a").is_none() && st.session("b").is_some());
    assert!(st.tapir().is_ended(7));
    assert!(st.tapir().outbox().is_empty());
    assert_eq!(st.tapir().linked().collect::<Vec<_>>(), vec![8]);
}

#[test]
fn suspension_and_expiry() {
    let mut st = state_with_user();
    st.apply(&linked("a", 7, 100)).unwrap();
    st.apply(&linked("b", 8, 50)).unwrap();
    st.apply(&Command::Expire { now_ms: 60 }).unwrap();
    assert!(!st.tapir().is_ended(8) && st.tapir().session_of(8).is_none());
    st.apply(&Command::SetSuspended {
        user_id: 42,
        suspended: true,
    })
    .unwrap();
    assert_eq!(st.tapir().outbox(), vec![7]);
}

#[test]
fn logout_with_the_legacy_cookie_queues_linked_and_unlinked_rows() {
    let mut st = state_with_user();
    st.apply(&linked("a", 7, 100)).unwrap();
    let cmd = Command::EndTapirSessions {
        tapir_ids: vec![7, 99],
        by_legacy: false,
    };
    assert_eq!(st.apply(&cmd), Ok(Applied::Ended(1)));
    assert!(st.session("a").is_none());
    assert_eq!(st.tapir().outbox(), vec![7, 99]);
    assert!(st.tapir().is_ended(7));
}

#[test]
fn legacy_grants_replace_and_narrow() {
    let mut st = state_with_user();
    let grants = authd_auth::LegacyGrants {
        classic: 6,
        endorsements: vec!["math.*".into()],
    };
    let cmd = Command::SetLegacyGrants {
        user_id: 42,
        grants: grants.clone(),
    };
    assert_eq!(cmd.visibility(), Visibility::Revoked, "grants can shrink");
    assert_eq!(st.apply(&cmd), Ok(Applied::Done));
    assert_eq!(st.user(42).and_then(|u| u.legacy.clone()), Some(grants));
    let unknown = Command::SetLegacyGrants {
        user_id: 7,
        grants: authd_auth::LegacyGrants::default(),
    };
    assert_eq!(st.apply(&unknown), Err(Rejected::UnknownUser));
}
