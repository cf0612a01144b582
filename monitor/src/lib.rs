//! `stan-monitor`: the HTTP monitoring of `stan-server`.
//!
//! * the embedded NATS server's endpoints as nats-server serves them:
//!   `/varz`, `/connz`, `/subsz`, `/routez`, `/healthz`;
//! * the streaming endpoints as the Go streaming server serves them:
//!   `/streaming/serverz`, `/streaming/storez`, `/streaming/clientsz`,
//!   `/streaming/channelsz`, `/streaming/isFTActive`;
//! * `/metrics` in the Prometheus text format;
//! * a live dashboard at `/`, served from assets compiled into the binary.
//!
//! Every answer is rendered from snapshots the core takes on demand
//! ([`Source`]); nothing here is on the message path. [`Monitor::handle`]
//! is pure request-to-response logic; [`http::serve`] puts it behind a
//! hyper HTTP/1 server on a thread of its own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assets;
mod collect;
mod handler;
pub mod http;
mod procfs;
mod prometheus;
mod query;
mod render;
mod source;
mod timefmt;

pub use handler::{Monitor, MonitorSettings, Response};
pub use source::Source;
