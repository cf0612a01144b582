//! The engine's deadlines as data: one entry per [`TimerKey`] in the core's
//! [`Timers`](crate::time::Timers) table. Setting a key replaces its
//! previous deadline.

use super::slab::Key;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// Next heartbeat of a client.
    Heartbeat(Key),
    /// A request to a client's heartbeat inbox timed out (token).
    Request(u64),
    /// Ack-wait redelivery of a subscription.
    Redelivery(Key),
    /// Max-age expiry of a channel's oldest message.
    MaxAge(Key),
    /// Max-inactivity deletion of a channel.
    Inactivity(Key),
}

/// The engine's deadline table.
pub(crate) type Timers = crate::time::Timers<TimerKey>;
