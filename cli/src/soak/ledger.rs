//! What the soak's clients saw: every publish with its outcome, every
//! delivery to every consumer, and what follows from them as they come
//! (a sequence holding two payloads, a payload stored twice, a payload
//! that is not this run's, a publish that failed on a connection nobody
//! cut). The final checks ([`super::verify`]) read it; the publishers
//! consult it before each publish ([`Ledger::try_reserve`]) so that the
//! server's message limit never drops a message a consumer has not read.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::payload::{Codec, Key};

/// The ledger, shared by the client tasks.
pub type SharedLedger = Arc<Mutex<Ledger>>;

/// Locks the shared ledger (a panicked task left it usable: keep going).
pub fn lock(ledger: &SharedLedger) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// A publish failed this recently may still be stored without anyone
/// having seen it yet: the limit gate counts it.
const FAILED_WINDOW: Duration = Duration::from_secs(10);
/// A delivered sequence this far past what was ever published is not
/// recorded (and is a violation).
const SEQ_SLACK: u64 = 1_000_000;

/// A publish's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to the client, PubAck not yet in.
    Pending,
    /// PubAck OK: the server stored it.
    Acked,
    /// Failed (may or may not be stored).
    Failed,
}

/// One publisher (one client connection's publishing on one channel).
#[derive(Debug)]
pub struct PubRecord {
    /// Channel index.
    pub channel: usize,
    /// Phase it published in.
    pub phase: u32,
    /// Outcome per counter.
    pub outcomes: Vec<Outcome>,
    /// Sequence it was delivered under, per counter (0: never seen).
    pub seqs: Vec<u64>,
}

/// What kind of consumer a ledger entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerKind {
    /// A durable subscription (one client ID, many sessions).
    Durable,
    /// A durable queue group (its members come and go, all may be away).
    DurableQueue,
    /// A queue group of one phase, kept alive by an anchor member.
    Queue,
}

impl ConsumerKind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerKind::Durable => "durable",
            ConsumerKind::DurableQueue => "durable queue group",
            ConsumerKind::Queue => "queue group",
        }
    }
}

/// A consumer that must see every message of its channel (from
/// `from_seq + 1`; a queue group only those published in its phase).
#[derive(Debug)]
pub struct Consumer {
    /// Name in reports.
    pub name: String,
    /// Its kind.
    pub kind: ConsumerKind,
    /// Channel index.
    pub channel: usize,
    /// Sequences up to this one are not expected.
    pub from_seq: u64,
    /// A queue group's phase (its expectations are that phase's messages).
    pub phase: Option<u32>,
    /// Deliveries per sequence (saturating).
    pub delivered: Vec<u8>,
    /// Deliveries not flagged `redelivered`, per sequence (saturating).
    pub unflagged: Vec<u8>,
    /// Every sequence in `from_seq+1..=floor` was delivered.
    pub floor: u64,
    /// Delivered, not acked since (withheld, or delivered while closing).
    pub unacked: HashSet<u64>,
    /// Deliveries in total.
    pub deliveries: u64,
    /// Deliveries flagged `redelivered`.
    pub redelivered: u64,
    /// Sequences delivered at or below `from_seq`.
    pub before_start: u64,
    /// The last delivery.
    pub last_delivery: Option<Instant>,
    /// Counted by the limit gate.
    pub gating: bool,
}

/// One channel's record.
#[derive(Debug, Default)]
pub struct ChannelLedger {
    /// Its name.
    pub name: String,
    /// The payload delivered under each sequence (index: sequence).
    pub seq_map: Vec<Option<Key>>,
    /// The highest sequence delivered to anyone.
    pub head: u64,
    /// Publishes handed to clients.
    pub attempts: u64,
    /// Publishes whose outcome is not in.
    pub pending: u64,
    /// Acked publishes nobody has been delivered yet.
    pub acked_unseen: u64,
    /// When recent publishes failed.
    pub recent_failures: VecDeque<Instant>,
    /// Time publishers spent waiting for the slowest consumer.
    pub gate_waits: u64,
}

/// Counts for the curve and the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Publishes handed to clients.
    pub published: u64,
    /// PubAcks OK.
    pub acked: u64,
    /// Publishes failed.
    pub failed: u64,
    /// ... of which on a connection the soak cut.
    pub failed_cut: u64,
    /// Deliveries to every subscription.
    pub delivered: u64,
    /// ... of which flagged `redelivered`.
    pub redelivered: u64,
    /// Acks sent.
    pub acks: u64,
    /// Acks withheld on purpose.
    pub withheld: u64,
    /// Client sessions (connections) started.
    pub sessions: u64,
    /// Sessions ended by a clean close.
    pub closes: u64,
    /// Sessions ended by cutting the connection for good.
    pub drops: u64,
    /// Connections cut and reconnected (NATS reconnect).
    pub blips: u64,
}

