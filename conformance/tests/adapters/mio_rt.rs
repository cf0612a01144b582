//! stan-mio behind the suite's blocking interface.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use stan_conformance::{
    Client, ClientError, ClientRuntime, CloseReason, ConnectOptions, NatsApp, PubAck, Received,
    RouterStats, ServerHandle, ServerRuntime, Stack, Sub, SubscriptionOptions,
};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_mio::{
    Connection, EventLoop, ExternalEngine, Msg, Options, PubAckHandle, Server, Subscription,
};

/// Servers on mio (each on its own event-loop thread).
pub struct MioServer;

/// A running server: the NATS server (its engine in process, if any) and
/// the external engine, if any.
struct Handle {
    server: stan_mio::ServerHandle,
    external: Option<ExternalEngine>,
    url: String,
}

impl Handle {
    fn boxed(
        server: stan_mio::ServerHandle,
        external: Option<ExternalEngine>,
    ) -> Box<dyn ServerHandle> {
        let url = format!("nats://{}", server.local_addr());
        Box::new(Handle {
            server,
            external,
            url,
        })
    }
}

impl ServerHandle for Handle {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn stats(&self) -> RouterStats {
        self.server.stats().expect("the server loop is running")
    }

    fn connection_count(&self) -> usize {
        self.server
            .control()
            .connection_count()
            .expect("the server loop is running")
    }

    fn stop_engine(&mut self) {
        // An engine in process lives as long as its server loop.
        self.external
            .take()
            .expect("an external engine to stop")
            .stop();
    }

    fn stop(self: Box<Self>) {
        if let Some(e) = self.external {
            e.stop();
        }
        let _ = self.server.shutdown();
    }
}

impl ServerRuntime for MioServer {
    fn nats_only(config: RouterConfig) -> Box<dyn ServerHandle> {
        let s = Server::bind("127.0.0.1:0", config)
            .expect("bind")
            .spawn()
            .expect("spawn");
        Handle::boxed(s, None)
    }

    fn embedded_at(addr: &str) -> Box<dyn ServerHandle> {
        let s = Server::bind(addr, RouterConfig::default())
            .expect("bind")
            .with_engine(ServerConfig::default(), MemStore::new(100), |_| {})
            .spawn()
            .expect("spawn");
        Handle::boxed(s, None)
    }

    fn external() -> Box<dyn ServerHandle> {
        let s = Server::bind("127.0.0.1:0", RouterConfig::default())
            .expect("bind")
            .spawn()
            .expect("spawn");
        let url = format!("nats://{}", s.local_addr());
        let e = ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(100), |_| {})
            .expect("valid URL");
        Handle::boxed(s, Some(e))
    }

    fn embedded_file(dir: &std::path::Path) -> Box<dyn ServerHandle> {
        let opened = stan_conformance::restart::open_store(dir);
        let s = Server::bind("127.0.0.1:0", RouterConfig::default())
            .expect("bind")
            .with_file_engine(ServerConfig::default(), opened, 0, |_| {})
            .expect("store IO thread")
            .spawn()
            .expect("spawn");
        Handle::boxed(s, None)
    }

    fn external_file(dir: &std::path::Path) -> Box<dyn ServerHandle> {
        let opened = stan_conformance::restart::open_store(dir);
        let s = Server::bind("127.0.0.1:0", RouterConfig::default())
            .expect("bind")
            .spawn()
            .expect("spawn");
        let url = format!("nats://{}", s.local_addr());
        let e = ExternalEngine::start_file(&url, ServerConfig::default(), opened, 0, |_| {})
            .expect("valid URL and store IO thread");
        Handle::boxed(s, Some(e))
    }
}

/// Clients on mio (blocking).
pub struct MioClient;

struct C(Option<Connection>);

struct S {
    sub: Option<Subscription>,
    unacked: BTreeMap<u64, Msg>,
}

impl Sub for S {
    fn next(&mut self, timeout: Duration) -> Option<Received> {
        let m = self.sub.as_ref()?.recv_timeout(timeout)?;
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
        self.unacked
            .remove(&sequence)
            .ok_or(ClientError::BadSubscription)?
            .ack()
    }

    fn end(mut self: Box<Self>, close: bool) -> Result<(), ClientError> {
        let sub = self.sub.take().ok_or(ClientError::BadSubscription)?;
        if close {
            sub.close()
        } else {
            sub.unsubscribe()
        }
    }
}

struct A(PubAckHandle);

impl PubAck for A {
    fn id(&self) -> u64 {
        self.0.id().map_or(0, |id| id.0)
    }

    fn wait(&mut self, timeout: Duration) -> Option<Result<(), ClientError>> {
        self.0.wait_timeout(timeout)
    }
}

impl C {
    fn conn(&self) -> &Connection {
        self.0.as_ref().expect("open")
    }
}

impl Client for C {
    fn publish(&self, channel: &str, data: &str) -> Result<(), ClientError> {
        self.conn().publish(channel, data.to_owned())
    }

    fn publish_async(&self, channel: &str, data: &str) -> Result<Box<dyn PubAck>, ClientError> {
        let ack = self.conn().publish_async(channel, data.to_owned())?;
        Ok(Box::new(A(ack)))
    }

    fn publish_many(&self, channel: &str, n: usize) -> Result<(), ClientError> {
        let mut acks = Vec::with_capacity(n);
        for i in 0..n {
            acks.push(self.conn().publish_async(channel, format!("many-{i}"))?);
        }
        acks.into_iter().try_for_each(|a| a.wait())
    }

    fn subscribe(
        &self,
        channel: &str,
        options: SubscriptionOptions,
    ) -> Result<Box<dyn Sub>, ClientError> {
        let sub = self.conn().subscribe(channel, options)?;
        Ok(Box::new(S {
            sub: Some(sub),
            unacked: BTreeMap::new(),
        }))
    }

    fn lost(&self, timeout: Duration) -> Option<ClientError> {
        self.conn().connection_lost(timeout)
    }

    fn close(mut self: Box<Self>) -> Result<(), ClientError> {
        self.0.take().expect("open").close()
    }
}

impl ClientRuntime for MioClient {
    fn connect(url: &str, options: ConnectOptions) -> Result<Box<dyn Client>, String> {
        let (cluster, id) = (options.cluster_id.clone(), options.client_id.clone());
        let options = Options {
            stan: options,
            nats_name: None,
        };
        Connection::connect(url, &cluster, &id, options)
            .map(|c| Box::new(C(Some(c))) as Box<dyn Client>)
            .map_err(|e| e.to_string())
    }

    fn drive<A: NatsApp + Send + 'static>(mut stack: Stack<A>, limit: Duration) -> CloseReason {
        let (mut event_loop, handle) = EventLoop::<()>::new().expect("event loop");
        let (done, finished) = mpsc::channel::<()>();
        // Stops the loop at `limit`, unless it ended before.
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
                handle.stop();
            }
        });
        let reason = event_loop.drive(&mut stack, |_, ()| {}, |_| {});
        drop(done);
        let _ = watchdog.join();
        reason
    }
}
