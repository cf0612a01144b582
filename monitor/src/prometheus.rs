//! `/metrics`: the Prometheus text exposition format 0.0.4
//! (`text/plain; version=0.0.4; charset=utf-8`). Every family has its
//! `# HELP` and `# TYPE`; counters end in `_total`; durations are in
//! seconds, sizes in bytes; label values are escaped (`\\`, `\"`, `\n`).
//!
//! Streaming engine (`stan_`, when the engine runs):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `stan_up` | gauge (1 running, 0 stopped) | |
//! | `stan_server_info` | gauge (1) | `cluster_id`, `server_id`, `version`, `state`, `store` |
//! | `stan_start_time_seconds` | gauge (Unix time) | |
//! | `stan_uptime_seconds` | gauge | |
//! | `stan_clients` | gauge | |
//! | `stan_channels` | gauge | |
//! | `stan_subscriptions` | gauge (offline durables included) | |
//! | `stan_received_messages_total` | counter (messages stored) | |
//! | `stan_received_bytes_total` | counter | |
//! | `stan_sent_messages_total` | counter (deliveries, redeliveries included) | |
//! | `stan_sent_bytes_total` | counter | |
//! | `stan_store_flushes_total` | counter | |
//! | `stan_store_read_failures_total` | counter (reads tried again later) | |
//! | `stan_store_damaged_messages_total` | counter (skipped when read back) | |
//! | `stan_channel_messages` | gauge | `channel` |
//! | `stan_channel_bytes` | gauge | `channel` |
//! | `stan_channel_first_sequence` | gauge | `channel` |
//! | `stan_channel_last_sequence` | gauge | `channel` |
//! | `stan_channel_subscriptions` | gauge | `channel` |
//! | `stan_subscription_pending_messages` | gauge | `channel`, `client_id`, `durable`, `queue`, `inbox` |
//! | `stan_subscription_max_inflight_messages` | gauge | same |
//! | `stan_subscription_ack_wait_seconds` | gauge | same |
//! | `stan_subscription_last_sent_sequence` | gauge | same |
//! | `stan_subscription_stalled` | gauge (0/1) | same |
//! | `stan_subscription_offline` | gauge (0/1) | same |
//! | `stan_store_sync_latency_seconds` | histogram (file store only) | `le` |
//!
//! Embedded NATS server (`nats_`, absent with an external one):
//!
//! | family | type |
//! |---|---|
//! | `nats_start_time_seconds` | gauge (Unix time) |
//! | `nats_uptime_seconds` | gauge |
//! | `nats_connections` | gauge (open now) |
//! | `nats_accepted_connections_total` | counter |
//! | `nats_subscriptions` | gauge |
//! | `nats_received_messages_total` | counter |
//! | `nats_received_bytes_total` | counter |
//! | `nats_sent_messages_total` | counter |
//! | `nats_sent_bytes_total` | counter |
//! | `nats_slow_consumers_total` | counter |
//!
//! Process (Linux, from `/proc`): `process_resident_memory_bytes`,
//! `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime};

use stan_core::nats::router::RouterSnapshot;
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{EngineSnapshot, SubscriptionSnapshot};

use crate::procfs::ProcStats;
use crate::timefmt::{unix_nanos, wall_at};

/// The content type of the exposition.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/metrics` is rendered from.
pub(crate) struct Inputs<'a> {
    /// The embedded NATS server, if any.
    pub(crate) nats: Option<&'a RouterSnapshot>,
    /// The engine, if running (with its subscriptions).
    pub(crate) streaming: Option<&'a EngineSnapshot>,
    /// The file store's sync latencies, if any.
    pub(crate) sync_latency: Option<&'a LatencyHistogram>,
    /// The version shown in `stan_server_info`.
    pub(crate) version: &'a str,
    /// The process, from `/proc` (`None` elsewhere).
    pub(crate) process: Option<ProcStats>,
    /// `now` on the snapshots' clock is `wall`.
    pub(crate) now: Instant,
    /// The wall clock at `now`.
    pub(crate) wall: SystemTime,
}

