//! The checks: reading a channel back in full with a fresh subscription,
//! then comparing what is stored with what the clients saw (the pure
//! [`check_channel`]), and waiting for the resumed durable subscriber to
//! get what it must.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stan_tokio::{StartAt, SubscriptionOptions};

use super::clients::{connect, Ctx};
use super::ledger::{lock, Ledger};
use super::payload::{Key, Payload};
use super::violation::{Violation, Violations};
use super::CrashError;

/// The read-back gives up when no message came for this long.
const READ_IDLE: Duration = Duration::from_secs(10);
/// After the sentinel, how long the read-back waits for anything beyond.
const AFTER_SENTINEL: Duration = Duration::from_millis(300);

/// A channel as read back: its messages by sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Channel name.
    pub name: String,
    /// Every message received, by sequence (a corrupt one as its error).
    pub by_seq: HashMap<u64, Result<Payload, String>>,
    /// The sentinel's sequence, if it was read.
    pub sentinel: Option<u64>,
    /// The highest sequence read.
    pub last: u64,
}

impl Content {
    /// The message at `seq`, if it is one of this run's.
    pub fn at(&self, seq: u64) -> Option<Payload> {
        self.by_seq.get(&seq).and_then(|r| r.as_ref().ok()).copied()
    }
}

/// Publishes the sentinel on every channel (waiting for each PubAck) as
/// client `client_id`.
pub async fn publish_sentinels(ctx: &Ctx, client_id: &str) -> Result<(), CrashError> {
    let (conn, _) = connect(ctx, client_id).await?;
    for (ch, name) in (0u32..).zip(&ctx.channels) {
        conn.publish(name, ctx.codec.sentinel(ch))
            .await
            .map_err(|error| CrashError::Sentinel {
                channel: name.clone(),
                error,
            })?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.close()).await;
    Ok(())
}

/// Reads channel `ch` from its first message to the sentinel with a new
/// subscription of a new client `client_id`. Sequence gaps and foreign or
/// damaged payloads are violations; so is not reaching the sentinel.
pub async fn read_back(
    ctx: &Arc<Ctx>,
    ch: usize,
    client_id: &str,
) -> Result<(Content, Violations), CrashError> {
    let name = ctx.channels[ch].clone();
    let mut v = Violations::default();
    let mut content = Content {
        name: name.clone(),
        ..Content::default()
    };
    let (conn, _) = connect(ctx, client_id).await?;
    let opts = SubscriptionOptions {
        start: StartAt::First,
        max_in_flight: 16384,
        ..Default::default()
    };
    let mut sub = conn
        .subscribe(&name, opts)
        .await
        .map_err(|error| CrashError::Subscribe {
            client_id: client_id.into(),
            channel: name.clone(),
            error,
        })?;
    let bound = lock(&ctx.ledger).attempts_total() + 16;
    let mut expected = 1;
    let mut stop_at: Option<Instant> = None;
    let why;
    loop {
        let wait = match stop_at {
            Some(t) => t.saturating_duration_since(Instant::now()),
            None => READ_IDLE,
        };
        let msg = match tokio::time::timeout(wait, sub.next()).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                why = "the subscription ended".into();
                break;
            }
            Err(_) => {
                why = format!("nothing for {} s", READ_IDLE.as_secs());
                break;
            }
        };
        let seq = msg.sequence();
        if seq != expected {
            v.push(Violation::Gap {
                channel: name.clone(),
                expected,
                got: seq,
            });
        }
        expected = seq + 1;
        let decoded = ctx.codec.decode(msg.data()).map_err(|e| e.to_string());
        if let Err(e) = &decoded {
            v.push(Violation::Corrupt {
                channel: name.clone(),
                seq,
                why: e.clone(),
            });
        }
        if let Ok(Payload::Sentinel(other)) = decoded {
            if other as usize != ch {
                v.push(Violation::Corrupt {
                    channel: name.clone(),
                    seq,
                    why: format!("the sentinel of channel {other}"),
                });
            }
        }
        if decoded == Ok(Payload::Sentinel(ch as u32)) && stop_at.is_none() {
            content.sentinel = Some(seq);
            stop_at = Some(Instant::now() + AFTER_SENTINEL);
        }
        content.by_seq.insert(seq, decoded);
        content.last = content.last.max(seq);
        if content.by_seq.len() as u64 > bound {
            why = format!("more than {bound} messages");
            break;
        }
    }
    match content.sentinel {
        None => v.push(Violation::ReadBackIncomplete {
            channel: name.clone(),
            last_seq: content.last,
            why,
        }),
        Some(s) if s != content.last => v.push(Violation::SentinelNotLast {
            channel: name.clone(),
            seq: s,
            last: content.last,
        }),
        Some(_) => {}
    }
    let _ = sub.unsubscribe().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.close()).await;
    Ok((content, v))
}

/// Counts of one channel's check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    /// Messages of the publishers stored.
    pub found: usize,
    /// Messages acked (PubAck OK).
    pub acked: usize,
    /// Acked messages not stored.
    pub lost: usize,
    /// Stored messages whose PubAck never came.
    pub unacked_present: usize,
    /// The last sequence.
    pub last: u64,
}