/// Violations grouped by kind, a few examples kept per kind.
#[derive(Debug, Default, Clone)]
pub struct Violations {
    by_kind: BTreeMap<&'static str, (u64, Vec<String>)>,
}

/// Examples kept per kind.
const EXAMPLES: usize = 8;

impl Violations {
    /// Records one.
    pub fn push(&mut self, kind: &'static str, detail: String) {
        let e = self.by_kind.entry(kind).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(detail);
        }
    }

    /// How many in all.
    pub fn len(&self) -> u64 {
        self.by_kind.values().map(|e| e.0).sum()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of `kind`.
    pub fn count(&self, kind: &str) -> u64 {
        self.by_kind.get(kind).map_or(0, |e| e.0)
    }

    /// Per kind its count and examples.
    pub fn report(&self) -> String {
        let mut s = String::new();
        for (kind, (n, ex)) in &self.by_kind {
            s.push_str(&format!("  {kind}: {n}\n"));
            for e in ex {
                s.push_str(&format!("    {e}\n"));
            }
            if *n > ex.len() as u64 {
                s.push_str(&format!("    ... and {} more\n", *n - ex.len() as u64));
            }
        }
        s
    }
}

/// Everything recorded in a run.
#[derive(Debug)]
pub struct Ledger {
    /// Per channel.
    pub channels: Vec<ChannelLedger>,
    /// Publishers by number.
    pub publishers: Vec<PubRecord>,
    /// Consumers by number.
    pub consumers: Vec<Consumer>,
    /// Counts.
    pub totals: Totals,
    /// Publish failures by error text.
    pub pub_failures: BTreeMap<String, u64>,
    /// Found on the way.
    pub violations: Violations,
    /// Publishers wait while a gating consumer is this far behind.
    pub gate: u64,
    codec: Codec,
}

impl Ledger {
    /// A ledger for these channels; `gate` is how far (in sequences) the
    /// slowest gating consumer may be behind the newest publish.
    pub fn new(channels: &[String], codec: Codec, gate: u64) -> Self {
        Ledger {
            channels: channels
                .iter()
                .map(|name| ChannelLedger {
                    name: name.clone(),
                    seq_map: vec![None],
                    ..ChannelLedger::default()
                })
                .collect(),
            publishers: Vec::new(),
            consumers: Vec::new(),
            totals: Totals::default(),
            pub_failures: BTreeMap::new(),
            violations: Violations::default(),
            gate,
            codec,
        }
    }

    /// A new publisher on `channel` in `phase`; returns its number.
    pub fn new_publisher(&mut self, channel: usize, phase: u32) -> u32 {
        self.publishers.push(PubRecord {
            channel,
            phase,
            outcomes: Vec::new(),
            seqs: Vec::new(),
        });
        (self.publishers.len() - 1) as u32
    }

    /// A new consumer; returns its number.
    pub fn new_consumer(
        &mut self,
        name: String,
        kind: ConsumerKind,
        channel: usize,
        phase: Option<u32>,
    ) -> usize {
        let from_seq = if kind == ConsumerKind::Queue {
            // The queue group of an earlier phase is gone: it no longer
            // holds the publishers back.
            for c in &mut self.consumers {
                if c.kind == ConsumerKind::Queue && c.channel == channel {
                    c.gating = false;
                }
            }
            self.channels[channel].head
        } else {
            0
        };
        self.consumers.push(Consumer {
            name,
            kind,
            channel,
            from_seq,
            phase,
            delivered: Vec::new(),
            unflagged: Vec::new(),
            floor: from_seq,
            unacked: HashSet::new(),
            deliveries: 0,
            redelivered: 0,
            before_start: 0,
            last_delivery: None,
            gating: true,
        });
        self.consumers.len() - 1
    }

