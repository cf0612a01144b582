//! A subscription as a [`Stream`](futures_core::Stream) of [`Msg`]s, and
//! the received message with its manual ack.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_channel::Receiver;
use bytes::Bytes;
use futures_core::Stream;
use stan_core::stan::client::{ClientError, SubId};
use stan_proto::MsgProto;

use super::inner::Shared;

/// A subscription: a [`Stream`](futures_core::Stream) of [`Msg`]s. On an
/// auto-ack subscription each message is acked as the stream yields it
/// (see [`Subscription::next`]).
#[derive(Debug)]
pub struct Subscription {
    id: SubId,
    shared: Arc<Shared>,
    rx: Pin<Box<Receiver<MsgProto>>>,
    manual_ack: bool,
    done: bool,
}

impl Subscription {
    pub(crate) fn new(
        id: SubId,
        shared: Arc<Shared>,
        rx: Receiver<MsgProto>,
        manual_ack: bool,
    ) -> Self {
        Subscription {
            id,
            shared,
            rx: Box::pin(rx),
            manual_ack,
            done: false,
        }
    }

    /// The subscription's id in its connection.
    pub fn id(&self) -> SubId {
        self.id
    }

    /// The next message (`None` once the subscription or connection ended).
    /// On an auto-ack subscription, the message is acked as it is returned:
    /// what the application has not taken yet stays unacked, so the
    /// subscription's `max_in_flight` bounds what waits here (a slow reader
    /// holds the server back; what waits longer than the ack wait is
    /// redelivered, as stan.go does for a slow handler).
    pub async fn next(&mut self) -> Option<Msg> {
        let msg = self.rx.recv().await.ok()?;
        Some(self.wrap(msg))
    }

    /// The message as the application gets it; an auto-ack one is acked.
    fn wrap(&self, msg: MsgProto) -> Msg {
        if !self.manual_ack {
            {
                let mut inner = self.shared.lock();
                inner.stack.app.taken(Instant::now(), self.id, msg.sequence);
                inner.flush_commands();
            }
            self.shared.wake.notify();
        }
        Msg {
            msg,
            sub: self.id,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The server refused the subscription: nothing to close on drop.
    pub(crate) fn forget(&mut self) {
        self.done = true;
    }

    /// Whether messages must be acked with [`Msg::ack`].
    pub fn is_manual_ack(&self) -> bool {
        self.manual_ack
    }

    /// Removes the subscription (a durable is deleted).
    pub async fn unsubscribe(mut self) -> Result<(), ClientError> {
        self.end(false).await
    }

    /// Closes the subscription (a durable is kept for a later resume).
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.end(true).await
    }

    async fn end(&mut self, close: bool) -> Result<(), ClientError> {
        self.done = true;
        let (tx, rx) = async_channel::bounded(1);
        {
            let mut inner = self.shared.lock();
            inner
                .stack
                .app
                .unsubscribe(Instant::now(), self.id, close)?;
            inner.unsubscribing.insert(self.id, tx);
            inner.flush_commands();
        }
        self.shared.wake.notify();
        rx.recv()
            .await
            .unwrap_or(Err(ClientError::ConnectionClosed))
    }
}

impl Drop for Subscription {
    /// A subscription dropped without [`Subscription::unsubscribe`] or
    /// [`Subscription::close`] is closed (a durable is kept), so the server
    /// stops sending messages nobody will read.
    fn drop(&mut self) {
        if !self.done {
            let mut inner = self.shared.lock();
            if inner
                .stack
                .app
                .unsubscribe(Instant::now(), self.id, true)
                .is_ok()
            {
                inner.flush_commands();
                drop(inner);
                self.shared.wake.notify();
            }
        }
    }
}

impl Stream for Subscription {
    type Item = Msg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        match self.rx.as_mut().poll_next(cx) {
            Poll::Ready(Some(msg)) => Poll::Ready(Some(self.wrap(msg))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A received message.
#[derive(Debug)]
pub struct Msg {
    msg: MsgProto,
    sub: SubId,
    shared: Arc<Shared>,
}

impl Msg {
    /// Channel sequence.
    pub fn sequence(&self) -> u64 {
        self.msg.sequence
    }

    /// Payload.
    pub fn data(&self) -> &Bytes {
        &self.msg.data
    }

    /// Channel name.
    pub fn subject(&self) -> &str {
        &self.msg.subject
    }

    /// Unix nanoseconds at storage.
    pub fn timestamp(&self) -> i64 {
        self.msg.timestamp
    }

    /// Whether this is a redelivery.
    pub fn redelivered(&self) -> bool {
        self.msg.redelivered
    }

    /// Redeliveries so far.
    pub fn redelivery_count(&self) -> u32 {
        self.msg.redelivery_count
    }

    /// The whole protobuf message.
    pub fn proto(&self) -> &MsgProto {
        &self.msg
    }

    /// Acks the message (manual-ack subscriptions): the ack is on its way
    /// when this returns (STAN acks get no answer).
    pub async fn ack(&self) -> Result<(), ClientError> {
        {
            let mut inner = self.shared.lock();
            inner
                .stack
                .app
                .ack(Instant::now(), self.sub, self.msg.sequence)?;
            inner.flush_commands();
        }
        self.shared.wake.notify();
        Ok(())
    }
}
