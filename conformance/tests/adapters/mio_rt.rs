//! stan-mio behind the suite's blocking interface.

use std::collections::BTreeMap;
use std::time::Duration;

use stan_conformance::{
    Client, ClientError, ClientRuntime, Received, ServerHandle, ServerRuntime, Sub,
    SubscriptionOptions,
};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_mio::{Connection, ExternalEngine, Msg, Options, Server, Subscription};

/// Servers on mio (each on its own event-loop thread).
pub struct MioServer;

enum Running {
    Embedded(stan_mio::ServerHandle),
    External(stan_mio::ServerHandle, ExternalEngine),
}

struct Handle(Option<Running>, String);

impl ServerHandle for Handle {
    fn url(&self) -> String {
        self.1.clone()
    }

    fn stop(mut self: Box<Self>) {
        match self.0.take() {
            Some(Running::Embedded(s)) => {
                let _ = s.shutdown();
            }
            Some(Running::External(s, e)) => {
                e.stop();
                let _ = s.shutdown();
            }
            None => {}
        }
    }
}

impl ServerRuntime for MioServer {
    fn nats_only(config: RouterConfig) -> Box<dyn ServerHandle> {
        let s = Server::bind("127.0.0.1:0", config)
            .expect("bind")
            .spawn()
            .expect("spawn");
        let url = format!("nats://{}", s.local_addr());
        Box::new(Handle(Some(Running::Embedded(s)), url))
    }

    fn embedded() -> Box<dyn ServerHandle> {
        let s = Server::bind("127.0.0.1:0", RouterConfig::default())
            .expect("bind")
            .with_engine(ServerConfig::default(), MemStore::new(100), |_| {})
            .spawn()
            .expect("spawn");
        let url = format!("nats://{}", s.local_addr());
        Box::new(Handle(Some(Running::Embedded(s)), url))
    }

    fn external() -> Box<dyn ServerHandle> {
        let s = Server::bind("127.0.0.1:0", RouterConfig::default())
            .expect("bind")
            .spawn()
            .expect("spawn");
        let url = format!("nats://{}", s.local_addr());
        let e = ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(100), |_| {})
            .expect("valid URL");
        Box::new(Handle(Some(Running::External(s, e)), url))
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

impl C {
    fn conn(&self) -> &Connection {
        self.0.as_ref().expect("open")
    }
}

impl Client for C {
    fn publish(&self, channel: &str, data: &str) -> Result<(), ClientError> {
        self.conn().publish(channel, data.to_owned())
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
    fn connect(url: &str, client_id: &str, fast_pings: bool) -> Result<Box<dyn Client>, String> {
        let mut o = Options::default();
        if fast_pings {
            o.stan.ping_interval = 1;
            o.stan.ping_max_out = 2;
        }
        Connection::connect(url, "test-cluster", client_id, o)
            .map(|c| Box::new(C(Some(c))) as Box<dyn Client>)
            .map_err(|e| e.to_string())
    }
}
