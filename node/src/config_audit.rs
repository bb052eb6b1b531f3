//! `[audit]`: how many audit entries each class keeps and how long repeats merge.

use authd_raft::audit::AuditBounds;
use serde::Deserialize;

/// Largest capacity of one class: the log lives in every replica's memory and snapshot.
const MAX_ENTRIES: u32 = 1_000_000;

/// `[audit]`: per-class capacities (the oldest entries of a class go first) and the window
/// within which an identical non-admin event adds to an entry's count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Admin actions (CLI, admin tokens) kept.
    pub admin_entries: u32,
    /// Security events (refusals, lockouts) kept.
    pub security_entries: u32,
    /// Routine user events (logins, logouts, OAuth grants) kept.
    pub routine_entries: u32,
    /// Repeats within this many seconds of an entry's first occurrence merge into it.
    pub merge_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        let b = AuditBounds::default();
        AuditConfig {
            admin_entries: b.admin,
            security_entries: b.security,
            routine_entries: b.routine,
            merge_secs: b.merge_ms / 1000,
        }
    }
}

impl AuditConfig {
    /// The bounds every `RecordAudit` this node proposes carries.
    pub fn bounds(&self) -> AuditBounds {
        AuditBounds {
            admin: self.admin_entries,
            security: self.security_entries,
            routine: self.routine_entries,
            merge_ms: self.merge_secs.saturating_mul(1000),
        }
    }

    /// Check the limits; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let caps = [
            self.admin_entries,
            self.security_entries,
            self.routine_entries,
        ];
        if caps.iter().any(|n| *n == 0 || *n > MAX_ENTRIES) {
            return Err(format!(
                "[audit] admin_entries, security_entries and routine_entries must be 1-{MAX_ENTRIES}"
            ));
        }
        if self.merge_secs == 0 || self.merge_secs > 86_400 {
            return Err("[audit] merge_secs must be 1-86400".into());
        }
        Ok(())
    }
}
