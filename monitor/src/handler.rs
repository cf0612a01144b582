//! [`Monitor`]: a request (path and query) in, a [`Response`] out.
//!
//! Routes (`GET`; the HTTP layer handles methods):
//!
//! | path | answer |
//! |---|---|
//! | `/varz`, `/connz`, `/subsz`, `/routez`, `/healthz` | nats-server 2.9's JSON; `404` with a plain-text explanation when there is no embedded NATS server (`-ns`) |
//! | `/streaming/serverz`, `/storez`, `/clientsz`, `/channelsz` | nats-streaming-server 0.25's JSON; `503` when the engine is not running |
//! | `/streaming/isFTActive` | `204`, empty (this server is never an active FT member) |
//! | `/streaming` | the streaming server's HTML index |
//! | `/metrics` | Prometheus text (see the `prometheus` module for the names) |
//! | anything else | the dashboard's asset at that path, else Go's `404 page not found` |
//!
//! JSON answers follow nats-server's `ResponseHandler`: `callback=NAME`
//! turns them into JSONP (`application/javascript`, `NAME(...)`; a `NAME`
//! that is not a JavaScript identifier path is refused with `400`), and
//! plain JSON carries `Access-Control-Allow-Origin: *` (see
//! [`Response::headers`]). Bad query values get the Go servers' answers:
//! nats-server's `400` with Go's error text; the streaming server ignores
//! them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use stan_core::nats::router::ANNOUNCED_VERSION;

use crate::collect;
use crate::procfs::{self, CpuMeter, ProcStats};
use crate::prometheus;
use crate::query::Query;
use crate::render::nats::{self as nats_render, Clocks, ConnzOptions, SubsOption, SubszOptions};
use crate::render::{self, streaming};
use crate::source::Source;

