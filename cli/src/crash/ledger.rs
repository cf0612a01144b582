//! What the clients saw, across every server life: the messages whose
//! PubAck came back OK, how many publishes each publisher handed to its
//! client, and every delivery to the durable subscriber with its ack.
//! The checks read it at the end; the durable's own checks (a sequence
//! reused for another message) happen as deliveries arrive.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::payload::{Key, Payload};
use super::violation::{Violation, Violations};

/// The ledger, shared by the client tasks.
pub type SharedLedger = Arc<Mutex<Ledger>>;

/// Locks the shared ledger (a panicked task left it usable: keep going).
pub fn lock(ledger: &SharedLedger) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything recorded for one run.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per channel (by index).
    pub channels: Vec<ChannelLedger>,
    /// Publishes handed to a client per `(round, publisher)`: counters
    /// `0..n` exist; a stored message beyond is a phantom.
    pub attempts: HashMap<(u32, u32), u64>,
    /// Publishes whose outcome was an error, by error text.
    pub pub_failures: BTreeMap<String, u64>,
    /// Found while recording deliveries.
    pub violations: Violations,
}

/// One channel's record.
#[derive(Debug, Default)]
pub struct ChannelLedger {
    /// Channel name.
    pub name: String,
    /// Messages whose PubAck came back OK.
    pub acked: HashSet<Key>,
    /// The durable subscriber's view of the channel.
    pub durable: DurableLedger,
}

/// The durable subscriber's deliveries on one channel.
#[derive(Debug, Default)]
pub struct DurableLedger {
    /// Per sequence: what was delivered, how often, whether acked.
    pub deliveries: HashMap<u64, Delivery>,
    /// Deliveries in total.
    pub total: u64,
    /// Deliveries flagged `redelivered` in total.
    pub flagged: u64,
    /// Acks sent in total.
    pub acks: u64,
    /// Deliveries to the current connection: `(sequence, redelivered)`,
    /// cleared by [`Ledger::new_durable_session`].
    pub session: Vec<(u64, bool)>,
}

/// One sequence as the durable subscriber saw it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// The message (the last one seen under this sequence).
    pub payload: Payload,
    /// Times delivered.
    pub count: u32,
    /// An ack was sent for it.
    pub acked: bool,
}

impl Ledger {
    /// A ledger for these channels.
    pub fn new(channels: &[String]) -> Self {
        Ledger {
            channels: channels
                .iter()
                .map(|name| ChannelLedger {
                    name: name.clone(),
                    ..ChannelLedger::default()
                })
                .collect(),
            ..Ledger::default()
        }
    }

    /// A publish's outcome: stored (`Ok`), or an error text.
    pub fn pub_outcome(&mut self, channel: usize, key: Key, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                if let Some(c) = self.channels.get_mut(channel) {
                    c.acked.insert(key);
                }
            }
            Err(e) => *self.pub_failures.entry(e).or_default() += 1,
        }
    }

    /// Records a delivery to the durable subscriber; returns how many
    /// times this sequence was delivered so far (this one included).
    pub fn delivery(
        &mut self,
        channel: usize,
        seq: u64,
        payload: Payload,
        redelivered: bool,
    ) -> u32 {
        let Some(c) = self.channels.get_mut(channel) else {
            return 0;
        };
        let d = &mut c.durable;
        d.total += 1;
        d.flagged += u64::from(redelivered);
        d.session.push((seq, redelivered));
        match d.deliveries.get_mut(&seq) {
            Some(prev) if prev.payload != payload => {
                self.violations.push(Violation::SequenceReused {
                    channel: c.name.clone(),
                    seq,
                    before: prev.payload,
                    now: payload,
                });
                *prev = Delivery {
                    payload,
                    count: 1,
                    acked: false,
                };
                1
            }
            Some(prev) => {
                prev.count += 1;
                prev.count
            }
            None => {
                d.deliveries.insert(
                    seq,
                    Delivery {
                        payload,
                        count: 1,
                        acked: false,
                    },
                );
                1
            }
        }
    }

    /// The durable subscriber sent an ack for `seq`.
    pub fn acked(&mut self, channel: usize, seq: u64) {
        if let Some(c) = self.channels.get_mut(channel) {
            c.durable.acks += 1;
            if let Some(d) = c.durable.deliveries.get_mut(&seq) {
                d.acked = true;
            }
        }
    }

    /// A delivery whose payload is not this run's.
    pub fn corrupt_delivery(&mut self, channel: usize, seq: u64, why: String) {
        let name = self
            .channels
            .get(channel)
            .map_or_else(String::new, |c| c.name.clone());
        self.violations.push(Violation::Corrupt {
            channel: name,
            seq,
            why: format!("delivered to the durable: {why}"),
        });
    }

    /// The durable subscriber connects again: its session lists restart.
    pub fn new_durable_session(&mut self) {
        for c in &mut self.channels {
            c.durable.session.clear();
        }
    }

    /// Messages acked (PubAck OK) over every channel.
    pub fn acked_total(&self) -> usize {
        self.channels.iter().map(|c| c.acked.len()).sum()
    }

    /// Publishes handed to clients over every round.
    pub fn attempts_total(&self) -> u64 {
        self.attempts.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(counter: u64) -> Payload {
        Payload::Msg(Key {
            round: 0,
            publisher: 0,
            counter,
        })
    }

    #[test]
    fn a_reused_sequence_is_a_violation() {
        let mut l = Ledger::new(&["a".into()]);
        assert_eq!(l.delivery(0, 1, key(0), false), 1);
        assert_eq!(l.delivery(0, 1, key(0), true), 2);
        l.acked(0, 1);
        assert!(l.channels[0].durable.deliveries[&1].acked);
        assert!(l.violations.is_empty());
        assert_eq!(l.delivery(0, 1, key(9), false), 1);
        assert_eq!(l.violations.count("sequence reused"), 1);
        assert!(!l.channels[0].durable.deliveries[&1].acked);
        assert_eq!(l.channels[0].durable.session.len(), 3);
        l.new_durable_session();
        assert!(l.channels[0].durable.session.is_empty());
    }
}
