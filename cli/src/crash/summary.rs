//! The run's summary: what was done, what was found, how long it took, and
//! the verdict (`RESULT: PASS` or `RESULT: FAIL`, with every violation
//! grouped by kind).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::verify::ChannelCounts;
use super::violation::Violations;

/// The durable subscriber's part of the summary.
#[derive(Debug, Clone, Default)]
pub struct DurableCounts {
    /// Deliveries over the rounds and checks.
    pub deliveries: u64,
    /// Of which flagged `redelivered`.
    pub flagged: u64,
    /// Acks sent.
    pub acks: u64,
    /// Connects as the durable's client ID refused before one was
    /// accepted (a restarted server probes the dead previous client).
    pub refusals: u32,
    /// After the crashes: messages owed (stored, never acked).
    pub owed: usize,
    /// After the crashes: owed messages that had been delivered before.
    pub owed_seen_before: usize,
    /// ... of which were flagged `redelivered`.
    pub owed_seen_before_flagged: usize,
    /// After the crashes: messages delivered again although acked.
    pub acked_resent: usize,
    /// After the clean restart: messages held back unacked.
    pub held: usize,
    /// ... redelivered flagged.
    pub held_flagged: usize,
    /// After the clean restart: acked messages delivered again.
    pub acked_resent_clean: usize,
}

/// A run's summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `-st` value.
    pub store: String,
    /// The run's seed.
    pub seed: u64,
    /// The server's port.
    pub port: u16,
    /// The work directory (store and logs).
    pub work_dir: PathBuf,
    /// Whether the work directory was kept.
    pub kept: bool,
    /// `--no-kill`.
    pub no_kill: bool,
    /// Kills asked for.
    pub kills_asked: u32,
    /// Kills made.
    pub kills: u32,
    /// Rounds run.
    pub rounds: u32,
    /// The time budget ended the rounds before `kills_asked`.
    pub stopped_early: bool,
    /// Publishes handed to clients.
    pub attempts: u64,
    /// Publishes with PubAck OK.
    pub acked: usize,
    /// Publish failures by error text.
    pub pub_failures: BTreeMap<String, u64>,
    /// Per channel: name and counts.
    pub channels: Vec<(String, ChannelCounts)>,
    /// The durable subscriber.
    pub durable: DurableCounts,
    /// Time from start to ready of each server start.
    pub ready: Vec<Duration>,
    /// Time of the rounds.
    pub rounds_time: Duration,
    /// Time of the final checks.
    pub final_time: Duration,
    /// Whole run.
    pub total_time: Duration,
    /// Everything found wrong.
    pub violations: Violations,
    /// Remarks that are not violations.
    pub notes: Vec<String>,
}

impl Summary {
    /// Whether the run found nothing wrong.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Messages found over every channel.
    pub fn found(&self) -> usize {
        self.channels.iter().map(|(_, c)| c.found).sum()
    }

    /// Acked messages lost over every channel.
    pub fn lost(&self) -> usize {
        self.channels.iter().map(|(_, c)| c.lost).sum()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.durable;
        writeln!(
            f,
            "stan-crash: store {}, seed {}, port {}, work dir {}{}",
            self.store,
            self.seed,
            self.port,
            self.work_dir.display(),
            if self.kept { " (kept)" } else { " (removed)" }
        )?;
        writeln!(
            f,
            "kills: {} of {} asked{}, rounds: {}{}",
            self.kills,
            self.kills_asked,
            if self.stopped_early {
                " (time budget reached)"
            } else {
                ""
            },
            self.rounds,
            if self.no_kill {
                " (--no-kill: server never killed)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "published: {} handed to clients, {} acked (PubAck OK)",
            self.attempts, self.acked
        )?;
        for (e, n) in &self.pub_failures {
            writeln!(f, "  without PubAck: {n} x {e}")?;
        }
        for (name, c) in &self.channels {
            writeln!(
                f,
                "channel {name}: last #{}, found {}, acked {}, lost {}, stored without PubAck {}",
                c.last, c.found, c.acked, c.lost, c.unacked_present
            )?;
        }
        writeln!(f, "found: {}", self.found())?;
        writeln!(f, "lost: {}", self.lost())?;
        writeln!(
            f,
            "durable: {} deliveries ({} flagged redelivered), {} acks, {} refused reconnects",
            d.deliveries, d.flagged, d.acks, d.refusals
        )?;
        writeln!(
            f,
            "  after the crashes: {} owed (never acked), {} of them seen before ({} flagged redelivered); {} acked ones sent again",
            d.owed, d.owed_seen_before, d.owed_seen_before_flagged, d.acked_resent
        )?;
        writeln!(
            f,
            "  after a clean restart: {} held unacked, {} redelivered flagged; {} acked ones sent again",
            d.held, d.held_flagged, d.acked_resent_clean
        )?;
        if !self.ready.is_empty() {
            let max = self.ready.iter().max().copied().unwrap_or_default();
            let sum: Duration = self.ready.iter().sum();
            let n = u32::try_from(self.ready.len()).unwrap_or(u32::MAX);
            writeln!(
                f,
                "server starts: {}, ready after {:.0} ms on average, {:.0} ms at most",
                self.ready.len(),
                (sum / n).as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            )?;
        }
        writeln!(
            f,
            "durations: rounds {}, final checks {}, total {}",
            secs(self.rounds_time),
            secs(self.final_time),
            secs(self.total_time)
        )?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if self.passed() {
            write!(f, "RESULT: PASS")
        } else {
            writeln!(f, "violations: {}", self.violations.len())?;
            write!(f, "{}", self.violations.report(5))?;
            write!(
                f,
                "RESULT: FAIL ({} violations, {} acked messages lost)",
                self.violations.len(),
                self.lost()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::payload::Key;
    use crate::crash::violation::Violation;

    #[test]
    fn verdict_lines() {
        let mut s = Summary {
            store: "FILE".into(),
            ..Summary::default()
        };
        let text = s.to_string();
        assert!(text.ends_with("RESULT: PASS"), "{text}");
        assert!(text.contains("\nlost: 0\n"), "{text}");
        s.channels.push((
            "a".into(),
            ChannelCounts {
                lost: 1,
                ..Default::default()
            },
        ));
        s.violations.push(Violation::Lost {
            channel: "a".into(),
            key: Key {
                round: 0,
                publisher: 0,
                counter: 0,
            },
        });
        let text = s.to_string();
        assert!(text.contains("\nlost: 1\n"), "{text}");
        assert!(text.contains("RESULT: FAIL (1 violations, 1 acked messages lost)"));
    }
}
