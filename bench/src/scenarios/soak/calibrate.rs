//! Capacity of each operation alone, measured closed loop at the start of the run, and the
//! mix's rates derived from it.
//!
//! If operation `k` alone saturates the cluster at `C_k` per second, a mix running each at
//! `r_k` uses `Σ r_k / C_k` of the capacity. Each operation gets a share `s_k` of the
//! `--load` budget (`Σ s_k = 1`): `/auth` runs at `load · s_auth · C_auth`; a creation and the
//! revocation it later causes are paid together, so logins run at
//! `load · s_login / (1/C_login + 1/C_end)`, API creations likewise, and token grants at
//! `load · s_token / (2/C_grant)` (a token revocation is assumed to cost what a grant costs: one
//! client authentication and one replicated write).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::Cluster;
use futures::StreamExt as _;

use super::ops::{Ctx, Op};
use super::pace::{Recorder, revoke_one};
use crate::load::{Load, Measure, Worker};
use crate::scenarios::auth::target::Target;
use crate::scenarios::auth::{Mode, measure};
use crate::scenarios::sessions::Session;

/// Measured capacities, operations per second (each alone, closed loop).
#[derive(Debug, Clone, Copy, Default)]
pub struct Capacity {
    pub auth: f64,
    pub login: f64,
    pub create: f64,
    pub end: f64,
    pub grant: f64,
}

/// Shares of the capacity budget.
#[derive(Debug, Clone, Copy)]
pub struct Shares {
    pub auth: f64,
    pub login: f64,
    pub create: f64,
    pub token: f64,
}

impl Capacity {
    /// The open-loop rates at `load` (0..1) of capacity, split by `shares`: (`/auth`, then
    /// each paced creation).
    pub fn rates(&self, load: f64, s: Shares) -> (f64, Vec<(Op, f64)>) {
        let total = (s.auth + s.login + s.create + s.token).max(1e-9);
        let budget = |share: f64| load * share / total;
        let pair = |c: f64, r: f64| {
            if c > 0.0 && r > 0.0 {
                1.0 / c + 1.0 / r
            } else {
                0.0
            }
        };
        let paced = |share: f64, cost: f64| {
            if cost > 0.0 {
                budget(share) / cost
            } else {
                0.0
            }
        };
        let creations = vec![
            (Op::Login, paced(s.login, pair(self.login, self.end))),
            (Op::Create, paced(s.create, pair(self.create, self.end))),
            (Op::Grant, paced(s.token, pair(self.grant, self.grant))),
        ];
        (budget(s.auth) * self.auth, creations)
    }
}

/// One closed-loop client of an operation, on the calibration's own pools.
struct CalWorker {
    ctx: Arc<Ctx>,
    op: Op,
}

impl Worker for CalWorker {
    async fn call(&mut self, _seq: u64) -> Result<(), String> {
        match self.op {
            Op::EndSession | Op::RevokeToken => {
                let Some(p) = self.ctx.take_oldest(self.op) else {
                    // Let the runtime run the window's timer (this returns without awaiting).
                    tokio::task::yield_now().await;
                    return Err("pool empty".into());
                };
                self.ctx.revoke(self.op, &p).await.map(|_| ())
            }
            op => {
                let c = self.ctx.create(op).await?;
                if let Some(c) = c {
                    // Uncapped pools: nothing is pushed out.
                    let _ = self.ctx.add(op, c);
                }
                Ok(())
            }
        }
    }
}

async fn closed(ctx: &Arc<Ctx>, op: Op, clients: usize, warmup: f64, m: Measure) -> Result<f64> {
    let workers: Vec<CalWorker> = (0..clients.max(1))
        .map(|_| CalWorker {
            ctx: ctx.clone(),
            op,
        })
        .collect();
    let mut load = Load::start(workers, 4096);
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    load.begin_window();
    load.wait_window(m).await;
    load.end_window();
    let r = load.stop().await?;
    eprintln!(
        "authd-bench soak: calibration {}: {:.0}/s ({} errors{})",
        op.name(),
        r.ops_per_sec(),
        r.errors,
        r.first_error
            .as_deref()
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    Ok(r.ops_per_sec())
}

/// Measures every operation for `secs` seconds (after 1 s of warm-up), then ends what the
/// calibration created: its sessions one by one, its tokens by deleting its client.
pub async fn calibrate(
    cluster: &Cluster,
    ctx: &Ctx,
    sessions: &[Session],
    secs: f64,
    common: &crate::scenarios::Common,
) -> Result<Capacity> {
    let leader = cluster.leader().await?;
    let api = cluster.api(leader);
    let (client, basic) =
        crate::scenarios::token::worker::register_named(&api, "soak-calibration").await?;
    let cal = Arc::new(ctx.calibration(basic));
    let period = Measure::For(Duration::from_secs_f64(secs));
    let quick = crate::scenarios::Common {
        duration: secs,
        warmup: 1.0,
        quiet_max: 0.0,
        ..common.clone()
    };
    let target = Target::authd(cluster, sessions)?;
    let auth = measure(&target, Mode::Closed { conns: 64 }, 1, &quick).await?;
    eprintln!(
        "authd-bench soak: calibration auth: {:.0}/s",
        auth.ops_per_sec
    );
    let mut cap = Capacity {
        auth: auth.ops_per_sec,
        login: closed(&cal, Op::Login, 6, 1.0, period).await?,
        create: closed(&cal, Op::Create, 64, 1.0, period).await?,
        ..Capacity::default()
    };
    let pooled = cal.pooled().0 as u64;
    if pooled < 1000 {
        anyhow::bail!("the calibration made only {pooled} sessions to end (see the errors above)");
    }
    let count = Measure::Count(pooled.saturating_sub(64).max(1));
    cap.end = closed(&cal, Op::EndSession, 64, 0.0, count).await?;
    cap.grant = closed(&cal, Op::Grant, 64, 1.0, period).await?;
    // What is left of the calibration's sessions, then its tokens with its client.
    let rec = Recorder::default();
    let left: Vec<(String, bool)> =
        std::iter::from_fn(|| cal.take_oldest(Op::EndSession)).collect();
    futures::stream::iter(left)
        .for_each_concurrent(32, |p| revoke_one(&cal, &rec, Op::EndSession, p))
        .await;
    api.signed(
        reqwest::Method::DELETE,
        &format!("/api/v1/clients/{client}"),
        None,
    )
    .await?
    .expect(200)
    .context("deleting the calibration's OAuth2 client (and its tokens)")?;
    Ok(cap)
}
