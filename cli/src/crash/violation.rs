//! What the harness finds wrong: each violation names its channel, the
//! sequence and the message involved, and its kind; [`Violations`] keeps
//! them grouped by kind for the summary.

use std::collections::BTreeMap;
use std::fmt;

use super::payload::{Key, Payload};

/// One broken promise of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A message whose PubAck came back OK is not in its channel.
    Lost {
        /// Channel name.
        channel: String,
        /// The message.
        key: Key,
    },
    /// A message is stored twice.
    Duplicate {
        /// Channel name.
        channel: String,
        /// The message.
        key: Key,
        /// Its first sequence.
        first: u64,
        /// Its second sequence.
        again: u64,
    },
    /// Channel sequences are not `1, 2, 3, ...` in the read-back.
    Gap {
        /// Channel name.
        channel: String,
        /// The sequence expected next.
        expected: u64,
        /// The sequence received.
        got: u64,
    },
    /// A stored payload is not one this run published, byte for byte.
    Corrupt {
        /// Channel name.
        channel: String,
        /// Its sequence.
        seq: u64,
        /// What is wrong with it.
        why: String,
    },
    /// A stored message names a publish that never happened (a counter
    /// beyond what its publisher handed to the client), or sits on the
    /// wrong channel.
    Phantom {
        /// Channel name.
        channel: String,
        /// Its sequence.
        seq: u64,
        /// The message.
        key: Key,
    },
    /// The read-back did not reach the sentinel (the channel's last
    /// message) in time.
    ReadBackIncomplete {
        /// Channel name.
        channel: String,
        /// The last sequence received.
        last_seq: u64,
        /// Why it stopped.
        why: String,
    },
    /// The sentinel is not the last message of its channel.
    SentinelNotLast {
        /// Channel name.
        channel: String,
        /// Its sequence.
        seq: u64,
        /// The channel's last sequence.
        last: u64,
    },
    /// The durable subscriber received two different messages under one
    /// sequence (the server reused a sequence after a restart).
    SequenceReused {
        /// Channel name.
        channel: String,
        /// The sequence.
        seq: u64,
        /// What it was first.
        before: Payload,
        /// What it is now.
        now: Payload,
    },
    /// The durable subscriber received a message that is not in the
    /// channel at that sequence (delivered, then lost by a crash).
    DeliveredThenLost {
        /// Channel name.
        channel: String,
        /// The sequence delivered.
        seq: u64,
        /// The message delivered.
        delivered: Payload,
        /// What the channel holds there now (`None`: nothing).
        stored: Option<Payload>,
    },
    /// A message the durable subscriber never acked was not delivered to
    /// it again when it resumed.
    NotRedelivered {
        /// Channel name.
        channel: String,
        /// Its sequence.
        seq: u64,
        /// Where: `after the crashes` or `after a clean restart`.
        stage: &'static str,
    },
    /// A message redelivered to the resumed durable after a clean restart
    /// (it had been delivered and not acked) is not flagged `redelivered`.
    RedeliveredNotFlagged {
        /// Channel name.
        channel: String,
        /// Its sequence.
        seq: u64,
    },
    /// The server exited on its own during a round (before its kill).
    ServerDied {
        /// The round.
        round: u32,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: String,
    },
    /// A channel's content differs before and after a clean restart.
    ChangedByCleanRestart {
        /// Channel name.
        channel: String,
        /// What differs first.
        detail: String,
    },
}

