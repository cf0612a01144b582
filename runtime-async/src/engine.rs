//! The STAN engine attached in process to a [`RouterServer`]: one task
//! that feeds the engine the router's deliveries and the clock, and hands
//! its commands back to the router. Every decision is the engine's
//! (`stan_core::nats::router::pump_local` moves the messages).

use std::sync::Arc;
use std::time::Instant;

use futures_lite::future;
use stan_core::nats::router::{pump_local, ConnId};
use stan_core::stan::server::{Server, ServerConfig, ServerEvent};
use stan_core::stan::store::Store;

use crate::io::sleep_opt;
use crate::router::{RouterServer, Shared, Signal};
use crate::runtime::Runtime;
use crate::wake::{Latch, SetOnDrop};

/// A running engine. Dropping it does not stop it; call
/// [`EngineHandle::stop`].
#[derive(Debug)]
pub struct EngineHandle {
    stop: Arc<Latch<()>>,
    done: Arc<Latch<()>>,
}

impl EngineHandle {
    /// Stops the engine task and waits for it.
    pub async fn stop(self) {
        self.stop.set(());
        self.done.wait().await;
    }
}

impl<R: Runtime> RouterServer<R> {
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
        let (conn, signal, engine) = {
            let mut st = shared.lock();
            let now = Instant::now();
            let conn = st.router.attach_local(now, config.local_options());
            let signal = shared.register(&mut st, conn);
            let engine = Server::new(config, store, now, crate::seed::unix_now_ns());
            (conn, signal, engine)
        };
        let stop = Arc::new(Latch::default());
        let done = Arc::new(Latch::default());
        let rt = self.runtime().clone();
        let task = run(
            rt.clone(),
            Attached {
                shared,
                conn,
                signal,
            },
            engine,
            on_event,
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        rt.spawn(Box::pin(task));
        EngineHandle { stop, done }
    }
}

/// The engine's session in the router.
struct Attached {
    shared: Arc<Shared>,
    conn: ConnId,
    signal: Arc<Signal>,
}

async fn run<R: Runtime, S: Store, F: FnMut(ServerEvent)>(
    rt: R,
    at: Attached,
    mut engine: Server<S>,
    mut on_event: F,
    stop: Arc<Latch<()>>,
    done: Arc<Latch<()>>,
) {
    let _done = SetOnDrop(done, ());
    loop {
        let deadline = {
            let mut st = at.shared.lock();
            pump_local(&mut st.router, at.conn, &mut engine, Instant::now());
            at.shared.dispatch(&mut st);
            engine.poll_timeout()
        };
        while let Some(event) = engine.poll_event() {
            on_event(event);
        }
        if at.signal.is_closing() || stop.is_set() {
            break;
        }
        future::or(
            future::or(at.signal.ready.notified(), sleep_opt(&rt, deadline)),
            stop.wait(),
        )
        .await;
    }
    let mut st = at.shared.lock();
    at.shared.forget(&mut st, at.conn);
    at.shared.dispatch(&mut st);
}
