//! Wake-up primitives on `async-channel` (smol has no `Notify` or `watch`),
//! and the deadline sleep every loop races against.

use std::future::pending;
use std::sync::Mutex;
use std::time::Instant;

use smol::channel::{self, Receiver, Sender};
use smol::Timer;

/// A wake-up for one waiter that stores one permit, like tokio's
/// `Notify::notify_one`: a notification sent while nobody waits is not lost.
#[derive(Debug)]
pub(crate) struct Notify {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for Notify {
    fn default() -> Self {
        let (tx, rx) = channel::bounded(1);
        Notify { tx, rx }
    }
}

impl Notify {
    /// Wakes the waiter, or the next one to wait.
    pub(crate) fn notify(&self) {
        let _ = self.tx.try_send(());
    }

    /// Waits for a notification (cancel-safe: a dropped wait takes none).
    pub(crate) async fn notified(&self) {
        let _ = self.rx.recv().await;
    }
}

/// A value set once and awaited by any number of waiters (a one-shot
/// broadcast: the channel is closed when the value is set).
#[derive(Debug)]
pub(crate) struct Latch<T> {
    value: Mutex<Option<T>>,
    set_tx: Sender<()>,
    set_rx: Receiver<()>,
}

impl<T: Clone> Default for Latch<T> {
    fn default() -> Self {
        let (set_tx, set_rx) = channel::bounded(1);
        Latch {
            value: Mutex::new(None),
            set_tx,
            set_rx,
        }
    }
}

impl<T: Clone> Latch<T> {
    /// Sets the value unless one is set already; wakes every waiter.
    pub(crate) fn set(&self, value: T) {
        let mut v = self.value.lock().unwrap_or_else(|e| e.into_inner());
        if v.is_none() {
            *v = Some(value);
        }
        drop(v);
        self.set_tx.close();
    }

    /// The value, if set.
    pub(crate) fn get(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the value.
    pub(crate) async fn wait(&self) -> T {
        loop {
            if let Some(v) = self.get() {
                return v;
            }
            // Nothing is ever sent: this returns once the channel is closed.
            let _ = self.set_rx.recv().await;
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => {
            Timer::at(at).await;
        }
        None => pending().await,
    }
}

/// Sets a latch to a fallback value when dropped (if nothing set it
/// before): waiters learn that a task ended even if it panicked.
pub(crate) struct SetOnDrop<T: Clone>(pub(crate) std::sync::Arc<Latch<T>>, pub(crate) T);

impl<T: Clone> Drop for SetOnDrop<T> {
    fn drop(&mut self) {
        self.0.set(self.1.clone());
    }
}