/// Compares channel `ch` as read back with what the clients saw: every
/// acked message stored exactly once, no duplicate, no message that was
/// never published (or on another channel), and everything delivered to
/// the durable subscriber still stored at its sequence.
pub fn check_channel(
    ch: usize,
    content: &Content,
    ledger: &Ledger,
    channels: usize,
) -> (Violations, ChannelCounts) {
    let mut v = Violations::default();
    let name = &content.name;
    let mut found: HashMap<Key, u64> = HashMap::new();
    let mut seqs: Vec<u64> = content.by_seq.keys().copied().collect();
    seqs.sort_unstable();
    for seq in seqs {
        let Some(Payload::Msg(key)) = content.at(seq) else {
            continue;
        };
        let published = ledger
            .attempts
            .get(&(key.round, key.publisher))
            .is_some_and(|&n| key.counter < n);
        if !published || key.publisher as usize % channels != ch {
            v.push(Violation::Phantom {
                channel: name.clone(),
                seq,
                key,
            });
        }
        if let Some(&first) = found.get(&key) {
            v.push(Violation::Duplicate {
                channel: name.clone(),
                key,
                first,
                again: seq,
            });
        } else {
            found.insert(key, seq);
        }
    }
    let c = &ledger.channels[ch];
    let mut lost: Vec<Key> = c
        .acked
        .iter()
        .filter(|k| !found.contains_key(k))
        .copied()
        .collect();
    lost.sort_unstable();
    for &key in &lost {
        v.push(Violation::Lost {
            channel: name.clone(),
            key,
        });
    }
    let mut delivered: Vec<_> = c.durable.deliveries.iter().collect();
    delivered.sort_unstable_by_key(|(s, _)| **s);
    for (&seq, d) in delivered {
        let stored = content.at(seq);
        if stored != Some(d.payload) {
            v.push(Violation::DeliveredThenLost {
                channel: name.clone(),
                seq,
                delivered: d.payload,
                stored,
            });
        }
    }
    let counts = ChannelCounts {
        found: found.len(),
        acked: c.acked.len(),
        lost: lost.len(),
        unacked_present: found.keys().filter(|k| !c.acked.contains(k)).count(),
        last: content.last,
    };
    (v, counts)
}

/// The sequences of channel `ch` the resumed durable must be given: every
/// stored one up to the sentinel it never sent an ack for.
pub fn owed_to_durable(ch: usize, content: &Content, ledger: &Ledger) -> HashSet<u64> {
    let d = &ledger.channels[ch].durable.deliveries;
    let last = content.sentinel.unwrap_or(content.last);
    (1..=last)
        .filter(|s| content.by_seq.contains_key(s))
        .filter(|s| !d.get(s).is_some_and(|x| x.acked))
        .collect()
}

/// Waits until the current durable session got every sequence of
/// `owed[ch]` on each channel, or `bound` passed; returns what is still
/// missing per channel.
pub async fn await_durable(ctx: &Ctx, owed: &[HashSet<u64>], bound: Duration) -> Vec<HashSet<u64>> {
    let until = Instant::now() + bound;
    loop {
        let missing: Vec<HashSet<u64>> = {
            let l = lock(&ctx.ledger);
            owed.iter()
                .zip(&l.channels)
                .map(|(o, c)| {
                    let got: HashSet<u64> = c.durable.session.iter().map(|(s, _)| *s).collect();
                    o.difference(&got).copied().collect()
                })
                .collect()
        };
        if missing.iter().all(HashSet::is_empty) || Instant::now() >= until {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(publisher: u32, counter: u64) -> Key {
        Key {
            round: 0,
            publisher,
            counter,
        }
    }

    fn content(msgs: &[(u64, Payload)]) -> Content {
        Content {
            name: "a".into(),
            by_seq: msgs.iter().map(|&(s, p)| (s, Ok(p))).collect(),
            sentinel: msgs.last().map(|m| m.0),
            last: msgs.last().map_or(0, |m| m.0),
        }
    }

    #[test]
    fn a_complete_channel_passes() {
        let mut l = Ledger::new(&["a".into()]);
        l.attempts.insert((0, 0), 3);
        for c in 0..2 {
            l.pub_outcome(0, key(0, c), Ok(()));
        }
        l.delivery(0, 1, Payload::Msg(key(0, 0)), false);
        let c = content(&[
            (1, Payload::Msg(key(0, 0))),
            (2, Payload::Msg(key(0, 1))),
            (3, Payload::Msg(key(0, 2))),
            (4, Payload::Sentinel(0)),
        ]);
        let (v, n) = check_channel(0, &c, &l, 1);
        assert!(v.is_empty(), "{}", v.report(5));
        assert_eq!(
            (n.found, n.acked, n.lost, n.unacked_present, n.last),
            (3, 2, 0, 1, 4)
        );
        assert_eq!(owed_to_durable(0, &c, &l), HashSet::from([1, 2, 3, 4]));
    }

    #[test]
    fn losses_duplicates_phantoms_and_lost_deliveries_are_found() {
        let mut l = Ledger::new(&["a".into()]);
        l.attempts.insert((0, 0), 3);
        for c in 0..3 {
            l.pub_outcome(0, key(0, c), Ok(()));
        }
        l.delivery(0, 3, Payload::Msg(key(0, 2)), false);
        l.acked(0, 1);
        let c = content(&[
            (1, Payload::Msg(key(0, 0))),
            (2, Payload::Msg(key(0, 0))),
            (3, Payload::Msg(key(0, 7))),
            (4, Payload::Sentinel(0)),
        ]);
        let (v, n) = check_channel(0, &c, &l, 1);
        assert_eq!(v.lost(), 2, "{}", v.report(5));
        assert_eq!(v.count("duplicate"), 1);
        assert_eq!(v.count("phantom message"), 1);
        assert_eq!(v.count("delivered, then lost"), 1);
        assert_eq!(n.lost, 2);
    }
}
