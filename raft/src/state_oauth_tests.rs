#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use authd_auth::{AuthCode, Token, TokenKind};

use crate::command::{Applied, Command, Rejected};
use crate::state::State;
use crate::state::tests::{client, new_user};

fn setup() -> State {
    let mut s = State::default();
    s.apply(&new_user("alice")).unwrap();
    s.apply(&client("c1", 1)).unwrap();
    s.apply(&Command::CreateCode(code("k1", 100))).unwrap();
    s
}

fn code(digest: &str, expires_ms: u64) -> AuthCode {
    AuthCode {
        digest: digest.into(),
        client_id: "c1".into(),
        user_id: 1,
        redirect_uri: None,
        scopes: BTreeSet::new(),
        code_challenge: None,
        created_ms: 0,
        expires_ms,
        redeemed_family: None,
    }
}

fn tok(digest: &str, kind: TokenKind) -> Token {
    Token {
        digest: digest.into(),
        kind,
        user_id: Some(1),
        client_id: Some("c1".into()),
        scopes: BTreeSet::new(),
        created_ms: 0,
        expires_ms: 10_000,
        family: None,
    }
}

fn redeem(digest: &str, now_ms: u64, access: &str, refresh: &str) -> Command {
    Command::RedeemCode {
        digest: digest.into(),
        client_id: "c1".into(),
        now_ms,
        family: "f1".into(),
        tokens: vec![
            tok(access, TokenKind::Access),
            tok(refresh, TokenKind::Refresh),
        ],
    }
}

fn rotate(digest: &str, access: &str, refresh: &str) -> Command {
    Command::RotateRefresh {
        digest: digest.into(),
        client_id: "c1".into(),
        now_ms: 10,
        tokens: vec![
            tok(access, TokenKind::Access),
            tok(refresh, TokenKind::Refresh),
        ],
    }
}

#[test]
fn a_code_redeems_once_and_a_second_redemption_ends_the_family() {
    let mut s = setup();
    assert_eq!(s.apply(&redeem("k1", 10, "a1", "r1")), Ok(Applied::Done));
    assert!(s.live_token("a1", 10).is_some());
    assert_eq!(s.family_size("f1"), 2);
    assert_eq!(
        s.apply(&redeem("k1", 20, "a2", "r2")),
        Ok(Applied::Reused(2))
    );
    assert!(
        s.live_token("a1", 20).is_none(),
        "reuse ends the first grant's tokens"
    );
    assert!(s.live_token("a2", 20).is_none(), "and issues nothing");
}

#[test]
fn expired_foreign_or_unknown_codes_are_invalid_grants_and_change_nothing() {
    let mut s = setup();
    assert_eq!(
        s.apply(&redeem("k1", 100, "a1", "r1")),
        Err(Rejected::InvalidGrant)
    );
    assert_eq!(
        s.apply(&redeem("nope", 10, "a1", "r1")),
        Err(Rejected::InvalidGrant)
    );
    let mut foreign = redeem("k1", 10, "a1", "r1");
    if let Command::RedeemCode { client_id, .. } = &mut foreign {
        *client_id = "c2".into();
    }
    assert_eq!(s.apply(&foreign), Err(Rejected::InvalidGrant));
    // A token for another user is refused and the code stays unredeemed.
    let mut wrong_user = redeem("k1", 10, "a1", "r1");
    if let Command::RedeemCode { tokens, .. } = &mut wrong_user {
        tokens[0].user_id = Some(2);
    }
    assert!(matches!(s.apply(&wrong_user), Err(Rejected::Invalid(_))));
    assert!(s.live_token("r1", 10).is_none(), "all or nothing");
    assert_eq!(s.apply(&redeem("k1", 10, "a1", "r1")), Ok(Applied::Done));
    s.apply(&Command::Expire { now_ms: 100 }).unwrap();
    assert!(s.code("k1").is_none(), "expired codes are forgotten");
}

#[test]
fn refresh_rotates_and_a_reused_refresh_token_ends_the_family() {
    let mut s = setup();
    s.apply(&redeem("k1", 10, "a1", "r1")).unwrap();
    assert_eq!(s.apply(&rotate("r1", "a2", "r2")), Ok(Applied::Done));
    assert!(
        s.live_token("r1", 10).is_none(),
        "the old refresh token is spent"
    );
    assert_eq!(
        s.live_token("r2", 10).and_then(|t| t.family.clone()),
        Some("f1".into())
    );
    assert_eq!(s.family_size("f1"), 3);
    // An access token is not a refresh token.
    assert_eq!(
        s.apply(&rotate("a2", "a9", "r9")),
        Err(Rejected::InvalidGrant)
    );
    assert_eq!(s.apply(&rotate("r1", "a3", "r3")), Ok(Applied::Reused(3)));
    for t in ["a1", "a2", "r2", "a3", "r3"] {
        assert!(s.live_token(t, 10).is_none(), "{t} survived the reuse");
    }
    assert_eq!(
        s.apply(&rotate("r2", "a4", "r4")),
        Err(Rejected::InvalidGrant)
    );
}

