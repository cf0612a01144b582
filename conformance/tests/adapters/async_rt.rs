//! `stan-async` behind the suite's blocking interface, written once for
//! every runtime it runs on: a runtime only says how to block on a future
//! ([`Exec`]); `stan-tokio` and `stan-smol` are two such runtimes.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_lite::future;
use stan_async::{
    Connection, EngineHandle, ExternalEngine, Latch, Msg, Notify, Options, PubAckFuture,
    RouterServer, Runtime, Subscription,
};
use stan_conformance::{
    Client, ClientError, ClientRuntime, CloseReason, ConnectOptions, NatsApp, PubAck, Received,
    RouterConfig, RouterStats, ServerHandle, ServerRuntime, Stack, Sub, SubscriptionOptions,
};
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_smol::Smol;
use stan_tokio::Tokio;

/// A `stan-async` runtime the suite can block on.
pub trait Exec: Runtime + Default {
    /// Runs `f` to completion on the runtime, blocking the calling thread.
    fn block_on<F: Future>(f: F) -> F::Output;
}

impl Exec for Tokio {
    /// On one multi-thread tokio runtime (two workers) shared by the tests
    /// of the binary.
    fn block_on<F: Future>(f: F) -> F::Output {
        static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RT.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime")
        })
        .block_on(f)
    }
}

impl Exec for Smol {
    /// On the calling thread; the tasks run on smol's global executor.
    fn block_on<F: Future>(f: F) -> F::Output {
        smol::block_on(f)
    }
}

/// Servers on `stan-async` over `R`.
pub struct AsyncServer<R>(PhantomData<R>);

/// Clients on `stan-async` over `R`.
pub struct AsyncClient<R>(PhantomData<R>);

/// Servers on tokio.
pub type TokioServer = AsyncServer<Tokio>;
/// Clients on tokio.
pub type TokioClient = AsyncClient<Tokio>;
/// Servers on smol.
pub type SmolServer = AsyncServer<Smol>;
/// Clients on smol.
pub type SmolClient = AsyncClient<Smol>;

/// `f`'s output, or `None` once `d` passed (on `R`'s timer).
async fn within<R: Runtime + Default, T>(d: Duration, f: impl Future<Output = T>) -> Option<T> {
    let at = Instant::now() + d;
    future::or(async { Some(f.await) }, async {
        R::default().sleep_until(at).await;
        None
    })
    .await
}

/// The streaming engine of a server, if any.
enum Engine<R: Runtime> {
    None,
    InProcess(EngineHandle),
    External(ExternalEngine<R>),
}

impl<R: Runtime> Engine<R> {
    async fn stop(self) {
        match self {
            Engine::None => {}
            Engine::InProcess(e) => e.stop().await,
            Engine::External(e) => e.stop().await,
        }
    }
}

struct Handle<R: Runtime> {
    server: RouterServer<R>,
    engine: Engine<R>,
    url: String,
}

impl<R: Exec> Handle<R> {
    fn boxed(server: RouterServer<R>, engine: Engine<R>) -> Box<dyn ServerHandle> {
        let url = format!("nats://{}", server.local_addr());
        Box::new(Handle {
            server,
            engine,
            url,
        })
    }
}

impl<R: Exec> ServerHandle for Handle<R> {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn stats(&self) -> RouterStats {
        self.server.stats()
    }

    fn connection_count(&self) -> usize {
        self.server.connection_count()
    }

    fn stop_engine(&mut self) {
        let engine = std::mem::replace(&mut self.engine, Engine::None);
        R::block_on(engine.stop());
    }

    fn stop(self: Box<Self>) {
        let Handle { server, engine, .. } = *self;
        R::block_on(async move {
            engine.stop().await;
            server.shutdown().await;
        });
    }
}

async fn bind<R: Runtime + Default>(addr: &str, config: RouterConfig) -> RouterServer<R> {
    RouterServer::bind(addr, config).await.expect("bind")
}

impl<R: Exec> ServerRuntime for AsyncServer<R> {
    fn nats_only(config: RouterConfig) -> Box<dyn ServerHandle> {
        let server = R::block_on(bind::<R>("127.0.0.1:0", config));
        Handle::boxed(server, Engine::None)
    }

    fn embedded_at(addr: &str) -> Box<dyn ServerHandle> {
        R::block_on(async {
            let server = bind::<R>(addr, RouterConfig::default()).await;
            let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
            Handle::boxed(server, Engine::InProcess(engine))
        })
    }

    fn external() -> Box<dyn ServerHandle> {
        R::block_on(async {
            let server = bind::<R>("127.0.0.1:0", RouterConfig::default()).await;
            let url = format!("nats://{}", server.local_addr());
            let engine = ExternalEngine::<R>::start(
                &url,
                ServerConfig::default(),
                MemStore::new(100),
                |_| {},
            )
            .expect("valid URL");
            Handle::boxed(server, Engine::External(engine))
        })
    }

