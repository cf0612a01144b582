//! The streaming endpoints against nats-streaming-server 0.25.6's own
//! answers: `shared/fixtures/go-monitoring/streaming_*` (memory store,
//! live scenario) and `shared/fixtures/go-filestore-0.25.6/expected`
//! (restart on a file store: offline durable, durable queue group shadow).
//! Same keys, order, types and values, except `open_fds`/`max_fds`
//! (this process's; type only, and absent where there is no `/proc`).

mod common;

use common::*;
use stan_core::stan::server::EngineSnapshot;

const FDS: Rules<'static> = Rules {
    type_only: &["/open_fds", "/max_fds"],
    may_lack: &["/open_fds", "/max_fds"],
    unordered: &[],
};

/// Renders `path?query` over `engine(now)` at the fixture's `now` and
/// compares it with the fixture `rel`.
fn check(
    rel: &str,
    engine: fn(&str) -> EngineSnapshot,
    path: &str,
    query: Option<&str>,
    rules: &Rules<'_>,
) {
    let text = fixture_text(rel);
    let expected = fixture(rel);
    let now = expected["now"].as_str().unwrap_or("2026-11-29T14:27:47Z");
    let t = timeline();
    let source = FixedSource {
        streaming: Some(engine(now)),
        ..FixedSource::default()
    };
    let r = get(&monitor(), &source, &t, path, query, now);
    let _ = body_json(&r);
    assert_eq!(r.headers(), &[("Access-Control-Allow-Origin", "*")]);
    assert_matches(&text, &body_text(&r), rules);
}

fn live(name: &str) -> String {
    format!("go-monitoring/{name}.json")
}

fn restarted(name: &str) -> String {
    format!("go-filestore-0.25.6/expected/{name}.json")
}

#[test]
fn serverz_matches_the_go_server() {
    check(
        &live("streaming_serverz"),
        engine_snapshot,
        "/streaming/serverz",
        None,
        &FDS,
    );
    check(
        &restarted("serverz"),
        filestore_snapshot,
        "/streaming/serverz",
        None,
        &FDS,
    );
}

#[test]
fn storez_matches_the_go_server() {
    check(
        &live("streaming_storez"),
        engine_snapshot,
        "/streaming/storez",
        None,
        &Rules::default(),
    );
}

#[test]
fn clientsz_matches_the_go_server() {
    let rules = Rules::default();
    check(
        &live("streaming_clientsz"),
        engine_snapshot,
        "/streaming/clientsz",
        None,
        &rules,
    );
    check(
        &live("streaming_clientsz_subs_1"),
        engine_snapshot,
        "/streaming/clientsz",
        Some("subs=1"),
        &rules,
    );
    check(
        &restarted("clientsz_subs_1"),
        filestore_snapshot,
        "/streaming/clientsz",
        Some("subs=1"),
        &rules,
    );
}

#[test]
fn channelsz_matches_the_go_server() {
    let rules = Rules::default();
    check(
        &live("streaming_channelsz"),
        engine_snapshot,
        "/streaming/channelsz",
        None,
        &rules,
    );
    check(
        &live("streaming_channelsz_subs_1"),
        engine_snapshot,
        "/streaming/channelsz",
        Some("subs=1"),
        &rules,
    );
    check(
        &restarted("channelsz_subs_1"),
        filestore_snapshot,
        "/streaming/channelsz",
        Some("subs=1"),
        &rules,
    );
}

#[test]
fn one_channel_matches_the_go_server() {
    // The fixture has no `now`: any moment will do.
    let rel = live("streaming_channelsz_channel_orders_subs_1");
    let t = timeline();
    let source = FixedSource {
        streaming: Some(engine_snapshot("2026-11-29T14:27:47Z")),
        ..FixedSource::default()
    };
    let r = get(
        &monitor(),
        &source,
        &t,
        "/streaming/channelsz",
        Some("channel=orders&subs=1"),
        "2026-11-29T14:27:47Z",
    );
    assert_matches(&fixture_text(&rel), &body_text(&r), &Rules::default());
}

#[test]
fn is_ft_active_is_no_content() {
    let t = timeline();
    let source = FixedSource {
        streaming: Some(engine_snapshot("2026-11-29T14:27:47Z")),
        ..FixedSource::default()
    };
    let r = get(
        &monitor(),
        &source,
        &t,
        "/streaming/isFTActive",
        None,
        "2026-11-29T14:27:47Z",
    );
    assert_eq!((r.status, r.content_type, r.body.len()), (204, "", 0));
    let stopped = get(
        &monitor(),
        &FixedSource::default(),
        &t,
        "/streaming/isFTActive",
        None,
        "2026-11-29T14:27:47Z",
    );
    assert_eq!(stopped.status, 204);
}

#[test]
fn streaming_index_links_the_endpoints() {
    let t = timeline();
    let r = get(
        &monitor(),
        &FixedSource::default(),
        &t,
        "/streaming",
        None,
        "2026-11-29T14:27:47Z",
    );
    assert_eq!(
        (r.status, r.content_type),
        (200, "text/html; charset=utf-8")
    );
    let html = body_text(&r);
    for link in ["serverz", "storez", "clientsz", "channelsz"] {
        assert!(html.contains(&format!("/streaming/{link}")), "{html}");
    }
}

#[test]
fn per_channel_limits_are_listed() {
    use stan_core::stan::server::LimitsOverride;
    let t = timeline();
    let mut engine = engine_snapshot("2026-11-29T14:27:47Z");
    engine.limits.per_channel = vec![(
        "orders.>".to_owned(),
        LimitsOverride {
            max_msgs: Some(10),
            ..LimitsOverride::default()
        },
    )];
    let source = FixedSource {
        streaming: Some(engine),
        ..FixedSource::default()
    };
    let r = get(
        &monitor(),
        &source,
        &t,
        "/streaming/storez",
        None,
        "2026-11-29T14:27:47Z",
    );
    let v = body_json(&r);
    assert_eq!(
        v["limits"]["channels"],
        serde_json::json!({"orders.>": {
            "max_msgs": 10, "max_bytes": 1_024_000_000u64, "max_age": 0,
            "max_subscriptions": 1000, "max_inactivity": 0
        }})
    );
}
