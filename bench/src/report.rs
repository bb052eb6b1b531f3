//! Markdown reports: tables, number formatting, machine facts, writing `results/<name>.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// A markdown table; columns are padded so that it also reads well on a terminal.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn to_markdown(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self
            .headers
            .iter()
            .map(|h| h.chars().count().max(3))
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                let _ = write!(s, " {cell:>w$} |");
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.headers);
        out.push('|');
        for w in widths.iter().take(cols) {
            let _ = write!(out, "{}:|", "-".repeat(w + 1));
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// `v` with `decimals` digits, "n/a" for NaN or infinity.
pub fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "n/a".into()
    }
}

/// A count with thousands separators: 12,345.
pub fn int(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// Facts about the machine and the code that was measured.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    pub nproc: usize,
    pub kernel: String,
    pub cpu_model: String,
    pub mem_total: String,
    pub date: String,
    pub git_commit: String,
    pub temp_fs: String,
}

impl MachineInfo {
    pub fn collect() -> MachineInfo {
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let mem_total = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let tmp = std::env::temp_dir();
        let temp_fs = run("df", &["-hT", &tmp.to_string_lossy()])
            .and_then(|s| {
                s.lines()
                    .nth(1)
                    .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            })
            .map(|fs| format!("{} on {fs}", tmp.display()))
            .unwrap_or_else(|| tmp.display().to_string());
        let root = authd_tests::workspace_root();
        let root = root.to_string_lossy();
        let commit = run("git", &["-C", &root, "rev-parse", "--short=12", "HEAD"])
            .unwrap_or_else(|| "unknown".into());
        // Top-level directories with uncommitted changes to tracked files or new files.
        let dirty: std::collections::BTreeSet<String> =
            run("git", &["-C", &root, "status", "--porcelain"])
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().last())
                .map(|p| p.split('/').next().unwrap_or(p).to_owned())
                .collect();
        MachineInfo {
            nproc,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            cpu_model,
            mem_total,
            date: run("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"])
                .unwrap_or_else(|| "unknown".into()),
            git_commit: if dirty.is_empty() {
                commit
            } else {
                let dirs: Vec<String> = dirty.into_iter().map(|d| format!("`{d}`")).collect();
                format!("{commit} (with uncommitted changes in {})", dirs.join(", "))
            },
            temp_fs,
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut t = Table::new(["what", "value"]);
        t.row(["nproc".to_owned(), self.nproc.to_string()]);
        t.row(["CPU", self.cpu_model.as_str()]);
        t.row(["memory", self.mem_total.as_str()]);
        t.row(["kernel", self.kernel.as_str()]);
        t.row(["temp dir (data, fsync)", self.temp_fs.as_str()]);
        t.row(["date", self.date.as_str()]);
        t.row(["git commit", self.git_commit.as_str()]);
        t.to_markdown()
    }
}

/// "`path` (built <date>)", with a warning when a source file of the node is newer than it
/// (then the figures are those of older code).
pub fn binary_info(bin: &Path) -> String {
    let built = run(
        "date",
        &["-u", "-r", &bin.to_string_lossy(), "+%Y-%m-%d %H:%M:%S UTC"],
    )
    .unwrap_or_else(|| "unknown".into());
    let bin_time = bin.metadata().and_then(|m| m.modified()).ok();
    let root = authd_tests::workspace_root();
    let newest = ["node", "web", "raft", "auth", "legacy"]
        .iter()
        .filter_map(|c| newest_mtime(&root.join(c).join("src")))
        .max();
    let stale = matches!((bin_time, newest), (Some(b), Some(n)) if n > b);
    format!(
        "`{}` (built {built}){}",
        bin.display(),
        if stale {
            "; **older than the node's sources: rebuild it before quoting these figures**"
        } else {
            ""
        }
    )
}

/// How this benchmark was invoked, as a `cargo run` line.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release -p authd-bench -- {}", args.join(" "))
}

/// A file's modification time, UTC ("unknown" if it cannot be read).
pub fn file_date(path: &Path) -> String {
    run(
        "date",
        &[
            "-u",
            "-r",
            &path.to_string_lossy(),
            "+%Y-%m-%d %H:%M:%S UTC",
        ],
    )
    .unwrap_or_else(|| "unknown".into())
}

fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().ok().and_then(|m| m.modified().ok())
        };
        newest = newest.max(t);
    }
    newest
}

/// First line-trimmed stdout of a command that succeeded.
fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `<workspace>/bench/results`.
pub fn default_results_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results")
}

/// Writes `dir/name.md`, creating `dir`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.md"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(int(1234567.4), "1,234,567");
        assert_eq!(int(999.0), "999");
        assert_eq!(num(f64::NAN, 2), "n/a");
        let mut t = Table::new(["a", "bb"]);
        t.row(["1", "2"]);
        assert_eq!(
            t.to_markdown(),
            "|   a |  bb |\n|----:|----:|\n|   1 |   2 |\n"
        );
    }
}
