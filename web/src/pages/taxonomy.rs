//! The fixed choices of the profile form (reference §1.2): ranks, submission groups, arXiv
//! categories and countries. Values outside these lists are refused.

/// Career stage codes and labels.
pub const RANKS: [(u8, &str); 5] = [
    (1, "Staff"),
    (2, "Professor"),
    (3, "Post doc"),
    (4, "Grad student"),
    (5, "Other"),
];

/// Submission groups: key, label, and the archives that belong to it.
pub const GROUPS: [(&str, &str, &[&str]); 8] = [
    (
        "grp_physics",
        "Physics",
        &[
            "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph",
            "nlin", "nucl-ex", "nucl-th", "physics", "quant-ph",
        ],
    ),
    ("grp_math", "Mathematics", &["math"]),
    ("grp_cs", "Computer Science", &["cs"]),
    ("grp_q-bio", "Quantitative Biology", &["q-bio"]),
    ("grp_q-fin", "Quantitative Finance", &["q-fin"]),
    ("grp_stat", "Statistics", &["stat"]),
    (
        "grp_eess",
        "Electrical Engineering and Systems Science",
        &["eess"],
    ),
    ("grp_econ", "Economics", &["econ"]),
];

/// Active archives and their subject classes (empty: the archive is itself a category).
const ARCHIVES: [(&str, &str); 20] = [
    ("astro-ph", "CO EP GA HE IM SR"),
    (
        "cond-mat",
        "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    ),
    ("gr-qc", ""),
    ("hep-ex", ""),
    ("hep-lat", ""),
    ("hep-ph", ""),
    ("hep-th", ""),
    ("math-ph", ""),
    ("nlin", "AO CD CG PS SI"),
    ("nucl-ex", ""),
    ("nucl-th", ""),
    (
        "physics",
        "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph \
         flu-dyn gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    ),
    ("quant-ph", ""),
    (
        "math",
        "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA \
         RT SG SP ST",
    ),
    (
        "cs",
        "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA \
         NE NI OH OS PF PL RO SC SD SE SI SY",
    ),
    ("q-bio", "BM CB GN MN NC OT PE QM SC TO"),
    ("q-fin", "CP EC GN MF PM PR RM ST TR"),
    ("stat", "AP CO ME ML OT TH"),
    ("eess", "AS IV SP SY"),
    ("econ", "EM GN TH"),
];

/// Every category id, in taxonomy order, with the label of its group.
pub fn categories() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (archive, subjects) in ARCHIVES {
        let group = GROUPS
            .iter()
            .find(|(_, _, archives)| archives.contains(&archive))
            .map_or("Other", |(_, label, _)| *label);
        if subjects.is_empty() {
            out.push((archive.to_owned(), group));
        }
        for s in subjects.split_whitespace() {
            out.push((format!("{archive}.{s}"), group));
        }
    }
    out
}

/// Whether `id` is an active category.
pub fn is_category(id: &str) -> bool {
    match id.split_once('.') {
        None => ARCHIVES.iter().any(|(a, s)| *a == id && s.is_empty()),
        Some((archive, subject)) => ARCHIVES
            .iter()
            .any(|(a, s)| *a == archive && s.split_whitespace().any(|x| x == subject)),
    }
}

/// Whether `key` is a submission group.
pub fn is_group(key: &str) -> bool {
    GROUPS.iter().any(|(k, _, _)| *k == key)
}

/// Label of a rank code.
pub fn rank_label(rank: u8) -> &'static str {
    RANKS
        .iter()
        .find(|(r, _)| *r == rank)
        .map_or("", |(_, l)| *l)
}

/// Label of a group key.
pub fn group_label(key: &str) -> &str {
    GROUPS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, l, _)| *l)
}

/// ISO 3166 alpha-2 codes and names, sorted by name.
pub fn countries() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&str, &str)> = isocountry::CountryCode::iter()
        .map(|c| (c.alpha2(), c.name()))
        .collect();
    v.sort_by(|a, b| a.1.cmp(b.1));
    v
}

/// Whether `code` is an ISO 3166 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && isocountry::CountryCode::for_alpha2(code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_accept_the_lists_and_nothing_else() {
        assert!(is_category("astro-ph.CO"));
        assert!(is_category("hep-ph"));
        assert!(is_category("cs.LG"));
        assert!(!is_category("astro-ph"), "astro-ph has subject classes");
        assert!(!is_category("cs.XX"));
        assert!(!is_category(""));
        assert!(is_group("grp_q-bio"));
        assert!(!is_group("grp_test"));
        assert!(is_country("DE"));
        assert!(!is_country("de"));
        assert!(!is_country("XX"));
        assert_eq!(rank_label(3), "Post doc");
        assert!(categories().len() > 150);
    }
}