    fn embedded_file(dir: &std::path::Path) -> Box<dyn ServerHandle> {
        let opened = stan_conformance::restart::open_store(dir);
        R::block_on(async {
            let server = bind::<R>("127.0.0.1:0", RouterConfig::default()).await;
            let engine = server
                .run_file_engine(ServerConfig::default(), opened, 0, |_| {})
                .expect("store IO thread");
            Handle::boxed(server, Engine::InProcess(engine))
        })
    }

    fn external_file(dir: &std::path::Path) -> Box<dyn ServerHandle> {
        let opened = stan_conformance::restart::open_store(dir);
        R::block_on(async {
            let server = bind::<R>("127.0.0.1:0", RouterConfig::default()).await;
            let url = format!("nats://{}", server.local_addr());
            let engine = ExternalEngine::<R>::start_file(
                R::default(),
                &url,
                ServerConfig::default(),
                opened,
                0,
                |_| {},
            )
            .expect("valid URL and store IO thread");
            Handle::boxed(server, Engine::External(engine))
        })
    }
}

struct C<R: Runtime>(Connection<R>);

struct S<R> {
    sub: Option<Subscription>,
    unacked: BTreeMap<u64, Msg>,
    _rt: PhantomData<R>,
}

struct A<R>(PubAckFuture, PhantomData<R>);

impl<R: Exec> PubAck for A<R> {
    fn id(&self) -> u64 {
        self.0.id().0
    }

    fn wait(&mut self, timeout: Duration) -> Option<Result<(), ClientError>> {
        R::block_on(within::<R, _>(timeout, &mut self.0))
    }
}

impl<R: Exec> Sub for S<R> {
    fn next(&mut self, timeout: Duration) -> Option<Received> {
        let sub = self.sub.as_mut()?;
        let m = R::block_on(within::<R, _>(timeout, sub.next())).flatten()?;
        let r = Received {
            sequence: m.sequence(),
            data: m.data().clone(),
            redelivered: m.redelivered(),
            redelivery_count: m.redelivery_count(),
        };
        self.unacked.insert(m.sequence(), m);
        Some(r)
    }

    fn ack(&mut self, sequence: u64) -> Result<(), ClientError> {
        let m = self
            .unacked
            .remove(&sequence)
            .ok_or(ClientError::BadSubscription)?;
        R::block_on(m.ack())
    }

    fn end(mut self: Box<Self>, close: bool) -> Result<(), ClientError> {
        let sub = self.sub.take().ok_or(ClientError::BadSubscription)?;
        R::block_on(async move {
            if close {
                sub.close().await
            } else {
                sub.unsubscribe().await
            }
        })
    }
}

impl<R: Exec> Client for C<R> {
    fn publish(&self, channel: &str, data: &str) -> Result<(), ClientError> {
        R::block_on(self.0.publish(channel, data.to_owned()))
    }

    fn publish_async(&self, channel: &str, data: &str) -> Result<Box<dyn PubAck>, ClientError> {
        let ack = R::block_on(self.0.publish_async(channel, data.to_owned()))?;
        Ok(Box::new(A::<R>(ack, PhantomData)))
    }

    fn publish_many(&self, channel: &str, n: usize) -> Result<(), ClientError> {
        R::block_on(async {
            let mut acks = Vec::with_capacity(n);
            for i in 0..n {
                acks.push(self.0.publish_async(channel, format!("many-{i}")).await?);
            }
            for a in acks {
                a.await?;
            }
            Ok(())
        })
    }

    fn subscribe(
        &self,
        channel: &str,
        options: SubscriptionOptions,
    ) -> Result<Box<dyn Sub>, ClientError> {
        let sub = R::block_on(self.0.subscribe(channel, options))?;
        Ok(Box::new(S::<R> {
            sub: Some(sub),
            unacked: BTreeMap::new(),
            _rt: PhantomData,
        }))
    }

    fn lost(&self, timeout: Duration) -> Option<ClientError> {
        R::block_on(within::<R, _>(timeout, self.0.connection_lost()))
    }

    fn close(self: Box<Self>) -> Result<(), ClientError> {
        R::block_on(self.0.close())
    }
}

impl<R: Exec> ClientRuntime for AsyncClient<R> {
    fn connect(url: &str, options: ConnectOptions) -> Result<Box<dyn Client>, String> {
        let (cluster, id) = (options.cluster_id.clone(), options.client_id.clone());
        let options = Options {
            stan: options,
            nats_name: None,
        };
        R::block_on(Connection::<R>::connect(url, &cluster, &id, options))
            .map(|c| Box::new(C(c)) as Box<dyn Client>)
            .map_err(|e| e.to_string())
    }

    fn drive<A: NatsApp + Send + 'static>(stack: Stack<A>, limit: Duration) -> CloseReason {
        let at = Instant::now() + limit;
        let (cell, wake, stop) = (Mutex::new(stack), Notify::default(), Latch::default());
        R::block_on(async {
            let rt = R::default();
            let watchdog = async {
                rt.sleep_until(at).await;
                // Stopped: `drive` closes the connection and returns.
                stop.set(());
                future::pending().await
            };
            future::or(stan_async::drive(&rt, &cell, &wake, &stop), watchdog).await
        })
    }
}
