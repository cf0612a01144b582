//! Query options and bad input, answered as the Go servers answer them:
//! nats-server's `400` with Go's error texts, the streaming server's
//! lenient parsing, Go's `404 page not found`, JSONP, and the answers when
//! a part of the server is missing.

mod common;

use common::*;
use serde_json::Value;
use stan_monitor::Response;

const NOW: &str = "2026-11-29T14:27:47.757511411Z";

fn full() -> (FixedSource, Timeline) {
    let t = timeline();
    let source = FixedSource {
        nats: Some(nats_snapshot(&t)),
        streaming: Some(engine_snapshot(NOW)),
        sync: None,
    };
    (source, t)
}

fn req(path: &str, query: Option<&str>) -> Response {
    let (source, t) = full();
    get(&monitor(), &source, &t, path, query, NOW)
}

fn json(path: &str, query: &str) -> Value {
    body_json(&req(path, Some(query)))
}

fn assert_text(r: &Response, status: u16, body: &str) {
    assert_eq!(
        (r.status, r.content_type, body_text(r).as_str()),
        (status, "text/plain; charset=utf-8", body)
    );
}

fn cids(v: &Value) -> Vec<u64> {
    v["connections"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["cid"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn unknown_paths_are_go_404s() {
    for path in [
        "/nope",
        "/varz/",
        "/streaming/serverz/x",
        "/streaming/",
        "/metrics/x",
    ] {
        let r = req(path, None);
        assert_text(&r, 404, "404 page not found\n");
        assert_eq!(r.headers(), &[("X-Content-Type-Options", "nosniff")]);
    }
}

#[test]
fn root_is_served() {
    let r = req("/", None);
    assert_eq!(r.status, 200);
    assert!(!r.content_type.is_empty());
    assert!(!r.body.is_empty());
}

#[test]
fn connz_bad_numbers_are_400_with_go_text() {
    assert_text(
        &req("/connz", Some("limit=abc")),
        400,
        "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax",
    );
    assert_text(
        &req("/connz", Some("offset=99999999999999999999")),
        400,
        "Error decoding int for 'offset': strconv.Atoi: parsing \"99999999999999999999\": value out of range",
    );
    assert_text(
        &req("/connz", Some("cid=-1")),
        400,
        "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax",
    );
    assert_text(
        &req("/connz", Some("subs=maybe")),
        400,
        "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax",
    );
    assert_text(
        &req("/connz", Some("state=sleeping")),
        400,
        "Error decoding state for sleeping",
    );
}

#[test]
fn connz_sort_errors() {
    assert_text(
        &req("/connz", Some("sort=foo")),
        400,
        "invalid sorting option: foo",
    );
    assert_text(
        &req("/connz", Some("sort=stop")),
        400,
        "sort by stop only valid on closed connections",
    );
    assert_text(
        &req("/connz", Some("sort=reason&state=all")),
        400,
        "sort by reason only valid on closed connections",
    );
    let v = json("/connz", "sort=stop&state=closed");
    assert_eq!((v["total"].as_u64(), cids(&v)), (Some(0), vec![]));
}

#[test]
fn connz_offset_and_limit() {
    let v = json("/connz", "offset=-1");
    assert_eq!((v["offset"].as_i64(), cids(&v).len()), (Some(0), 6));
    let v = json("/connz", "offset=2&limit=2");
    assert_eq!(cids(&v), vec![6, 7]);
    assert_eq!(
        (v["num_connections"].as_u64(), v["total"].as_u64()),
        (Some(2), Some(6))
    );
    let v = json("/connz", "limit=0");
    assert_eq!(v["limit"].as_i64(), Some(1024));
    let v = json("/connz", "limit=1000000000000&offset=4");
    assert_eq!(
        (v["limit"].as_i64(), cids(&v)),
        (Some(1_000_000_000_000), vec![12, 13])
    );
    let v = json("/connz", "offset=100");
    assert_eq!((cids(&v), v["total"].as_u64()), (vec![], Some(6)));
}

#[test]
fn connz_sort_orders() {
    let order = |sort: &str| cids(&json("/connz", &format!("sort={sort}")));
    assert_eq!(order("cid"), vec![4, 5, 6, 7, 12, 13]);
    assert_eq!(order("start"), vec![4, 5, 6, 7, 12, 13]);
    assert_eq!(order("subs"), vec![5, 12, 13, 6, 4, 7]);
    assert_eq!(order("msgs_to"), vec![5, 6, 12, 13, 4, 7]);
    assert_eq!(order("msgs_from"), vec![4, 5, 12, 13, 6, 7]);
    assert_eq!(order("bytes_to"), vec![5, 12, 13, 6, 4, 7]);
    assert_eq!(order("bytes_from"), vec![5, 4, 12, 13, 6, 7]);
    assert_eq!(order("pending"), vec![4, 5, 6, 7, 12, 13]);
    assert_eq!(order("rtt"), vec![12, 13, 5, 4, 7, 6]);
    // Most recent activity first; longest idle first; shortest uptime first.
    assert_eq!(order("last"), vec![6, 13, 4, 5, 12, 7]);
    assert_eq!(order("idle"), vec![7, 12, 5, 4, 6, 13]);
    assert_eq!(order("uptime"), vec![13, 12, 7, 6, 5, 4]);
}

#[test]
fn connz_state_and_cid() {
    let v = json("/connz", "state=closed");
    assert_eq!((v["total"].as_u64(), cids(&v)), (Some(0), vec![]));
    assert_eq!(v["connections"], serde_json::json!([]));
    let v = json("/connz", "state=all");
    assert_eq!((v["total"].as_u64(), cids(&v).len()), (Some(6), 6));
    let v = json("/connz", "cid=12");
    assert_eq!(
        (cids(&v), v["limit"].as_i64(), v["total"].as_u64()),
        (vec![12], Some(1), Some(6))
    );
    let v = json("/connz", "cid=99");
    assert_eq!((cids(&v), v["num_connections"].as_u64()), (vec![], Some(0)));
    // nats-server looks a cid up among the closed ones with state=all.
    assert_eq!(cids(&json("/connz", "cid=12&state=all")), Vec::<u64>::new());
    // An account other than the global one has no connection.
    assert_eq!(json("/connz", "acc=OTHER")["connections"], Value::Null);
    assert_eq!(cids(&json("/connz", "acc=$G")).len(), 6);
}

#[test]
fn connz_subscription_lists() {
    let v = json("/connz", "subs=true&cid=6");
    assert_eq!(
        v["connections"][0]["subscriptions_list"],
        serde_json::json!([
            "_INBOX.VLmKpAXj29rzVBeiWrN8zr",
            "_INBOX.VLmKpAXj29rzVBeiWrN91N"
        ])
    );
    let v = json("/connz", "subs=detail&cid=6");
    let c = &v["connections"][0];
    assert!(c.get("subscriptions_list").is_none());
    assert_eq!(
        c["subscriptions_list_detail"][1],
        serde_json::json!({"subject": "_INBOX.VLmKpAXj29rzVBeiWrN91N", "sid": "2", "msgs": 3, "cid": 6})
    );
    // Connections without subscriptions have no list.
    let v = json("/connz", "subs=1&cid=4");
    assert!(v["connections"][0].get("subscriptions_list").is_none());
}

#[test]
fn in_process_sessions_have_no_address() {
    let (mut source, t) = full();
    if let Some(nats) = source.nats.as_mut() {
        nats.connections[0].in_process = true;
        nats.connections[0].peer = String::new();
        nats.connections[0].rtt = None;
    }
    let r = get(&monitor(), &source, &t, "/connz", None, NOW);
    let c = &body_json(&r)["connections"][0];
    assert_eq!(
        (&c["kind"], &c["type"], &c["ip"], &c["port"], &c["rtt"]),
        (
            &Value::from("Client"),
            &Value::from("nats"),
            &Value::from(""),
            &Value::from(0),
            &Value::from("0s")
        )
    );
}

#[test]
fn subsz_options() {
    let v = json("/subsz", "subs=1&test=_STAN.pub.test-cluster.orders");
    let list = v["subscriptions_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], "_STAN.pub.test-cluster.>");
    assert_eq!(v["total"].as_u64(), Some(1));
    let v = json("/subsz", "subs=1&test=_INBOX.FonaexwDC8lrNLzeADw4FO.x");
    assert_eq!(v["subscriptions_list"][0]["sid"], "3");
    assert_text(
        &req("/subsz", Some("test=foo.*")),
        400,
        "invalid test subject, must be valid publish subject: foo.*",
    );
    // Nothing matches: the statistics alone, as nats-server answers.
    let v = json("/subsz", "subs=1&test=no.such.subject");
    assert!(v.get("server_id").is_none() && v.get("num_subscriptions").is_some());
    // nats-server's `total` is the page's length.
    let v = json("/subsz", "subs=1&offset=60&limit=10");
    assert_eq!(
        (
            v["total"].as_u64(),
            v["offset"].as_i64(),
            v["limit"].as_i64()
        ),
        (Some(4), Some(60), Some(10))
    );
    let v = json("/subsz", "subs=1&limit=1000000000");
    assert_eq!(v["subscriptions_list"].as_array().map(Vec::len), Some(64));
    assert_text(
        &req("/subsz", Some("limit=x")),
        400,
        "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax",
    );
}

#[test]
fn routez_and_healthz_options() {
    assert_eq!(json("/routez", "subs=detail")["num_routes"], 0);
    assert_text(
        &req("/routez", Some("subs=x")),
        400,
        "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"x\": invalid syntax",
    );
    let r = req("/healthz", None);
    assert_eq!(body_text(&r), r#"{"status":"ok"}"#);
    assert_text(
        &req("/healthz", Some("js-enabled-only=x")),
        400,
        "Error decoding boolean for 'js-enabled-only': strconv.ParseBool: parsing \"x\": invalid syntax",
    );
}

#[test]
fn jsonp_callbacks() {
    for path in ["/varz", "/connz", "/streaming/serverz", "/healthz"] {
        let r = req(path, Some("callback=monitor.render_1"));
        assert_eq!((r.status, r.content_type), (200, "application/javascript"));
        let body = body_text(&r);
        assert!(
            body.starts_with("monitor.render_1({") && body.ends_with("})"),
            "{body}"
        );
        assert!(r.headers().is_empty());
        let inner = &body["monitor.render_1(".len()..body.len() - 1];
        assert!(serde_json::from_str::<Value>(inner).is_ok());
    }
    for bad in ["alert(1)", "a%20b", "%3C%2Fscript%3E", "1x", "a..b"] {
        let r = req("/varz", Some(&format!("callback={bad}")));
        assert_eq!(r.status, 400, "{bad}");
        assert!(!body_text(&r).contains('<'));
    }
    let r = req("/varz", Some("callback="));
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.headers(), &[("Access-Control-Allow-Origin", "*")]);
}

#[test]
fn json_escapes_html_like_go() {
    let (mut source, t) = full();
    if let Some(nats) = source.nats.as_mut() {
        nats.connections[0].name = "<script>&".to_owned();
    }
    let r = get(&monitor(), &source, &t, "/connz", None, NOW);
    let body = body_text(&r);
    assert!(
        body.contains(r#""name": "\u003cscript\u003e\u0026""#),
        "{body}"
    );
    assert_eq!(body_json(&r)["connections"][0]["name"], "<script>&");
}

#[test]
fn without_embedded_nats_the_nats_endpoints_are_404() {
    let (mut source, t) = full();
    source.nats = None;
    let m = monitor();
    for path in ["/varz", "/connz", "/subsz", "/routez", "/healthz"] {
        let r = get(&m, &source, &t, path, None, NOW);
        assert_eq!(
            (r.status, r.content_type),
            (404, "text/plain; charset=utf-8")
        );
        assert!(body_text(&r).contains("external NATS server"), "{path}");
    }
    assert_eq!(
        get(&m, &source, &t, "/streaming/serverz", None, NOW).status,
        200
    );
    let metrics = body_text(&get(&m, &source, &t, "/metrics", None, NOW));
    assert!(!metrics.contains("nats_") && metrics.contains("stan_up 1"));
}

#[test]
fn without_the_engine_the_streaming_endpoints_are_503() {
    let (mut source, t) = full();
    source.streaming = None;
    let m = monitor();
    for path in [
        "/streaming/serverz",
        "/streaming/storez",
        "/streaming/clientsz",
        "/streaming/channelsz",
    ] {
        let r = get(&m, &source, &t, path, None, NOW);
        assert_eq!(
            (r.status, r.content_type),
            (503, "text/plain; charset=utf-8")
        );
        assert!(body_text(&r).contains("not running"));
    }
    assert_eq!(get(&m, &source, &t, "/varz", None, NOW).status, 200);
    let metrics = body_text(&get(&m, &source, &t, "/metrics", None, NOW));
    assert!(metrics.contains("stan_up 0") && metrics.contains("nats_connections 6"));
}

#[test]
fn unknown_channel_and_client_are_go_404s() {
    assert_text(
        &req("/streaming/channelsz", Some("channel=nope")),
        404,
        "Channel nope not found\n",
    );
    assert_text(
        &req("/streaming/clientsz", Some("client=nope")),
        404,
        "Client nope not found\n",
    );
    let v = json("/streaming/clientsz", "client=sub1");
    assert_eq!(
        v,
        serde_json::json!({"id": "sub1", "hb_inbox": "_INBOX.FonaexwDC8lrNLzeADw47i", "subs_count": 1})
    );
    let v = json("/streaming/clientsz", "client=sub2&subs=1");
    assert_eq!(v["subscriptions"]["orders"][0]["queue_name"], "workers");
}

#[test]
fn streaming_queries_are_lenient_like_go() {
    // `subs` counts only as 1.
    let v = json("/streaming/channelsz", "subs=true");
    assert!(v.get("names").is_some() && v.get("channels").is_none());
    let v = json("/streaming/clientsz", "subs=true");
    assert!(v["clients"][0].get("subscriptions").is_none());
    // Bad numbers are ignored, negative offsets are 0.
    let v = json("/streaming/channelsz", "limit=abc&offset=-5");
    assert_eq!(
        (
            v["limit"].as_i64(),
            v["offset"].as_i64(),
            v["count"].as_u64()
        ),
        (Some(1024), Some(0), Some(2))
    );
    let v = json("/streaming/channelsz", "limit=1&offset=1");
    assert_eq!(v["names"], serde_json::json!(["orders"]));
    assert_eq!(
        (v["count"].as_u64(), v["total"].as_u64()),
        (Some(1), Some(2))
    );
    // Past the end: no list at all for channels (omitempty), `[]` for clients.
    let v = json("/streaming/channelsz", "offset=5");
    assert!(v.get("names").is_none() && v.get("channels").is_none());
    assert_eq!(
        json("/streaming/clientsz", "offset=5")["clients"],
        serde_json::json!([])
    );
    // An overflowing limit is Go's clamped Atoi value; only what exists.
    let v = json("/streaming/clientsz", "limit=99999999999999999999&offset=1");
    assert_eq!(
        (v["limit"].as_i64(), v["count"].as_u64()),
        (Some(i64::MAX), Some(1))
    );
}
