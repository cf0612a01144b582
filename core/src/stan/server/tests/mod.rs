//! Simulation tests of the engine: the router, the engine and scripted
//! clients in one virtual-time world (`crate::sim`).

use std::time::Duration;

use bytes::Bytes;
use stan_proto::{Message, PubMsg, StartPosition, SubscriptionRequest};

use super::*;
use crate::sim::{SubHandle, World, C};
use crate::stan::store::ChannelLimits;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn publish_n(w: &mut World, c: C, channel: &str, n: usize) {
    for i in 1..=n {
        assert_eq!(w.publish_sync(c, channel, format!("m{i}").as_bytes()), "");
    }
}

fn sub_from(w: &mut World, c: C, channel: &str, start: StartPosition) -> SubHandle {
    w.subscribe(c, World::sub_req(channel, start))
        .expect("subscribed")
}

mod clients;
mod errors;
mod filestore;
mod limits;
mod publish;
mod snapshot;
mod subscriptions;
