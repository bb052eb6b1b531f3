#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;

use authd_auth::Session;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder};

use super::*;
use crate::command::{Applied, Batch, Command, NewUser};

fn log_id(index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

fn entry(index: u64, cmds: Vec<Command>) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(Batch(cmds)),
    }
}

fn user(name: &str) -> Command {
    Command::CreateUser(NewUser {
        id: None,
        username: name.into(),
        email: format!("{name}@x.org"),
        name: None,
        profile: None,
        verified: true,
        roles: BTreeSet::new(),
        password_hash: String::new(),
        created_ms: 0,
    })
}

fn session(id: &str) -> Command {
    Command::CreateSession(Session {
        id: id.into(),
        user_id: 1,
        nonce: "n".into(),
        created_ms: 0,
        expires_ms: u64::MAX,
        ip: None,
        user_agent: None,
        tapir_session_id: None,
    })
}

#[tokio::test]
async fn apply_publishes_view_and_replies_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path()).unwrap();
    let reader = sm.reader();
    let out = sm
        .apply(vec![entry(1, vec![user("a"), user("a"), session("s1")])])
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0[0], Ok(Applied::UserId(1)));
    assert!(out[0].0[1].is_err());
    assert_eq!(out[0].0[2], Ok(Applied::Done));
    let view = reader.load();
    assert_eq!(view.last_applied, Some(1));
    assert!(view.state.session("s1").is_some());
    assert_eq!(
        reader
            .wait_applied(1, Duration::from_millis(10))
            .await
            .unwrap(),
        1
    );
    assert!(
        reader
            .wait_applied(2, Duration::from_millis(10))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn snapshot_survives_reopen_and_installs_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path()).unwrap();
    sm.apply(vec![
        entry(1, vec![user("a")]),
        entry(2, vec![session("s1")]),
    ])
    .await
    .unwrap();
    let mut builder = sm.get_snapshot_builder().await;
    // Apply continues while the builder holds its own view.
    sm.apply(vec![entry(3, vec![session("s2")])]).await.unwrap();
    let snap = builder.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id, Some(log_id(2)));

    let mut reopened = StateMachineStore::open(dir.path()).unwrap();
    let (applied, _) = reopened.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(2)));
    let view = reopened.reader().load();
    assert!(view.state.session("s1").is_some());
    assert!(
        view.state.session("s2").is_none(),
        "s2 came after the snapshot point"
    );
    let current = reopened.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id, Some(log_id(2)));

    let other_dir = tempfile::tempdir().unwrap();
    let mut other = StateMachineStore::open(other_dir.path()).unwrap();
    let reader = other.reader();
    other
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    assert!(reader.load().state.session("s1").is_some());
    assert_eq!(reader.applied_index(), Some(2));
}

#[tokio::test]
async fn older_build_never_replaces_newer_installed_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path()).unwrap();
    sm.apply(vec![entry(1, vec![user("a")])]).await.unwrap();
    let mut old_builder = sm.get_snapshot_builder().await;
    sm.apply(vec![entry(2, vec![session("s1")])]).await.unwrap();
    let newer = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let late = old_builder.build_snapshot().await.unwrap();
    assert_eq!(
        late.meta.last_log_id, newer.meta.last_log_id,
        "the late build hands out the newer one"
    );
    let reopened = StateMachineStore::open(dir.path()).unwrap();
    assert!(reopened.reader().load().state.session("s1").is_some());
}

#[tokio::test]
async fn corrupt_snapshots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path()).unwrap();
    sm.apply(vec![entry(1, vec![user("a")])]).await.unwrap();
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let mut bytes = snap.snapshot.into_inner();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    assert!(matches!(decode(&bytes), Err(SmError::Corrupt(_))));
    assert!(matches!(decode(b"garbage"), Err(SmError::Corrupt(_))));
    let mut other = StateMachineStore::open(tempfile::tempdir().unwrap().path()).unwrap();
    assert!(
        other
            .install_snapshot(&snap.meta, Box::new(Cursor::new(bytes.clone())))
            .await
            .is_err()
    );
    std::fs::write(dir.path().join(SNAPSHOT_FILE), &bytes).unwrap();
    assert!(
        StateMachineStore::open(dir.path()).is_err(),
        "a damaged snapshot must stop start-up"
    );
}