/// The exposition text.
pub(crate) fn render(inputs: &Inputs<'_>) -> String {
    let mut out = Exposition::default();
    streaming(&mut out, inputs);
    if let Some(nats) = inputs.nats {
        embedded_nats(&mut out, nats, inputs);
    }
    if let Some(p) = inputs.process {
        process(&mut out, &p);
    }
    out.text
}

/// A metric type.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The text being written.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Value) {
        let labels = label_set(labels);
        self.sample_with(name, &labels, value);
    }

    /// A sample whose label set is already rendered ([`label_set`]).
    fn sample_with(&mut self, name: &str, labels: &str, value: impl Value) {
        self.text.push_str(name);
        self.text.push_str(labels);
        self.text.push(' ');
        value.write(&mut self.text);
        self.text.push('\n');
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A sample value.
trait Value {
    fn write(&self, out: &mut String);
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for usize {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

impl Value for bool {
    fn write(&self, out: &mut String) {
        out.push(if *self { '1' } else { '0' });
    }
}

/// `{k="v",…}` with the values escaped; empty without labels.
fn label_set(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    if labels.is_empty() {
        return out;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        push_escaped_label(&mut out, v);
        out.push('"');
    }
    out.push('}');
    out
}

fn push_escaped_label(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Seconds of a Unix nanosecond count.
fn unix_seconds(ns: i128) -> f64 {
    ns as f64 / 1e9
}

/// `n` microseconds as a decimal number of seconds (`0.00005`).
fn micros_as_seconds(n: u64) -> String {
    let (s, us) = (n / 1_000_000, n % 1_000_000);
    if us == 0 {
        s.to_string()
    } else {
        format!("{s}.{}", format!("{us:06}").trim_end_matches('0'))
    }
}

fn streaming(out: &mut Exposition, inputs: &Inputs<'_>) {
    use Kind::{Counter, Gauge};
    out.single(
        "stan_up",
        Gauge,
        "Whether the streaming engine is running (1) or not (0).",
        inputs.streaming.is_some(),
    );
    let Some(s) = inputs.streaming else {
        return;
    };
    out.family(
        "stan_server_info",
        Gauge,
        "The streaming server's identity, as labels.",
    );
    out.sample(
        "stan_server_info",
        &[
            ("cluster_id", &s.cluster_id),
            ("server_id", &s.server_id),
            ("version", inputs.version),
            ("state", s.state),
            ("store", s.store_kind),
        ],
        1u64,
    );
    out.single(
        "stan_start_time_seconds",
        Gauge,
        "When the streaming engine started, in seconds since the Unix epoch.",
        unix_seconds(i128::from(s.start_unix_ns)),
    );
    out.single(
        "stan_uptime_seconds",
        Gauge,
        "How long the streaming engine has been running.",
        unix_seconds(i128::from(s.now_unix_ns.saturating_sub(s.start_unix_ns))),
    );
    out.single(
        "stan_clients",
        Gauge,
        "Registered streaming clients.",
        s.clients.len(),
    );
    out.single("stan_channels", Gauge, "Channels.", s.channels.len());
    out.single(
        "stan_subscriptions",
        Gauge,
        "Subscriptions, offline durables and durable queue groups included.",
        s.subscription_count,
    );
    let st = &s.stats;
    out.single(
        "stan_received_messages_total",
        Counter,
        "Messages published and stored.",
        st.in_msgs,
    );
    out.single(
        "stan_received_bytes_total",
        Counter,
        "Bytes of the messages published and stored.",
        st.in_bytes,
    );
    out.single(
        "stan_sent_messages_total",
        Counter,
        "Messages delivered to subscriptions, redeliveries included.",
        st.out_msgs,
    );
    out.single(
        "stan_sent_bytes_total",
        Counter,
        "Bytes of the messages delivered, redeliveries included.",
        st.out_bytes,
    );
    out.single(
        "stan_store_flushes_total",
        Counter,
        "Store flushes (one per batch of publishes).",
        st.flushes,
    );
    out.single(
        "stan_store_read_failures_total",
        Counter,
        "Reads of messages from the store that failed (each is tried again later).",
        st.store_read_failures,
    );
    out.single(
        "stan_store_damaged_messages_total",
        Counter,
        "Messages found damaged or missing on disk when read back (skipped, never delivered).",
        st.damaged_msgs,
    );
    channels(out, s);
    subscriptions(out, s);
    if let Some(h) = inputs.sync_latency {
        sync_latency(out, h);
    }
}

fn channels(out: &mut Exposition, s: &EngineSnapshot) {
    type Field = fn(&stan_core::stan::server::ChannelSnapshot) -> u64;
    let families: [(&str, &str, Field); 5] = [
        (
            "stan_channel_messages",
            "Messages stored in the channel.",
            |c| c.msgs,
        ),
        ("stan_channel_bytes", "Bytes stored in the channel.", |c| {
            c.bytes
        }),
        (
            "stan_channel_first_sequence",
            "First sequence stored in the channel.",
            |c| c.first_seq,
        ),
        (
            "stan_channel_last_sequence",
            "Last sequence stored in the channel.",
            |c| c.last_seq,
        ),
        (
            "stan_channel_subscriptions",
            "Subscriptions on the channel, offline durables included.",
            |c| c.subs_count as u64,
        ),
    ];
    for (name, help, field) in families {
        out.family(name, Kind::Gauge, help);
        for c in &s.channels {
            out.sample(name, &[("channel", &c.name)], field(c));
        }
    }
}

fn subscriptions(out: &mut Exposition, s: &EngineSnapshot) {
    type Field = fn(&SubscriptionSnapshot) -> f64;
    let families: [(&str, &str, Field); 6] = [
        (
            "stan_subscription_pending_messages",
            "Messages delivered and not yet acknowledged.",
            |sub| sub.pending_count as f64,
        ),
        (
            "stan_subscription_max_inflight_messages",
            "Most unacknowledged messages allowed.",
            |sub| sub.max_inflight as f64,
        ),
        (
            "stan_subscription_ack_wait_seconds",
            "Time before an unacknowledged message is redelivered.",
            |sub| sub.ack_wait.as_secs_f64(),
        ),
        (
            "stan_subscription_last_sent_sequence",
            "Last sequence sent to the subscription.",
            |sub| sub.last_sent as f64,
        ),
        (
            "stan_subscription_stalled",
            "Whether the subscription has reached its max inflight (1) or not (0).",
            |sub| f64::from(u8::from(sub.is_stalled)),
        ),
        (
            "stan_subscription_offline",
            "Whether the subscription is an offline durable (1) or not (0).",
            |sub| f64::from(u8::from(sub.is_offline)),
        ),
    ];
    // Each subscription's label set, rendered once for all families.
    let subs: Vec<(&SubscriptionSnapshot, String)> = s
        .channels
        .iter()
        .flat_map(|c| {
            c.subscriptions.iter().map(move |sub| {
                let labels = label_set(&[
                    ("channel", &c.name),
                    ("client_id", &sub.client_id),
                    ("durable", &sub.durable_name),
                    ("queue", &sub.queue_name),
                    ("inbox", &sub.inbox),
                ]);
                (sub, labels)
            })
        })
        .collect();
    for (name, help, field) in families {
        out.family(name, Kind::Gauge, help);
        for (sub, labels) in &subs {
            out.sample_with(name, labels, field(sub));
        }
    }
}

fn sync_latency(out: &mut Exposition, h: &LatencyHistogram) {
    const NAME: &str = "stan_store_sync_latency_seconds";
    out.family(NAME, Kind::Histogram, "Latency of the file store's syncs.");
    let bucket = format!("{NAME}_bucket");
    for (bound, count) in h.cumulative() {
        let le = bound.map_or_else(|| "+Inf".to_owned(), micros_as_seconds);
        out.sample(&bucket, &[("le", &le)], count);
    }
    out.sample(&format!("{NAME}_sum"), &[], h.sum_us as f64 / 1e6);
    out.sample(&format!("{NAME}_count"), &[], h.count);
}

fn embedded_nats(out: &mut Exposition, n: &RouterSnapshot, inputs: &Inputs<'_>) {
    use Kind::{Counter, Gauge};
    let start = wall_at(n.started_at, inputs.now, inputs.wall);
    out.single(
        "nats_start_time_seconds",
        Gauge,
        "When the embedded NATS server started, in seconds since the Unix epoch.",
        unix_seconds(unix_nanos(start)),
    );
    out.single(
        "nats_uptime_seconds",
        Gauge,
        "How long the embedded NATS server has been running.",
        inputs
            .now
            .saturating_duration_since(n.started_at)
            .as_secs_f64(),
    );
    out.single(
        "nats_connections",
        Gauge,
        "Open client connections, in-process ones included.",
        n.connections.len(),
    );
    out.single(
        "nats_accepted_connections_total",
        Counter,
        "Client connections accepted.",
        n.stats.total_connections,
    );
    out.single(
        "nats_subscriptions",
        Gauge,
        "Subscriptions in the subject index.",
        n.sublist.num_subscriptions,
    );
    out.single(
        "nats_received_messages_total",
        Counter,
        "Messages published by clients.",
        n.stats.in_msgs,
    );
    out.single(
        "nats_received_bytes_total",
        Counter,
        "Payload bytes published by clients.",
        n.stats.in_bytes,
    );
    out.single(
        "nats_sent_messages_total",
        Counter,
        "Messages delivered to clients.",
        n.stats.out_msgs,
    );
    out.single(
        "nats_sent_bytes_total",
        Counter,
        "Payload bytes delivered to clients.",
        n.stats.out_bytes,
    );
    out.single(
        "nats_slow_consumers_total",
        Counter,
        "Connections closed as slow consumers.",
        n.stats.slow_consumers,
    );
}

fn process(out: &mut Exposition, p: &ProcStats) {
    use Kind::{Counter, Gauge};
    out.single(
        "process_resident_memory_bytes",
        Gauge,
        "Resident memory size in bytes.",
        p.rss_bytes,
    );
    out.single(
        "process_cpu_seconds_total",
        Counter,
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    out.single(
        "process_open_fds",
        Gauge,
        "Number of open file descriptors.",
        p.open_fds,
    );
    if p.max_fds != u64::MAX {
        out.single(
            "process_max_fds",
            Gauge,
            "Maximum number of open file descriptors.",
            p.max_fds,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(
            label_set(&[("a", "a\\b\"c\nd"), ("b", "")]),
            "{a=\"a\\\\b\\\"c\\nd\",b=\"\"}"
        );
        assert_eq!(micros_as_seconds(50), "0.00005");
        assert_eq!(micros_as_seconds(2_500_000), "2.5");
        assert_eq!(micros_as_seconds(1_000_000), "1");
        let mut out = String::new();
        f64::INFINITY.write(&mut out);
        0.25f64.write(&mut out);
        assert_eq!(out, "+Inf0.25");
    }

    #[test]
    fn histogram_is_cumulative_with_inf() {
        let mut h = LatencyHistogram::default();
        h.observe(std::time::Duration::from_micros(40));
        h.observe(std::time::Duration::from_millis(3));
        h.observe(std::time::Duration::from_secs(9));
        let mut out = Exposition::default();
        sync_latency(&mut out, &h);
        let text = out.text;
        assert!(text.contains("stan_store_sync_latency_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(text.contains("stan_store_sync_latency_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("stan_store_sync_latency_seconds_bucket{le=\"5\"} 2\n"));
        assert!(text.contains("stan_store_sync_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("stan_store_sync_latency_seconds_sum 9.00304\n"));
        assert!(text.contains("stan_store_sync_latency_seconds_count 3\n"));
    }
}
