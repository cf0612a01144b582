//! `/metrics`: the Prometheus text format 0.0.4, checked line by line here
//! (a real Prometheus parser checks it elsewhere): `# HELP` and `# TYPE`
//! once per family before its samples, valid names and label syntax with
//! escapes, numeric values, no duplicate series, counters in `_total`,
//! cumulative histogram buckets ending in `+Inf` equal to `_count`.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use stan_core::stan::latency::LatencyHistogram;

const NOW: &str = "2026-11-29T14:27:47.757511411Z";

/// One sample line: name, labels (unescaped), value.
type Sample = (String, Vec<(String, String)>, f64);

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Parses `name{a="b",c="d"} value`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value: {line}"))?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(format!("bad name: {line}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if r[start..].starts_with('}') {
                rest = &r[start + 1..];
                break;
            }
            let eq = r[start..]
                .find("=\"")
                .ok_or_else(|| format!("bad label: {line}"))?
                + start;
            let key = &r[start..eq];
            if !is_name(key) {
                return Err(format!("bad label name {key:?}: {line}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")? {
                    (_, '"') => break,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        c => return Err(format!("bad escape \\{c}: {line}")),
                    },
                    (_, '\n') => return Err("raw newline".into()),
                    (_, c) => value.push(c),
                }
            }
            labels.push((key.to_owned(), value));
            if chars.peek().is_some_and(|(_, c)| *c == ',') {
                chars.next();
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .and_then(parse_value)
        .ok_or_else(|| format!("bad value: {line}"))?;
    Ok((name.to_owned(), labels, value))
}

/// Checks the exposition and returns its samples.
fn check_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "must end with a newline");
    let mut helps = HashSet::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut seen_series = HashSet::new();
    let mut samples = Vec::new();
    let mut last_family = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(is_name(name), "{line}");
            assert!(helps.insert(name.to_owned()), "second HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(helps.contains(name), "TYPE before HELP: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "second TYPE: {line}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {name}");
            }
            last_family = name.to_owned();
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line: {line:?}"
        );
        let sample = parse_sample(line).unwrap_or_else(|e| panic!("{e}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                sample
                    .0
                    .strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(&sample.0);
        assert_eq!(family, last_family, "sample outside its family: {line}");
        let series = format!("{}{:?}", sample.0, sample.1);
        assert!(seen_series.insert(series), "duplicate series: {line}");
        samples.push(sample);
    }
    for name in &helps {
        assert!(types.contains_key(name), "HELP without TYPE: {name}");
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.2)
}

fn metrics(source: &FixedSource, t: &Timeline) -> (stan_monitor::Response, String) {
    let r = get(&monitor(), source, t, "/metrics", None, NOW);
    let text = body_text(&r);
    (r, text)
}

