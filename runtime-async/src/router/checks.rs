//! Credential checks (bcrypt) run on worker threads, off the routing path:
//! the router asks for them ([`RouterEvent::VerifyCredentials`]) with its
//! lock held; a worker runs the hash without the lock and hands the
//! verdict back. Workers start with the first check, so servers without
//! bcrypt credentials never have them, and end with the server.
//!
//! [`RouterEvent::VerifyCredentials`]: stan_core::nats::router::RouterEvent::VerifyCredentials

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use stan_core::nats::router::CredentialCheck;

use super::Shared;

/// The check queue and its workers.
#[derive(Debug)]
pub(crate) struct CheckWorkers {
    shared: Weak<Shared>,
    queue: Mutex<Option<Sender<CredentialCheck>>>,
}

impl CheckWorkers {
    pub(crate) fn new(shared: Weak<Shared>) -> Self {
        CheckWorkers {
            shared,
            queue: Mutex::new(None),
        }
    }

    /// Queues `check` (starting the workers on first use).
    pub(crate) fn submit(&self, check: CredentialCheck) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let tx = queue.get_or_insert_with(|| self.start());
        // The workers only end when the queue's sender is dropped.
        let _ = tx.send(check);
    }

    fn start(&self) -> Sender<CredentialCheck> {
        let (tx, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..worker_count() {
            let (rx, shared) = (Arc::clone(&rx), self.shared.clone());
            // Without a worker a check is never answered and its client
            // ends at the authentication timeout: no worse than refusing.
            let _ = std::thread::Builder::new()
                .name(format!("stan-auth-{i}"))
                .spawn(move || work(&rx, &shared));
        }
        tx
    }
}

/// One worker per core but one, so routing keeps a core during a storm.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

fn work(rx: &Mutex<Receiver<CredentialCheck>>, shared: &Weak<Shared>) {
    loop {
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(check) = next else { return };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.lock().router.is_credential_check_current(&check) {
            continue; // its session ended or timed out while queued
        }
        let verdict = check.verify();
        let mut st = shared.lock();
        st.router.handle_credential_verdict(Instant::now(), verdict);
        shared.dispatch(&mut st);
    }
}
