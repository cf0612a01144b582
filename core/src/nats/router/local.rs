//! In-process peers of the router: a NATS-level app (the streaming engine,
//! a client session, anything implementing [`NatsApp`]) attached with
//! [`Router::attach_local`](super::Router::attach_local) exchanges messages
//! with the router as values: no TCP hop, no text protocol.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::fanout::Outbound;
use super::routing::SubscribeOutcome;
use super::session::{SessionFlags, SessionPhase, Transport};
use super::{ConnId, Delivery, Router};
use crate::nats::stack::NatsApp;
use crate::nats::subject;
use crate::nats::{parse_sid, InboundMessage, NatsCommand};

/// Options of an in-process session.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Client name (for monitoring).
    pub name: String,
    /// Receive own publishes on own subscriptions.
    pub echo: bool,
    /// Receive header blocks.
    pub headers: bool,
    /// Receive a 503 status reply to requests nobody receives.
    pub no_responders: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            name: String::new(),
            echo: true,
            headers: true,
            no_responders: true,
        }
    }
}

/// Why a command of an in-process session was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalError {
    /// The session does not exist, is not local, or is closed.
    #[error("no such open local session")]
    NoSession,
    /// The subject is not valid for this operation.
    #[error("invalid subject: {0}")]
    InvalidSubject(#[from] subject::SubjectError),
    /// The payload (headers included) is larger than `max_payload`.
    #[error("payload of {size} bytes exceeds max_payload {max}")]
    MaxPayload {
        /// Headers plus payload.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The session reached `max_subscriptions`.
    #[error("maximum subscriptions exceeded")]
    MaxSubscriptions,
}

impl Router {
    /// Attaches an in-process session: open at once, no `INFO`/`CONNECT`.
    /// Its deliveries are taken with [`Router::poll_delivery`].
    pub fn attach_local(&mut self, now: Instant, options: LocalOptions) -> ConnId {
        let now = self.advance(now);
        let transport = Transport::Local {
            queue: VecDeque::new(),
            pending: 0,
        };
        let conn = self.insert_session(transport, String::new(), now);
        self.stats.total_connections += 1;
        let server_headers = self.config.headers;
        if let Some(s) = self.slot_session(conn.slot) {
            s.phase = SessionPhase::Open;
            s.name = options.name;
            s.lang = "rust".into();
            s.version = env!("CARGO_PKG_VERSION").into();
            s.flags = SessionFlags {
                verbose: false,
                pedantic: false,
                echo: options.echo,
                headers: options.headers && server_headers,
                no_responders: options.no_responders && options.headers,
                async_info: false,
            };
        }
        conn
    }

    /// Publishes from an in-process session.
    pub fn local_publish(
        &mut self,
        now: Instant,
        conn: ConnId,
        subject: Bytes,
        reply: Option<Bytes>,
        headers: Option<Bytes>,
        payload: Bytes,
    ) -> Result<(), LocalError> {
        self.advance(now);
        self.local_slot(conn)?;
        subject::validate_publish(&subject)?;
        if let Some(r) = &reply {
            subject::validate_publish(r)?;
        }
        let size = headers.as_ref().map_or(0, Bytes::len) + payload.len();
        if size > self.config.max_payload {
            return Err(LocalError::MaxPayload {
                size,
                max: self.config.max_payload,
            });
        }
        self.publish(
            now,
            conn.slot,
            &Outbound::Parts {
                subject: &subject,
                reply: reply.as_ref(),
                headers: headers.as_ref(),
                payload: &payload,
            },
        );
        Ok(())
    }

    /// Subscribes an in-process session. Re-using a sid keeps the existing
    /// subscription, as for wire clients.
    pub fn local_subscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) -> Result<(), LocalError> {
        self.advance(now);
        self.local_slot(conn)?;
        subject::validate_subscribe(subject)?;
        match self.subscribe(conn.slot, subject, queue, sid) {
            SubscribeOutcome::TooMany => Err(LocalError::MaxSubscriptions),
            _ => Ok(()),
        }
    }

    /// Unsubscribes an in-process session's `sid`, now or after `max`
    /// deliveries in total. Unknown sids are ignored.
    pub fn local_unsubscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &[u8],
        max: Option<u64>,
    ) -> Result<(), LocalError> {
        self.advance(now);
        self.local_slot(conn)?;
        self.unsubscribe(conn.slot, sid, max);
        Ok(())
    }

    /// The next message for an in-process session.
    #[must_use]
    pub fn poll_delivery(&mut self, conn: ConnId) -> Option<Delivery> {
        let session = self.session_mut(conn)?;
        let delivery = match &mut session.transport {
            Transport::Local { queue, pending } => {
                let d = queue.pop_front();
                if let Some(d) = &d {
                    *pending -= d.weight();
                }
                d
            }
            Transport::Wire { .. } => None,
        };
        if delivery.is_none() {
            session.signalled = false;
        }
        delivery
    }

    pub(super) fn local_slot(&self, conn: ConnId) -> Result<u32, LocalError> {
        match self.session(conn) {
            Some(s)
                if s.phase == SessionPhase::Open
                    && matches!(s.transport, Transport::Local { .. }) =>
            {
                Ok(conn.slot)
            }
            _ => Err(LocalError::NoSession),
        }
    }
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
        let mut delivered = false;
        while let Some(d) = router.poll_delivery(conn) {
            delivered = true;
            if let Some(msg) = inbound(d) {
                handled += 1;
                engine.handle_message(now, msg);
            }
        }
        if delivered {
            progressed = true;
            engine.handle_burst_end(now);
        }
        if !progressed {
            router.handle_drained(now, conn);
            return handled;
        }
    }
}

/// A router delivery as the engine's input (sids the engine did not issue
/// are dropped).
fn inbound(d: Delivery) -> Option<InboundMessage> {
    Some(InboundMessage {
        sid: parse_sid(&d.sid)?,
        subject: d.subject,
        reply: d.reply,
        headers: d.headers,
        payload: d.payload,
    })
}
