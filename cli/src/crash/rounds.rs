//! The crash loop: each round connects the durable subscriber and the
//! publishers to the running server, lets them work for a random delay,
//! kills the server with SIGKILL, closes every client while the server is
//! down (so no old client reconnects to the next server and answers for a
//! client ID), and restarts the server on the same store and port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clients::{AckPolicy, Ctx, Durable, Publishers};
use super::ledger::lock;
use super::opts::CrashOptions;
use super::server::{ServerProcess, ServerSpec};
use super::summary::Summary;
use super::violation::Violation;
use super::CrashError;

/// The server, how to start it again, and the clients' shared context.
#[derive(Debug)]
pub struct Rig {
    /// What the clients share.
    pub ctx: Arc<Ctx>,
    /// How the server is started.
    pub spec: ServerSpec,
    /// The running server.
    pub server: ServerProcess,
    starts: u32,
}

impl Rig {
    /// Starts the first server.
    pub async fn start(
        ctx: Arc<Ctx>,
        spec: ServerSpec,
        summary: &mut Summary,
    ) -> Result<Rig, CrashError> {
        let server = ServerProcess::start(&spec, 0).await?;
        summary.ready.push(server.ready_after);
        Ok(Rig {
            ctx,
            spec,
            server,
            starts: 1,
        })
    }

    /// Starts the server again (after a kill or a clean stop).
    pub async fn restart(&mut self, summary: &mut Summary) -> Result<(), CrashError> {
        self.server = ServerProcess::start(&self.spec, self.starts).await?;
        self.starts += 1;
        summary.ready.push(self.server.ready_after);
        Ok(())
    }
}

/// Runs rounds until `opts.kills` are done or `until` has passed.
pub async fn run(
    rig: &mut Rig,
    opts: &CrashOptions,
    until: Instant,
    summary: &mut Summary,
) -> Result<(), CrashError> {
    let mut rng = fastrand::Rng::with_seed(opts.seed ^ 0x6b69_6c6c);
    let (lo, hi) = (
        opts.min_delay.as_millis() as u64,
        opts.max_delay.as_millis() as u64,
    );
    for round in 0..opts.kills {
        if Instant::now() >= until {
            summary.stopped_early = true;
            break;
        }
        let started = Instant::now();
        let durable = Durable::start(&rig.ctx, AckPolicy::Rounds).await?;
        summary.durable.refusals += durable.refusals;
        let pubs = Publishers::start(&rig.ctx, round).await?;
        let delay = Duration::from_millis(rng.u64(lo..=hi));
        tokio::time::sleep(delay).await;
        if !opts.no_kill {
            if let Some(status) = rig.server.kill()? {
                summary.violations.push(Violation::ServerDied {
                    round,
                    status: status.to_string(),
                    log: rig.server.log().display().to_string(),
                });
            }
            summary.kills += 1;
        }
        tokio::join!(pubs.stop(&rig.ctx), durable.close());
        if !opts.no_kill {
            rig.restart(summary).await?;
        }
        summary.rounds += 1;
        super::debug(format_args!(
            "round {round}: crash after {} ms, {} acked so far, round took {} ms, server ready in {} ms",
            delay.as_millis(),
            lock(&rig.ctx.ledger).acked_total(),
            started.elapsed().as_millis(),
            rig.server.ready_after.as_millis()
        ));
    }
    Ok(())
}
