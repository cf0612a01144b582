//! The engine's settings: cluster ID, subjects, heartbeats, store limits.

use std::time::Duration;

use crate::nats::subject;
use crate::stan::store::ChannelLimits;

/// Settings of a [`Server`](super::Server). `Default` is
/// nats-streaming-server's defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Cluster ID clients connect to (`-cid`, default `test-cluster`).
    pub cluster_id: String,
    /// Prefix of the discover subject (`_STAN.discover`).
    pub discover_prefix: String,
    /// Interval of server-to-client heartbeats (`-hbi`, 30 s).
    pub hb_interval: Duration,
    /// How long a heartbeat waits for its reply (`-hbt`, 10 s).
    pub hb_timeout: Duration,
    /// Failed heartbeats tolerated; one more closes the client (`-hbf`, 10).
    pub hb_fail_count: u32,
    /// Store limits (global and per channel).
    pub limits: StoreLimits,
    /// Most publishes stored before one flush (`--io_batch_size`, 1024).
    pub io_batch_size: usize,
    /// Seed of the engine's identifiers (inboxes) and map keys. Every key is derived from it
    /// ([`derive_key`](crate::rand::derive_key)), so published identifiers
    /// never reveal the hash keys of the maps.
    ///
    /// 0 means "not chosen": the runtime adapters' constructors replace it
    /// with a seed drawn from OS entropy. A state machine built directly
    /// from a configuration whose seed is 0 uses 0 as is: deterministic and
    /// public, for tests only. A test that needs determinism sets its own
    /// non-zero seed.
    pub seed: u64,
    /// Emit a [`ServerEvent::Trace`](super::ServerEvent::Trace) for every
    /// request received and response (PubAcks included) sent (`-SV`);
    /// deliveries and acks are not traced.
    pub trace: bool,
    /// A plain durable subscription request for a durable that is already
    /// active replaces it instead of being refused with
    /// `stan: duplicate durable registration` (`--replace_durable`, false).
    /// The active one is closed as if by its client (its unacked messages
    /// stay pending on the durable), then the durable resumes for the new
    /// request. Durable queue groups are not affected.
    pub replace_durable: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            cluster_id: "test-cluster".into(),
            discover_prefix: "_STAN.discover".into(),
            hb_interval: Duration::from_secs(30),
            hb_timeout: Duration::from_secs(10),
            hb_fail_count: 10,
            limits: StoreLimits::default(),
            io_batch_size: 1024,
            seed: 0,
            trace: false,
            replace_durable: false,
        }
    }
}

impl ServerConfig {
    /// The server's identity as a file store keeps it (`server.dat`).
    pub fn server_info(&self) -> stan_proto::ServerInfo {
        let cid = &self.cluster_id;
        stan_proto::ServerInfo {
            cluster_id: cid.clone(),
            discovery: format!("{}.{cid}", self.discover_prefix),
            publish: format!("_STAN.pub.{cid}"),
            subscribe: format!("_STAN.sub.{cid}"),
            unsubscribe: format!("_STAN.unsub.{cid}"),
            close: format!("_STAN.close.{cid}"),
            sub_close: format!("_STAN.subclose.{cid}"),
            acks_subs: format!("_STAN.ack.{cid}"),
            node_id: String::new(),
        }
    }

    /// The options of the engine's NATS connection to an external server at
    /// `url` (`-ns`), as nats-streaming-server sets them: named
    /// `_NSS-<cluster>-general`, reconnecting forever every 250 ms.
    pub fn nats_options(
        &self,
        url: &str,
    ) -> Result<crate::nats::client::ClientOptions, crate::nats::client::UrlError> {
        let mut options = crate::nats::client::ClientOptions::with_servers(url)?;
        options.name = Some(format!("_NSS-{}-general", self.cluster_id));
        options.max_reconnects = None;
        options.reconnect_wait = Duration::from_millis(250);
        options.seed = crate::rand::derive_key(self.seed, crate::rand::domain::STAN_SERVER_NATS);
        Ok(options)
    }
}

/// Store limits: the global per-channel limits, overridden per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most channels (`-mc`, 100; 0: unlimited). Enforced by the store.
    pub max_channels: usize,
    /// Limits of every channel (`-mm`, `-mb`, `-ma`, `-msu`, `-mi`).
    pub channel: ChannelLimits,
    /// Overrides by channel name or wildcard pattern (`foo.*`, `foo.>`).
    pub per_channel: Vec<(String, LimitsOverride)>,
}

/// Per-channel limits: `None` inherits from the closest wider pattern, then
/// from the global limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsOverride {
    /// Most messages.
    pub max_msgs: Option<u64>,
    /// Most bytes.
    pub max_bytes: Option<u64>,
    /// Oldest message age.
    pub max_age: Option<Duration>,
    /// Most subscriptions.
    pub max_subs: Option<usize>,
    /// Inactivity before deletion.
    pub max_inactivity: Option<Duration>,
}

impl StoreLimits {
    /// The limits of `channel`: the matching per-channel entries applied from
    /// the widest pattern to the literal name, on top of the global limits.
    pub fn for_channel(&self, channel: &str) -> ChannelLimits {
        let mut matching: Vec<&(String, LimitsOverride)> = self
            .per_channel
            .iter()
            .filter(|(pattern, _)| subject::matches(pattern.as_bytes(), channel.as_bytes()))
            .collect();
        // Wider first: `>` patterns, then by fewer literal tokens.
        matching.sort_by_key(|(pattern, _)| specificity(pattern));
        let mut limits = self.channel;
        for (_, o) in matching {
            limits.max_msgs = o.max_msgs.unwrap_or(limits.max_msgs);
            limits.max_bytes = o.max_bytes.unwrap_or(limits.max_bytes);
            limits.max_age = o.max_age.unwrap_or(limits.max_age);
            limits.max_subs = o.max_subs.unwrap_or(limits.max_subs);
            limits.max_inactivity = o.max_inactivity.unwrap_or(limits.max_inactivity);
        }
        limits
    }
}

/// Orders patterns from widest to narrowest.
fn specificity(pattern: &str) -> (usize, usize) {
    let tokens: Vec<&str> = pattern.split('.').collect();
    let literal = tokens.iter().filter(|t| **t != "*" && **t != ">").count();
    let no_tail = usize::from(tokens.last() != Some(&">"));
    (no_tail + literal * 2, tokens.len())
}
