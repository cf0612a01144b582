//! Flow control in the simulation world: fast producers are stalled for
//! slow consumers, as nats-server does, and consumers are cut off only
//! under nats-server's conditions (pending output over `max_pending`, a
//! write blocked for `write_deadline`). The world is the driver: it writes
//! what a consumer's link takes, confirms it with `handle_written`, feeds
//! resumed producers and reports blocked writes.

use super::*;
use crate::sim::{Chunking, DEFAULT_CAPACITY};

const MAX_PENDING: usize = 64 * 1024;
const PAYLOAD: usize = 1000;

fn small_world() -> World {
    world(RouterConfig {
        max_pending: MAX_PENDING,
        ..RouterConfig::default()
    })
}

/// `n` publishes of a 1000-byte payload to `subject`, as one byte string.
fn burst(subject: &str, n: usize) -> String {
    let payload = "x".repeat(PAYLOAD);
    (0..n)
        .map(|_| format!("PUB {subject} {PAYLOAD}\r\n{payload}\r\n"))
        .collect()
}

/// `c` stops reading and its link is full: the world holds the output
/// chunk it took from the router, unconfirmed.
fn block(w: &mut World, c: ConnId) {
    w.configure(c, Dir::Down, |p| {
        p.capacity = 0;
        p.stalled = true;
    });
}

/// `c` reads again, over a link with room.
fn unblock(w: &mut World, c: ConnId) {
    w.configure(c, Dir::Down, |p| {
        p.capacity = DEFAULT_CAPACITY;
        p.stalled = false;
    });
}

/// What the events since the last call say: resumed inputs, closes, logs.
#[derive(Default)]
struct Seen {
    resumed: Vec<ConnId>,
    closed: Vec<(ConnId, CloseReason)>,
    logs: Vec<LogRecord>,
}

fn seen(w: &mut World) -> Seen {
    let mut s = Seen::default();
    for e in w.router_events() {
        match e {
            RouterEvent::InputResumed(c) => s.resumed.push(c),
            RouterEvent::SessionClosed { conn, reason } => s.closed.push((conn, reason)),
            RouterEvent::Log(r) => s.logs.push(r),
            _ => {}
        }
    }
    s
}

#[test]
fn stall_duration_follows_nats_server() {
    let mp = 64 * 1024 * 1024;
    assert_eq!(stall_duration(mp / 2 + 1, mp), Duration::from_millis(100));
    assert_eq!(
        stall_duration(mp / 2 + mp / 20, mp),
        Duration::from_millis(200)
    );
    assert_eq!(stall_duration(mp * 3 / 4, mp), Duration::from_millis(600));
    assert_eq!(stall_duration(mp - 1, mp), Duration::from_secs(1));
    assert_eq!(stall_duration(mp, mp), Duration::from_secs(1));
    assert_eq!(stall_duration(usize::MAX, mp), Duration::from_secs(1));
    assert_eq!(
        stall_duration(10, 0),
        Duration::from_secs(1),
        "no limit: longest"
    );
}

#[test]
fn output_handed_out_counts_as_pending_until_written() {
    let mut w = small_world();
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB data 1\r\n");
    block(&mut w, s);
    w.send(p, &burst("data", 10));
    let queued = w.router.pending_output_bytes(s);
    assert!(queued > 10 * PAYLOAD);
    // The world took it from poll_transmit; the link took none of it.
    let taken = w.unwritten(s);
    assert_eq!(taken, queued);
    assert_eq!(w.router.pending_output_bytes(s), queued, "in flight");
    // The link takes all but 100 bytes, then the rest.
    w.configure(s, Dir::Down, |p| p.capacity = taken - 100);
    w.pump();
    assert_eq!(w.router.pending_output_bytes(s), 100);
    w.configure(s, Dir::Down, |p| p.capacity = taken);
    w.pump();
    assert_eq!(w.router.pending_output_bytes(s), 0);
}

/// The scenario of the issue in miniature: a burst far larger than
/// `max_pending` to a subscriber that reads a little at a time. The
/// producer is paused whenever the subscriber is more than half full and
/// resumed as it drains; every message arrives and nobody is cut off.
#[test]
fn a_burst_to_a_slow_reader_is_paced_not_cut_off() {
    let mut w = small_world();
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB data 1\r\n");
    // The reader takes 16 KiB a millisecond; its link holds 16 KiB.
    w.configure(s, Dir::Down, |c| {
        c.capacity = 16 * 1024;
        c.chunking = Chunking::Fixed(16 * 1024);
        c.read_gap = Duration::from_millis(1);
    });
    w.router_events();
    let n = 500; // about 8 times max_pending
    w.send(p, &burst("data", n));
    assert!(w.router.is_input_paused(p), "the producer is stalled");
    assert!(w.unread(p) > 0, "the rest of its input waits in the driver");
    let mut received = 0;
    let mut stalls = 0;
    let mut most_pending = 0;
    while received < n {
        most_pending = most_pending.max(w.router.pending_output_bytes(s));
        if w.router.is_input_paused(p) {
            stalls += 1;
        }
        // One turn: the reader takes its 16 KiB.
        w.advance(Duration::from_millis(1));
        received += msgs(&w.read(s)).len();
        let ev = seen(&mut w);
        assert!(ev.closed.is_empty(), "nobody is cut off: {:?}", ev.closed);
        for c in ev.resumed {
            assert_eq!(c, p);
        }
    }
    assert_eq!(received, n);
    assert!(
        stalls > 10,
        "the producer was paced ({stalls} turns stalled)"
    );
    assert!(
        most_pending <= MAX_PENDING / 2 + 2 * (PAYLOAD + 64) + 64 * 1024,
        "pending stayed near half of max_pending: {most_pending}"
    );
    assert_eq!(w.router.stats().slow_consumers, 0);
    assert_eq!(w.unread(p), 0);
}

