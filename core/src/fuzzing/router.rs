//! The embedded NATS server: sessions, bytes, time, stalls and write
//! deadlines.

use bytes::BytesMut;

use crate::nats::{Limits, ServerOpDecoder};

/// Drives a [`Router`](crate::nats::router::Router) with arbitrary sessions,
/// bytes and time steps. Invariants: no panic; everything the router sends
/// decodes as valid server ops; after `handle_timeout(now)` no deadline at or
/// before `now` remains; the connection count matches the open sessions.
///
/// Input: a sequence of commands, one byte each plus arguments:
/// * `0..=127`: feed the next `b & 31` bytes to session `b >> 5`;
/// * `128..=159`: advance the clock by `(b & 31) * 250 ms` and fire timers;
/// * `160..=191`: accept a session (at most four);
/// * `192..=223`: the transport of session `b & 3` closes;
/// * `224..=239`: run the credential checks the router asked for (the
///   token `t` against a bcrypt hash, configuration `3 | 128`) and hand it
///   their verdicts, then drain every session's output (reporting it
///   written, and feeding paused sessions their input again when resumed);
/// * `240..=255`: a write to session `b & 3` stays blocked past the deadline.
///
/// Also checked: a session whose input is paused (a stalled producer, or a
/// `CONNECT` waiting for its credential check) has a deadline that ends the
/// pause; a check is no longer awaited once its verdict is in.
///
/// The first byte selects the configuration (authentication, small limits,
/// debug and trace logging).
/// `start` is the virtual clock's origin (the caller reads a clock once).
pub fn router_session(start: std::time::Instant, input: &[u8]) {
    use crate::nats::router::CredentialCheck;
    use crate::nats::router::{Auth, ConnId, Router, RouterConfig, RouterEvent, SessionPhase};
    use crate::nats::ServerOp;
    use std::time::Duration;

    let Some((&cfg, mut rest)) = input.split_first() else {
        return;
    };
    let config = RouterConfig {
        auth: match cfg & 3 {
            1 => Auth::Token("t".into()),
            2 => Auth::UserPass {
                user: "u".into(),
                pass: "p".into(),
            },
            3 if cfg & 128 != 0 => Auth::Token(BCRYPT_OF_T.into()),
            _ => Auth::None,
        },
        max_pending: if cfg & 4 != 0 { 512 } else { 64 * 1024 },
        max_payload: if cfg & 8 != 0 { 32 } else { 1024 },
        max_control_line: if cfg & 16 != 0 { 24 } else { 4096 },
        max_connections: 3,
        max_subscriptions: if cfg & 32 != 0 { 2 } else { 0 },
        ping_interval: Duration::from_secs(5),
        seed: u64::from(cfg),
        debug: cfg & 64 != 0,
        trace: cfg & 64 != 0,
        ..RouterConfig::default()
    };
    let mut now = start;
    let mut router = Router::new(config, now);
    let mut sessions: Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)> = Vec::new();
    let limits = Limits {
        max_control_line: 1 << 16,
        max_payload: 1 << 20,
    };
    let mut checks: Vec<CredentialCheck> = Vec::new();
    let mut closed: Vec<ConnId> = Vec::new();
    let drain = |router: &mut Router,
                 sessions: &mut Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)>,
                 checks: &mut Vec<CredentialCheck>,
                 now: std::time::Instant| {
        for check in std::mem::take(checks) {
            // Stale verdicts too (the session closed meanwhile): ignored.
            let current = router.is_credential_check_current(&check);
            router.handle_credential_verdict(now, check.verify());
            assert!(
                !router.is_credential_check_current(&check),
                "a verdict left its check waiting (current before: {current})"
            );
        }
        while let Some(ev) = router.poll_event() {
            match ev {
                RouterEvent::InputResumed(c) => {
                    if let Some((conn, input, ..)) = sessions.iter_mut().find(|s| s.0 == c) {
                        router.handle_input(now, *conn, input);
                    }
                }
                RouterEvent::VerifyCredentials(check) => {
                    // Answered at the next drain, as a driver's thread would.
                    checks.push(check);
                }
                _ => {}
            }
        }
        for (conn, _, dec, out) in sessions.iter_mut() {
            while let Some(chunk) = router.poll_transmit(*conn) {
                out.extend_from_slice(&chunk);
                router.handle_written(now, *conn, chunk.len());
            }
            while let Some(op) = dec.decode(out).expect("router output must decode") {
                if let ServerOp::Info(json) = op {
                    serde_json::from_slice::<serde_json::Value>(&json).expect("INFO is JSON");
                }
            }
        }
    };
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            0..=127 => {
                let n = usize::from(b & 31).min(rest.len());
                let (bytes, tail) = rest.split_at(n);
                rest = tail;
                if let Some((conn, input, _, _)) = sessions.get_mut(usize::from(b >> 5)) {
                    input.extend_from_slice(bytes);
                    router.handle_input(now, *conn, input);
                }
            }
            128..=159 => {
                now += Duration::from_millis(250) * u32::from(b & 31);
                router.handle_timeout(now);
                assert!(
                    router.poll_timeout().is_none_or(|d| d > now),
                    "a deadline at or before now survived handle_timeout"
                );
            }
            160..=191 => {
                if sessions.len() < 4 {
                    let conn = router.handle_accept(now, "127.0.0.1:1");
                    sessions.push((
                        conn,
                        BytesMut::new(),
                        ServerOpDecoder::new(limits),
                        BytesMut::new(),
                    ));
                }
            }
            192..=223 => {
                let i = usize::from(b & 3);
                if i < sessions.len() {
                    let (conn, ..) = sessions.remove(i);
                    router.handle_transport_closed(now, conn);
                }
            }
            224..=239 => drain(&mut router, &mut sessions, &mut checks, now),
            _ => {
                if let Some((conn, ..)) = sessions.get(usize::from(b & 3)) {
                    router.handle_write_stalled(now, *conn);
                }
            }
        }
        for (conn, ..) in &sessions {
            if router.is_input_paused(*conn) {
                assert!(
                    router.poll_timeout().is_some(),
                    "a paused session has no deadline to end its pause"
                );
            }
        }
        while let Some(ev) = router.poll_event() {
            // Events between drains: only checks need keeping (outputs are
            // found by the drain, resumed input is fed there too).
            match ev {
                RouterEvent::VerifyCredentials(check) => checks.push(check),
                RouterEvent::InputResumed(c) => {
                    if let Some((conn, input, ..)) = sessions.iter_mut().find(|s| s.0 == c) {
                        router.handle_input(now, *conn, input);
                    }
                }
                RouterEvent::SessionClosed { conn, .. } => closed.push(conn),
                _ => {}
            }
        }
        let open = sessions
            .iter()
            .filter(|s| {
                matches!(
                    router.session_phase(s.0),
                    Some(SessionPhase::Open | SessionPhase::AwaitingConnect)
                )
            })
            .count();
        assert_eq!(router.connection_count(), open, "connection count drifted");
    }
    drain(&mut router, &mut sessions, &mut checks, now);
    // Closing sessions are finished by their driver.
    while let Some(ev) = router.poll_event() {
        if let RouterEvent::SessionClosed { conn, .. } = ev {
            closed.push(conn);
        }
    }
    for conn in closed {
        router.handle_transport_closed(now, conn);
    }
}

/// bcrypt (cost 4) of the token `t`.
const BCRYPT_OF_T: &str = "$2b$04$Zm/afxQHU0lMpTEalSsqB.3ZS4OY.3SIA1aq8n1v/qsLJOOeKjzjK";
