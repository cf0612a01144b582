//! The router's log lines: nats-server's texts at nats-server's levels
//! (checked against what Debian's nats-server 2.9.10 printed for the same
//! exchanges).

use super::*;

fn lines(w: &mut World) -> Vec<(LogLevel, String)> {
    w.router_events()
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Log(r) => Some((r.level, r.to_string())),
            _ => None,
        })
        .collect()
}

fn debug_world() -> World {
    world(RouterConfig {
        debug: true,
        ..RouterConfig::default()
    })
}

#[test]
fn connections_are_logged_under_debug_only() {
    let mut w = world(RouterConfig::default());
    let c = w.peer_connected(QUIET);
    w.hang_up(c);
    assert!(lines(&mut w).is_empty(), "nothing at the default level");

    let mut w = debug_world();
    let c = w.peer();
    w.send(
        c,
        r#"CONNECT {"verbose":false,"name":"nm","lang":"python3","version":"1.2.3"}"#,
    );
    w.send(c, "\r\n");
    w.hang_up(c);
    assert_eq!(
        lines(&mut w),
        vec![
            (
                LogLevel::Debug,
                "127.0.0.1:40000 - cid:1 - Client connection created".into()
            ),
            (
                LogLevel::Debug,
                r#"127.0.0.1:40000 - cid:1 - "v1.2.3:python3:nm" - Client connection closed: Client Closed"#
                    .into()
            ),
        ]
    );
}

#[test]
fn protocol_errors_are_logged_at_error_level() {
    let mut w = world(RouterConfig::default());
    let c = w.peer_connected(QUIET);
    w.send(c, "FOO\r\n");
    let l = lines(&mut w);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0].0, LogLevel::Error);
    assert!(l[0].1.contains("Client parser ERROR"), "{l:?}");
}

#[test]
fn authentication_failures_are_logged_at_error_level() {
    let mut w = world(RouterConfig {
        auth: Auth::UserPass {
            user: "bob".into(),
            pass: "pw".into(),
        },
        debug: true,
        ..RouterConfig::default()
    });
    let c = w.peer();
    w.send(
        c,
        "CONNECT {\"verbose\":false,\"lang\":\"go\",\"version\":\"1.0\",\"user\":\"bob\",\"pass\":\"bad\"}\r\n",
    );
    let l = lines(&mut w);
    assert_eq!(
        l[1..],
        [
            (
                LogLevel::Error,
                r#"127.0.0.1:40000 - cid:1 - "v1.0:go" - authentication error"#.into()
            ),
            (
                LogLevel::Debug,
                r#"127.0.0.1:40000 - cid:1 - "v1.0:go" - Client connection closed: Authentication Failure"#
                    .into()
            ),
        ]
    );
    // An authentication timeout is a debug line, as in nats-server.
    let c = w.peer();
    w.router_events();
    w.advance(Duration::from_secs(3));
    let l = lines(&mut w);
    assert_eq!(
        l,
        vec![
            (
                LogLevel::Debug,
                "127.0.0.1:40000 - cid:2 - Authentication Timeout".into()
            ),
            (
                LogLevel::Debug,
                "127.0.0.1:40000 - cid:2 - Client connection closed: Authentication Timeout".into()
            ),
        ]
    );
    assert!(w.peer_closed(c), "closed by the router");
    assert_eq!(w.router.session_phase(c), None);
}

#[test]
fn trace_shows_every_operation_in_and_out() {
    let mut w = world(RouterConfig {
        trace: true,
        ..RouterConfig::default()
    });
    let c = w.peer_connected(QUIET);
    w.router_events();
    w.send(c, "SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n");
    let texts: Vec<String> = lines(&mut w)
        .into_iter()
        .map(|(level, text)| {
            assert_eq!(level, LogLevel::Trace);
            text.split(" - ").last().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        texts,
        [
            "<<- [SUB foo 1]",
            "<<- [PUB foo 5]",
            "<<- MSG_PAYLOAD: [\"hello\"]",
            "->> [MSG foo 1 5]",
            "<<- [PING]",
            "->> [PONG]",
        ]
    );
}

#[test]
fn nothing_is_built_for_disabled_levels() {
    let mut w = world(RouterConfig::default());
    let c = w.peer_connected(QUIET);
    w.send(c, "SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n");
    w.hang_up(c);
    assert!(lines(&mut w).is_empty());
}