    /// How far the slowest gating consumer of `channel` may be behind: the
    /// newest sequence the channel can hold now (the highest delivered,
    /// plus publishes without outcome, plus recent failures that may be
    /// stored unseen) minus the lowest floor.
    pub fn lag(&mut self, channel: usize, now: Instant) -> u64 {
        let c = &mut self.channels[channel];
        while c
            .recent_failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > FAILED_WINDOW)
        {
            c.recent_failures.pop_front();
        }
        let bound = c.head + c.pending + c.recent_failures.len() as u64;
        let floor = self
            .consumers
            .iter()
            .filter(|k| k.channel == channel && k.gating)
            .map(|k| k.floor)
            .min()
            .unwrap_or(bound);
        bound.saturating_sub(floor)
    }

    /// Takes the next counter of publisher `p` if the limit gate allows a
    /// publish on its channel now (`None`: wait and try again).
    pub fn try_reserve(&mut self, p: u32, now: Instant) -> Option<Key> {
        let ch = self.publishers[p as usize].channel;
        if self.lag(ch, now) + 1 > self.gate {
            self.channels[ch].gate_waits += 1;
            return None;
        }
        let c = &mut self.channels[ch];
        c.attempts += 1;
        c.pending += 1;
        self.totals.published += 1;
        let r = &mut self.publishers[p as usize];
        r.outcomes.push(Outcome::Pending);
        r.seqs.push(0);
        Some(Key {
            publisher: p,
            counter: (r.outcomes.len() - 1) as u32,
        })
    }

    /// The outcome of a reserved publish; `cut`: its connection was cut
    /// on purpose (a failure is then expected).
    pub fn outcome(&mut self, key: Key, result: Result<(), String>, cut: bool, now: Instant) {
        let Some(r) = self.publishers.get_mut(key.publisher as usize) else {
            return;
        };
        let ch = r.channel;
        let Some(o) = r.outcomes.get_mut(key.counter as usize) else {
            return;
        };
        if *o != Outcome::Pending {
            return;
        }
        let seen = r.seqs[key.counter as usize] != 0;
        let c = &mut self.channels[ch];
        c.pending -= 1;
        match result {
            Ok(()) => {
                *o = Outcome::Acked;
                self.totals.acked += 1;
                if !seen {
                    c.acked_unseen += 1;
                }
            }
            Err(e) => {
                *o = Outcome::Failed;
                self.totals.failed += 1;
                c.recent_failures.push_back(now);
                if cut {
                    self.totals.failed_cut += 1;
                } else {
                    self.violations.push(
                        "publish failed on a connection not cut",
                        format!("{}: {key}: {e}", c.name),
                    );
                }
                *self.pub_failures.entry(e).or_default() += 1;
            }
        }
    }

    /// Records the payload `data` under `seq` of `channel` (any
    /// subscriber's delivery). Returns false if the delivery is not
    /// usable (a violation was recorded).
    pub fn observe(&mut self, channel: usize, seq: u64, data: &[u8]) -> bool {
        let c = &mut self.channels[channel];
        let key = match self.codec.decode(data) {
            Ok(k) => k,
            Err(e) => {
                self.violations
                    .push("corrupt payload", format!("{} #{seq}: {e}", c.name));
                return false;
            }
        };
        if seq == 0 || seq > c.attempts + SEQ_SLACK {
            self.violations.push(
                "impossible sequence",
                format!("{} #{seq}: {key} ({} publishes made)", c.name, c.attempts),
            );
            return false;
        }
        let known = self
            .publishers
            .get(key.publisher as usize)
            .filter(|r| r.channel == channel && (key.counter as usize) < r.outcomes.len());
        let Some(r) = known else {
            self.violations.push(
                "phantom message",
                format!(
                    "{} #{seq}: {key} was never published on this channel",
                    c.name
                ),
            );
            return false;
        };
        let i = seq as usize;
        if c.seq_map.len() <= i {
            c.seq_map.resize(i + 1, None);
        }
        match c.seq_map[i] {
            Some(k) if k != key => {
                self.violations.push(
                    "sequence holds two payloads",
                    format!("{} #{seq}: {k}, later {key}", c.name),
                );
                return false;
            }
            Some(_) => {}
            None => c.seq_map[i] = Some(key),
        }
        c.head = c.head.max(seq);
        let at = r.seqs[key.counter as usize];
        if at == 0 {
            let acked = r.outcomes[key.counter as usize] == Outcome::Acked;
            if let Some(r) = self.publishers.get_mut(key.publisher as usize) {
                r.seqs[key.counter as usize] = seq;
            }
            if acked {
                c.acked_unseen -= 1;
            }
        } else if at != seq {
            self.violations.push(
                "payload stored twice",
                format!("{} {key} at #{at} and #{seq}", c.name),
            );
            return false;
        }
        true
    }

    /// A delivery to consumer `k`; returns how often `seq` was delivered
    /// to it so far (this one included; 0: not usable).
    pub fn delivery(
        &mut self,
        k: usize,
        seq: u64,
        data: &[u8],
        redelivered: bool,
        now: Instant,
    ) -> u32 {
        let ch = self.consumers[k].channel;
        self.totals.delivered += 1;
        self.totals.redelivered += u64::from(redelivered);
        if !self.observe(ch, seq, data) {
            return 0;
        }
        let c = &mut self.consumers[k];
        c.deliveries += 1;
        c.redelivered += u64::from(redelivered);
        c.last_delivery = Some(now);
        if seq <= c.from_seq {
            c.before_start += 1;
        }
        let i = seq as usize;
        if c.delivered.len() <= i {
            c.delivered.resize(i + 1, 0);
            c.unflagged.resize(i + 1, 0);
        }
        c.delivered[i] = c.delivered[i].saturating_add(1);
        if !redelivered {
            c.unflagged[i] = c.unflagged[i].saturating_add(1);
        }
        while c
            .delivered
            .get(c.floor as usize + 1)
            .is_some_and(|n| *n > 0)
        {
            c.floor += 1;
        }
        c.unacked.insert(seq);
        u32::from(c.delivered[i])
    }

    /// Consumer `k` acked `seq` (`sent`), or withheld its ack on purpose.
    pub fn ack(&mut self, k: usize, seq: u64, sent: bool) {
        if sent {
            self.totals.acks += 1;
            self.consumers[k].unacked.remove(&seq);
        } else {
            self.totals.withheld += 1;
        }
    }

    /// Whether consumer `k` has caught up: every acked publish of its
    /// channel was seen, it got every sequence up to the channel's head,
    /// acked all it got, and nothing came for `quiet`.
    pub fn caught_up(&self, k: usize, now: Instant, quiet: Duration) -> bool {
        let c = &self.consumers[k];
        let ch = &self.channels[c.channel];
        ch.pending == 0
            && ch.acked_unseen == 0
            && c.floor >= ch.head
            && c.unacked.is_empty()
            && c.last_delivery
                .is_none_or(|t| now.duration_since(t) >= quiet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> Ledger {
        Ledger::new(&["a".into()], Codec::new(1), 10)
    }

    #[test]
    fn the_gate_holds_publishers_behind_the_slowest_consumer() {
        let mut l = ledger();
        let now = Instant::now();
        let d = l.new_consumer("d".into(), ConsumerKind::Durable, 0, None);
        let p = l.new_publisher(0, 0);
        let keys: Vec<Key> = (0..10).map(|_| l.try_reserve(p, now).unwrap()).collect();
        assert!(l.try_reserve(p, now).is_none(), "10 pending: gate closed");
        for (i, k) in keys.iter().enumerate() {
            l.outcome(*k, Ok(()), false, now);
            let data = Codec::new(1).encode(*k);
            assert_eq!(l.delivery(d, i as u64 + 1, &data, false, now), 1);
            l.ack(d, i as u64 + 1, true);
        }
        assert_eq!((l.consumers[d].floor, l.channels[0].acked_unseen), (10, 0));
        assert!(l.caught_up(d, now + Duration::from_secs(2), Duration::from_secs(1)));
        assert!(l.try_reserve(p, now).is_some(), "caught up: gate open");
        assert!(l.violations.is_empty(), "{}", l.violations.report());
    }

    #[test]
    fn an_earlier_phase_queue_group_does_not_hold_the_gate() {
        let mut l = ledger();
        let now = Instant::now();
        let q0 = l.new_consumer("q0".into(), ConsumerKind::Queue, 0, Some(0));
        let p = l.new_publisher(0, 0);
        let k = l.try_reserve(p, now).unwrap();
        l.outcome(k, Ok(()), false, now);
        l.delivery(q0, 1, &Codec::new(1).encode(k), false, now);
        l.channels[0].head = 50;
        assert!(l.try_reserve(p, now).is_none(), "q0 is 49 behind");
        let q1 = l.new_consumer("q1".into(), ConsumerKind::Queue, 0, Some(1));
        assert!(!l.consumers[q0].gating && l.consumers[q1].gating);
        assert_eq!(l.consumers[q1].floor, 50);
        assert!(l.try_reserve(p, now).is_some());
    }

    #[test]
    fn inconsistencies_are_violations() {
        let mut l = ledger();
        let now = Instant::now();
        let d = l.new_consumer("d".into(), ConsumerKind::Durable, 0, None);
        let p = l.new_publisher(0, 0);
        let k0 = l.try_reserve(p, now).unwrap();
        let k1 = l.try_reserve(p, now).unwrap();
        let c = Codec::new(1);
        assert_eq!(l.delivery(d, 1, &c.encode(k0), false, now), 1);
        assert_eq!(l.delivery(d, 1, &c.encode(k1), false, now), 0);
        assert_eq!(l.delivery(d, 2, &c.encode(k0), false, now), 0);
        let phantom = Key {
            publisher: 0,
            counter: 7,
        };
        assert_eq!(l.delivery(d, 3, &c.encode(phantom), false, now), 0);
        assert_eq!(l.delivery(d, 4, b"junk", false, now), 0);
        l.outcome(k1, Err("boom".into()), false, now);
        for kind in [
            "sequence holds two payloads",
            "payload stored twice",
            "phantom message",
            "corrupt payload",
            "publish failed on a connection not cut",
        ] {
            assert_eq!(l.violations.count(kind), 1, "{kind}");
        }
    }
}
