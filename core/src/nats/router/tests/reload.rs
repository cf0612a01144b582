//! Configuration reload while running.

use super::*;

#[test]
fn reload_changes_authorization_and_limits_for_new_connections() {
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
    // The session from before keeps working.
    w.send(before, "PING\r\n");
    assert_eq!(w.read(before), vec![ServerOp::Pong]);
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
