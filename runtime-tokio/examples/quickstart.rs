//! The README's client example: connect, publish, durable subscription
//! with manual acks, close, and the connection-lost notification.
//! Run a server first (`cargo run --release -p stan-cli --bin stan-server`),
//! then `cargo run -p stan-tokio --example quickstart`.

use stan_tokio::{Connection, Options, StartAt, SubscriptionOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = Connection::connect(
        "nats://127.0.0.1:4222",
        "test-cluster",
        "me",
        Options::default(),
    )
    .await?;
    conn.publish("orders", "order 1").await?; // waits for the PubAck
    let ack = conn.publish_async("orders", "order 2").await?;
    ack.await?; // the PubAck, later

    let opts = SubscriptionOptions {
        durable: Some("billing".into()),
        start: StartAt::First,
        manual_ack: true,
        ..Default::default()
    };
    let mut sub = conn.subscribe("orders", opts).await?;
    while let Some(msg) = sub.next().await {
        println!("#{} {:?}", msg.sequence(), msg.data());
        msg.ack().await?;
        if msg.sequence() == 2 {
            break;
        }
    }
    sub.close().await?; // durable kept for next time

    // Told once if the server goes away or replaces this client:
    tokio::select! {
        reason = conn.connection_lost() => {
            eprintln!("connection lost: {reason}");      // e.g. stan: connection lost due to PING failure
            // Recreate: Connection::connect(...) again, then resubscribe
            // the durable; unacked messages are redelivered first.
        }
        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => conn.close().await?,
    }
    Ok(())
}
