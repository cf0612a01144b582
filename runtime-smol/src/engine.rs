//! The STAN engine on smol, attached in process to a [`RouterServer`]: one
//! task that feeds the engine the router's deliveries and the clock, and
//! hands its commands back to the router. Every decision is the engine's
//! (`stan_core::nats::router::pump_local` moves the messages).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use smol::{future, Task};
use stan_core::nats::router::pump_local;
use stan_core::nats::router::ConnId;
use stan_core::stan::server::{Server, ServerConfig, ServerEvent};
use stan_core::stan::store::Store;

use crate::router::{RouterServer, Shared, Signal};
use crate::wake::{sleep_until, Notify};

/// Unix nanoseconds now (the engine's wall clock at start).
pub(crate) fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A running engine. Dropping it does not stop it; call
/// [`EngineHandle::stop`].
#[derive(Debug)]
pub struct EngineHandle {
    stop: Arc<Notify>,
    task: Option<Task<()>>,
}

impl EngineHandle {
    /// Stops the engine task and waits for it.
    pub async fn stop(mut self) {
        self.stop.notify();
        if let Some(task) = self.task.take() {
            task.await;
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl RouterServer {
    /// Runs a STAN engine over `store` against this router, in process.
    /// `on_event` receives the engine's events (for logging).
    pub fn run_engine<S, F>(&self, mut config: ServerConfig, store: S, on_event: F) -> EngineHandle
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::seed::or_entropy(config.seed);
        let shared = Arc::clone(&self.shared);
        let signal = Arc::new(Signal::default());
        let (conn, engine) = {
            let mut st = shared.lock();
            let now = Instant::now();
            let conn = st.router.attach_local(now, config.local_options());
            st.signals.insert(conn, Arc::clone(&signal));
            (conn, Server::new(config, store, now, unix_now_ns()))
        };
        let stop = Arc::new(Notify::default());
        let task = smol::spawn(run(
            shared,
            conn,
            signal,
            engine,
            on_event,
            Arc::clone(&stop),
        ));
        EngineHandle {
            stop,
            task: Some(task),
        }
    }
}

async fn run<S: Store, F: FnMut(ServerEvent)>(
    shared: Arc<Shared>,
    conn: ConnId,
    signal: Arc<Signal>,
    mut engine: Server<S>,
    mut on_event: F,
    stop: Arc<Notify>,
) {
    loop {
        let deadline = {
            let mut st = shared.lock();
            let now = Instant::now();
            pump_local(&mut st.router, conn, &mut engine, now);
            shared.dispatch(&mut st);
            engine.poll_timeout()
        };
        while let Some(event) = engine.poll_event() {
            on_event(event);
        }
        if signal.is_closing() {
            break;
        }
        let woken = async {
            signal.ready.notified().await;
            true
        };
        let slept = async {
            sleep_until(deadline).await;
            true
        };
        let stopped = async {
            stop.notified().await;
            false
        };
        // Stop first: a busy router must not starve it.
        if !future::or(stopped, future::or(woken, slept)).await {
            break;
        }
    }
    let mut st = shared.lock();
    shared.forget(&mut st, conn);
    shared.dispatch(&mut st);
}
