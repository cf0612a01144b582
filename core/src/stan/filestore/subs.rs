//! Folding a channel's `subs.dat` into its subscriptions, record by record
//! exactly as Go 0.25.6's `recoverSubscriptions` does:
//!
//! * **new** (`SubState`): the subscription, with no pending message
//!   (replacing one of the same ID);
//! * **update** (`SubState`): replaces the state of that ID, keeping its
//!   pending messages (creates it if unknown);
//! * **delete** (`SubStateDelete`): removes it and its pending messages;
//! * **msg** (`SubStateUpdate`): the message was sent: pending, and
//!   `last_sent` raised to it if above (ignored for an unknown ID);
//! * **ack** (`SubStateUpdate`): the message was acknowledged: no longer
//!   pending (ignored for an unknown ID).
//!
//! The highest subscription ID seen in new, update and delete records is
//! kept: new subscriptions of the channel are numbered above it. What the
//! engine then does with each subscription (offline durables kept aside,
//! durable queue groups without a member kept as the group's "shadow",
//! non-durable subscriptions of vanished clients dropped) is described by
//! [`SubKind`].

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use stan_proto::{SubState, SubStateDelete, SubStateUpdate};

use super::fold::{decode, type_byte, FoldError};
use super::record::Record;
use super::types::SubRecordType;

/// A recovered subscription: its last stored state, and the sequences sent
/// to it and not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveredSub {
    /// The state (`last_sent` raised by the msg records after it).
    pub state: SubState,
    /// Sequences pending acknowledgement, ascending.
    pub pending: BTreeSet<u64>,
}

/// What kind of subscription a state describes (Go's `isDurableSubscriber`,
/// `isQueueDurableSubscriber`, `isShadowQueueDurable`, `IsClosed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubKind {
    /// Neither durable nor in a queue group: lives as long as its client.
    Plain,
    /// A plain queue group member.
    Queue,
    /// A durable subscription (a durable name, no queue group).
    Durable {
        /// Closed by its client (`isClosed`): kept offline until resumed.
        offline: bool,
    },
    /// A durable queue group member (queue group `durable:group`).
    DurableQueue {
        /// The group's last member left: the state is kept with no client
        /// (Go's "shadow" subscription) until a member joins again.
        shadow: bool,
    },
}

impl RecoveredSub {
    /// The kind of subscription.
    pub fn kind(&self) -> SubKind {
        let s = &self.state;
        match (s.q_group.is_empty(), s.durable_name.is_empty()) {
            (true, true) => SubKind::Plain,
            (true, false) => SubKind::Durable {
                offline: s.is_closed,
            },
            (false, _) if s.is_durable => SubKind::DurableQueue {
                shadow: s.client_id.is_empty(),
            },
            (false, _) => SubKind::Queue,
        }
    }
}

/// The subscriptions recovered from a channel's `subs.dat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveredSubs {
    /// The subscriptions, by ID.
    pub subs: BTreeMap<u64, RecoveredSub>,
    /// The highest subscription ID seen (0 if none).
    pub max_sub_id: u64,
    /// Records still holding state (Go's `numRecs`: new, update and msg
    /// records of known subscriptions).
    pub live_records: u64,
    /// Records made obsolete (Go's `delRecs`: updates, acks, deletes and the
    /// pending messages of deleted subscriptions). With the file size, what
    /// decides when the file is compacted.
    pub obsolete_records: u64,
}

