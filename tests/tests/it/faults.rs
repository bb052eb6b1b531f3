//! The fault-injection suite (issue 8), short profile: kill -9, SIGSTOP and cut links under a
//! mixed load, then check that nothing acknowledged was lost, no revoked credential was let in,
//! a connected majority always served and the healed cluster converged. `AUTHD_FAULTS_SEED`
//! replays a seed, `AUTHD_FAULTS_PROFILE=long` runs the long profile, `AUTHD_FAULTS_REPORT=FILE`
//! writes the markdown report. See `authd_tests::faults`.

use anyhow::{Context, Result};
use authd_tests::faults::{self, report, schedule::Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_nothing_let_nothing_in_and_keep_a_majority_serving() -> Result<()> {
    let name = std::env::var("AUTHD_FAULTS_PROFILE").unwrap_or_else(|_| "short".into());
    let profile = Profile::by_name(&name).context("AUTHD_FAULTS_PROFILE is short or long")?;
    let seed = faults::seed_from_env()?;
    eprintln!("faults: profile {name}, seed {seed} (replay with AUTHD_FAULTS_SEED={seed})");
    let outcome = faults::run(profile, seed)
        .await
        .with_context(|| format!("fault suite, seed {seed}"))?;
    if let Ok(path) = std::env::var("AUTHD_FAULTS_REPORT") {
        std::fs::write(&path, report::markdown(&outcome))
            .with_context(|| format!("writing {path}"))?;
    }
    let v = &outcome.verdict;
    eprintln!(
        "faults: seed {seed}: {} faults, {} writes and {} revocations verified, {} checks after \
         a revocation, {} lost, {} stale, {} unavailable, {} diverged, {:.0} s",
        outcome.history.faults.len(),
        v.writes_verified,
        v.revocations_verified,
        v.after_revoke_checks,
        v.lost.len(),
        v.stale.len(),
        v.unavailable.len(),
        v.diverged.len(),
        outcome.wall.as_secs_f64()
    );
    outcome.ensure_clean()
}
