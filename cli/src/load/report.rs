//! What a load run measured, printed for a person or as JSON, and the
//! comparison of a 10-client run with an N-client run.

use std::fmt::{self, Write as _};

/// One run's figures.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Clients asked for.
    pub clients: u32,
    /// Clients connected and subscribed.
    pub connected: u32,
    /// Connect or subscribe attempts that failed.
    pub failed_attempts: u32,
    /// The first connect failure.
    pub connect_error: Option<String>,
    /// Time to connect them all, seconds.
    pub connect_secs: f64,
    /// Channels the clients subscribe to.
    pub channels: u32,
    /// The server's process ID.
    pub server_pid: u32,
    /// The server's command line (a started server).
    pub server_args: String,
    /// Server threads with every client connected.
    pub server_threads: u64,
    /// Server RSS before the clients, KiB.
    pub rss_base_kib: u64,
    /// Server RSS with every client connected and settled, KiB.
    pub rss_connected_kib: u64,
    /// Server RSS at the end of the idle window, KiB.
    pub rss_idle_kib: u64,
    /// Server RSS after every client closed, KiB.
    pub rss_closed_kib: u64,
    /// (connected - base) / clients, bytes.
    pub rss_per_client: f64,
    /// Server open FDs before the clients.
    pub fds_base: u64,
    /// Server open FDs with every client connected.
    pub fds_connected: u64,
    /// Server open FDs after every client closed.
    pub fds_closed: u64,
    /// Clients and subscriptions the server counted (`/streaming/serverz`)
    /// with every client connected.
    pub server_counts: Option<(u64, u64)>,
    /// The same after every client closed.
    pub server_counts_closed: Option<(u64, u64)>,
    /// Length of the idle window, seconds.
    pub idle_secs: f64,
    /// Server CPU over the idle window, percent of one core.
    pub idle_cpu_pct: f64,
    /// Server CPU over the idle window per client: microseconds of CPU per
    /// second per client.
    pub idle_cpu_us_per_client: f64,
    /// This tool's CPU over the idle window (the clients' pings and
    /// heartbeat replies), percent of one core.
    pub tool_idle_cpu_pct: f64,
    /// This tool's RSS growth per client, bytes.
    pub tool_rss_per_client: f64,
    /// This tool's threads.
    pub tool_threads: u64,
    /// How the publisher published.
    pub publish_mode: String,
    /// Payload size.
    pub msg_size: usize,
    /// Publishes made.
    pub published: u64,
    /// Publishes acknowledged.
    pub acked: u64,
    /// Publishes failed.
    pub publish_errors: u64,
    /// The first publish error.
    pub publish_error: Option<String>,
    /// From the first publish to the last PubAck, seconds.
    pub publish_secs: f64,
    /// Acknowledged publishes per second.
    pub publish_rate: f64,
    /// Messages the throughput channel's subscriber got.
    pub bench_received: u64,
    /// Deliveries the fan-out phase owed the clients (`fanout` per client).
    pub fanout_expected: u64,
    /// Deliveries they got.
    pub fanout_received: u64,
    /// Clients short of their fan-out messages.
    pub fanout_short_clients: u32,
    /// From the first fan-out publish until every client had its messages
    /// (or the bound), seconds.
    pub fanout_secs: f64,
    /// Clients whose connection was lost before the close.
    pub lost: u32,
    /// Why (the first).
    pub lost_reason: Option<String>,
    /// Closes that failed or timed out.
    pub close_failures: u32,
    /// Why (the first).
    pub close_error: Option<String>,
    /// What went wrong; empty for a passing run.
    pub problems: Vec<String>,
}

