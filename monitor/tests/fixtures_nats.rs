//! The embedded NATS server's endpoints against nats-server 2.9.24's own
//! answers (`shared/fixtures/go-monitoring`): snapshots reproducing the
//! fixture's scenario, rendered at the fixture's `now`, must give the same
//! keys in the same order, the same types and the same values, except:
//!
//! * `/varz` `mem`, `cores`, `gomaxprocs`, `cpu`: this machine's (type
//!   only); `git_commit` (omitempty) is absent: there is no Git commit;
//! * `/subsz` `account`: every subscription is in `$G` here (the fixture's
//!   internal `$SYS` clients have no equivalent);
//! * arrays in Go's map order (a connection's `subscriptions_list`,
//!   `/subsz`'s list) are compared as sets.

mod common;

use common::*;

/// Renders `path?query` at `now` over the scenario and compares it with
/// `go-monitoring/<fixture>.json`.
fn check(fixture: &str, path: &str, query: Option<&str>, rules: Rules<'_>) {
    let t = timeline();
    let source = FixedSource {
        nats: Some(nats_snapshot(&t)),
        ..FixedSource::default()
    };
    let expected = monitoring(fixture);
    let now = expected["now"]
        .as_str()
        .unwrap_or("2026-11-29T14:27:47.844786866Z");
    let r = get(&monitor(), &source, &t, path, query, now);
    let _ = body_json(&r);
    assert_matches(
        &fixture_text(&format!("go-monitoring/{fixture}.json")),
        &body_text(&r),
        &rules,
    );
}

#[test]
fn varz_matches_nats_server() {
    check(
        "varz",
        "/varz",
        None,
        Rules {
            type_only: &["/mem", "/cores", "/gomaxprocs", "/cpu"],
            may_lack: &["/git_commit"],
            ..Rules::default()
        },
    );
}

#[test]
fn connz_matches_nats_server() {
    check("connz", "/connz", None, Rules::default());
}

#[test]
fn connz_subs_matches_nats_server() {
    check(
        "connz_subs_1",
        "/connz",
        Some("subs=1"),
        Rules {
            unordered: &["/connections/*/subscriptions_list"],
            ..Rules::default()
        },
    );
}

#[test]
fn subsz_matches_nats_server() {
    check("subsz", "/subsz", None, Rules::default());
}

#[test]
fn subsz_subs_matches_nats_server() {
    check(
        "subsz_subs_1",
        "/subsz",
        Some("subs=1"),
        Rules {
            type_only: &["/subscriptions_list/*/account"],
            unordered: &["/subscriptions_list"],
            ..Rules::default()
        },
    );
}

#[test]
fn routez_matches_nats_server() {
    check("routez", "/routez", None, Rules::default());
}

#[test]
fn healthz_matches_nats_server() {
    check("healthz", "/healthz", None, Rules::default());
}

#[test]
fn subsz_accounts_are_global() {
    let t = timeline();
    let source = FixedSource {
        nats: Some(nats_snapshot(&t)),
        ..FixedSource::default()
    };
    let r = get(
        &monitor(),
        &source,
        &t,
        "/subsz",
        Some("subs=1"),
        "2026-11-29T14:27:47Z",
    );
    let v = body_json(&r);
    let list = v["subscriptions_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 64);
    assert!(list.iter().all(|s| s["account"] == "$G"));
}

#[test]
fn varz_counts_requests_per_endpoint() {
    let t = timeline();
    let source = FixedSource {
        nats: Some(nats_snapshot(&t)),
        ..FixedSource::default()
    };
    let m = monitor();
    let now = "2026-11-29T14:27:47Z";
    for (path, query) in [
        ("/connz", None),
        ("/connz", Some("limit=abc")), // refused before counting, as Go does
        ("/subsz", None),
        ("/subsz", Some("subs=maybe")), // counted before decoding, as Go does
        ("/routez", None),
        ("/healthz", None),
        ("/streaming/serverz", None), // the streaming server counts nothing
        ("/varz", None),
    ] {
        let _ = get(&m, &source, &t, path, query, now);
    }
    let v = body_json(&get(&m, &source, &t, "/varz", None, now));
    assert_eq!(
        v["http_req_stats"],
        serde_json::json!({"/connz": 1, "/subsz": 2, "/routez": 1, "/healthz": 1, "/varz": 2})
    );
}

#[test]
fn the_comparison_catches_differences() {
    let fixture = r#"{"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": true}"#;
    let same = r#"{"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": true}"#;
    assert_matches(fixture, same, &Rules::default());
    for bad in [
        r#"{"a": 1, "b": {"c": "x", "d": [1, 2]}}"#, // missing
        r#"{"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": true, "f": 0}"#, // extra
        r#"{"b": {"c": "x", "d": [1, 2]}, "a": 1, "e": true}"#, // order
        r#"{"a": "1", "b": {"c": "x", "d": [1, 2]}, "e": true}"#, // type
        r#"{"a": 2, "b": {"c": "x", "d": [1, 2]}, "e": true}"#, // value
        r#"{"a": 1, "b": {"c": "x", "d": [2, 1]}, "e": true}"#, // array order
    ] {
        let caught = std::panic::catch_unwind(|| assert_matches(fixture, bad, &Rules::default()));
        assert!(caught.is_err(), "not caught: {bad}");
    }
    assert_matches(
        fixture,
        r#"{"a": 5, "b": {"c": "x", "d": [2, 1]}}"#,
        &Rules {
            type_only: &["/a"],
            may_lack: &["/e"],
            unordered: &["/b/d"],
        },
    );
}
