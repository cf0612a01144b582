//! stan-smol behind the suite's blocking interface.

use std::collections::BTreeMap;
use std::time::Duration;

use stan_conformance::{
    Client, ClientError, ClientRuntime, Received, ServerHandle, ServerRuntime, Sub,
    SubscriptionOptions,
};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_smol::{
    Connection, EngineHandle, ExternalEngine, Msg, Options, RouterServer, Subscription,
};

/// Runs `f` to completion on smol's executor.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    smol::block_on(f)
}

/// `f`, or `None` after `d`.
async fn within<T>(d: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(f.await) }, async {
        smol::Timer::after(d).await;
        None
    })
    .await
}

/// Servers on smol.
pub struct SmolServer;

enum Running {
    Embedded(RouterServer, EngineHandle),
    External(RouterServer, ExternalEngine),
    Nats(RouterServer),
}

struct Handle(Option<Running>, String);

impl ServerHandle for Handle {
    fn url(&self) -> String {
        self.1.clone()
    }

    fn stop(mut self: Box<Self>) {
        if let Some(r) = self.0.take() {
            block_on(async move {
                match r {
                    Running::Embedded(s, e) => {
                        e.stop().await;
                        s.shutdown().await;
                    }
                    Running::External(s, e) => {
                        e.stop().await;
                        s.shutdown().await;
                    }
                    Running::Nats(s) => s.shutdown().await,
                }
            });
        }
    }
}

impl ServerRuntime for SmolServer {
    fn nats_only(config: RouterConfig) -> Box<dyn ServerHandle> {
        block_on(async {
            let s = RouterServer::bind("127.0.0.1:0", config)
                .await
                .expect("bind");
            let url = format!("nats://{}", s.local_addr());
            Box::new(Handle(Some(Running::Nats(s)), url)) as Box<dyn ServerHandle>
        })
    }

    fn embedded() -> Box<dyn ServerHandle> {
        block_on(async {
            let s = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
                .await
                .expect("bind");
            let e = s.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
            let url = format!("nats://{}", s.local_addr());
            Box::new(Handle(Some(Running::Embedded(s, e)), url)) as Box<dyn ServerHandle>
        })
    }

    fn external() -> Box<dyn ServerHandle> {
        block_on(async {
            let s = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
                .await
                .expect("bind");
            let url = format!("nats://{}", s.local_addr());
            let e =
                ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(100), |_| {})
                    .expect("valid URL");
            Box::new(Handle(Some(Running::External(s, e)), url)) as Box<dyn ServerHandle>
        })
    }
}

/// Clients on smol.
pub struct SmolClient;

struct C(Connection);

struct S {
    sub: Option<Subscription>,
    unacked: BTreeMap<u64, Msg>,
}

impl Sub for S {
    fn next(&mut self, timeout: Duration) -> Option<Received> {
        let sub = self.sub.as_mut()?;
        let m = block_on(async { within(timeout, sub.next()).await.flatten() })?;
        let r = Received {
            sequence: m.sequence(),
            data: m.data().clone(),
            redelivered: m.redelivered(),
        };
        self.unacked.insert(m.sequence(), m);
        Some(r)
    }

    fn ack(&mut self, sequence: u64) -> Result<(), ClientError> {
        let m = self
            .unacked
            .remove(&sequence)
            .ok_or(ClientError::BadSubscription)?;
        block_on(m.ack())
    }

    fn end(mut self: Box<Self>, close: bool) -> Result<(), ClientError> {
        let sub = self.sub.take().ok_or(ClientError::BadSubscription)?;
        block_on(async move {
            if close {
                sub.close().await
            } else {
                sub.unsubscribe().await
            }
        })
    }
}

impl Client for C {
    fn publish(&self, channel: &str, data: &str) -> Result<(), ClientError> {
        block_on(self.0.publish(channel, data.to_owned()))
    }

    fn publish_many(&self, channel: &str, n: usize) -> Result<(), ClientError> {
        block_on(async {
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
        let sub = block_on(self.0.subscribe(channel, options))?;
        Ok(Box::new(S {
            sub: Some(sub),
            unacked: BTreeMap::new(),
        }))
    }

    fn lost(&self, timeout: Duration) -> Option<ClientError> {
        block_on(async { within(timeout, self.0.connection_lost()).await })
    }

    fn close(self: Box<Self>) -> Result<(), ClientError> {
        block_on(self.0.close())
    }
}

impl ClientRuntime for SmolClient {
    fn connect(url: &str, client_id: &str, fast_pings: bool) -> Result<Box<dyn Client>, String> {
        let mut o = Options::default();
        if fast_pings {
            o.stan.ping_interval = 1;
            o.stan.ping_max_out = 2;
        }
        block_on(Connection::connect(url, "test-cluster", client_id, o))
            .map(|c| Box::new(C(c)) as Box<dyn Client>)
            .map_err(|e| e.to_string())
    }
}