impl Violation {
    /// A short name of the kind, for grouping.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::Lost { .. } => "lost (PubAck OK, not stored)",
            Violation::Duplicate { .. } => "duplicate",
            Violation::Gap { .. } => "sequence gap",
            Violation::Corrupt { .. } => "corrupt payload",
            Violation::Phantom { .. } => "phantom message",
            Violation::ReadBackIncomplete { .. } => "read-back incomplete",
            Violation::SentinelNotLast { .. } => "sentinel not last",
            Violation::SequenceReused { .. } => "sequence reused",
            Violation::DeliveredThenLost { .. } => "delivered, then lost",
            Violation::NotRedelivered { .. } => "unacked, not redelivered",
            Violation::RedeliveredNotFlagged { .. } => "redelivery not flagged",
            Violation::ChangedByCleanRestart { .. } => "changed by a clean restart",
            Violation::ServerDied { .. } => "server died on its own",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Lost { channel, key } => {
                write!(f, "{channel}: {key} was acked (PubAck OK) but is not stored")
            }
            Violation::Duplicate {
                channel,
                key,
                first,
                again,
            } => write!(f, "{channel}: {key} stored twice, at #{first} and #{again}"),
            Violation::Gap {
                channel,
                expected,
                got,
            } => write!(f, "{channel}: expected #{expected}, got #{got}"),
            Violation::Corrupt { channel, seq, why } => write!(f, "{channel} #{seq}: {why}"),
            Violation::Phantom { channel, seq, key } => write!(
                f,
                "{channel} #{seq}: {key} was never published on this channel"
            ),
            Violation::ReadBackIncomplete {
                channel,
                last_seq,
                why,
            } => write!(
                f,
                "{channel}: read-back stopped after #{last_seq} before the sentinel: {why}"
            ),
            Violation::SentinelNotLast { channel, seq, last } => write!(
                f,
                "{channel}: the sentinel is #{seq} but the channel goes on to #{last}"
            ),
            Violation::SequenceReused {
                channel,
                seq,
                before,
                now,
            } => write!(
                f,
                "{channel} #{seq}: the durable got {before}, later {now} under the same sequence"
            ),
            Violation::DeliveredThenLost {
                channel,
                seq,
                delivered,
                stored,
            } => match stored {
                Some(s) => write!(
                    f,
                    "{channel} #{seq}: the durable got {delivered}, the channel now holds {s}"
                ),
                None => write!(
                    f,
                    "{channel} #{seq}: the durable got {delivered}, the channel no longer has #{seq}"
                ),
            },
            Violation::NotRedelivered {
                channel,
                seq,
                stage,
            } => write!(
                f,
                "{channel} #{seq}: never acked by the durable, not redelivered {stage}"
            ),
            Violation::RedeliveredNotFlagged { channel, seq } => write!(
                f,
                "{channel} #{seq}: redelivered after a clean restart without the redelivered flag"
            ),
            Violation::ChangedByCleanRestart { channel, detail } => {
                write!(f, "{channel}: {detail}")
            }
            Violation::ServerDied { round, status, log } => write!(
                f,
                "round {round}: the server exited on its own ({status}) before its kill; see {log}"
            ),
        }
    }
}

/// Violations grouped by kind, in the order found.
#[derive(Debug, Default, Clone)]
pub struct Violations {
    by_kind: BTreeMap<&'static str, Vec<Violation>>,
}

impl Violations {
    /// Records `v`.
    pub fn push(&mut self, v: Violation) {
        self.by_kind.entry(v.kind()).or_default().push(v);
    }

    /// Records every violation of `other`.
    pub fn extend(&mut self, other: Violations) {
        for (_, vs) in other.by_kind {
            for v in vs {
                self.push(v);
            }
        }
    }

    /// Number of violations.
    pub fn len(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }

    /// No violation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of violations of `kind` (see [`Violation::kind`]).
    pub fn count(&self, kind: &str) -> usize {
        self.by_kind.get(kind).map_or(0, Vec::len)
    }

    /// Number of lost messages (PubAck OK, not stored).
    pub fn lost(&self) -> usize {
        self.by_kind
            .values()
            .flatten()
            .filter(|v| matches!(v, Violation::Lost { .. }))
            .count()
    }

    /// A report: per kind its count and its first `examples` violations.
    pub fn report(&self, examples: usize) -> String {
        let mut s = String::new();
        for (kind, vs) in &self.by_kind {
            s.push_str(&format!("  {kind}: {}\n", vs.len()));
            for v in vs.iter().take(examples) {
                s.push_str(&format!("    {v}\n"));
            }
            if vs.len() > examples {
                s.push_str(&format!("    ... and {} more\n", vs.len() - examples));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_counts() {
        let mut v = Violations::default();
        for counter in 0..3 {
            v.push(Violation::Lost {
                channel: "a".into(),
                key: Key {
                    round: 0,
                    publisher: 0,
                    counter,
                },
            });
        }
        v.push(Violation::Gap {
            channel: "a".into(),
            expected: 2,
            got: 4,
        });
        assert_eq!((v.len(), v.lost(), v.count("sequence gap")), (4, 3, 1));
        let r = v.report(1);
        assert!(r.contains("lost (PubAck OK, not stored): 3"), "{r}");
        assert!(r.contains("... and 2 more"), "{r}");
    }
}
