//! How the operator API and CLI name a user, without ambiguity between ids and usernames:
//! `id:N` is always the user with id `N`; anything else is a username or e-mail address; a
//! bare number is taken as an id only when no user has it as a name (all-digit usernames are
//! refused for new accounts, but older data or an imported legacy account may have one).

/// A parsed user reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRef<'a> {
    /// `id:N`.
    Id(u64),
    /// A username or e-mail, or a bare number (an id only if no user has that name).
    Name(&'a str),
}

/// The prefix that makes a reference an id.
pub const ID_PREFIX: &str = "id:";

impl<'a> UserRef<'a> {
    /// `None` for `id:` followed by anything but a number.
    pub fn parse(s: &'a str) -> Option<UserRef<'a>> {
        let s = s.trim();
        match s.strip_prefix(ID_PREFIX) {
            Some(n) if is_all_digits(n) => n.parse().ok().map(UserRef::Id),
            Some(_) => None,
            None => Some(UserRef::Name(s)),
        }
    }

    /// The id a bare-number name stands for when no user has that name.
    pub fn fallback_id(&self) -> Option<u64> {
        match self {
            UserRef::Name(n) if is_all_digits(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// Whether `s` is non-empty and only ASCII digits: such a username could be read as an id,
/// so new accounts may not have one.
pub fn is_all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_explicit_and_names_stay_names() {
        assert_eq!(UserRef::parse("id:3"), Some(UserRef::Id(3)));
        assert_eq!(UserRef::parse("id:00003"), Some(UserRef::Id(3)));
        assert_eq!(UserRef::parse("id:x"), None);
        assert_eq!(UserRef::parse("id:"), None);
        assert_eq!(UserRef::parse("id:+3"), None);
        assert_eq!(UserRef::parse("00003"), Some(UserRef::Name("00003")));
        assert_eq!(UserRef::parse("alice"), Some(UserRef::Name("alice")));
        assert_eq!(UserRef::Name("00003").fallback_id(), Some(3));
        assert_eq!(UserRef::Name("+3").fallback_id(), None);
        assert_eq!(UserRef::Name("alice").fallback_id(), None);
        assert!(is_all_digits("00003") && !is_all_digits("a1") && !is_all_digits(""));
    }
}
