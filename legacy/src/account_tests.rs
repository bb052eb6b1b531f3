use super::*;

fn row() -> AccountRow {
    AccountRow {
        user_id: 7,
        nickname: "foouser".into(),
        email: "first@last.iv".into(),
        first_name: Some("First".into()),
        last_name: Some("Last".into()),
        suffix_name: None,
        policy_class: 2,
        flag_email_verified: 1,
        flag_edit_users: 0,
        flag_edit_system: 0,
        flag_approved: 1,
        flag_deleted: 0,
        flag_banned: 0,
        password_enc: Some("ZmRvb79w/mg/KE1ezTs/rT0KuLIiietw".into()),
        country: None,
        affiliation: None,
        url: None,
        rank: None,
        archive: None,
        subject_class: None,
    }
}

#[test]
fn the_login_rules() {
    assert_eq!(row().check("thepassword"), Ok(()));
    assert_eq!(row().check("wrong"), Err(Refusal::WrongPassword));
    type Edit = fn(&mut AccountRow);
    let cases: [(Edit, Refusal); 6] = [
        (|r| r.flag_banned = 1, Refusal::Ineligible),
        (|r| r.flag_deleted = 1, Refusal::Ineligible),
        (|r| r.flag_approved = 0, Refusal::Ineligible),
        (|r| r.password_enc = None, Refusal::NoPassword),
        (|r| r.flag_email_verified = 0, Refusal::Unverified),
        (|r| r.user_id = -3, Refusal::Unknown),
    ];
    for (edit, want) in cases {
        let mut r = row();
        edit(&mut r);
        assert_eq!(r.check("thepassword"), Err(want));
    }
    // An unverified account with the wrong password is a wrong password, never "unverified".
    let mut r = row();
    r.flag_email_verified = 0;
    assert_eq!(r.check("nope"), Err(Refusal::WrongPassword));
}

#[test]
fn input_rules() {
    assert!(input_ok("foouser", "thepassword"));
    assert!(!input_ok("", "x"));
    assert!(!input_ok("  ", "x"));
    assert!(!input_ok("foouser", ""));
    assert!(!input_ok("fööuser", "x"));
    assert!(!input_ok("foouser", "pässword"));
    assert!(!input_ok(&"a".repeat(256), "x"));
    assert!(input_ok(&"a".repeat(255), "x"));
}

#[test]
fn capability_code_and_roles() {
    let mut r = row();
    assert_eq!(r.classic(), 4);
    r.flag_edit_users = 1;
    assert_eq!(r.classic(), 6);
    r.flag_edit_system = 1;
    assert_eq!(r.classic(), 14);
    assert_eq!(r.roles(), vec!["user".to_owned()]);
    r.policy_class = 1;
    assert_eq!(r.roles(), vec!["admin".to_owned()]);
    r.policy_class = 3;
    assert!(r.roles().is_empty());
}

#[test]
fn profile_mapping() {
    let mut r = row();
    assert_eq!(r.profile(), None);
    r.country = Some("de".into());
    r.archive = Some("hep".into());
    r.subject_class = Some("null".into());
    r.rank = Some(3);
    let p = r.profile().unwrap_or_default();
    assert_eq!(
        (p.country.as_str(), p.default_category.as_str(), p.rank),
        ("de", "hep", 3)
    );
    r.subject_class = Some("ph".into());
    assert_eq!(
        r.profile().map(|p| p.default_category),
        Some("hep.ph".into())
    );
    assert_eq!(r.name().map(|n| n.surname), Some("Last".into()));
}
