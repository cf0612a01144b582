//! In-process sessions of the embedded NATS server: publish and subscribe
//! without TCP or text parsing.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use stan_core::nats::router::{ConnId, Delivery, LocalError, LocalOptions};

use super::{Shared, Signal};

/// An in-process session of a [`RouterServer`](super::RouterServer).
/// Dropping it detaches it.
#[derive(Debug)]
pub struct LocalSession {
    shared: Arc<Shared>,
    conn: ConnId,
    signal: Arc<Signal>,
}

impl LocalSession {
    pub(super) fn attach(shared: Arc<Shared>, options: LocalOptions) -> Self {
        let (conn, signal) = {
            let mut st = shared.lock();
            let conn = st.router.attach_local(Instant::now(), options);
            (conn, shared.register(&mut st, conn))
        };
        LocalSession {
            shared,
            conn,
            signal,
        }
    }

    /// The session's id in the router.
    pub fn conn_id(&self) -> ConnId {
        self.conn
    }

    /// Publishes a message.
    pub fn publish(
        &self,
        subject: Bytes,
        reply: Option<Bytes>,
        headers: Option<Bytes>,
        payload: Bytes,
    ) -> Result<(), LocalError> {
        let mut st = self.shared.lock();
        let r =
            st.router
                .local_publish(Instant::now(), self.conn, subject, reply, headers, payload);
        self.shared.dispatch(&mut st);
        r
    }

    /// Subscribes `sid` to `subject` (in `queue` if given).
    pub fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
        sid: &str,
    ) -> Result<(), LocalError> {
        let mut st = self.shared.lock();
        let r = st.router.local_subscribe(
            Instant::now(),
            self.conn,
            subject.as_bytes(),
            queue.map(str::as_bytes),
            sid.as_bytes(),
        );
        self.shared.dispatch(&mut st);
        r
    }

    /// Unsubscribes `sid` now, or after `max` deliveries in total.
    pub fn unsubscribe(&self, sid: &str, max: Option<u64>) -> Result<(), LocalError> {
        let mut st = self.shared.lock();
        let r = st
            .router
            .local_unsubscribe(Instant::now(), self.conn, sid.as_bytes(), max);
        self.shared.dispatch(&mut st);
        r
    }

    /// Waits for deliveries and appends them to `out`. Returns false when the
    /// session was closed by the router (slow consumer, shutdown).
    pub async fn recv_many(&self, out: &mut Vec<Delivery>) -> bool {
        loop {
            {
                let mut st = self.shared.lock();
                while let Some(d) = st.router.poll_delivery(self.conn) {
                    out.push(d);
                }
                st.router.handle_drained(Instant::now(), self.conn);
                self.shared.dispatch(&mut st);
            }
            if !out.is_empty() {
                return true;
            }
            if self.signal.is_closing() {
                return false;
            }
            self.signal.ready.notified().await;
        }
    }
}

impl Drop for LocalSession {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        self.shared.forget(&mut st, self.conn);
        self.shared.dispatch(&mut st);
    }
}