/// A consumer that stops reading: the producer's stalls time out one after
/// another (100 ms growing to 1 s each) while its backlog grows, until the
/// consumer passes `max_pending` and is cut off; memory never exceeds the
/// limit by more than a message, and the producer goes on.
#[test]
fn a_consumer_that_stops_reading_is_cut_off_at_max_pending() {
    let mut w = world(RouterConfig {
        max_pending: MAX_PENDING,
        debug: true,
        // The write deadline is another test's subject.
        write_deadline: Duration::from_secs(3600),
        ..RouterConfig::default()
    });
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB data 1\r\n");
    block(&mut w, s);
    w.router_events();
    w.send(p, &burst("data", 200));
    let started = w.now;
    let mut timed_out = 0;
    loop {
        assert!(w.router.pending_output_bytes(s) <= MAX_PENDING + PAYLOAD + 64);
        let ev = seen(&mut w);
        if !ev.closed.is_empty() {
            assert_eq!(
                ev.closed,
                vec![(s, CloseReason::SlowConsumer(SlowConsumer::MaxPending))]
            );
            let lines: Vec<String> = ev.logs.iter().map(ToString::to_string).collect();
            assert!(
                lines.iter().any(|l| l
                    .ends_with("- cid:1 - Slow Consumer Detected: MaxPending of 65536 Exceeded")),
                "{lines:?}"
            );
            assert!(ev.logs.iter().any(|r| r.level == LogLevel::Info
                && matches!(r.message, LogMessage::SlowConsumerMaxPending { .. })));
            assert!(lines
                .iter()
                .any(|l| l.ends_with("Client connection closed: Slow Consumer (Pending Bytes)")));
            break;
        }
        timed_out += ev
            .logs
            .iter()
            .filter(|r| matches!(r.message, LogMessage::StallTimedOut(_)))
            .count();
        // (The world feeds a resumed producer's backlog itself.)
        let at = w.router.poll_timeout().expect("the stall has a deadline");
        w.advance_to(at);
    }
    assert!(timed_out > 0);
    assert!(
        w.now - started < Duration::from_secs(60),
        "cut off after {:?} of stalls",
        w.now - started
    );
    w.unstall(s, Dir::Down);
    assert!(w.raw(s).is_empty(), "a slow consumer's output is dropped");
    assert!(w.peer_closed(s));
    assert_eq!(w.router.stats().slow_consumers, 1);
    assert!(
        !w.router.is_input_paused(p),
        "released when the consumer goes"
    );
    assert_eq!(w.unread(p), 0, "the producer went on");
    assert_eq!(w.router.session_phase(p), Some(SessionPhase::Open));
}

#[test]
fn a_write_blocked_past_the_deadline_cuts_the_consumer_off() {
    let mut w = small_world();
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB data 1\r\n");
    block(&mut w, s);
    w.send(p, &burst("data", 20));
    let taken = w.unwritten(s);
    assert!(taken > 0);
    w.router_events();
    // The world reports the write stalled once it made no progress for
    // the write deadline, as the drivers do.
    w.advance(Duration::from_millis(9999));
    assert!(seen(&mut w).closed.is_empty(), "not before the deadline");
    w.advance(Duration::from_millis(1));
    let ev = seen(&mut w);
    assert_eq!(
        ev.closed,
        vec![(s, CloseReason::SlowConsumer(SlowConsumer::WriteDeadline))]
    );
    let line = ev
        .logs
        .iter()
        .find(|r| r.level == LogLevel::Info)
        .map(ToString::to_string)
        .expect("logged at the default level");
    assert!(
        line.ends_with(&format!(
            "Slow Consumer Detected: WriteDeadline of 10s exceeded with 1 chunks of {taken} total bytes."
        )),
        "{line}"
    );
    w.unstall(s, Dir::Down);
    assert!(w.raw(s).is_empty());
    assert_eq!(w.router.stats().slow_consumers, 1);
}

