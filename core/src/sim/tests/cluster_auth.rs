//! Cluster authorization (`cluster { authorization { user, password } }`,
//! `--cluster nats://user:pass@host:port`), in virtual time: what an
//! accepted route must present, as nats-server 2.9's `isRouterAuthorized`.

use std::time::Duration;

use crate::nats::router::{Auth, CloseReason, RouterConfig, RouterEvent};
use crate::sim::cluster::{node_addr, ClusterWorld, ROUTE_PORT};

fn with_auth(c: &mut RouterConfig, pass: &str) {
    let cluster = c.cluster.as_mut().expect("cluster");
    cluster.auth = Auth::UserPass {
        user: "ruser".into(),
        pass: pass.into(),
    };
}

fn url_with(i: usize, creds: &str) -> String {
    format!("nats-route://{creds}{}:{ROUTE_PORT}", node_addr(i))
}

fn closes(w: &ClusterWorld, node: usize) -> Vec<CloseReason> {
    w.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::SessionClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn publish(w: &mut ClusterWorld, node: usize, subject: &str, payload: &str) {
    let p = w.subscriber(node, &[]);
    w.send(
        p,
        &format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()),
    );
    w.settle();
}

#[test]
fn routes_presenting_the_cluster_credentials_are_accepted() {
    let mut w = ClusterWorld::with(2, |i, c| {
        with_auth(c, "T0p$ecret");
        if i == 0 {
            c.cluster.as_mut().expect("cluster").routes = vec![url_with(1, "ruser:T0p$ecret@")];
        }
    });
    w.settle();
    assert!(w.is_full_mesh());
    let sub = w.subscriber(1, &[("auth.ok", None)]);
    publish(&mut w, 0, "auth.ok", "crossed");
    assert_eq!(w.msgs(sub), vec![("auth.ok".into(), "crossed".into())]);
    assert!(closes(&w, 1).is_empty(), "{:?}", closes(&w, 1));
}

#[test]
fn missing_or_wrong_credentials_are_an_authorization_violation() {
    for creds in ["", "ruser:wrong@", "other:T0p$ecret@", "ruser@"] {
        let mut w = ClusterWorld::with(2, |i, c| {
            if i == 1 {
                with_auth(c, "T0p$ecret");
            } else {
                c.cluster.as_mut().expect("cluster").routes = vec![url_with(1, creds)];
            }
        });
        w.settle();
        assert!(
            !w.is_full_mesh(),
            "{creds:?}: no route without the credentials"
        );
        assert!(
            closes(&w, 1).contains(&CloseReason::AuthorizationViolation),
            "{creds:?}: {:?}",
            closes(&w, 1)
        );
        // The explicit route keeps being retried, and keeps failing.
        let before = closes(&w, 1).len();
        w.advance(Duration::from_secs(5));
        assert!(closes(&w, 1).len() > before, "{creds:?}: retried");
        assert!(w.route_ids(0).is_empty() && w.route_ids(1).is_empty());
    }
}

#[test]
fn a_bcrypt_cluster_password_is_checked_off_the_routing_path() {
    let hash = bcrypt::hash("T0p$ecret", 4).expect("hash");
    let mut w = ClusterWorld::with(2, |i, c| {
        if i == 1 {
            with_auth(c, &hash);
        } else {
            c.cluster.as_mut().expect("cluster").routes = vec![url_with(1, "ruser:T0p$ecret@")];
        }
    });
    w.settle();
    assert!(w.is_full_mesh());
    assert!(
        w.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, RouterEvent::VerifyCredentials(_))),
        "the hash was handed to the driver"
    );
    let sub = w.subscriber(0, &[("hashed", None)]);
    publish(&mut w, 1, "hashed", "ok");
    assert_eq!(w.msgs(sub), vec![("hashed".into(), "ok".into())]);

    // A wrong password against the hash is refused the same way.
    let mut w = ClusterWorld::with(2, |i, c| {
        if i == 1 {
            with_auth(c, &hash);
        } else {
            c.cluster.as_mut().expect("cluster").routes = vec![url_with(1, "ruser:nope@")];
        }
    });
    w.settle();
    assert!(!w.is_full_mesh());
    assert!(closes(&w, 1).contains(&CloseReason::AuthorizationViolation));
}

