//! Whole snapshots gathered page by page: the core lists at most
//! [`PAGE_ITEMS`] connections, channels and subscriptions per request, so
//! a large listing costs the server's event loop several short turns
//! (each well under a millisecond) instead of one long one; the pages are
//! merged here, off the loop.

use stan_core::nats::router::{RouterSnapshot, SnapshotOptions};
use stan_core::stan::server::{EngineSnapshot, EngineSnapshotOptions};

use crate::source::Source;

/// Items listed per page.
pub(crate) const PAGE_ITEMS: usize = 1000;

/// At most this many pages are read for one answer (a server that keeps
/// growing while it is read cannot keep a request going forever).
const MAX_PAGES: usize = 100_000;

/// The embedded NATS server's state, all pages merged.
pub(crate) fn nats(source: &dyn Source, subscriptions: bool) -> Option<RouterSnapshot> {
    let mut options = SnapshotOptions {
        subscriptions,
        max_items: PAGE_ITEMS,
        from: None,
    };
    let mut whole = source.nats(options)?;
    let mut pages = 1;
    while let Some(next) = whole.next.take() {
        if pages >= MAX_PAGES {
            break;
        }
        options.from = Some(next);
        // The server went away mid-listing: what was read is answered.
        let Some(page) = source.nats(options) else {
            break;
        };
        pages += 1;
        whole.connections.extend(page.connections);
        whole.subscriptions_list.extend(page.subscriptions_list);
        whole.next = page.next;
    }
    Some(whole)
}

/// The engine's state, all pages merged (a channel split over two pages is
/// one entry).
pub(crate) fn streaming(source: &dyn Source, subscriptions: bool) -> Option<EngineSnapshot> {
    let mut options = EngineSnapshotOptions {
        subscriptions,
        max_items: PAGE_ITEMS,
        from: None,
    };
    let mut whole = source.streaming(options.clone())?;
    let mut pages = 1;
    while let Some(next) = whole.next.take() {
        if pages >= MAX_PAGES {
            break;
        }
        options.from = Some(next);
        let Some(page) = source.streaming(options.clone()) else {
            break;
        };
        pages += 1;
        for channel in page.channels {
            match whole.channels.last_mut() {
                Some(last) if last.name == channel.name => {
                    last.subscriptions.extend(channel.subscriptions);
                }
                _ => whole.channels.push(channel),
            }
        }
        whole.next = page.next;
    }
    Some(whole)
}
