//! Credential checks (bcrypt) run on worker threads, off the event loop:
//! the router asks for them ([`RouterEvent::VerifyCredentials`]); a worker
//! runs the hash and hands the verdict back to the loop as a request
//! between two turns. Workers start with the first check, so servers
//! without bcrypt credentials never have them, and end with the server.
//!
//! [`RouterEvent::VerifyCredentials`]: stan_core::nats::router::RouterEvent::VerifyCredentials

use stan_core::nats::router::{CredentialCheck, CredentialVerdict};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// Hands a verdict to the loop; false once the loop has ended.
pub(crate) type Deliver = Arc<dyn Fn(CredentialVerdict) -> bool + Send + Sync>;

/// The check queue and its workers.
pub(crate) struct CheckWorkers {
    deliver: Deliver,
    queue: Option<Sender<CredentialCheck>>,
}

impl CheckWorkers {
    pub(crate) fn new(deliver: Deliver) -> Self {
        CheckWorkers {
            deliver,
            queue: None,
        }
    }

    /// Queues `check` (starting the workers on first use).
    pub(crate) fn submit(&mut self, check: CredentialCheck) {
        let deliver = &self.deliver;
        let tx = self.queue.get_or_insert_with(|| start(deliver));
        // The workers only end when the queue's sender is dropped.
        let _ = tx.send(check);
    }
}

fn start(deliver: &Deliver) -> Sender<CredentialCheck> {
    let (tx, rx) = mpsc::channel();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..worker_count() {
        let (rx, deliver) = (Arc::clone(&rx), Arc::clone(deliver));
        // Without a worker a check is never answered and its client ends
        // at the authentication timeout: no worse than refusing.
        let _ = std::thread::Builder::new()
            .name(format!("stan-auth-{i}"))
            .spawn(move || work(&rx, deliver.as_ref()));
    }
    tx
}

/// One worker per core but one, so the loop keeps a core during a storm.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

fn work(rx: &Mutex<Receiver<CredentialCheck>>, deliver: &dyn Fn(CredentialVerdict) -> bool) {
    loop {
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(check) = next else { return };
        if !deliver(check.verify()) {
            return;
        }
    }
}
