//! Credential checks off the routing path: the router asks for the bcrypt
//! comparison as an event and takes the verdict as an input; other sessions
//! are served meanwhile.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::super::*;

/// bcrypt (cost 4) of `s3cret`.
const HASH: &str = "$2b$04$vIpGSiwvE83xaHoD1Y3qdOPN5dTWnDii4rhK2.DmG2CaJDGrFR4/G";

fn router(now: Instant) -> Router {
    Router::new(
        RouterConfig {
            auth: Auth::Token(HASH.into()),
            ..RouterConfig::default()
        },
        now,
    )
}

fn connect(token: &str) -> BytesMut {
    BytesMut::from(
        format!("CONNECT {{\"verbose\":false,\"pedantic\":false,\"auth_token\":\"{token}\"}}\r\n")
            .as_bytes(),
    )
}

/// Events since the last call, split into checks and the rest.
fn events(r: &mut Router) -> (Vec<CredentialCheck>, Vec<RouterEvent>) {
    let (mut checks, mut rest) = (Vec::new(), Vec::new());
    while let Some(e) = r.poll_event() {
        match e {
            RouterEvent::VerifyCredentials(c) => checks.push(c),
            other => rest.push(other),
        }
    }
    (checks, rest)
}

fn output(r: &mut Router, conn: ConnId) -> String {
    let mut out = Vec::new();
    while let Some(chunk) = r.poll_transmit(conn) {
        out.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_storm_of_unverified_connects_does_not_hold_up_an_open_session() {
    let now = Instant::now();
    let mut r = router(now);
    // One client is in: its check answered like a driver would.
    let a = r.handle_accept(now, "127.0.0.1:1");
    let mut input = connect("s3cret");
    input.extend_from_slice(b"SUB foo 1\r\n");
    r.handle_input(now, a, &mut input);
    let (checks, _) = events(&mut r);
    assert_eq!(checks.len(), 1);
    assert!(r.is_input_paused(a), "input waits for the verdict");
    assert_eq!(
        &input[..],
        b"SUB foo 1\r\n",
        "the rest stays in the driver's buffer"
    );
    r.handle_credential_verdict(now, checks[0].verify());
    let (_, rest) = events(&mut r);
    assert!(rest.contains(&RouterEvent::InputResumed(a)));
    assert!(!r.is_input_paused(a));
    r.handle_input(now, a, &mut input);
    assert!(input.is_empty());

    // A storm: 200 connections with secrets never seen before. The router
    // only asks; none of the hashes runs on its path.
    let storm: Vec<ConnId> = (0..200)
        .map(|i| {
            let c = r.handle_accept(now, "127.0.0.1:2");
            r.handle_input(now, c, &mut connect(&format!("guess-{i}")));
            c
        })
        .collect();
    let (checks, _) = events(&mut r);
    assert_eq!(checks.len(), storm.len());
    assert!(storm.iter().all(|c| r.is_input_paused(*c)));

    // Meanwhile the open session publishes and receives.
    output(&mut r, a);
    r.handle_input(now, a, &mut BytesMut::from(&b"PUB foo 2\r\nhi\r\n"[..]));
    assert!(output(&mut r, a).ends_with("MSG foo 1 2\r\nhi\r\n"));

    // The verdicts arrive (out of order): every guess is refused.
    for check in checks.iter().rev() {
        assert!(r.is_credential_check_current(check));
        r.handle_credential_verdict(now, check.verify());
        assert!(!r.is_credential_check_current(check));
    }
    let (_, rest) = events(&mut r);
    let refused = rest
        .iter()
        .filter(|e| {
            matches!(
                e,
                RouterEvent::SessionClosed {
                    reason: CloseReason::AuthorizationViolation,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, storm.len());
    assert!(output(&mut r, storm[0]).ends_with("-ERR 'Authorization Violation'\r\n"));
}

#[test]
fn a_verified_secret_is_remembered_and_failures_are_not() {
    let now = Instant::now();
    let mut r = router(now);
    let a = r.handle_accept(now, "127.0.0.1:1");
    r.handle_input(now, a, &mut connect("s3cret"));
    let (checks, _) = events(&mut r);
    r.handle_credential_verdict(now, checks[0].verify());
    // The same secret again: accepted without a check.
    let b = r.handle_accept(now, "127.0.0.1:1");
    r.handle_input(now, b, &mut connect("s3cret"));
    let (checks, _) = events(&mut r);
    assert!(checks.is_empty());
    assert_eq!(r.session_phase(b), Some(SessionPhase::Open));
    // A wrong one is checked every time.
    for _ in 0..2 {
        let c = r.handle_accept(now, "127.0.0.1:1");
        r.handle_input(now, c, &mut connect("nope"));
        let (checks, _) = events(&mut r);
        assert_eq!(checks.len(), 1);
        r.handle_credential_verdict(now, checks[0].verify());
        assert_eq!(r.session_phase(c), Some(SessionPhase::Closing));
    }
}

#[test]
fn a_check_outlived_by_its_session_or_its_timeout_is_ignored() {
    let now = Instant::now();
    let mut r = router(now);
    // The transport closes while the check runs.
    let a = r.handle_accept(now, "127.0.0.1:1");
    r.handle_input(now, a, &mut connect("s3cret"));
    let (checks, _) = events(&mut r);
    r.handle_transport_closed(now, a);
    assert!(!r.is_credential_check_current(&checks[0]));
    r.handle_credential_verdict(now, checks[0].verify());
    assert_eq!(r.connection_count(), 0);
    // The authentication timeout passes while the check runs.
    let b = r.handle_accept(now, "127.0.0.1:1");
    r.handle_input(now, b, &mut connect("s3cret"));
    let (checks, _) = events(&mut r);
    let later = now + RouterConfig::default().auth_timeout + Duration::from_millis(1);
    r.handle_timeout(later);
    assert_eq!(r.session_phase(b), Some(SessionPhase::Closing));
    assert!(output(&mut r, b).ends_with("-ERR 'Authentication Timeout'\r\n"));
    r.handle_credential_verdict(later, checks[0].verify());
    let (_, rest) = events(&mut r);
    assert!(!rest.contains(&RouterEvent::InputResumed(b)));
    assert_eq!(r.session_phase(b), Some(SessionPhase::Closing));
}

#[test]
fn a_reload_during_a_check_decides_with_the_new_credentials() {
    let now = Instant::now();
    let mut r = router(now);
    let a = r.handle_accept(now, "127.0.0.1:1");
    r.handle_input(now, a, &mut connect("s3cret"));
    let (checks, _) = events(&mut r);
    // The hash is replaced by a plain token the client does not have.
    let new = RouterConfig {
        auth: Auth::Token("other".into()),
        ..RouterConfig::default()
    };
    r.reload(now, new).expect("reload");
    r.handle_credential_verdict(now, checks[0].verify());
    assert_eq!(r.session_phase(a), Some(SessionPhase::Closing));
}

#[test]
fn a_check_does_not_print_the_secret() {
    let now = Instant::now();
    let mut r = router(now);
    let a = r.handle_accept(now, "127.0.0.1:1");
    r.handle_input(now, a, &mut connect("s3cret"));
    let (checks, _) = events(&mut r);
    let shown = format!(
        "{:?} {:?}",
        checks[0],
        RouterEvent::VerifyCredentials(checks[0].clone())
    );
    assert!(
        !shown.contains("s3cret") && !shown.contains(HASH),
        "{shown}"
    );
}

#[test]
fn a_reload_to_a_bcrypt_hash_checks_open_sessions_off_the_routing_path() {
    let now = Instant::now();
    let mut r = Router::new(
        RouterConfig {
            auth: Auth::Token("s3cret".into()),
            ..RouterConfig::default()
        },
        now,
    );
    let open = |r: &mut Router, token: &str| {
        let c = r.handle_accept(now, "127.0.0.1:1");
        r.handle_input(now, c, &mut connect(token));
        let _ = output(r, c);
        c
    };
    let (good, _) = (open(&mut r, "s3cret"), events(&mut r));
    // The same secret, now hashed: its holder is checked, paused meanwhile.
    let new = RouterConfig {
        auth: Auth::Token(HASH.into()),
        ..RouterConfig::default()
    };
    r.reload(now, new.clone()).unwrap();
    let (checks, _) = events(&mut r);
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].conn(), good);
    assert!(r.is_input_paused(good));
    assert!(r.is_credential_check_current(&checks[0]));
    r.handle_credential_verdict(now, checks[0].verify());
    let (_, rest) = events(&mut r);
    assert!(rest.contains(&RouterEvent::InputResumed(good)), "{rest:?}");
    assert!(!r.is_input_paused(good));
    let mut ping = BytesMut::from(&b"PING\r\n"[..]);
    r.handle_input(now, good, &mut ping);
    assert_eq!(output(&mut r, good), "PONG\r\n");

    // A hash the secret does not match: the check fails, the session is
    // closed with the error.
    let other = "$2b$04$0123456789012345678901uJbQwRJX5b1lRRHTpEpCcKUm0GhWx9u";
    r.reload(
        now,
        RouterConfig {
            auth: Auth::Token(other.into()),
            ..RouterConfig::default()
        },
    )
    .unwrap();
    let (checks, _) = events(&mut r);
    assert_eq!(checks.len(), 1);
    let verdict = checks[0].verify();
    assert!(!verdict.matches());
    r.handle_credential_verdict(now, verdict);
    let (_, rest) = events(&mut r);
    assert!(
        rest.contains(&RouterEvent::SessionClosed {
            conn: good,
            reason: CloseReason::AuthorizationViolation
        }),
        "{rest:?}"
    );
    assert_eq!(output(&mut r, good), "-ERR 'Authorization Violation'\r\n");

    // A check that never comes back: closed at the authentication timeout.
    let back = RouterConfig {
        auth: Auth::Token("s3cret".into()),
        ..RouterConfig::default()
    };
    r.reload(now, back).unwrap();
    let (late, _) = (open(&mut r, "s3cret"), events(&mut r));
    r.reload(now, new).unwrap();
    let (checks, _) = events(&mut r);
    assert_eq!(checks.len(), 1);
    let timeout = r.config().auth_timeout;
    let at = r.poll_timeout().expect("a deadline");
    assert!(at <= now + timeout, "{at:?}");
    r.handle_timeout(now + timeout);
    let (_, rest) = events(&mut r);
    assert!(
        rest.contains(&RouterEvent::SessionClosed {
            conn: late,
            reason: CloseReason::AuthenticationTimeout
        }),
        "{rest:?}"
    );
}
