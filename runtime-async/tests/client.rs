//! The client API of the shared layer, where it goes beyond what every
//! runtime adapter offers (the conformance suite tests the rest on each
//! runtime): subscriptions as `Stream`s, a subscription closed when
//! dropped, PubAck outcomes known without waiting. Run once, on the test
//! runtime.

mod common;
mod support;

use common::AsyncIo;
use futures_lite::StreamExt;
use stan_async::{Connection, Options, StartAt, SubscriptionOptions};
use support::{embedded, url, within, T};

type Conn = Connection<AsyncIo>;

async fn connect(url: &str, id: &str) -> Conn {
    within(
        T,
        Conn::connect(url, "test-cluster", id, Options::default()),
    )
    .await
    .expect("connected in time")
    .expect("connected")
}

#[test]
fn a_subscription_is_a_stream_of_its_messages() {
    async_io::block_on(async {
        let (server, engine) = embedded().await;
        let c = connect(&url(&server), "streamer").await;
        for i in 1..=3 {
            c.publish("stream", format!("s{i}")).await.unwrap();
        }
        let mut auto = c
            .subscribe(
                "stream",
                SubscriptionOptions {
                    start: StartAt::First,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut manual = c
            .subscribe(
                "stream",
                SubscriptionOptions {
                    start: StartAt::Sequence(3),
                    manual_ack: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_ne!(auto.id(), manual.id());
        assert!(!auto.is_manual_ack());
        assert!(manual.is_manual_ack());
        // Polled through `Stream`, not the inherent `next`.
        let got: Vec<_> = within(T, StreamExt::take(&mut auto, 3).collect::<Vec<_>>())
            .await
            .expect("three messages in time");
        let got: Vec<_> = got
            .iter()
            .map(|m| (m.sequence(), m.subject().to_owned(), m.data().clone()))
            .collect();
        assert_eq!(
            got,
            (1..=3u64)
                .map(|i| (i, "stream".to_owned(), format!("s{i}").into()))
                .collect::<Vec<_>>()
        );
        let m = within(T, StreamExt::next(&mut manual))
            .await
            .expect("in time")
            .expect("open");
        assert_eq!((m.sequence(), m.redelivered()), (3, false));
        assert!(m.timestamp() > 0);
        assert_eq!(m.proto().sequence, 3);
        m.ack().await.unwrap();
        manual.unsubscribe().await.unwrap();
        auto.close().await.unwrap();
        c.close().await.unwrap();
        engine.stop().await;
        server.shutdown().await;
    });
}

#[test]
fn a_dropped_subscription_is_closed_and_a_durable_resumes() {
    async_io::block_on(async {
        let (server, engine) = embedded().await;
        let c = connect(&url(&server), "dropper").await;
        let durable = SubscriptionOptions {
            durable: Some("kept".into()),
            start: StartAt::First,
            ..Default::default()
        };
        let mut s = c.subscribe("drops", durable.clone()).await.unwrap();
        c.publish("drops", "1").await.unwrap();
        let m = within(T, s.next()).await.expect("in time").expect("open");
        assert_eq!(m.sequence(), 1);
        drop(s);
        c.publish("drops", "2").await.unwrap();
        // Closed, not removed (and not still active: the server would
        // refuse a second one): the durable resumes after what was
        // delivered.
        let mut s = c.subscribe("drops", durable).await.unwrap();
        let m = within(T, s.next()).await.expect("in time").expect("open");
        assert_eq!((m.sequence(), m.data().as_ref()), (2, &b"2"[..]));
        s.unsubscribe().await.unwrap();
        c.close().await.unwrap();
        engine.stop().await;
        server.shutdown().await;
    });
}

#[test]
fn a_known_outcome_is_there_without_waiting() {
    async_io::block_on(async {
        let (server, engine) = embedded().await;
        let c = connect(&url(&server), "eager").await;
        let mut first = c.publish_async("eager", "a").await.unwrap();
        let second = c.publish_async("eager", "b").await.unwrap();
        assert_eq!(second.id().0, first.id().0 + 1, "ids in publish order");
        // The PubAcks come in order: once the second is known, so is the
        // first, without waiting.
        assert_eq!(within(T, second).await, Some(Ok(())));
        assert_eq!(first.try_result(), Some(Ok(())));
        // Taken: asking again does not wait either.
        assert!(first.try_result().is_some());
        assert_eq!(c.publishes_pending(), (0, 0));
        c.close().await.unwrap();
        engine.stop().await;
        server.shutdown().await;
    });
}

#[test]
fn a_connection_dropped_without_close_is_closed_in_the_background() {
    async_io::block_on(async {
        let (server, engine) = embedded().await;
        let u = url(&server);
        let c = connect(&u, "dropped").await;
        let mut sub = c
            .subscribe("gone", SubscriptionOptions::default())
            .await
            .unwrap();
        drop(c);
        // The close reached the server: the subscription's stream ends.
        assert!(within(T, sub.next())
            .await
            .expect("ended in time")
            .is_none());
        // And the client ID is free again.
        let again = connect(&u, "dropped").await;
        again.close().await.unwrap();
        engine.stop().await;
        server.shutdown().await;
    });
}
