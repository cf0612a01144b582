//! The final checks on the ledger, once every client is gone:
//!
//! * every publish whose PubAck came back OK was delivered to someone
//!   (else it is lost);
//! * every durable subscriber and durable queue group got every sequence
//!   from 1 to the channel's highest, across all its sessions (the limit
//!   gate kept the server's `-mm` from dropping anything unread, so a
//!   missing sequence is a loss, not a limit);
//! * every queue group got every acked message of its phase, and nothing
//!   from before it existed;
//! * no consumer got a sequence twice without the second being flagged
//!   `redelivered` (queue groups: over all their members);
//! * every publish has its outcome.

use super::ledger::{ConsumerKind, Ledger, Outcome};

/// Runs the checks, adding what fails to `ledger.violations`.
pub fn check(ledger: &mut Ledger) {
    let mut found = Vec::new();
    for (p, r) in ledger.publishers.iter().enumerate() {
        let name = &ledger.channels[r.channel].name;
        for (counter, o) in r.outcomes.iter().enumerate() {
            match o {
                Outcome::Acked if r.seqs[counter] == 0 => found.push((
                    "lost (PubAck OK, never delivered)",
                    format!("{name}: p{p}c{counter}"),
                )),
                Outcome::Pending => found.push((
                    "harness: publish outcome never came",
                    format!("{name}: p{p}c{counter}"),
                )),
                _ => {}
            }
        }
    }
    for c in &ledger.consumers {
        let ch = &ledger.channels[c.channel];
        let describe = |seq: u64| -> String {
            match ch.seq_map.get(seq as usize).copied().flatten() {
                Some(k) => {
                    let o = ledger.publishers[k.publisher as usize].outcomes[k.counter as usize];
                    format!("#{seq} ({k}, {o:?})")
                }
                None => format!("#{seq} (delivered to nobody)"),
            }
        };
        let got = |seq: u64| c.delivered.get(seq as usize).is_some_and(|n| *n > 0);
        match c.kind {
            ConsumerKind::Durable | ConsumerKind::DurableQueue => {
                for seq in 1..=ch.head {
                    if !got(seq) {
                        found.push((
                            "not delivered to a durable",
                            format!("{} on {}: {}", c.name, ch.name, describe(seq)),
                        ));
                    }
                }
            }
            ConsumerKind::Queue => {
                for r in ledger
                    .publishers
                    .iter()
                    .filter(|r| r.channel == c.channel && Some(r.phase) == c.phase)
                {
                    for (counter, o) in r.outcomes.iter().enumerate() {
                        let seq = r.seqs[counter];
                        if *o == Outcome::Acked && seq != 0 && !got(seq) {
                            found.push((
                                "not delivered to a queue group",
                                format!("{} on {}: {}", c.name, ch.name, describe(seq)),
                            ));
                        }
                    }
                }
                if c.before_start > 0 {
                    found.push((
                        "queue group got messages from before it existed",
                        format!(
                            "{} on {}: {} deliveries at or below #{}",
                            c.name, ch.name, c.before_start, c.from_seq
                        ),
                    ));
                }
            }
        }
        for (seq, n) in c.unflagged.iter().enumerate() {
            if *n > 1 {
                found.push((
                    "duplicate not flagged redelivered",
                    format!(
                        "{} on {}: {} delivered {n} times unflagged",
                        c.name,
                        ch.name,
                        describe(seq as u64)
                    ),
                ));
            }
        }
    }
    for (kind, detail) in found {
        ledger.violations.push(kind, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::payload::Codec;
    use std::time::Instant;

    #[test]
    fn losses_gaps_and_duplicates_are_found() {
        let codec = Codec::new(3);
        let mut l = Ledger::new(&["a".into()], codec, 1000);
        let now = Instant::now();
        let d = l.new_consumer("d".into(), ConsumerKind::Durable, 0, None);
        let q = l.new_consumer("q".into(), ConsumerKind::Queue, 0, Some(0));
        let p = l.new_publisher(0, 0);
        let keys: Vec<_> = (0..4).map(|_| l.try_reserve(p, now).unwrap()).collect();
        for k in &keys {
            l.outcome(*k, Ok(()), false, now);
        }
        // #1 to both; #2 only to the queue group, twice unflagged; #3 to
        // the durable only; p0c3 to nobody.
        l.delivery(d, 1, &codec.encode(keys[0]), false, now);
        l.delivery(q, 1, &codec.encode(keys[0]), false, now);
        l.delivery(q, 2, &codec.encode(keys[1]), false, now);
        l.delivery(q, 2, &codec.encode(keys[1]), false, now);
        l.delivery(d, 3, &codec.encode(keys[2]), false, now);
        l.delivery(d, 3, &codec.encode(keys[2]), true, now);
        check(&mut l);
        let v = &l.violations;
        assert_eq!(
            v.count("lost (PubAck OK, never delivered)"),
            1,
            "{}",
            v.report()
        );
        assert_eq!(v.count("not delivered to a durable"), 1, "{}", v.report());
        assert_eq!(
            v.count("not delivered to a queue group"),
            1,
            "{}",
            v.report()
        );
        assert_eq!(
            v.count("duplicate not flagged redelivered"),
            1,
            "{}",
            v.report()
        );
        assert_eq!(v.len(), 4, "{}", v.report());
    }
}