#[test]
fn exposition_is_well_formed_and_complete() {
    let t = timeline();
    let mut engine = engine_snapshot(NOW);
    // Label values needing escapes.
    engine.channels[0].name = "we\"ird\\chan\nnel".to_owned();
    let mut sync = LatencyHistogram::default();
    for us in [30, 80, 700, 700, 40_000, 9_000_000] {
        sync.observe(std::time::Duration::from_micros(us));
    }
    let source = FixedSource {
        nats: Some(nats_snapshot(&t)),
        streaming: Some(engine),
        sync: Some(sync),
    };
    let (r, text) = metrics(&source, &t);
    assert_eq!(
        (r.status, r.content_type),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = check_exposition(&text);
    assert!(text.contains(r#"channel="we\"ird\\chan\nnel""#), "{text}");
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    assert_eq!(v("stan_up", &[]), Some(1.0));
    assert_eq!(v("stan_clients", &[]), Some(2.0));
    assert_eq!(v("stan_channels", &[]), Some(2.0));
    assert_eq!(v("stan_subscriptions", &[]), Some(2.0));
    assert_eq!(v("stan_received_messages_total", &[]), Some(4.0));
    assert_eq!(v("stan_received_bytes_total", &[]), Some(281.0));
    assert_eq!(v("stan_sent_messages_total", &[]), Some(6.0));
    assert_eq!(v("stan_sent_bytes_total", &[]), Some(174.0));
    assert_eq!(v("stan_store_read_failures_total", &[]), Some(2.0));
    assert_eq!(v("stan_store_damaged_messages_total", &[]), Some(3.0));
    let orders = [("channel", "orders")];
    assert_eq!(v("stan_channel_messages", &orders), Some(3.0));
    assert_eq!(v("stan_channel_bytes", &orders), Some(87.0));
    assert_eq!(v("stan_channel_first_sequence", &orders), Some(1.0));
    assert_eq!(v("stan_channel_last_sequence", &orders), Some(3.0));
    assert_eq!(v("stan_channel_subscriptions", &orders), Some(2.0));
    let billing = [
        ("channel", "orders"),
        ("client_id", "sub1"),
        ("durable", "billing"),
        ("queue", ""),
        ("inbox", "_INBOX.FonaexwDC8lrNLzeADw4N4"),
    ];
    assert_eq!(v("stan_subscription_pending_messages", &billing), Some(0.0));
    assert_eq!(
        v("stan_subscription_last_sent_sequence", &billing),
        Some(3.0)
    );
    assert_eq!(v("stan_subscription_stalled", &billing), Some(0.0));
    assert_eq!(v("stan_subscription_offline", &billing), Some(0.0));
    assert_eq!(
        v("stan_subscription_ack_wait_seconds", &billing),
        Some(30.0)
    );
    assert_eq!(
        v(
            "stan_subscription_pending_messages",
            &[("queue", "workers")]
        ),
        Some(0.0)
    );
    // The sync latency histogram.
    let h = "stan_store_sync_latency_seconds";
    let buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(n, _, _)| *n == format!("{h}_bucket"))
        .map(|(_, l, val)| {
            let le = l.iter().find(|(k, _)| k == "le").map(|(_, v)| v.as_str());
            (le.and_then(parse_value).unwrap_or(f64::NAN), *val)
        })
        .collect();
    assert_eq!(buckets.len(), 17);
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    assert_eq!(buckets.last(), Some(&(f64::INFINITY, 6.0)));
    assert_eq!(buckets[0], (0.00005, 1.0));
    assert_eq!(v(&format!("{h}_count"), &[]), Some(6.0));
    let sum = v(&format!("{h}_sum"), &[]).unwrap_or(0.0);
    assert!((sum - 9.04151).abs() < 1e-9, "{sum}");
    // The embedded NATS server.
    assert_eq!(v("nats_connections", &[]), Some(6.0));
    assert_eq!(v("nats_accepted_connections_total", &[]), Some(10.0));
    assert_eq!(v("nats_received_messages_total", &[]), Some(45.0));
    assert_eq!(v("nats_received_bytes_total", &[]), Some(2286.0));
    assert_eq!(v("nats_sent_messages_total", &[]), Some(44.0));
    assert_eq!(v("nats_sent_bytes_total", &[]), Some(2241.0));
    assert_eq!(v("nats_slow_consumers_total", &[]), Some(0.0));
    assert_eq!(v("nats_subscriptions", &[]), Some(64.0));
    let uptime = v("nats_uptime_seconds", &[]).unwrap_or(0.0);
    assert!((uptime - 3.136288561).abs() < 1e-6, "{uptime}");
    assert_eq!(
        v("stan_start_time_seconds", &[]).map(|s| s.round()),
        Some(1_795_962_465.0)
    );
}

#[test]
fn exposition_without_sync_latency_or_nats() {
    let source = FixedSource {
        streaming: Some(engine_snapshot(NOW)),
        ..FixedSource::default()
    };
    let t = timeline();
    let (_, text) = metrics(&source, &t);
    check_exposition(&text);
    assert!(!text.contains("stan_store_sync_latency_seconds"));
    assert!(!text.contains("\nnats_"));
    let (_, text) = metrics(&FixedSource::default(), &t);
    let samples = check_exposition(&text);
    assert_eq!(value(&samples, "stan_up", &[]), Some(0.0));
}

#[test]
fn the_line_check_catches_mistakes() {
    for bad in [
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",       // duplicate
        "# HELP a x\n# TYPE a counter\na 1\n",          // counter name
        "# TYPE a gauge\na 1\n",                        // no HELP
        "# HELP a x\n# TYPE a gauge\na{b=\"c} 1\n",     // unterminated
        "# HELP a x\n# TYPE a gauge\na{b=\"\\t\"} 1\n", // bad escape
        "# HELP a x\n# TYPE a gauge\na one\n",          // value
        "# HELP a x\n# TYPE a gauge\nb 1\n",            // outside family
        "# HELP a x\n# TYPE a gauge\na 1",              // final newline
    ] {
        let caught = std::panic::catch_unwind(|| check_exposition(bad));
        assert!(caught.is_err(), "not caught: {bad:?}");
    }
    let ok = check_exposition("# HELP a x\n# TYPE a gauge\na{b=\"c\\\"d\",e=\"\"} 1.5\n");
    assert_eq!(ok[0].1[0].1, "c\"d");
}
