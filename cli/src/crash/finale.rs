//! The final checks, on the server started after the last crash:
//!
//! 1. a sentinel is published on each channel (its sequence is the last);
//! 2. each channel is read back in full and compared with what the clients
//!    saw (every acked message exactly once, sequences `1..=last`, exact
//!    payloads, everything the durable got still stored);
//! 3. the durable subscriber resumes and must get every stored message it
//!    never acked; it acks them all but a few (held back);
//! 4. the durable closes, the server stops cleanly (SIGTERM) and starts
//!    again; the durable resumes and must get the held-back messages
//!    flagged `redelivered`; the channels must read back as before.
//!
//! With `--no-kill` step 4 reconnects the durable without restarting.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::clients::{AckPolicy, Durable};
use super::ledger::lock;
use super::opts::CrashOptions;
use super::rounds::Rig;
use super::summary::Summary;
use super::verify::{self, Content};
use super::violation::{Violation, Violations};
use super::CrashError;

/// How long the resumed durable may take to get what it is owed.
const RESUME_BOUND: Duration = Duration::from_secs(60);
/// How long the durable may take to get its held-back messages after the
/// clean restart.
const HELD_BOUND: Duration = Duration::from_secs(20);
/// Quiet time to collect deliveries beyond what is awaited.
const SETTLE: Duration = Duration::from_millis(500);
/// How long a clean stop (SIGTERM) may take.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Held-back sequences per channel besides the sentinel.
const HOLD_POINTS: u64 = 7;

/// Runs the final checks into `summary`.
pub async fn run(
    rig: &mut Rig,
    opts: &CrashOptions,
    summary: &mut Summary,
) -> Result<(), CrashError> {
    let ctx = Arc::clone(&rig.ctx);
    verify::publish_sentinels(&ctx, "crash-sentinel").await?;
    let (contents, v) = read_all(rig, "crash-verify").await?;
    summary.violations.extend(v);
    {
        let l = lock(&ctx.ledger);
        for (ch, content) in contents.iter().enumerate() {
            let (v, counts) = verify::check_channel(ch, content, &l, ctx.channels.len());
            summary.violations.extend(v);
            summary.channels.push((content.name.clone(), counts));
        }
    }

    // The durable resumes after the crashes.
    let (owed, seen_before, held): (Vec<_>, Vec<_>, Vec<_>) = {
        let l = lock(&ctx.ledger);
        let mut owed = Vec::new();
        let mut seen = Vec::new();
        let mut held = Vec::new();
        for (ch, content) in contents.iter().enumerate() {
            let o = verify::owed_to_durable(ch, content, &l);
            let s: HashSet<u64> = l.channels[ch]
                .durable
                .deliveries
                .iter()
                .filter(|(_, d)| !d.acked)
                .map(|(s, _)| *s)
                .collect();
            held.push(hold_points(&o));
            owed.push(o);
            seen.push(s);
        }
        (owed, seen, held)
    };
    let durable = Durable::start(&ctx, AckPolicy::HoldBack(Arc::new(held))).await?;
    summary.durable.refusals += durable.refusals;
    let missing = verify::await_durable(&ctx, &owed, RESUME_BOUND).await;
    push_missing(&mut summary.violations, rig, &missing, "after the crashes");
    tokio::time::sleep(Duration::from_millis(200)).await;
    durable.close().await;
    let held: Vec<HashSet<u64>> = {
        let l = lock(&ctx.ledger);
        let d = &mut summary.durable;
        let mut held = Vec::new();
        for (ch, c) in l.channels.iter().enumerate() {
            let mut first = HashSet::new();
            let mut h = HashSet::new();
            for &(seq, flagged) in &c.durable.session {
                if !first.insert(seq) {
                    continue;
                }
                if seen_before[ch].contains(&seq) {
                    d.owed_seen_before += 1;
                    d.owed_seen_before_flagged += usize::from(flagged);
                }
                if !owed[ch].contains(&seq) {
                    d.acked_resent += 1;
                }
                if c.durable.deliveries.get(&seq).is_some_and(|x| !x.acked) {
                    h.insert(seq);
                }
            }
            d.owed += owed[ch].len();
            held.push(h);
        }
        held
    };
    summary.durable.held = held.iter().map(HashSet::len).sum();

    // A clean restart; the held-back messages must come back flagged.
    if !opts.no_kill {
        stop(rig, summary, "before the clean restart").await?;
        rig.restart(summary).await?;
    }
    let durable = Durable::start(&ctx, AckPolicy::HoldBack(Arc::default())).await?;
    summary.durable.refusals += durable.refusals;
    let missing = verify::await_durable(&ctx, &held, HELD_BOUND).await;
    push_missing(
        &mut summary.violations,
        rig,
        &missing,
        "after a clean restart",
    );
    tokio::time::sleep(SETTLE).await;
    durable.close().await;
    {
        let l = lock(&ctx.ledger);
        for (ch, c) in l.channels.iter().enumerate() {
            let mut first = HashSet::new();
            for &(seq, flagged) in &c.durable.session {
                if !first.insert(seq) {
                    continue;
                }
                if held[ch].contains(&seq) {
                    if flagged {
                        summary.durable.held_flagged += 1;
                    } else {
                        summary.violations.push(Violation::RedeliveredNotFlagged {
                            channel: c.name.clone(),
                            seq,
                        });
                    }
                } else {
                    summary.durable.acked_resent_clean += 1;
                }
            }
        }
    }

    // The channels are the same after the clean restart.
    if !opts.no_kill {
        let (again, v) = read_all(rig, "crash-verify-2").await?;
        summary.violations.extend(v);
        for (before, after) in contents.iter().zip(&again) {
            if let Some(detail) = difference(before, after) {
                summary.violations.push(Violation::ChangedByCleanRestart {
                    channel: before.name.clone(),
                    detail,
                });
            }
        }
    }
    stop(rig, summary, "at the end").await?;
    let l = lock(&ctx.ledger);
    let d = &mut summary.durable;
    for c in &l.channels {
        d.deliveries += c.durable.total;
        d.flagged += c.durable.flagged;
        d.acks += c.durable.acks;
    }
    summary.violations.extend(l.violations.clone());
    Ok(())
}

