//! TLS on routes (`cluster { tls { } }`): the router never sees TLS (the
//! driver handshakes before the route session exists); it announces
//! `tls_required`/`tls_verify` in the route `INFO` and `tls_required` in
//! the route `CONNECT`, logs a failed handshake as nats-server 2.9 does
//! and retries a solicited route as a failed dial.

use std::time::{Duration, Instant};

use crate::nats::router::{
    ClusterConfig, DialId, LogLevel, LogMessage, Router, RouterConfig, RouterEvent,
};

const PEER: &str = "10.0.0.2:6222";

fn router(tls: bool, now: Instant) -> Router {
    let config = RouterConfig {
        seed: 3,
        cluster: Some(ClusterConfig {
            name: Some("sim".into()),
            routes: vec![format!("nats-route://{PEER}")],
            tls_required: tls,
            tls_verify: tls,
            ..ClusterConfig::default()
        }),
        ..RouterConfig::default()
    };
    Router::new(config, now)
}

fn events(r: &mut Router) -> Vec<RouterEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn dials(events: &[RouterEvent]) -> Vec<DialId> {
    events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::DialRoute { dial, .. } => Some(*dial),
            _ => None,
        })
        .collect()
}

fn logs(events: &[RouterEvent]) -> Vec<(LogLevel, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Log(rec) => match &rec.message {
                LogMessage::Route(text) => Some((rec.level, text.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// What a solicited route sends first: its `CONNECT` and `INFO`.
fn first_output(tls: bool) -> String {
    let now = Instant::now();
    let mut r = router(tls, now);
    r.handle_timeout(now);
    let dial = dials(&events(&mut r))[0];
    let conn = r
        .handle_route_connected(now, dial, PEER)
        .expect("the dial is wanted");
    let mut out = Vec::new();
    while let Some(chunk) = r.poll_transmit(conn) {
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).expect("utf8")
}

#[test]
fn route_info_and_connect_announce_tls() {
    let out = first_output(true);
    let (connect, info) = out.split_once("\r\n").expect("two lines");
    assert!(connect.starts_with("CONNECT {"), "{out}");
    assert!(connect.contains("\"tls_required\":true"), "{out}");
    assert!(info.starts_with("INFO {"), "{out}");
    assert!(
        info.contains("\"tls_required\":true,\"tls_verify\":true,\"max_payload\""),
        "{out}"
    );
    // Without TLS: CONNECT says false (as nats-server), INFO omits both.
    let out = first_output(false);
    assert!(out.contains("\"tls_required\":false"), "{out}");
    let info = out.split_once("\r\n").expect("two lines").1;
    assert!(!info.contains("tls_"), "{out}");
}

#[test]
fn a_failed_route_tls_handshake_is_logged_and_the_dial_retried() {
    let now = Instant::now();
    let mut r = router(true, now);
    r.handle_timeout(now);
    let dial = dials(&events(&mut r))[0];
    r.handle_route_tls_failed(
        now,
        Some(dial),
        PEER,
        "invalid peer certificate: UnknownIssuer",
    );
    let evs = events(&mut r);
    assert_eq!(
        logs(&evs),
        vec![(
            LogLevel::Error,
            format!("{PEER} - TLS route handshake error: invalid peer certificate: UnknownIssuer")
        )]
    );
    assert_eq!(r.connection_count(), 0);
    // Dialled again after `connect_delay` (1 s), not before.
    r.handle_timeout(now + Duration::from_millis(900));
    assert!(dials(&events(&mut r)).is_empty());
    r.handle_timeout(now + Duration::from_millis(1001));
    assert_eq!(dials(&events(&mut r)), vec![dial]);

    // An accepted route's failure: only the log line, no session.
    r.handle_route_tls_failed(now, None, "10.0.0.3:4000", "EOF");
    let evs = events(&mut r);
    assert_eq!(
        logs(&evs),
        vec![(
            LogLevel::Error,
            "10.0.0.3:4000 - TLS route handshake error: EOF".to_owned()
        )]
    );
    assert_eq!(evs.len(), 1, "{evs:?}");
}
