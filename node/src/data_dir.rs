//! Who may read the data directory: only the user authd runs as. The Raft log and snapshots
//! hold Argon2 hashes and e-mail addresses, the outbox holds live reset links, the dev
//! secrets sign sessions — so directories are 0700 and files 0600, and a directory left
//! more open by an older build is tightened at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Mode of every directory authd creates under its data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file authd creates under its data directory.
pub const FILE_MODE: u32 = 0o600;

/// Make everything this process creates private (umask 077). Call before any thread starts.
pub fn private_umask() {
    #[allow(unsafe_code)]
    // SAFETY: umask takes a plain mode and only changes this process's file-creation mask;
    // it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Set `dir` and everything under it (not following symlinks) to [`DIR_MODE`] / [`FILE_MODE`];
/// returns how many entries were more open than that.
pub fn tighten(dir: &Path) -> std::io::Result<usize> {
    let meta = std::fs::symlink_metadata(dir)?;
    let want = if meta.is_dir() {
        DIR_MODE
    } else if meta.is_file() {
        FILE_MODE
    } else {
        return Ok(0);
    };
    let mut fixed = 0;
    if meta.permissions().mode() & 0o777 & !want != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(want))?;
        fixed += 1;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            fixed += tighten(&entry?.path())?;
        }
    }
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightens_an_old_world_readable_tree() -> std::io::Result<()> {
        let t = tempfile::tempdir()?;
        let sub = t.path().join("raft");
        std::fs::create_dir(&sub)?;
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755))?;
        let f = sub.join("raft.wal");
        std::fs::write(&f, b"x")?;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644))?;
        let ok = t.path().join("ok");
        std::fs::write(&ok, b"x")?;
        std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o400))?;
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700))?;
        assert_eq!(tighten(t.path())?, 2);
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode(&sub)?, DIR_MODE);
        assert_eq!(mode(&f)?, FILE_MODE);
        // Tighter than needed stays as it is.
        assert_eq!(mode(&ok)?, 0o400);
        assert_eq!(tighten(t.path())?, 0);
        Ok(())
    }
}