/// Stops the server cleanly (SIGTERM); a server that does not exit in
/// time (it is killed) or exits with an error is noted.
async fn stop(rig: &mut Rig, summary: &mut Summary, when: &str) -> Result<(), CrashError> {
    match rig.server.terminate(STOP_GRACE).await? {
        None => summary.notes.push(format!(
            "{when}: the server did not exit within {} s of SIGTERM and was killed",
            STOP_GRACE.as_secs()
        )),
        Some(status) if !status.success() => summary.notes.push(format!(
            "{when}: the server exited with {status} after SIGTERM (see {})",
            rig.server.log().display()
        )),
        Some(_) => {}
    }
    Ok(())
}

/// Reads every channel back, concurrently, as clients `<prefix>-<n>`.
async fn read_all(rig: &Rig, prefix: &str) -> Result<(Vec<Content>, Violations), CrashError> {
    let mut tasks = Vec::new();
    for ch in 0..rig.ctx.channels.len() {
        let ctx = Arc::clone(&rig.ctx);
        let id = format!("{prefix}-{ch}");
        tasks.push(tokio::spawn(async move {
            verify::read_back(&ctx, ch, &id).await
        }));
    }
    let mut contents = Vec::new();
    let mut all = Violations::default();
    for (ch, t) in tasks.into_iter().enumerate() {
        let (content, v) = match t.await {
            Ok(r) => r?,
            Err(e) => {
                // A panicked read-back: the channel counts as unread.
                let mut v = Violations::default();
                v.push(Violation::ReadBackIncomplete {
                    channel: rig.ctx.channels[ch].clone(),
                    last_seq: 0,
                    why: e.to_string(),
                });
                (
                    Content {
                        name: rig.ctx.channels[ch].clone(),
                        ..Content::default()
                    },
                    v,
                )
            }
        };
        contents.push(content);
        all.extend(v);
    }
    Ok((contents, all))
}

/// The sequences the durable holds back unacked out of those it is
/// `owed`: the last (the sentinel) and [`HOLD_POINTS`] more spread over
/// the rest.
fn hold_points(owed: &HashSet<u64>) -> HashSet<u64> {
    let mut sorted: Vec<u64> = owed.iter().copied().collect();
    sorted.sort_unstable();
    let n = sorted.len() as u64;
    let mut h: HashSet<u64> = (1..=HOLD_POINTS)
        .filter_map(|i| sorted.get((n * i / (HOLD_POINTS + 1)) as usize))
        .copied()
        .collect();
    h.extend(sorted.last());
    h
}

fn push_missing(v: &mut Violations, rig: &Rig, missing: &[HashSet<u64>], stage: &'static str) {
    for (ch, m) in missing.iter().enumerate() {
        let mut m: Vec<u64> = m.iter().copied().collect();
        m.sort_unstable();
        for seq in m {
            v.push(Violation::NotRedelivered {
                channel: rig.ctx.channels[ch].clone(),
                seq,
                stage,
            });
        }
    }
}

/// How `after` differs from `before`, first difference only.
fn difference(before: &Content, after: &Content) -> Option<String> {
    if before.last != after.last {
        return Some(format!(
            "last sequence #{} before, #{} after",
            before.last, after.last
        ));
    }
    (1..=before.last).find_map(|seq| {
        let (b, a) = (before.by_seq.get(&seq), after.by_seq.get(&seq));
        (b != a).then(|| format!("#{seq} was {b:?}, is {a:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::payload::Payload;

    #[test]
    fn hold_points_spread_and_include_the_last() {
        let owed: HashSet<u64> = (1..=800).map(|s| s * 2).collect();
        let mut h: Vec<u64> = hold_points(&owed).into_iter().collect();
        h.sort_unstable();
        assert_eq!(h, [202, 402, 602, 802, 1002, 1202, 1402, 1600]);
        assert_eq!(hold_points(&HashSet::from([9])), HashSet::from([9]));
        assert!(hold_points(&HashSet::new()).is_empty());
    }

    #[test]
    fn differences_are_named() {
        let mut a = Content {
            last: 2,
            ..Content::default()
        };
        a.by_seq.insert(1, Ok(Payload::Sentinel(0)));
        a.by_seq.insert(2, Ok(Payload::Sentinel(0)));
        assert_eq!(difference(&a, &a.clone()), None);
        let mut b = a.clone();
        b.by_seq.remove(&2);
        assert!(difference(&a, &b).unwrap().starts_with("#2 was"));
        b.last = 1;
        assert!(difference(&a, &b).unwrap().starts_with("last sequence"));
    }
}
