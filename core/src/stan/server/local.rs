//! The engine attached to the embedded router in process: no TCP hop and
//! no text protocol between them. Every runtime's server runner calls these
//! two functions with its router and engine; only the locking differs.

use std::time::Instant;

use crate::nats::router::{ConnId, Delivery, LocalOptions, Router};
use crate::nats::stack::NatsApp;
use crate::nats::{parse_sid, InboundMessage, NatsCommand};

/// Attaches a local session for the engine of `cluster_id` to `router`.
pub fn attach_local(router: &mut Router, now: Instant, cluster_id: &str) -> ConnId {
    router.attach_local(
        now,
        LocalOptions {
            name: format!("_NSS-{cluster_id}-general"),
            echo: false,
            headers: true,
            no_responders: true,
        },
    )
}

/// One step of an engine (or any NATS-level app: a client session works the
/// same) attached to the router in process: fires its due deadlines, then
/// moves its commands into the router and the router's deliveries into it
/// until neither has anything left. Returns how many commands and messages
/// it moved. A driver calls this after every router input and when the
/// app's [`poll_timeout`](NatsApp::poll_timeout) is due, then drains the
/// app's events and sleeps until the earliest of the router's and the app's
/// deadlines.
///
/// A command the router refuses (a client-supplied inbox that is not a valid
/// subject, a delivery above `max_payload`) is dropped: it concerns one
/// client, and the engine validated what it could.
pub fn pump_local<A: NatsApp>(
    router: &mut Router,
    conn: ConnId,
    engine: &mut A,
    now: Instant,
) -> usize {
    if engine.poll_timeout().is_some_and(|t| t <= now) {
        engine.handle_timeout(now);
    }
    let mut handled = 0;
    let mut sid_buf = itoa::Buffer::new();
    loop {
        let mut progressed = false;
        while let Some(cmd) = engine.poll_command() {
            progressed = true;
            handled += 1;
            let _ = match cmd {
                NatsCommand::Publish {
                    subject,
                    reply,
                    payload,
                } => router.local_publish(now, conn, subject, reply, None, payload),
                NatsCommand::Subscribe {
                    sid,
                    subject,
                    queue,
                } => router.local_subscribe(
                    now,
                    conn,
                    &subject,
                    queue.as_deref(),
                    sid_buf.format(sid).as_bytes(),
                ),
                NatsCommand::Unsubscribe { sid } => {
                    router.local_unsubscribe(now, conn, sid_buf.format(sid).as_bytes(), None)
                }
            };
        }
        while let Some(d) = router.poll_delivery(conn) {
            progressed = true;
            if let Some(msg) = inbound(d) {
                handled += 1;
                engine.handle_message(now, msg);
            }
        }
        if !progressed {
            router.handle_drained(now, conn);
            return handled;
        }
    }
}

/// A router delivery as the engine's input (sids the engine did not issue
/// are dropped).
pub(crate) fn inbound(d: Delivery) -> Option<InboundMessage> {
    Some(InboundMessage {
        sid: parse_sid(&d.sid)?,
        subject: d.subject,
        reply: d.reply,
        headers: d.headers,
        payload: d.payload,
    })
}