/// `Content-Type` of JSON answers.
pub(crate) const JSON: &str = "application/json";
/// `Content-Type` of JSONP answers.
pub(crate) const JAVASCRIPT: &str = "application/javascript";
/// `Content-Type` of plain-text answers (Go's `http.Error`).
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
/// `Content-Type` of HTML pages.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// What the monitor reports about itself and the server's settings that
/// the snapshots do not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Host the monitoring port listens on (`/varz` `http_host`).
    pub http_host: String,
    /// Monitoring HTTP port (`/varz` `http_port`; 0 when off).
    pub http_port: u16,
    /// Monitoring HTTPS port (`/varz` `https_port`; 0 when off).
    pub https_port: u16,
    /// The server's version (`/streaming/serverz` `version` and the
    /// `stan_server_info` metric). `/varz` shows the NATS protocol level the
    /// embedded server announces in `INFO` instead
    /// ([`ANNOUNCED_VERSION`]), as clients and tools see it.
    pub version: String,
    /// Shown where the Go server shows its Go version (`go`).
    pub toolchain: String,
    /// When the configuration was loaded (`/varz` `config_load_time`).
    pub config_load_time: SystemTime,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`; empty for none (the `204` of `isFTActive`).
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// Headers to send besides `Content-Type`, as the Go servers send
    /// them: `Access-Control-Allow-Origin: *` on JSON (not JSONP) answers,
    /// `X-Content-Type-Options: nosniff` on plain-text ones (Go's
    /// `http.Error`).
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match self.content_type {
            JSON => &[("Access-Control-Allow-Origin", "*")],
            TEXT => &[("X-Content-Type-Options", "nosniff")],
            _ => &[],
        }
    }
}

/// The monitoring endpoints. Cheap to share (`Arc`); `handle` may be called
/// from several threads at once.
#[derive(Debug)]
pub struct Monitor {
    settings: MonitorSettings,
    /// `/varz` `http_req_stats`: requests served per nats-server endpoint.
    req_stats: Mutex<BTreeMap<String, u64>>,
    cpu: CpuMeter,
}

impl Monitor {
    /// A monitor with `settings`.
    pub fn new(settings: MonitorSettings) -> Self {
        Monitor {
            settings,
            req_stats: Mutex::new(BTreeMap::new()),
            cpu: CpuMeter::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &MonitorSettings {
        &self.settings
    }

    /// Answers `GET path?query` from `source`'s snapshots, with the clocks
    /// read now.
    pub fn handle(&self, path: &str, query: Option<&str>, source: &dyn Source) -> Response {
        self.handle_at(path, query, source, Instant::now(), SystemTime::now())
    }

    /// [`Monitor::handle`] with the clocks given: `now` on the monotonic
    /// clock the snapshots' `Instant`s are on, `wall` the wall clock at that
    /// moment (so that tests render deterministically).
    pub fn handle_at(
        &self,
        path: &str,
        query: Option<&str>,
        source: &dyn Source,
        now: Instant,
        wall: SystemTime,
    ) -> Response {
        let q = Query::parse(query);
        let clocks = Clocks { now, wall };
        match path {
            "/varz" | "/connz" | "/subsz" | "/routez" | "/healthz" => {
                self.nats(path, &q, source, clocks)
            }
            "/streaming" => streaming::index(),
            "/streaming/isFTActive" => Response {
                status: 204,
                content_type: "",
                body: Vec::new(),
            },
            "/streaming/serverz"
            | "/streaming/storez"
            | "/streaming/clientsz"
            | "/streaming/channelsz" => self.streaming(path, &q, source),
            "/metrics" => self.metrics(source, clocks),
            _ => match crate::assets::asset(path) {
                Some((content_type, body)) => {
                    if path == "/" {
                        self.count("/");
                    }
                    Response {
                        status: 200,
                        content_type,
                        body: body.to_vec(),
                    }
                }
                None if path == "/" => {
                    self.count("/");
                    render::root_index()
                }
                None => render::not_found(),
            },
        }
    }

    /// Counts a request to a nats-server endpoint (`http_req_stats`).
    fn count(&self, path: &str) {
        let mut stats = self.req_stats.lock().unwrap_or_else(|e| e.into_inner());
        *stats.entry(path.to_owned()).or_insert(0) += 1;
    }

    fn req_stats(&self) -> BTreeMap<String, u64> {
        self.req_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The embedded NATS server's endpoints. Requests are counted where
    /// nats-server counts them (before or after decoding the query).
    fn nats(&self, path: &str, q: &Query, source: &dyn Source, clocks: Clocks) -> Response {
        let snapshot = |subscriptions: bool| collect::nats(source, subscriptions);
        match path {
            "/varz" => {
                let Some(snap) = snapshot(false) else {
                    return no_embedded_nats();
                };
                self.count(path);
                let proc = ProcStats::read();
                let extras = nats_render::VarzExtras {
                    settings: &self.settings,
                    version: ANNOUNCED_VERSION,
                    cpu: self.cpu.percent(&proc, Instant::now()),
                    proc,
                    cores: procfs::cores(),
                    http_req_stats: self.req_stats(),
                };
                nats_render::varz(&snap, extras, clocks, q)
            }
            "/connz" => {
                let opts = match ConnzOptions::decode(q) {
                    Ok(opts) => opts,
                    Err(e) => return render::text(400, e),
                };
                let Some(snap) = snapshot(opts.subs != SubsOption::None) else {
                    return no_embedded_nats();
                };
                self.count(path);
                nats_render::connz(&snap, &opts, clocks, q)
            }
            "/subsz" => {
                self.count(path);
                let opts = match SubszOptions::decode(q) {
                    Ok(opts) => opts,
                    Err(e) => return render::text(400, e),
                };
                match snapshot(opts.subs) {
                    Some(snap) => nats_render::subsz(&snap, &opts, clocks, q),
                    None => no_embedded_nats(),
                }
            }
            "/routez" => {
                let subs = match nats_render::decode_subs(q) {
                    Ok(subs) => subs,
                    Err(e) => return render::text(400, e),
                };
                let Some(snap) = snapshot(subs != SubsOption::None) else {
                    return no_embedded_nats();
                };
                self.count(path);
                nats_render::routez(&snap, subs, clocks, q)
            }
            _ => {
                self.count(path);
                for key in ["js-enabled", "js-enabled-only", "js-server-only"] {
                    if let Err(e) = q.bool(key) {
                        return render::text(400, e);
                    }
                }
                match snapshot(false) {
                    Some(_) => nats_render::healthz(q),
                    None => no_embedded_nats(),
                }
            }
        }
    }

    /// The streaming endpoints.
    fn streaming(&self, path: &str, q: &Query, source: &dyn Source) -> Response {
        let subscriptions = matches!(path, "/streaming/clientsz" | "/streaming/channelsz")
            && streaming::wants_subs(q);
        let Some(snap) = collect::streaming(source, subscriptions) else {
            return render::text(
                503,
                "The streaming server is not running: no streaming monitoring data\n",
            );
        };
        match path {
            "/streaming/serverz" => {
                streaming::serverz(&snap, &self.settings, &ProcStats::read(), q)
            }
            "/streaming/storez" => streaming::storez(&snap, q),
            "/streaming/clientsz" => streaming::clientsz(&snap, q),
            _ => streaming::channelsz(&snap, q),
        }
    }

    /// `/metrics`.
    fn metrics(&self, source: &dyn Source, clocks: Clocks) -> Response {
        let nats = collect::nats(source, false);
        let engine = collect::streaming(source, true);
        let sync = source.sync_latency();
        let text = prometheus::render(&prometheus::Inputs {
            nats: nats.as_ref(),
            streaming: engine.as_ref(),
            sync_latency: sync.as_ref(),
            version: &self.settings.version,
            process: cfg!(target_os = "linux").then(ProcStats::read),
            now: clocks.now,
            wall: clocks.wall,
        });
        Response {
            status: 200,
            content_type: prometheus::CONTENT_TYPE,
            body: text.into_bytes(),
        }
    }
}

/// The NATS endpoints with an external NATS server (`-ns`).
fn no_embedded_nats() -> Response {
    render::text(
        404,
        "This server runs no embedded NATS server: the NATS monitoring endpoints \
         (/varz, /connz, /subsz, /routez, /healthz) are those of the external NATS \
         server it connects to.\n",
    )
}
