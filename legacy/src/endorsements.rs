//! Endorsements (reference §3.8), computed from the tapir tables at login and when a legacy
//! session is first accepted (not on every request, §11.14), and kept in replicated state.
//!
//! Fixed weaknesses (§11.14): a category whose explicit points sum to zero or less is not
//! endorsed; papers are counted once per document and endorsement domain, valid ownerships
//! only (no double counting of cross-lists).

use std::collections::{BTreeMap, BTreeSet};

/// A category id: `archive.subject_class`, or `archive` when the subject class is empty.
pub fn category(archive: &str, subject_class: &str) -> String {
    if subject_class.is_empty() {
        archive.to_owned()
    } else {
        format!("{archive}.{subject_class}")
    }
}

/// A category's endorsement policy (definitive, active categories joined to their domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Endorsement domain.
    pub domain: String,
    /// Everybody is endorsed.
    pub endorse_all: bool,
    /// Academics (by e-mail) are endorsed.
    pub endorse_email: bool,
    /// Papers in the domain that make an author endorsed.
    pub min_papers: i64,
}

/// What the algorithm needs from the database for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Explicit endorsements: category → summed points of valid rows.
    pub explicit: BTreeMap<String, i64>,
    /// Categories of invalidated automatic endorsements.
    pub invalidated: BTreeSet<String>,
    /// Active categories (the taxonomy), by archive.
    pub active: BTreeMap<String, BTreeSet<String>>,
    /// Policies of definitive, active categories.
    pub policies: BTreeMap<String, Policy>,
    /// The user's e-mail matches a whitelist pattern / a blacklist pattern.
    pub whitelisted: bool,
    /// See `whitelisted`.
    pub blacklisted: bool,
    /// Papers per endorsement domain.
    pub papers: BTreeMap<String, i64>,
}

/// Categories whose invalidated auto-endorsement only disqualifies themselves.
const SELF_ONLY: [&str; 2] = ["math.GM", "physics.gen-ph"];

impl Facts {
    fn academic(&self) -> bool {
        self.whitelisted || !self.blacklisted
    }

    fn auto_endorsed(&self, cat: &str) -> bool {
        let Some(p) = self.policies.get(cat) else {
            return false;
        };
        let disqualified = if SELF_ONLY.contains(&cat) {
            self.invalidated.contains(cat)
        } else {
            !self.invalidated.is_empty()
        };
        if disqualified {
            return false;
        }
        let papers = self.papers.get(&p.domain).copied().unwrap_or(0);
        p.endorse_all || (p.endorse_email && self.academic()) || papers >= p.min_papers
    }

    /// The endorsed categories, compressed: `archive.*` when every active category of an
    /// archive is endorsed, `*.*` when every active archive is (a missing `test` archive aside).
    pub fn endorsements(&self) -> Vec<String> {
        let mut cats: BTreeSet<String> = self
            .explicit
            .iter()
            .filter(|(_, points)| **points > 0)
            .map(|(c, _)| c.clone())
            .collect();
        for archive_cats in self.active.values() {
            cats.extend(
                archive_cats
                    .iter()
                    .filter(|c| self.auto_endorsed(c))
                    .cloned(),
            );
        }
        let mut out = BTreeSet::new();
        let mut whole = 0;
        for (archive, archive_cats) in &self.active {
            if !archive_cats.is_empty() && archive_cats.iter().all(|c| cats.contains(c)) {
                out.insert(format!("{archive}.*"));
                whole += 1;
                cats.retain(|c| !archive_cats.contains(c));
            }
        }
        let archives = self.active.keys().filter(|a| a.as_str() != "test").count();
        let test_whole = usize::from(out.contains("test.*"));
        if archives > 0 && whole - test_whole >= archives {
            return vec!["*.*".to_owned()];
        }
        out.extend(cats);
        out.into_iter().collect()
    }
}

#[cfg(test)]
#[path = "endorsements_tests.rs"]
mod tests;
