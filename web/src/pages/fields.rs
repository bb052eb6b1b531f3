//! Form bodies and the rules their fields must meet (reference §4.5, §4.6). Every error names
//! its field, so the page can tie the message to the input.

use authd_auth::{FullName, Profile};

use super::taxonomy;

/// A parsed `application/x-www-form-urlencoded` body; repeated names (checkboxes) are kept.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parse a body; anything undecodable becomes U+FFFD and fails validation later.
    pub fn parse(body: &[u8]) -> FormData {
        FormData(
            url::form_urlencoded::parse(body)
                .take(200)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether the first value of `name` is `v` (selected option).
    pub fn is(&self, name: &str, v: &str) -> bool {
        self.get(name) == v
    }

    /// Whether any value of `name` is `v` (checked box).
    pub fn has(&self, name: &str, v: &str) -> bool {
        self.0.iter().any(|(k, x)| k == name && x == v)
    }

    /// A form pre-filled from known values.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> FormData {
        FormData(pairs)
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Per-field messages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// Record a message for `field` (the first one per field wins).
    pub fn add(&mut self, field: &'static str, msg: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, msg.into()));
        }
    }

    /// The message for `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// No errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A required (or optional) single-line text of at most `max` characters, trimmed.
fn text(
    f: &FormData,
    errs: &mut FieldErrors,
    name: &'static str,
    required: bool,
    max: usize,
) -> String {
    let v = f.get(name).trim();
    if required && v.is_empty() {
        errs.add(name, "This field is required.");
    } else if v.chars().count() > max {
        errs.add(name, format!("At most {max} characters."));
    } else if has_control(v) {
        errs.add(name, "Contains characters that are not allowed.");
    }
    v.to_owned()
}

/// Usernames: 5-20 of letters, digits, `_`, `.`, `-`, starting with a letter or digit.
pub fn username(v: &str) -> Result<(), &'static str> {
    let n = v.chars().count();
    if !(5..=20).contains(&n) {
        return Err("Between 5 and 20 characters.");
    }
    let ok = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok || !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("Letters, digits, '_', '.' and '-' only, starting with a letter or digit.");
    }
    if authd_auth::user_ref::is_all_digits(v) {
        return Err("Not only digits: add at least one letter.");
    }
    Ok(())
}

/// E-mail addresses: a plausible `local@domain.tld`, at most 255 characters.
pub fn email(v: &str) -> Result<(), &'static str> {
    let bad = v.len() > 255
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c));
    let shaped = v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
    });
    if bad || !shaped {
        return Err("Enter a valid e-mail address.");
    }
    Ok(())
}

/// Passwords: 8-128 characters, no control characters, not the username or e-mail.
pub fn password(v: &str, username: &str, email: &str) -> Result<(), &'static str> {
    let n = v.chars().count();
    if !(8..=128).contains(&n) {
        return Err("Between 8 and 128 characters.");
    }
    if has_control(v) {
        return Err("Contains characters that are not allowed.");
    }
    let lower = v.to_lowercase();
    if lower == username.to_lowercase() || lower == email.to_lowercase() {
        return Err("Must differ from your username and e-mail address.");
    }
    Ok(())
}

/// Check a new password and its confirmation, recording errors on `field` / `field2`.
pub fn new_password(
    f: &FormData,
    errs: &mut FieldErrors,
    fields: (&'static str, &'static str),
    username: &str,
    email: &str,
) -> String {
    let (p1, p2) = (f.get(fields.0), f.get(fields.1));
    if let Err(m) = password(p1, username, email) {
        errs.add(fields.0, m);
    } else if p1 != p2 {
        errs.add(fields.1, "The passwords do not match.");
    }
    p1.to_owned()
}

/// Name and profile from a registration or edit form.
pub fn name_and_profile(f: &FormData, errs: &mut FieldErrors) -> (FullName, Profile) {
    let name = FullName {
        forename: text(f, errs, "forename", true, 50),
        surname: text(f, errs, "surname", true, 50),
        suffix: text(f, errs, "suffix", false, 50),
    };
    let affiliation = text(f, errs, "affiliation", true, 255);
    let country = f.get("country").trim().to_uppercase();
    if !taxonomy::is_country(&country) {
        errs.add("country", "Choose a country.");
    }
    let rank = f.get("rank").parse::<u8>().unwrap_or(0);
    if taxonomy::rank_label(rank).is_empty() {
        errs.add("rank", "Choose your career status.");
    }
    let groups: Vec<String> = f.all("groups").into_iter().map(str::to_owned).collect();
    if groups.is_empty() {
        errs.add("groups", "Choose at least one group.");
    } else if !groups.iter().all(|g| taxonomy::is_group(g)) {
        errs.add("groups", "Choose from the listed groups.");
    }
    let default_category = f.get("default_category").trim().to_owned();
    if !taxonomy::is_category(&default_category) {
        errs.add("default_category", "Choose a category.");
    }
    let homepage_url = text(f, errs, "homepage_url", false, 255);
    if !homepage_url.is_empty()
        && url::Url::parse(&homepage_url).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
    {
        errs.add("homepage_url", "Enter an http:// or https:// address.");
    }
    let profile = Profile {
        affiliation,
        country,
        rank,
        submission_groups: groups,
        default_category,
        homepage_url,
    };
    (name, profile)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn form(s: &str) -> FormData {
        FormData::parse(s.as_bytes())
    }

    #[test]
    fn usernames_emails_and_passwords() {
        assert!(username("alice").is_ok());
        assert!(username("al.ce-9_").is_ok());
        for bad in ["abcd", "a23456789012345678901", ".alice", "ali ce", "alicé"] {
            assert!(username(bad).is_err(), "{bad}");
        }
        assert!(email("a@example.org").is_ok());
        for bad in [
            "",
            "a",
            "a@b",
            "@b.org",
            "a@b..org",
            "a b@c.org",
            "a@b.org.",
            "a@@b.org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(password("correct horse", "alice", "a@x.org").is_ok());
        assert!(password("short", "alice", "a@x.org").is_err());
        assert!(password("Alice123", "alice123", "a@x.org").is_err());
        assert!(password("pass\u{0}word", "alice", "a@x.org").is_err());
    }

    #[test]
    fn profile_fields_are_checked_each_with_its_own_message() {
        let mut e = FieldErrors::default();
        let (n, p) = name_and_profile(
            &form(
                "forename=Ada&surname=Lovelace&affiliation=Cambridge&country=gb&rank=2\
                 &groups=grp_math&groups=grp_cs&default_category=math.CO",
            ),
            &mut e,
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(n.forename, "Ada");
        assert_eq!(p.country, "GB");
        assert_eq!(p.submission_groups, ["grp_math", "grp_cs"]);
        let mut e = FieldErrors::default();
        name_and_profile(
            &form(
                "surname=L&country=XX&rank=9&groups=grp_x&default_category=x&homepage_url=ftp://x",
            ),
            &mut e,
        );
        for f in [
            "forename",
            "affiliation",
            "country",
            "rank",
            "groups",
            "default_category",
            "homepage_url",
        ] {
            assert!(e.get(f).is_some(), "{f} should have an error");
        }
        assert!(e.get("surname").is_none());
    }
}