impl RunReport {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The run as a JSON object.
    pub fn to_json(&self) -> String {
        let mut j = Json::default();
        j.num("clients", self.clients);
        j.num("connected", self.connected);
        j.num("failed_attempts", self.failed_attempts);
        j.opt_str("connect_error", self.connect_error.as_deref());
        j.float("connect_secs", self.connect_secs);
        j.num("channels", self.channels);
        j.num("server_pid", self.server_pid);
        j.str("server_args", &self.server_args);
        j.num("server_threads", self.server_threads);
        j.num("rss_base_kib", self.rss_base_kib);
        j.num("rss_connected_kib", self.rss_connected_kib);
        j.num("rss_idle_kib", self.rss_idle_kib);
        j.num("rss_closed_kib", self.rss_closed_kib);
        j.float("rss_per_client_bytes", self.rss_per_client);
        j.num("fds_base", self.fds_base);
        j.num("fds_connected", self.fds_connected);
        j.num("fds_closed", self.fds_closed);
        let counts = |c: Option<(u64, u64)>| {
            c.map_or(("null".into(), "null".into()), |(a, b)| {
                (a.to_string(), b.to_string())
            })
        };
        let (c, s) = counts(self.server_counts);
        j.raw("server_clients", &c);
        j.raw("server_subscriptions", &s);
        let (c, s) = counts(self.server_counts_closed);
        j.raw("server_clients_closed", &c);
        j.raw("server_subscriptions_closed", &s);
        j.float("idle_secs", self.idle_secs);
        j.float("idle_cpu_pct", self.idle_cpu_pct);
        j.float(
            "idle_cpu_us_per_client_per_sec",
            self.idle_cpu_us_per_client,
        );
        j.float("tool_idle_cpu_pct", self.tool_idle_cpu_pct);
        j.float("tool_rss_per_client_bytes", self.tool_rss_per_client);
        j.num("tool_threads", self.tool_threads);
        j.str("publish_mode", &self.publish_mode);
        j.num("msg_size", self.msg_size as u64);
        j.num("published", self.published);
        j.num("acked", self.acked);
        j.num("publish_errors", self.publish_errors);
        j.opt_str("publish_error", self.publish_error.as_deref());
        j.float("publish_secs", self.publish_secs);
        j.float("publish_msgs_per_sec", self.publish_rate);
        j.num("bench_received", self.bench_received);
        j.num("fanout_expected", self.fanout_expected);
        j.num("fanout_received", self.fanout_received);
        j.num("fanout_short_clients", self.fanout_short_clients);
        j.float("fanout_secs", self.fanout_secs);
        j.num("lost", self.lost);
        j.opt_str("lost_reason", self.lost_reason.as_deref());
        j.num("close_failures", self.close_failures);
        j.opt_str("close_error", self.close_error.as_deref());
        let problems: Vec<String> = self.problems.iter().map(|p| quote(p)).collect();
        j.raw("problems", &format!("[{}]", problems.join(",")));
        j.raw("passed", if self.passed() { "true" } else { "false" });
        j.finish()
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |k: u64| k as f64 / 1024.0;
        writeln!(
            f,
            "clients:            {} of {} connected and subscribed ({} channels) in {:.1} s, {} failed attempts{}",
            self.connected,
            self.clients,
            self.channels,
            self.connect_secs,
            self.failed_attempts,
            self.connect_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        )?;
        writeln!(
            f,
            "server:             pid {}, {} threads; {}",
            self.server_pid, self.server_threads, self.server_args
        )?;
        writeln!(
            f,
            "server RSS:         {:.1} MiB before, {:.1} MiB connected, {:.1} MiB after idle, {:.1} MiB after close",
            mib(self.rss_base_kib),
            mib(self.rss_connected_kib),
            mib(self.rss_idle_kib),
            mib(self.rss_closed_kib)
        )?;
        writeln!(
            f,
            "RSS per client:     {:.1} KiB",
            self.rss_per_client / 1024.0
        )?;
        writeln!(
            f,
            "server FDs:         {} before, {} connected, {} after close",
            self.fds_base, self.fds_connected, self.fds_closed
        )?;
        let counts = |c: Option<(u64, u64)>| {
            c.map_or("n/a".to_string(), |(a, b)| {
                format!("{a} clients, {b} subscriptions")
            })
        };
        writeln!(
            f,
            "server counts:      {} connected; {} after close",
            counts(self.server_counts),
            counts(self.server_counts_closed)
        )?;
        writeln!(
            f,
            "idle CPU:           {:.3} % of a core over {:.0} s, {:.2} us/s per client (this tool: {:.2} %)",
            self.idle_cpu_pct, self.idle_secs, self.idle_cpu_us_per_client, self.tool_idle_cpu_pct
        )?;
        writeln!(
            f,
            "tool RSS per client: {:.1} KiB, {} threads",
            self.tool_rss_per_client / 1024.0,
            self.tool_threads
        )?;
        writeln!(
            f,
            "publish:            {:.0} msgs/s ({} of {} acked in {:.2} s, {} B, {}), subscriber got {}{}",
            self.publish_rate,
            self.acked,
            self.published,
            self.publish_secs,
            self.msg_size,
            self.publish_mode,
            self.bench_received,
            self.publish_error.as_deref().map(|e| format!("; first error: {e}")).unwrap_or_default()
        )?;
        writeln!(
            f,
            "fan-out:            {} of {} deliveries in {:.2} s ({} clients short)",
            self.fanout_received, self.fanout_expected, self.fanout_secs, self.fanout_short_clients
        )?;
        writeln!(
            f,
            "lost / close:       {} connections lost{}, {} closes failed{}",
            self.lost,
            self.lost_reason
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            self.close_failures,
            self.close_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )?;
        if self.passed() {
            write!(f, "result:             PASS")
        } else {
            write!(f, "result:             FAIL: {}", self.problems.join("; "))
        }
    }
}