/// Folds the records of a `subs.dat` (typed), in file order.
pub fn fold_subs<I>(records: I) -> Result<RecoveredSubs, FoldError>
where
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut out = RecoveredSubs::default();
    for rec in records {
        let rec = rec.borrow();
        let t = type_byte(rec);
        let kind = SubRecordType::try_from(t).map_err(|_| FoldError::UnknownRecordType {
            offset: rec.offset,
            rec_type: t,
        })?;
        match kind {
            SubRecordType::New => {
                let state: SubState = decode(rec, "SubState")?;
                out.max_sub_id = out.max_sub_id.max(state.id);
                out.subs.insert(
                    state.id,
                    RecoveredSub {
                        state,
                        pending: BTreeSet::new(),
                    },
                );
                out.live_records += 1;
            }
            SubRecordType::Update => {
                let state: SubState = decode(rec, "SubState")?;
                out.max_sub_id = out.max_sub_id.max(state.id);
                match out.subs.get_mut(&state.id) {
                    Some(sub) => {
                        sub.state = state;
                        out.obsolete_records += 1;
                    }
                    None => {
                        out.subs.insert(
                            state.id,
                            RecoveredSub {
                                state,
                                pending: BTreeSet::new(),
                            },
                        );
                    }
                }
                out.live_records += 1;
            }
            SubRecordType::Delete => {
                let del: SubStateDelete = decode(rec, "SubStateDelete")?;
                out.max_sub_id = out.max_sub_id.max(del.id);
                if let Some(sub) = out.subs.remove(&del.id) {
                    out.obsolete_records += 1 + sub.pending.len() as u64;
                }
            }
            SubRecordType::Msg => {
                let upd: SubStateUpdate = decode(rec, "SubStateUpdate")?;
                if let Some(sub) = out.subs.get_mut(&upd.id) {
                    sub.state.last_sent = sub.state.last_sent.max(upd.seqno);
                    sub.pending.insert(upd.seqno);
                    out.live_records += 1;
                }
            }
            SubRecordType::Ack => {
                let upd: SubStateUpdate = decode(rec, "SubStateUpdate")?;
                if let Some(sub) = out.subs.get_mut(&upd.id) {
                    sub.pending.remove(&upd.seqno);
                    out.obsolete_records += 1;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stan::filestore::crc::Crc32;
    use crate::stan::filestore::record::{encode_message, put_version, Framing, RecordTag};
    use crate::stan::filestore::scan::{scan, ScanOptions};
    use bytes::BytesMut;

    struct File(BytesMut);

    impl File {
        fn new() -> File {
            let mut b = BytesMut::new();
            put_version(&mut b);
            File(b)
        }
        fn state(&mut self, t: SubRecordType, s: SubState) -> &mut Self {
            encode_message(&mut self.0, t, &s, &Crc32::IEEE).unwrap();
            self
        }
        fn seq(&mut self, t: SubRecordType, id: u64, seqno: u64) -> &mut Self {
            encode_message(&mut self.0, t, &SubStateUpdate { id, seqno }, &Crc32::IEEE).unwrap();
            self
        }
        fn delete(&mut self, id: u64) -> &mut Self {
            encode_message(
                &mut self.0,
                SubRecordType::Delete,
                &SubStateDelete { id },
                &Crc32::IEEE,
            )
            .unwrap();
            self
        }
        fn fold(&self) -> Result<RecoveredSubs, FoldError> {
            let s = scan(
                &self.0.clone().freeze(),
                ScanOptions {
                    framing: Framing::Typed,
                    crc: Some(&Crc32::IEEE),
                },
            )
            .unwrap();
            fold_subs(s.records)
        }
    }

    fn sub(id: u64, client: &str, durable: &str) -> SubState {
        SubState {
            id,
            client_id: client.into(),
            durable_name: durable.into(),
            is_durable: !durable.is_empty(),
            inbox: format!("in.{id}"),
            max_in_flight: 5,
            ..SubState::default()
        }
    }

    #[test]
    fn pending_and_last_sent() {
        use SubRecordType::*;
        let mut f = File::new();
        f.state(New, sub(1, "c", "dur"));
        for s in 1..=5 {
            f.seq(Msg, 1, s);
        }
        f.seq(Ack, 1, 2)
            .seq(Ack, 1, 4)
            .seq(Ack, 1, 99)
            .seq(Msg, 1, 3);
        let got = f.fold().unwrap();
        let s = &got.subs[&1];
        assert_eq!(s.pending.iter().copied().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(s.state.last_sent, 5);
        assert_eq!(s.kind(), SubKind::Durable { offline: false });
        assert_eq!(got.max_sub_id, 1);
        assert_eq!((got.live_records, got.obsolete_records), (7, 3));
    }

    #[test]
    fn update_replaces_state_but_keeps_pending() {
        use SubRecordType::*;
        let mut f = File::new();
        f.state(New, sub(1, "c", "dur"))
            .seq(Msg, 1, 7)
            .seq(Msg, 1, 8);
        let mut closed = sub(1, "c", "dur");
        closed.is_closed = true;
        closed.last_sent = 6; // the update's own value wins over the msgs before it
        f.state(Update, closed);
        let got = f.fold().unwrap();
        let s = &got.subs[&1];
        assert_eq!(s.state.last_sent, 6);
        assert_eq!(s.pending.len(), 2);
        assert_eq!(s.kind(), SubKind::Durable { offline: true });
        // An update for an unknown ID creates it.
        let mut f = File::new();
        f.state(Update, sub(4, "c", ""));
        let got = f.fold().unwrap();
        assert_eq!(got.subs[&4].kind(), SubKind::Plain);
        assert_eq!(got.max_sub_id, 4);
    }

    #[test]
    fn delete_and_unknown_ids() {
        use SubRecordType::*;
        let mut f = File::new();
        f.state(New, sub(1, "c", ""))
            .state(New, sub(2, "c", ""))
            .seq(Msg, 1, 1)
            .seq(Msg, 1, 2)
            .delete(1)
            .delete(9)
            .seq(Msg, 7, 3)
            .seq(Ack, 7, 3)
            .seq(Msg, 1, 4);
        let got = f.fold().unwrap();
        assert_eq!(got.subs.keys().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(got.max_sub_id, 9, "delete records count for the next ID");
        assert_eq!(got.obsolete_records, 3);
        // A new record replaces a sub of the same ID, pending cleared.
        let mut f = File::new();
        f.state(New, sub(1, "c", ""))
            .seq(Msg, 1, 1)
            .state(New, sub(1, "d", ""));
        let got = f.fold().unwrap();
        assert!(got.subs[&1].pending.is_empty());
        assert_eq!(got.subs[&1].state.client_id, "d");
    }

    #[test]
    fn kinds() {
        let mut s = RecoveredSub {
            state: sub(1, "c", ""),
            pending: BTreeSet::new(),
        };
        s.state.q_group = "workers".into();
        assert_eq!(s.kind(), SubKind::Queue);
        s.state.q_group = "dq:workers".into();
        s.state.is_durable = true;
        assert_eq!(s.kind(), SubKind::DurableQueue { shadow: false });
        s.state.client_id.clear();
        assert_eq!(s.kind(), SubKind::DurableQueue { shadow: true });
    }

    #[test]
    fn bad_records() {
        let mut f = File::new();
        f.state(SubRecordType::New, sub(1, "c", ""));
        let at = f.0.len() as u64;
        encode_message(
            &mut f.0,
            RecordTag::Typed(6),
            &SubStateDelete { id: 1 },
            &Crc32::IEEE,
        )
        .unwrap();
        assert_eq!(
            f.fold().unwrap_err(),
            FoldError::UnknownRecordType {
                offset: at,
                rec_type: 6
            }
        );
        let mut f = File::new();
        crate::stan::filestore::record::encode_payload(
            &mut f.0,
            SubRecordType::Msg,
            b"\xff",
            &Crc32::IEEE,
        )
        .unwrap();
        assert!(matches!(
            f.fold().unwrap_err(),
            FoldError::Decode {
                message: "SubStateUpdate",
                ..
            }
        ));
    }
}
