//! Human labels for scopes on the consent page (reference §1.7). The original labelled 12 and
//! showed nothing for the rest; every defined scope has a label here, and an unknown one is
//! shown verbatim rather than hidden, so a user never consents to something unseen.

/// Every scope of reference §1.7 with its label.
pub const KNOWN_SCOPES: [(&str, &str); 25] = [
    ("public:read", "Read public arXiv content"),
    ("profile:update", "Edit your arXiv profile"),
    ("profile:read", "View your arXiv profile"),
    ("submission:create", "Create submissions on your behalf"),
    ("submission:update", "Edit your submissions"),
    ("submission:read", "View your submissions"),
    ("submission:delete", "Delete your submissions"),
    ("submission:proxy", "Submit on behalf of other people"),
    ("upload:read", "View your uploaded files"),
    (
        "upload:update",
        "Upload and change files in your submissions",
    ),
    ("upload:release", "Release your upload workspaces"),
    ("upload:delete_workspace", "Delete upload workspaces"),
    ("upload:delete", "Delete your uploaded files"),
    ("upload:read_logs", "Read your upload logs"),
    ("upload:read_service_logs", "Read the upload service's logs"),
    ("upload:create_checkpoint", "Create upload checkpoints"),
    ("upload:delete_checkpoint", "Delete upload checkpoints"),
    ("upload:read_checkpoints", "View upload checkpoints"),
    ("upload:restore_checkpoint", "Restore upload checkpoints"),
    (
        "compile:read",
        "View compilation results of your submissions",
    ),
    ("compile:create", "Compile your submissions"),
    ("fulltext:read", "Read full-text extractions"),
    ("fulltext:create", "Start full-text extractions"),
    ("preview:read", "View previews of your submissions"),
    ("preview:create", "Create previews of your submissions"),
];

/// The label for a scope (`domain:action[:resource]`); a resource or `*` is spelled out.
pub fn label(scope: &str) -> String {
    let mut parts = scope.splitn(3, ':');
    let base = match (parts.next(), parts.next()) {
        (Some(d), Some(a)) => format!("{d}:{a}"),
        _ => return scope.to_owned(),
    };
    let Some((_, text)) = KNOWN_SCOPES.iter().find(|(s, _)| *s == base) else {
        return scope.to_owned();
    };
    match parts.next() {
        Some("*") => format!("{text} (all, not only yours)"),
        Some(r) => format!("{text} (only {r})"),
        None => (*text).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scopes_have_labels_and_unknown_ones_show_verbatim() {
        assert_eq!(label("profile:read"), "View your arXiv profile");
        assert_eq!(
            label("submission:read:42"),
            "View your submissions (only 42)"
        );
        assert!(label("submission:read:*").contains("all"));
        assert_eq!(label("weird:thing"), "weird:thing");
    }
}