#[test]
fn the_route_info_says_auth_required_and_silence_times_out() {
    let mut w = ClusterWorld::with(1, |_, c| with_auth(c, "pw"));
    let peer = w.route_peer(0);
    w.advance(Duration::from_millis(5));
    let info = String::from_utf8(w.take(peer)).expect("utf8");
    assert!(info.starts_with("INFO {"), "{info}");
    assert!(info.contains("\"auth_required\":true"), "{info}");
    w.advance(Duration::from_millis(1890));
    assert!(!w.closed(peer), "within nats-server's 2 s");
    w.advance(Duration::from_millis(200));
    let out = String::from_utf8(w.take(peer)).expect("utf8");
    assert!(out.contains("-ERR 'Authentication Timeout'"), "{out}");
    assert!(w.closed(peer));
    assert_eq!(closes(&w, 0), vec![CloseReason::AuthenticationTimeout]);

    // Without authorization the INFO does not carry the field.
    let mut w = ClusterWorld::with(1, |_, _| {});
    let peer = w.route_peer(0);
    w.advance(Duration::from_millis(5));
    let info = String::from_utf8(w.take(peer)).expect("utf8");
    assert!(!info.contains("auth_required"), "{info}");
}

#[test]
fn anything_before_an_authorized_connect_is_a_violation() {
    for first in [
        "INFO {\"server_id\":\"X\",\"cluster\":\"sim\"}\r\n",
        "RS+ $G foo\r\n",
        "PING\r\n",
    ] {
        let mut w = ClusterWorld::with(1, |_, c| with_auth(c, "pw"));
        let peer = w.route_peer(0);
        w.take(peer);
        w.send(peer, first);
        w.advance(Duration::from_millis(10));
        let out = String::from_utf8(w.take(peer)).expect("utf8");
        assert!(
            out.contains("-ERR 'Authorization Violation'"),
            "{first:?}: {out}"
        );
        assert!(w.closed(peer), "{first:?}");
    }
    // A correct CONNECT first, then INFO: the route registers.
    let mut w = ClusterWorld::with(1, |_, c| with_auth(c, "pw"));
    let peer = w.route_peer(0);
    w.take(peer);
    w.send(
        peer,
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ruser\",\"pass\":\"pw\",\"tls_required\":false,\"headers\":true,\"name\":\"RAWPEER\",\"cluster\":\"sim\"}\r\n\
         INFO {\"server_id\":\"RAWPEER\",\"server_name\":\"raw\",\"host\":\"10.0.2.1\",\"port\":6222,\"headers\":true,\"cluster\":\"sim\"}\r\n",
    );
    w.advance(Duration::from_millis(10));
    assert!(!w.closed(peer));
    assert_eq!(w.route_ids(0), vec!["RAWPEER".to_string()]);
    // The authentication deadline no longer applies.
    w.advance(Duration::from_secs(3));
    assert!(!w.closed(peer));
}

#[test]
fn gossiped_routes_are_dialled_with_the_cluster_credentials() {
    // 0 and 2 know only 1; they learn each other by gossip and must
    // authenticate to each other with their own cluster credentials.
    let mut w = ClusterWorld::with(3, |i, c| {
        with_auth(c, "pw");
        if i != 1 {
            c.cluster.as_mut().expect("cluster").routes = vec![url_with(1, "ruser:pw@")];
        }
    });
    w.settle();
    assert!(
        w.is_full_mesh(),
        "{:?}",
        (0..3).map(|i| w.route_ids(i)).collect::<Vec<_>>()
    );
    for i in 0..3 {
        assert!(
            !closes(&w, i).contains(&CloseReason::AuthorizationViolation),
            "node {i}: {:?}",
            closes(&w, i)
        );
    }
}

#[test]
fn a_reload_that_changes_the_cluster_settings_is_refused_without_showing_the_password() {
    let mut w = ClusterWorld::with(1, |_, c| with_auth(c, "old-secret"));
    let now = w.now;
    let same = w.nodes[0].router.config().clone();
    assert!(w.nodes[0].router.reload(now, same.clone()).is_ok());
    let mut any_port = same.clone();
    any_port.cluster.as_mut().expect("cluster").port = 0;
    assert!(
        w.nodes[0].router.reload(now, any_port).is_ok(),
        "port 0 is the bound one"
    );
    let mut routes = same.clone();
    routes.cluster.as_mut().expect("cluster").routes = vec!["nats://10.9.9.9:6222".into()];
    let err = w.nodes[0]
        .router
        .reload(now, routes)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("config reload not supported for cluster"),
        "{err}"
    );
    let mut password = same.clone();
    with_auth(&mut password, "new-secret");
    let err = w.nodes[0]
        .router
        .reload(now, password)
        .unwrap_err()
        .to_string();
    assert!(err.contains("password changed: true"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    let mut none = same;
    none.cluster = None;
    assert!(w.nodes[0].router.reload(now, none).is_err());
}
