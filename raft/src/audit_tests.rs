#![allow(clippy::indexing_slicing)]

use super::*;

fn ev(class: AuditClass, action: &str, target: &str, time_ms: u64) -> AuditEvent {
    AuditEvent {
        time_ms,
        actor: "cli".into(),
        action: action.into(),
        target: target.into(),
        ip: "-".into(),
        outcome: "ok".into(),
        class,
        count: 1,
    }
}

fn small(admin: u32, security: u32, routine: u32) -> AuditBounds {
    AuditBounds {
        admin,
        security,
        routine,
        merge_ms: 1_000,
    }
}

fn ids(page: &[Arc<AuditEntry>]) -> Vec<u64> {
    page.iter().map(|e| e.id).collect()
}

#[test]
fn pages_newest_first_across_classes_with_a_cursor_and_clipped_fields() {
    let mut log = AuditLog::default();
    let b = AuditBounds::default();
    log.record(
        &[
            ev(AuditClass::Admin, "a", &"x".repeat(500), 1),
            ev(AuditClass::Routine, "b", "t", 2),
            ev(AuditClass::Security, "c", "t", 3),
            ev(AuditClass::Admin, "d", "t", 4),
        ],
        &b,
    );
    assert_eq!(ids(&log.page(None, 3)), [4, 3, 2]);
    assert_eq!(ids(&log.page(Some(3), 5)), [2, 1]);
    assert_eq!(ids(&log.page(Some(1), 5)), Vec::<u64>::new());
    assert_eq!(log.page(Some(2), 1)[0].event.target.len(), 200);
    assert_eq!(log.len(), 4);
}

#[test]
fn each_class_keeps_its_own_bound_so_noise_never_pushes_out_admin_actions() {
    let mut log = AuditLog::default();
    let b = small(3, 5, 5);
    log.record(&[ev(AuditClass::Admin, "role_grant", "alice", 1)], &b);
    for i in 0..1_000u64 {
        log.record(
            &[
                ev(AuditClass::Security, "login_failed", &format!("u{i}"), i),
                ev(AuditClass::Routine, "login", &format!("u{i}"), i),
            ],
            &b,
        );
    }
    assert_eq!(log.len_of(AuditClass::Admin), 1);
    assert_eq!(log.len_of(AuditClass::Security), 5);
    assert_eq!(log.len_of(AuditClass::Routine), 5);
    let all = log.page(None, 100);
    assert_eq!(all.len(), 11);
    assert_eq!(
        all.last().map(|e| e.event.action.as_str()),
        Some("role_grant")
    );
    // Admin actions past their own bound do drop their own oldest.
    for i in 0..5 {
        log.record(
            &[ev(AuditClass::Admin, "user_add", &format!("n{i}"), 2_000)],
            &b,
        );
    }
    assert_eq!(log.len_of(AuditClass::Admin), 3);
    assert!(
        log.page(None, 100)
            .iter()
            .all(|e| e.event.action != "role_grant")
    );
}

#[test]
fn repeats_within_the_window_merge_into_one_entry_with_a_count() {
    let mut log = AuditLog::default();
    let b = small(10, 10, 10);
    let lock = |t| ev(AuditClass::Security, "lockout", "ip:10.0.0.1", t);
    log.record(&[lock(100), lock(200)], &b);
    let mut three = lock(300);
    three.count = 3;
    log.record(&[three, lock(1_099)], &b);
    assert_eq!(log.len(), 1);
    let e = &log.page(None, 10)[0];
    assert_eq!((e.event.count, e.event.time_ms, e.last_ms), (6, 100, 1_099));
    // The window is over: a new entry; a different target or outcome never merges.
    let mut other = lock(1_200);
    other.outcome = "other".into();
    log.record(
        &[
            lock(1_100),
            lock(1_150),
            other,
            ev(AuditClass::Security, "lockout", "ip:2", 1),
        ],
        &b,
    );
    let counts: Vec<u32> = log.page(None, 10).iter().map(|e| e.event.count).collect();
    assert_eq!(counts, [1, 1, 2, 6]);
    // Admin actions are never merged.
    let grant = ev(AuditClass::Admin, "role_grant", "alice", 5);
    log.record(&[grant.clone(), grant], &b);
    assert_eq!(log.len_of(AuditClass::Admin), 2);
}

#[test]
fn an_evicted_entry_is_not_merged_into_and_the_index_stays_bounded() {
    let mut log = AuditLog::default();
    let b = AuditBounds {
        merge_ms: u64::MAX,
        ..small(1, 2, 2)
    };
    log.record(&[ev(AuditClass::Security, "lockout", "a", 1)], &b);
    for i in 0..10 {
        log.record(&[ev(AuditClass::Security, "x", &format!("{i}"), 2)], &b);
    }
    log.record(&[ev(AuditClass::Security, "lockout", "a", 3)], &b);
    let page = log.page(None, 10);
    assert_eq!(page[0].event.action, "lockout");
    assert_eq!(page[0].event.count, 1, "a fresh entry, not the evicted one");
    assert!(log.open.len() <= log.len(), "{} keys", log.open.len());
}

#[test]
fn merge_keys_are_stable_and_tell_fields_apart() {
    let a = ev(AuditClass::Routine, "login", "ab", 1);
    let mut b = a.clone();
    b.target = "a".into();
    b.ip = "b-".into();
    assert_ne!(a.merge_key(), b.merge_key());
    // Fixed value: the index is replicated state, so the hash must not change between builds.
    assert_eq!(a.merge_key(), Some(0x80ad_7f22_2368_1f78));
    assert_eq!(ev(AuditClass::Admin, "login", "ab", 1).merge_key(), None);
}
