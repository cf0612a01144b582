//! Where PubAck outcomes wait for their [`PubAckFuture`]s: a ring indexed
//! by the core's sequential [`PubId`]s (no map, no GUID strings, no
//! channel per publish).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use stan_core::stan::client::{ClientError, PubId};

/// One publish's outcome, as far as it is known.
#[derive(Debug)]
enum Slot {
    /// No outcome yet; the future's waker, once polled.
    Waiting(Option<Waker>),
    /// No outcome yet, and nobody will ask: the future was dropped.
    Abandoned,
    /// The outcome, not taken yet.
    Done(Result<(), ClientError>),
    /// Finished with.
    Taken,
}

/// The outcomes of the publishes in flight, oldest first.
#[derive(Debug, Default)]
pub(crate) struct AckSlots {
    /// The id of `slots[0]`.
    base: u64,
    slots: VecDeque<Slot>,
}

impl AckSlots {
    fn slot(&mut self, id: PubId) -> Option<&mut Slot> {
        let idx = usize::try_from(id.0.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(idx)
    }

    /// A publish was accepted with `id` (ids grow by one per publish).
    pub(crate) fn push(&mut self, id: PubId) {
        if self.slots.is_empty() {
            self.base = id.0;
        }
        while self.base + (self.slots.len() as u64) < id.0 {
            self.slots.push_back(Slot::Taken);
        }
        self.slots.push_back(Slot::Waiting(None));
    }

    /// The outcome of publish `id` is known.
    pub(crate) fn resolve(&mut self, id: PubId, result: Result<(), ClientError>) {
        if let Some(slot) = self.slot(id) {
            match std::mem::replace(slot, Slot::Taken) {
                Slot::Waiting(waker) => {
                    *slot = Slot::Done(result);
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
                other @ (Slot::Done(_) | Slot::Taken) => *slot = other,
                Slot::Abandoned => {}
            }
        }
        self.trim();
    }

    /// Every publish without an outcome fails: the connection ended.
    pub(crate) fn fail_all(&mut self) {
        for slot in &mut self.slots {
            match std::mem::replace(slot, Slot::Taken) {
                Slot::Waiting(waker) => {
                    *slot = Slot::Done(Err(ClientError::ConnectionClosed));
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
                other @ Slot::Done(_) => *slot = other,
                Slot::Abandoned | Slot::Taken => {}
            }
        }
        self.trim();
    }

    /// The outcome of `id`, taken, or the waker stored to be woken with it.
    fn poll(&mut self, id: PubId, waker: Option<&Waker>) -> Poll<Result<(), ClientError>> {
        let Some(slot) = self.slot(id) else {
            return Poll::Ready(Err(ClientError::ConnectionClosed));
        };
        let r = match std::mem::replace(slot, Slot::Taken) {
            Slot::Done(result) => Poll::Ready(result),
            Slot::Waiting(old) => {
                *slot = Slot::Waiting(waker.cloned().or(old));
                Poll::Pending
            }
            Slot::Abandoned | Slot::Taken => Poll::Ready(Err(ClientError::ConnectionClosed)),
        };
        self.trim();
        r
    }

    /// The future of `id` was dropped before its outcome.
    fn abandon(&mut self, id: PubId) {
        if let Some(slot) = self.slot(id) {
            if matches!(slot, Slot::Waiting(_)) {
                *slot = Slot::Abandoned;
            } else {
                *slot = Slot::Taken;
            }
        }
        self.trim();
    }

    fn trim(&mut self) {
        while matches!(self.slots.front(), Some(Slot::Taken)) {
            self.slots.pop_front();
            self.base += 1;
        }
    }
}

/// Locks the slots (a panic while holding them is a bug; keep going).
pub(crate) fn lock(slots: &Mutex<AckSlots>) -> MutexGuard<'_, AckSlots> {
    slots.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resolves to the outcome of one publish: `Ok` once the server stored
/// it; the server's error, `stan: publish ack timeout`, or
/// `stan: connection closed` otherwise.
#[derive(Debug)]
pub struct PubAckFuture {
    id: PubId,
    slots: Arc<Mutex<AckSlots>>,
    finished: bool,
}

impl PubAckFuture {
    pub(crate) fn new(id: PubId, slots: Arc<Mutex<AckSlots>>) -> Self {
        PubAckFuture {
            id,
            slots,
            finished: false,
        }
    }

    /// The publish's id in its connection.
    pub fn id(&self) -> PubId {
        self.id
    }

    /// The outcome if it is already known, without waiting.
    pub fn try_result(&mut self) -> Option<Result<(), ClientError>> {
        if self.finished {
            return Some(Err(ClientError::ConnectionClosed));
        }
        match lock(&self.slots).poll(self.id, None) {
            Poll::Ready(r) => {
                self.finished = true;
                Some(r)
            }
            Poll::Pending => None,
        }
    }
}

impl Future for PubAckFuture {
    type Output = Result<(), ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.finished {
            return Poll::Ready(Err(ClientError::ConnectionClosed));
        }
        let r = lock(&self.slots).poll(self.id, Some(cx.waker()));
        if r.is_ready() {
            self.finished = true;
        }
        r
    }
}

impl Drop for PubAckFuture {
    fn drop(&mut self) {
        if !self.finished {
            lock(&self.slots).abandon(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(slots: &mut AckSlots, id: u64) -> Poll<Result<(), ClientError>> {
        slots.poll(PubId(id), None)
    }

    #[test]
    fn outcomes_reach_their_publish_in_any_order() {
        let mut s = AckSlots::default();
        for id in 1..=3 {
            s.push(PubId(id));
        }
        s.resolve(PubId(2), Err(ClientError::PubAckTimeout));
        assert!(ready(&mut s, 1).is_pending());
        assert_eq!(
            ready(&mut s, 2),
            Poll::Ready(Err(ClientError::PubAckTimeout))
        );
        s.resolve(PubId(1), Ok(()));
        assert_eq!(ready(&mut s, 1), Poll::Ready(Ok(())));
        // 1 and 2 are taken: the ring starts at 3.
        assert_eq!((s.base, s.slots.len()), (3, 1));
        s.fail_all();
        assert_eq!(
            ready(&mut s, 3),
            Poll::Ready(Err(ClientError::ConnectionClosed))
        );
        assert!(s.slots.is_empty());
    }

    #[test]
    fn abandoned_publishes_do_not_hold_the_ring() {
        let mut s = AckSlots::default();
        s.push(PubId(7));
        s.push(PubId(8));
        s.abandon(PubId(7));
        s.resolve(PubId(7), Ok(()));
        assert_eq!((s.base, s.slots.len()), (8, 1));
        // An unknown or finished id never waits.
        assert!(ready(&mut s, 7).is_ready());
        assert!(ready(&mut s, 99).is_ready());
    }
}