#[test]
fn stalling_one_producer_leaves_unrelated_clients_alone() {
    let mut w = small_world();
    let slow = w.peer_connected(QUIET);
    let fast = w.peer_connected(QUIET);
    let p1 = w.peer_connected(QUIET);
    let p2 = w.peer_connected(QUIET);
    w.send(slow, "SUB slow 1\r\n");
    w.send(fast, "SUB fast 1\r\n");
    block(&mut w, slow);
    w.send(p1, &burst("slow", 100));
    assert!(w.router.is_input_paused(p1));
    w.send(p2, &burst("fast", 20));
    assert!(!w.router.is_input_paused(p2));
    assert_eq!(w.unread(p2), 0);
    assert_eq!(msgs(&w.read(fast)).len(), 20, "delivered at once");
    // A request/reply on p2 is answered while p1 waits.
    w.send(p2, "PING\r\n");
    assert_eq!(w.read(p2), vec![ServerOp::Pong]);
    assert!(w.router.is_input_paused(p1));
}

#[test]
fn a_publisher_feeding_many_slow_subscribers_waits_for_the_most_behind() {
    let mut w = small_world();
    let a = w.peer_connected(QUIET);
    let b = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(a, "SUB data 1\r\n");
    w.send(b, "SUB data 1\r\n");
    block(&mut w, a);
    block(&mut w, b);
    // The router reads p 16 KiB at a time (a driver's read buffer).
    w.configure(p, Dir::Up, |c| c.chunking = Chunking::Fixed(16 * 1024));
    w.send(p, &burst("data", 100));
    assert!(w.router.is_input_paused(p));
    w.router_events();
    // One of them catching up is not enough when the other one is the
    // one the producer waits on; draining both always is.
    unblock(&mut w, a);
    unblock(&mut w, b);
    let ev = seen(&mut w);
    assert_eq!(ev.resumed, vec![p]);
    assert!(!w.router.is_input_paused(p));
}

/// The streaming engine's own session: publishers feeding it while it is
/// behind are stalled, it is never cut off, and it resumes them when it has
/// taken its deliveries.
#[test]
fn an_in_process_session_is_never_cut_off_and_its_producers_wait() {
    let mut w = small_world();
    let local = w.router.attach_local(w.now, LocalOptions::default());
    w.router
        .local_subscribe(w.now, local, b"_STAN.pub.>", None, b"1")
        .unwrap();
    let p = w.peer_connected(QUIET);
    w.send(p, &burst("_STAN.pub.x.foo", 500));
    assert!(w.router.is_input_paused(p));
    // Stall after stall timed out, past max_pending: still open. (Not for
    // minutes: a stalled client cannot answer keepalive PINGs, in
    // nats-server either.) The world feeds the resumed producer.
    for _ in 0..60 {
        let at = w.router.poll_timeout().unwrap();
        w.advance_to(at);
    }
    assert!(w.router.pending_output_bytes(local) > MAX_PENDING);
    let ev = seen(&mut w);
    assert!(ev.closed.is_empty());
    assert_eq!(w.router.session_phase(local), Some(SessionPhase::Open));
    // It takes its deliveries: the producer goes on at once.
    let mut total = 0;
    loop {
        let mut taken = 0;
        while w.router.poll_delivery(local).is_some() {
            taken += 1;
        }
        w.router.handle_drained(w.now, local);
        w.pump(); // resumes and feeds the producer
        if taken == 0 {
            break;
        }
        total += taken;
    }
    assert_eq!(total, 500, "every message reached the engine");
    assert_eq!(w.unread(p), 0);
}

/// The engine publishing to a slow client is not stalled (its deliveries
/// are bounded by max in flight); the client is cut off past max_pending.
#[test]
fn an_in_process_producer_is_never_stalled() {
    let mut w = small_world();
    let local = w.router.attach_local(w.now, LocalOptions::default());
    let s = w.peer_connected(QUIET);
    w.send(s, "SUB deliveries 1\r\n");
    block(&mut w, s);
    let payload = Bytes::from(vec![b'x'; PAYLOAD]);
    for _ in 0..40 {
        w.router
            .local_publish(
                w.now,
                local,
                Bytes::from_static(b"deliveries"),
                None,
                None,
                payload.clone(),
            )
            .unwrap();
    }
    w.pump();
    assert!(!w.router.is_input_paused(local));
    assert!(w.router.pending_output_bytes(s) > MAX_PENDING / 2);
    unblock(&mut w, s);
    assert_eq!(msgs(&w.read(s)).len(), 40);
}

#[test]
fn a_stalled_producer_is_released_when_its_consumer_goes_away() {
    let mut w = small_world();
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB data 1\r\n");
    block(&mut w, s);
    w.send(p, &burst("data", 100));
    assert!(w.router.is_input_paused(p));
    w.router_events();
    w.cut(s);
    assert_eq!(seen(&mut w).resumed, vec![p]);
    assert_eq!(w.unread(p), 0);
}

#[test]
fn a_closed_producer_leaves_no_stall_timer_behind() {
    let mut w = small_world();
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB data 1\r\n");
    block(&mut w, s);
    w.send(p, &burst("data", 100));
    assert!(w.router.is_input_paused(p));
    w.cut(p);
    w.advance(Duration::from_secs(2));
    assert!(seen(&mut w).resumed.is_empty());
    unblock(&mut w, s);
    assert_eq!(msgs(&w.read(s)).len(), 33, "what was routed is delivered");
}
