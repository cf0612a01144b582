//! The route session of the embedded NATS server: a peer server sending
//! arbitrary bytes on a route, beside a client.

use bytes::BytesMut;

/// Drives a clustered [`Router`](crate::nats::router::Router) whose route
/// peer and client send arbitrary bytes. Invariants: no panic; everything
/// the router writes on the route decodes as route ops, and on the client
/// connection as server ops; after `handle_timeout(now)` no deadline at or
/// before `now` remains; a closed route takes its interest with it.
///
/// Input: the first byte picks the handshake (bit 0: the router dialled
/// the route, else accepted it; bit 1: prefix a valid `CONNECT` and
/// `INFO`), then commands of one byte plus arguments:
/// * `0..=127`: feed the next `b & 63` bytes to the route (`b < 64`) or
///   to the client;
/// * `128..=191`: advance the clock by `(b & 63) * 500 ms` and fire timers;
/// * `192..=223`: the client publishes `(b & 31)` bytes on `r.<b & 3>`;
/// * `224..=255`: the route's transport closes, and a new route is
///   accepted.
///
/// `start` is the virtual clock's origin (the caller reads a clock once).
pub fn route_session(start: std::time::Instant, input: &[u8]) {
    use crate::nats::codec::{Limits, RouteOpDecoder, ServerOpDecoder};
    use crate::nats::router::{ClusterConfig, ConnId, Router, RouterConfig, RouterEvent};
    use std::time::Duration;

    let Some((&cfg, mut rest)) = input.split_first() else {
        return;
    };
    let config = RouterConfig {
        seed: 7,
        max_pending: 64 * 1024,
        cluster: Some(ClusterConfig {
            name: Some("fz".into()),
            routes: vec!["nats-route://10.0.0.2:6222".into()],
            max_payload: 4096,
            max_control_line: 1024,
            ..ClusterConfig::default()
        }),
        ..RouterConfig::default()
    };
    let mut now = start;
    let mut router = Router::new(config, now);
    router.handle_timeout(now);
    let mut route: Option<ConnId> = None;
    let mut dialled = false;
    while let Some(ev) = router.poll_event() {
        if let RouterEvent::DialRoute { dial, .. } = ev {
            if cfg & 1 == 1 && !dialled {
                route = router.handle_route_connected(now, dial, "10.0.0.2:6222");
                dialled = true;
            } else {
                router.handle_route_dial_failed(now, dial);
            }
        }
    }
    let mut route = route.unwrap_or_else(|| router.handle_route_accept(now, "10.0.0.2:50000"));
    let client = router.handle_accept(now, "10.0.1.1:40000");
    let mut route_in = BytesMut::new();
    let mut client_in = BytesMut::from(
        &b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB r.> 1\r\nSUB r.1 q 2\r\n"[..],
    );
    if cfg & 2 == 2 {
        route_in.extend_from_slice(
            b"CONNECT {\"name\":\"NPEER\",\"cluster\":\"fz\",\"headers\":true}\r\nINFO {\"server_id\":\"NPEER\",\"cluster\":\"fz\",\"headers\":true,\"port\":6222}\r\n",
        );
    }
    router.handle_input(now, route, &mut route_in);
    router.handle_input(now, client, &mut client_in);
    let mut route_dec = RouteOpDecoder::new(Limits {
        max_control_line: 1 << 20,
        max_payload: 1 << 26,
    });
    let mut client_dec = ServerOpDecoder::new(Limits {
        max_control_line: 1 << 20,
        max_payload: 1 << 26,
    });
    let (mut route_out, mut client_out) = (BytesMut::new(), BytesMut::new());
    drain(
        &mut router,
        now,
        [route, client],
        &mut route_dec,
        &mut client_dec,
        &mut route_out,
        &mut client_out,
    );
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            0..=127 => {
                let n = usize::from(b & 63).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                if b < 64 {
                    route_in.extend_from_slice(chunk);
                    router.handle_input(now, route, &mut route_in);
                } else {
                    client_in.extend_from_slice(chunk);
                    router.handle_input(now, client, &mut client_in);
                }
            }
            128..=191 => {
                now += Duration::from_millis(u64::from(b & 63) * 500);
                router.handle_timeout(now);
                assert!(router.poll_timeout().is_none_or(|t| t > now));
            }
            192..=223 => {
                let len = usize::from(b & 31);
                let mut pubs = BytesMut::from(
                    format!("PUB r.{} {len}\r\n{}\r\n", b & 3, "x".repeat(len)).as_bytes(),
                );
                router.handle_input(now, client, &mut pubs);
            }
            224..=255 => {
                router.handle_transport_closed(now, route);
                assert!(!router.is_route(route));
                route = router.handle_route_accept(now, "10.0.0.2:50001");
                route_in.clear();
                route_dec = RouteOpDecoder::new(Limits {
                    max_control_line: 1 << 20,
                    max_payload: 1 << 26,
                });
                route_out.clear();
            }
        }
        drain(
            &mut router,
            now,
            [route, client],
            &mut route_dec,
            &mut client_dec,
            &mut route_out,
            &mut client_out,
        );
    }
}

/// Drains the router's events and output, checking the output decodes.
fn drain(
    router: &mut crate::nats::router::Router,
    now: std::time::Instant,
    [route, client]: [crate::nats::router::ConnId; 2],
    route_dec: &mut crate::nats::codec::RouteOpDecoder,
    client_dec: &mut crate::nats::codec::ServerOpDecoder,
    route_out: &mut BytesMut,
    client_out: &mut BytesMut,
) {
    use crate::nats::router::RouterEvent;
    let mut rounds = 0;
    while let Some(ev) = router.poll_event() {
        rounds += 1;
        assert!(rounds < 100_000, "events do not end");
        if let RouterEvent::DialRoute { dial, .. } = ev {
            router.handle_route_dial_failed(now, dial);
        }
    }
    for (conn, out) in [(route, &mut *route_out), (client, &mut *client_out)] {
        while let Some(chunk) = router.poll_transmit(conn) {
            router.handle_written(now, conn, chunk.len());
            out.extend_from_slice(&chunk);
        }
    }
    while route_dec
        .decode(route_out)
        .expect("route output decodes")
        .is_some()
    {}
    while client_dec
        .decode(client_out)
        .expect("client output decodes")
        .is_some()
    {}
}
