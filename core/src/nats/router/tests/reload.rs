//! Configuration reload while running.

use super::*;

#[test]
fn reload_changes_authorization_and_limits() {
    let mut w = world(RouterConfig::default());
    let before = w.peer_connected(QUIET);
    let mut new = RouterConfig {
        auth: Auth::Token("t0ken".into()),
        max_payload: 1000,
        debug: true,
        ..RouterConfig::default()
    };
    let now = w.now;
    let changes = w.router.reload(now, new.clone()).unwrap();
    assert_eq!(
        changes,
        [
            "Reloaded: authorization users",
            "Reloaded: max_payload = 1000",
            "Reloaded: debug = true"
        ]
    );
    // New connections see the new INFO and must authenticate.
    let fresh = w.peer();
    let info = info_json(&w.read(fresh));
    assert_eq!(info["auth_required"], true);
    assert_eq!(info["max_payload"], 1000);
    w.send(fresh, "CONNECT {}\r\n");
    assert_eq!(w.read(fresh), vec![err("Authorization Violation")]);
    let ok = w.peer_connected(r#"{"verbose":false,"auth_token":"t0ken"}"#);
    assert_eq!(w.router.session_phase(ok), Some(SessionPhase::Open));
    // The session from before presented no token: closed, as nats-server
    // closes the clients a new authorization no longer admits.
    assert_eq!(w.read(before), vec![err("Authorization Violation")]);
    assert!(closed(&mut w).contains(&(before, CloseReason::AuthorizationViolation)));
    // Nothing changed: nothing to say.
    assert_eq!(
        w.router.reload(now, new.clone()).unwrap(),
        Vec::<String>::new()
    );

    // A new port needs a restart: refused, nothing applied.
    new.port = 5000;
    new.max_payload = 2000;
    assert_eq!(
        w.router.reload(now, new),
        Err(ReloadError::NotSupported {
            option: "port",
            old: "4222".into(),
            new: "5000".into()
        })
    );
    assert_eq!(w.router.config().max_payload, 1000);
}

#[test]
fn a_reload_closes_the_clients_the_new_authorization_refuses() {
    let users = |user: &str, pass: &str| RouterConfig {
        auth: Auth::UserPass {
            user: user.into(),
            pass: pass.into(),
        },
        ..RouterConfig::default()
    };
    let mut w = world(users("alice", "a1"));
    let connect = |user: &str, pass: &str| {
        format!(r#"{{"verbose":false,"pedantic":false,"user":"{user}","pass":"{pass}"}}"#)
    };
    let alice = w.peer_connected(&connect("alice", "a1"));
    let now = w.now;
    // The engine's own in-process session presents nothing and stays.
    let local = w.router.attach_local(now, LocalOptions::default());
    let _ = closed(&mut w);

    // The password changes: alice's session no longer passes.
    w.router.reload(now, users("alice", "a2")).unwrap();
    assert_eq!(w.read(alice), vec![err("Authorization Violation")]);
    assert_eq!(
        closed(&mut w),
        [(alice, CloseReason::AuthorizationViolation)]
    );
    assert!(w.router.session(local).is_some());

    // One who connected with the new password stays through a reload that
    // only changes limits, and through one that keeps their credentials.
    let again = w.peer_connected(&connect("alice", "a2"));
    let limits = RouterConfig {
        max_payload: 4096,
        ..users("alice", "a2")
    };
    w.router.reload(now, limits).unwrap();
    w.send(again, "PING\r\n");
    assert_eq!(w.read(again), vec![ServerOp::Pong]);
    assert!(closed(&mut w).is_empty());

    // Authorization off: everyone is admitted.
    w.router.reload(now, RouterConfig::default()).unwrap();
    w.send(again, "PING\r\n");
    assert_eq!(w.read(again), vec![ServerOp::Pong]);
    assert!(closed(&mut w).is_empty());
}
