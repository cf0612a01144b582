//! The NATS-level vocabulary shared by the state machines that sit on top of
//! a NATS connection (the STAN engine, the STAN client): what they receive
//! ([`InboundMessage`]) and what they ask their connection to do
//! ([`NatsCommand`]). Whoever carries them (the embedded router in process,
//! or a NATS client connection over TCP) maps them to its own calls.

use bytes::Bytes;

/// A message delivered to one of our subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Subject it was published on.
    pub subject: Bytes,
    /// Our subscription id it matched.
    pub sid: u64,
    /// Reply subject, if any.
    pub reply: Option<Bytes>,
    /// Header block (`NATS/1.0 ...`), if the message has one.
    pub headers: Option<Bytes>,
    /// Payload.
    pub payload: Bytes,
}

impl InboundMessage {
    /// True for the server's "no responders" status message (an empty
    /// message whose header block carries status 503): the answer to a
    /// request nobody was subscribed to.
    pub fn is_no_responders(&self) -> bool {
        self.payload.is_empty() && self.headers.as_deref().is_some_and(is_status_503)
    }
}

/// `NATS/1.0 503...` as the first line of a header block.
fn is_status_503(headers: &[u8]) -> bool {
    let line = headers
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .strip_prefix(b"NATS/1.0")
        .unwrap_or_default();
    let code = line
        .iter()
        .skip_while(|b| **b == b' ' || **b == b'\t')
        .take(3)
        .copied()
        .collect::<Vec<u8>>();
    code == b"503"
}

/// What a NATS-level state machine asks its connection to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsCommand {
    /// Publish a message.
    Publish {
        /// Subject (a valid literal subject).
        subject: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// Payload.
        payload: Bytes,
    },
    /// Subscribe `sid` to `subject`, in `queue` if given.
    Subscribe {
        /// Our id for the subscription (unique per connection).
        sid: u64,
        /// Subject, wildcards allowed.
        subject: Bytes,
        /// Queue group.
        queue: Option<Bytes>,
    },
    /// Remove subscription `sid`.
    Unsubscribe {
        /// The subscription.
        sid: u64,
    },
}

/// Parses a sid we issued (decimal `u64`).
pub fn parse_sid(sid: &[u8]) -> Option<u64> {
    if sid.is_empty() || sid.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in sid {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_responders_status() {
        let m = |h: &'static [u8], p: &'static [u8]| InboundMessage {
            subject: Bytes::from_static(b"_INBOX.x"),
            sid: 1,
            reply: None,
            headers: Some(Bytes::from_static(h)),
            payload: Bytes::from_static(p),
        };
        assert!(m(b"NATS/1.0 503\r\n\r\n", b"").is_no_responders());
        assert!(m(b"NATS/1.0 503 No Responders\r\n\r\n", b"").is_no_responders());
        assert!(!m(b"NATS/1.0 503\r\n\r\n", b"x").is_no_responders());
        assert!(!m(b"NATS/1.0\r\nA: 503\r\n\r\n", b"").is_no_responders());
        assert!(!m(b"NATS/1.0 408\r\n\r\n", b"").is_no_responders());
    }

    #[test]
    fn sids() {
        assert_eq!(parse_sid(b"42"), Some(42));
        assert_eq!(parse_sid(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_sid(b"18446744073709551616"), None);
        assert_eq!(parse_sid(b""), None);
        assert_eq!(parse_sid(b"4a"), None);
    }
}
