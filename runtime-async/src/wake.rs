//! Runtime-neutral wake-ups (built on `async-channel`, which any executor
//! can poll): a one-permit [`Notify`] and a set-once broadcast [`Latch`].

use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender};

/// A wake-up for one waiter that stores one permit: a notification sent
/// while nobody waits is not lost, and many coalesce into one.
#[derive(Debug)]
pub struct Notify {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for Notify {
    fn default() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Notify { tx, rx }
    }
}

impl Notify {
    /// Wakes the waiter, or the next one to wait.
    pub fn notify(&self) {
        let _ = self.tx.try_send(());
    }

    /// Waits for a notification (cancel-safe: a dropped wait takes none).
    pub async fn notified(&self) {
        let _ = self.rx.recv().await;
    }
}

/// A value set once and awaited by any number of waiters.
#[derive(Debug)]
pub struct Latch<T> {
    value: Mutex<Option<T>>,
    // Nothing is ever sent: closing the channel wakes every waiter.
    set_tx: Sender<()>,
    set_rx: Receiver<()>,
}

impl<T: Clone> Default for Latch<T> {
    fn default() -> Self {
        let (set_tx, set_rx) = async_channel::bounded(1);
        Latch {
            value: Mutex::new(None),
            set_tx,
            set_rx,
        }
    }
}

impl<T: Clone> Latch<T> {
    /// Sets the value unless one is set already; wakes every waiter.
    pub fn set(&self, value: T) {
        let mut v = self.value.lock().unwrap_or_else(|e| e.into_inner());
        if v.is_none() {
            *v = Some(value);
        }
        drop(v);
        self.set_tx.close();
    }

    /// Whether the value is set.
    pub fn is_set(&self) -> bool {
        self.set_tx.is_closed()
    }

    /// The value, if set.
    pub fn get(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the value.
    pub async fn wait(&self) -> T {
        loop {
            if let Some(v) = self.get() {
                return v;
            }
            let _ = self.set_rx.recv().await;
        }
    }
}

/// Sets a latch to a fallback value when dropped, unless it was set
/// before: waiters learn that a task ended even if it panicked.
pub(crate) struct SetOnDrop<T: Clone>(pub(crate) Arc<Latch<T>>, pub(crate) T);

impl<T: Clone> Drop for SetOnDrop<T> {
    fn drop(&mut self) {
        self.0.set(self.1.clone());
    }
}
