//! `stan-server -m PORT`: the monitoring HTTP server ([`stan_monitor`])
//! over whichever runtime serves, fed by that runtime's snapshot handles.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::SystemTime;

use stan_core::nats::router::{RouterSnapshot, SnapshotOptions};
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{EngineSnapshot, EngineSnapshotOptions};
use stan_monitor::http::HttpServer;
use stan_monitor::{Monitor, MonitorSettings, Source};
use stan_tls::ServerTls;

/// The embedded NATS server's snapshots.
pub type NatsFn = Box<dyn Fn(SnapshotOptions) -> Option<RouterSnapshot> + Send + Sync>;
/// The engine's snapshots.
pub type StreamingFn = Box<dyn Fn(EngineSnapshotOptions) -> Option<EngineSnapshot> + Send + Sync>;
/// The file store's sync latencies.
pub type SyncFn = Box<dyn Fn() -> Option<LatencyHistogram> + Send + Sync>;

/// A [`Source`] made of a runtime's handles.
pub struct Sources {
    /// The embedded NATS server (`None` with `-ns`).
    pub nats: Option<NatsFn>,
    /// The engine.
    pub streaming: StreamingFn,
    /// The file store's sync latencies.
    pub sync_latency: SyncFn,
}

impl Source for Sources {
    fn nats(&self, options: SnapshotOptions) -> Option<RouterSnapshot> {
        self.nats.as_ref().and_then(|f| f(options))
    }

    fn streaming(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        (self.streaming)(options)
    }

    fn sync_latency(&self) -> Option<LatencyHistogram> {
        (self.sync_latency)()
    }
}

/// The monitoring port, bound before the server starts (as nats-server
/// does), served once the handles exist.
#[derive(Debug)]
pub struct MonitorPort {
    listener: TcpListener,
    host: String,
}

impl MonitorPort {
    /// Binds `host:port` (port 0: a free one). The error is nats-server's
    /// fatal message.
    pub fn bind(host: &str, port: u16) -> Result<MonitorPort, String> {
        let addr = format!("{host}:{port}");
        TcpListener::bind(addr.as_str())
            .map(|listener| MonitorPort {
                listener,
                host: host.to_owned(),
            })
            .map_err(|e| format!("Can't listen to the Monitor port: listen tcp {addr}: {e}"))
    }

    /// Starts serving `sources` (over TLS with `tls`: `-ms`); logs
    /// nats-server's line with the address.
    pub fn serve(
        self,
        sources: Arc<Sources>,
        tls: Option<ServerTls>,
    ) -> Result<HttpServer, String> {
        let port = self.listener.local_addr().map_or(0, |a| a.port());
        let settings = MonitorSettings {
            http_host: self.host.clone(),
            http_port: port,
            https_port: 0,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            toolchain: "rust".to_owned(),
            config_load_time: SystemTime::now(),
        };
        let monitor = Arc::new(Monitor::new(settings));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            None => stan_monitor::http::serve(self.listener, monitor, sources),
            Some(tls) => stan_monitor::http::serve_tls(self.listener, monitor, sources, tls),
        }
        .map_err(|e| format!("Can't start the monitoring server: {e}"))?;
        crate::log!(
            Info,
            "Starting {scheme} monitor on {}:{}",
            self.host,
            server.local_addr().port()
        );
        Ok(server)
    }
}

/// The monitoring ports a server was asked for (`-m`, `-ms`), bound.
#[derive(Debug, Default)]
pub struct MonitorPorts {
    /// `-m`.
    pub http: Option<MonitorPort>,
    /// `-ms`.
    pub https: Option<MonitorPort>,
}

impl MonitorPorts {
    /// Serves `sources` on each port (HTTPS with `tls`); the servers run
    /// until dropped.
    pub fn serve(
        self,
        sources: Sources,
        tls: Option<&ServerTls>,
    ) -> Result<Vec<HttpServer>, String> {
        let sources = Arc::new(sources);
        let mut servers = Vec::new();
        if let Some(port) = self.http {
            servers.push(port.serve(sources.clone(), None)?);
        }
        if let Some(port) = self.https {
            let tls = tls.ok_or("https monitoring needs the server's TLS settings")?;
            servers.push(port.serve(sources, Some(tls.without_client_verification()))?);
        }
        Ok(servers)
    }
}

/// A runtime's handle on its engine, as monitoring reads it.
pub trait EngineSource: Clone + Send + Sync + 'static {
    /// A snapshot (a page of one).
    fn snapshot(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot>;
    /// The file store's sync latencies.
    fn sync_latency(&self) -> Option<LatencyHistogram>;
}

/// A runtime's handle on its embedded NATS server, as monitoring reads it.
pub trait RouterSource: Send + Sync + 'static {
    /// A snapshot (a page of one).
    fn snapshot(&self, options: SnapshotOptions) -> Option<RouterSnapshot>;
}

impl EngineSource for stan_async::EngineMonitor {
    fn snapshot(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        stan_async::EngineMonitor::snapshot(self, options)
    }
    fn sync_latency(&self) -> Option<LatencyHistogram> {
        stan_async::EngineMonitor::sync_latency(self)
    }
}

impl EngineSource for stan_mio::EngineMonitor {
    fn snapshot(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        stan_mio::EngineMonitor::snapshot(self, options)
    }
    fn sync_latency(&self) -> Option<LatencyHistogram> {
        stan_mio::EngineMonitor::sync_latency(self)
    }
}

impl EngineSource for stan_mio::Control {
    fn snapshot(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        self.engine_snapshot(options)
    }
    fn sync_latency(&self) -> Option<LatencyHistogram> {
        stan_mio::Control::sync_latency(self)
    }
}

impl RouterSource for stan_async::RouterMonitor {
    fn snapshot(&self, options: SnapshotOptions) -> Option<RouterSnapshot> {
        stan_async::RouterMonitor::snapshot(self, options)
    }
}

impl RouterSource for stan_mio::Control {
    fn snapshot(&self, options: SnapshotOptions) -> Option<RouterSnapshot> {
        self.router_snapshot(options)
    }
}

impl Sources {
    /// The sources of `engine` and, when the NATS server is embedded,
    /// `router`.
    pub fn new(router: Option<impl RouterSource>, engine: impl EngineSource) -> Sources {
        let sync = engine.clone();
        Sources {
            nats: router.map(|r| Box::new(move |o| r.snapshot(o)) as NatsFn),
            streaming: Box::new(move |o| engine.snapshot(o)),
            sync_latency: Box::new(move || sync.sync_latency()),
        }
    }
}