/// A 10-client run beside an N-client run.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The reference run.
    pub small: RunReport,
    /// The run under load.
    pub large: RunReport,
}

impl Comparison {
    /// True when both runs passed.
    pub fn passed(&self) -> bool {
        self.small.passed() && self.large.passed()
    }

    fn ratios(&self) -> [(&'static str, f64); 4] {
        let r = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        [
            (
                "rss_per_client",
                r(self.large.rss_per_client, self.small.rss_per_client),
            ),
            (
                "idle_cpu",
                r(self.large.idle_cpu_pct, self.small.idle_cpu_pct),
            ),
            (
                "idle_cpu_per_client",
                r(
                    self.large.idle_cpu_us_per_client,
                    self.small.idle_cpu_us_per_client,
                ),
            ),
            (
                "publish_rate",
                r(self.large.publish_rate, self.small.publish_rate),
            ),
        ]
    }

    /// Both runs and the ratios as JSON.
    pub fn to_json(&self) -> String {
        let mut ratios = Json::default();
        for (k, v) in self.ratios() {
            ratios.float(k, v);
        }
        let mut j = Json::default();
        j.raw("small", &self.small.to_json());
        j.raw("large", &self.large.to_json());
        j.raw("ratios_large_over_small", &ratios.finish());
        j.raw("passed", if self.passed() { "true" } else { "false" });
        j.finish()
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, l) = (&self.small, &self.large);
        writeln!(f, "=== {} clients (reference)\n{s}\n", s.clients)?;
        writeln!(f, "=== {} clients\n{l}\n", l.clients)?;
        writeln!(f, "=== {} clients vs {} clients", l.clients, s.clients)?;
        writeln!(
            f,
            "{:<22}{:>14}{:>14}{:>10}",
            "", s.clients, l.clients, "ratio"
        )?;
        let [rss, cpu, cpu_per_client, rate] = self.ratios();
        writeln!(
            f,
            "{:<22}{:>14.1}{:>14.1}{:>10.2}",
            "RSS per client (KiB)",
            s.rss_per_client / 1024.0,
            l.rss_per_client / 1024.0,
            rss.1
        )?;
        writeln!(
            f,
            "{:<22}{:>14.3}{:>14.3}{:>10.1}",
            "idle CPU (%)", s.idle_cpu_pct, l.idle_cpu_pct, cpu.1
        )?;
        writeln!(
            f,
            "{:<22}{:>14.2}{:>14.2}{:>10.2}",
            "idle CPU/client (us/s)",
            s.idle_cpu_us_per_client,
            l.idle_cpu_us_per_client,
            cpu_per_client.1
        )?;
        writeln!(
            f,
            "{:<22}{:>14.0}{:>14.0}{:>10.2}",
            "publish (msgs/s)", s.publish_rate, l.publish_rate, rate.1
        )?;
        write!(f, "result: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// A JSON object written field by field.
#[derive(Default)]
pub(super) struct Json(String);

impl Json {
    pub(super) fn raw(&mut self, key: &str, value: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "{}:{value}", quote(key));
    }
    pub(super) fn num(&mut self, key: &str, v: impl Into<u64>) {
        self.raw(key, &v.into().to_string());
    }
    pub(super) fn float(&mut self, key: &str, v: f64) {
        if v.is_finite() {
            self.raw(key, &format!("{v:.3}"));
        } else {
            self.raw(key, "null");
        }
    }
    pub(super) fn str(&mut self, key: &str, v: &str) {
        self.raw(key, &quote(v));
    }
    pub(super) fn opt_str(&mut self, key: &str, v: Option<&str>) {
        match v {
            Some(s) => self.str(key, s),
            None => self.raw(key, "null"),
        }
    }
    pub(super) fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// A JSON string literal.
pub(super) fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_well_formed_enough() {
        let mut r = RunReport {
            clients: 3,
            connected: 3,
            ..Default::default()
        };
        r.problems.push("a \"quoted\"\nproblem".into());
        let j = r.to_json();
        assert!(
            j.starts_with("{\"clients\":3,") && j.ends_with("\"passed\":false}"),
            "{j}"
        );
        assert!(j.contains(r#""problems":["a \"quoted\"\nproblem"]"#), "{j}");
        let c = Comparison {
            small: RunReport::default(),
            large: RunReport::default(),
        };
        assert!(c
            .to_json()
            .contains("\"ratios_large_over_small\":{\"rss_per_client\":null"));
        assert!(c.to_string().contains("ratio"));
    }
}