#[test]
fn revoking_a_refresh_token_ends_its_family_but_an_access_token_only_itself() {
    let mut s = setup();
    s.apply(&redeem("k1", 10, "a1", "r1")).unwrap();
    s.apply(&rotate("r1", "a2", "r2")).unwrap();
    let revoke = |d: &str| Command::RevokeToken { digest: d.into() };
    assert_eq!(s.apply(&revoke("a1")), Ok(Applied::Ended(1)));
    assert!(s.live_token("a2", 10).is_some());
    assert_eq!(s.apply(&revoke("r2")), Ok(Applied::Ended(2)));
    assert_eq!(s.family_size("f1"), 0);
}

#[test]
fn codes_need_a_known_client_and_an_active_user() {
    let mut s = setup();
    assert_eq!(
        s.apply(&Command::CreateCode(code("k1", 100))),
        Err(Rejected::Duplicate)
    );
    let mut c = code("k2", 100);
    c.client_id = "nope".into();
    assert_eq!(
        s.apply(&Command::CreateCode(c)),
        Err(Rejected::UnknownClient)
    );
    s.apply(&Command::SetSuspended {
        user_id: 1,
        suspended: true,
    })
    .unwrap();
    assert_eq!(
        s.apply(&Command::CreateCode(code("k3", 100))),
        Err(Rejected::Suspended)
    );
    // Suspension burnt the user's pending codes.
    assert_eq!(
        s.apply(&redeem("k1", 10, "a1", "r1")),
        Err(Rejected::InvalidGrant)
    );
}

fn capped(code: &str, family: &str, n: &str, max: u32, expires_ms: u64) -> Command {
    let mut t = [
        tok(&format!("a{n}"), TokenKind::Access),
        tok(&format!("r{n}"), TokenKind::Refresh),
    ];
    for x in &mut t {
        x.expires_ms = expires_ms;
    }
    Command::RedeemCodeCapped {
        digest: code.into(),
        client_id: "c1".into(),
        now_ms: 10,
        family: family.into(),
        tokens: t.to_vec(),
        max_families: max,
    }
}

#[test]
fn the_family_cap_ends_the_family_that_would_end_first() {
    let mut s = setup();
    for k in ["k2", "k3"] {
        s.apply(&Command::CreateCode(code(k, 100))).unwrap();
    }
    s.apply(&capped("k1", "f1", "1", 2, 5_000)).unwrap();
    s.apply(&capped("k2", "f2", "2", 2, 4_000)).unwrap();
    assert_eq!(s.family_size("f1") + s.family_size("f2"), 4, "two fit");
    s.apply(&capped("k3", "f3", "3", 2, 6_000)).unwrap();
    assert_eq!(s.family_size("f2"), 0, "f2 ends first, so it made room");
    assert_eq!((s.family_size("f1"), s.family_size("f3")), (2, 2));
}

#[test]
fn a_burnt_code_redeems_no_more_and_ends_what_it_issued() {
    let mut s = setup();
    assert_eq!(
        s.apply(&Command::BurnCode {
            digest: "k1".into()
        }),
        Ok(Applied::Ended(0))
    );
    assert_eq!(
        s.apply(&redeem("k1", 10, "a1", "r1")),
        Err(Rejected::InvalidGrant)
    );
    s.apply(&Command::CreateCode(code("k2", 100))).unwrap();
    let mut r = redeem("k2", 10, "a2", "r2");
    if let Command::RedeemCode { family, .. } = &mut r {
        *family = "f2".into();
    }
    s.apply(&r).unwrap();
    assert_eq!(
        s.apply(&Command::BurnCode {
            digest: "k2".into()
        }),
        Ok(Applied::Ended(2))
    );
}

#[test]
fn ending_a_user_ends_sessions_tokens_and_codes_but_revoking_a_client_only_its_own() {
    let mut s = setup();
    s.apply(&redeem("k1", 10, "a1", "r1")).unwrap();
    s.apply(&client("c2", 1)).unwrap();
    let mut other = tok("x1", TokenKind::Access);
    other.client_id = Some("c2".into());
    s.apply(&Command::IssueToken(other)).unwrap();
    s.apply(&Command::CreateCode(code("k2", 100))).unwrap();
    let grants = s.user_grants(1, 10);
    assert_eq!(
        grants
            .iter()
            .map(|g| g.client_id.as_str())
            .collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    assert_eq!(
        s.apply(&Command::RevokeUserClient {
            user_id: 1,
            client_id: "c1".into()
        }),
        Ok(Applied::Ended(2))
    );
    assert!(
        s.code("k2").is_none(),
        "the pair's pending code is gone too"
    );
    assert!(s.live_token("x1", 10).is_some());
    let end = Command::EndUserAccess {
        user_id: 1,
        keep_session: None,
        password_hash: Some("new".into()),
    };
    assert_eq!(s.apply(&end), Ok(Applied::Ended(1)));
    assert!(s.live_token("x1", 10).is_none());
    assert_eq!(s.user(1).map(|u| u.password_hash.as_str()), Some("new"));
    let unknown = Command::EndUserAccess {
        user_id: 9,
        keep_session: None,
        password_hash: None,
    };
    assert_eq!(s.apply(&unknown), Err(Rejected::UnknownUser));
}
