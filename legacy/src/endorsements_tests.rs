use super::*;

fn facts() -> Facts {
    let mut f = Facts::default();
    for (a, cats) in [
        ("math", vec!["math.GM", "math.AG"]),
        ("cs", vec!["cs.AI", "cs.LG"]),
    ] {
        f.active
            .insert(a.into(), cats.into_iter().map(String::from).collect());
    }
    for (c, domain, all, email, min) in [
        ("math.GM", "math", false, false, 2),
        ("math.AG", "math", false, false, 2),
        ("cs.AI", "cs", false, true, 4),
        ("cs.LG", "cs", false, false, 4),
    ] {
        let p = Policy {
            domain: domain.into(),
            endorse_all: all,
            endorse_email: email,
            min_papers: min,
        };
        f.policies.insert(c.into(), p);
    }
    f.blacklisted = true;
    f
}

#[test]
fn explicit_points_must_be_positive() {
    let mut f = facts();
    f.explicit.insert("cs.LG".into(), 1);
    f.explicit.insert("math.AG".into(), -1);
    f.explicit.insert("math.GM".into(), 0);
    assert_eq!(f.endorsements(), vec!["cs.LG".to_owned()]);
}

#[test]
fn papers_email_and_compression() {
    let mut f = facts();
    f.papers.insert("math".into(), 2);
    assert_eq!(f.endorsements(), vec!["math.*".to_owned()]);
    f.blacklisted = false; // academic: cs.AI by e-mail
    assert_eq!(
        f.endorsements(),
        vec!["cs.AI".to_owned(), "math.*".to_owned()]
    );
    f.papers.insert("cs".into(), 4);
    assert_eq!(f.endorsements(), vec!["*.*".to_owned()]);
}

#[test]
fn invalidated_auto_endorsements() {
    let mut f = facts();
    f.papers.insert("math".into(), 5);
    // Any invalidated auto-endorsement disqualifies every category but math.GM and
    // physics.gen-ph, which only their own invalidation disqualifies.
    f.invalidated.insert("cs.LG".into());
    assert_eq!(f.endorsements(), vec!["math.GM".to_owned()]);
    f.invalidated.insert("math.GM".into());
    assert!(f.endorsements().is_empty());
}

#[test]
fn category_ids() {
    assert_eq!(category("hep-ph", ""), "hep-ph");
    assert_eq!(category("astro-ph", "CO"), "astro-ph.CO");
}
