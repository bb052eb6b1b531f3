//! `faults`: the fault-injection suite of `authd_tests::faults` (issue 8) as a by-hand run that
//! writes its report, `docs/reliability.md` by default. The short profile of the same suite
//! runs in CI as `cargo test -p authd-tests --test it faults`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use authd_tests::faults::{self, report, schedule::Profile};

/// Options of `authd-bench faults`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// `long` (10-15 minutes) or `short` (the CI profile, about 2).
    #[arg(long, default_value = "long")]
    pub profile: String,
    /// Replay a seed (default: `AUTHD_FAULTS_SEED`, else a random one).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the markdown report goes.
    #[arg(long, default_value_os_t = authd_tests::workspace_root().join("docs/reliability.md"))]
    pub out: PathBuf,
}

/// Runs the suite, writes the report, fails if a guarantee was broken.
pub async fn run(args: Args) -> Result<()> {
    super::release_binary("faults")?;
    let profile = Profile::by_name(&args.profile).context("--profile is short or long")?;
    let seed = match args.seed {
        Some(s) => s,
        None => faults::seed_from_env()?,
    };
    eprintln!("authd-bench faults: profile {}, seed {seed}", profile.name);
    let outcome = faults::run(profile, seed).await?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, report::markdown(&outcome))
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "authd-bench faults: report in {} ({} s)",
        args.out.display(),
        outcome.wall.as_secs()
    );
    outcome.ensure_clean()
}
