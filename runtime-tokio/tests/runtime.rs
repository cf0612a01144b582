//! What is `stan-tokio`'s own: the [`Tokio`] implementation of
//! `stan_async::Runtime`. Its timer follows tokio's clock (paused here, so
//! hours pass at once), its tasks run on the ambient runtime, and a
//! megabyte written vectored crosses loopback whole, ended by `shutdown`.
//! Everything above this seam (client, server, engine, driver) is tested
//! once, for every runtime, in the conformance suite.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stan_async::{ReadHalf, WriteHalf};
use stan_tokio::{Runtime, Tokio};
use tokio::sync::mpsc;
use tokio::time::timeout;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn timers_fire_in_deadline_order_on_tokios_clock() {
    let real = Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Spawned latest deadline first.
    for hours in [3u32, 1, 2] {
        let tx = tx.clone();
        Tokio.spawn(Box::pin(async move {
            Tokio.sleep_until(real + HOUR * hours).await;
            let _ = tx.send(hours);
        }));
    }
    drop(tx);
    // A deadline already past resolves at once.
    Tokio.sleep_until(real).await;
    let mut order = Vec::new();
    while let Some(h) = rx.recv().await {
        order.push(h);
    }
    assert_eq!(order, [1, 2, 3]);
    // Three hours on tokio's paused clock, next to nothing on the wall's.
    assert!(tokio::time::Instant::now() - virtual_start >= HOUR * 3);
    assert!(real.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn a_vectored_megabyte_crosses_loopback_and_shutdown_ends_it() {
    let bound = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    bound.set_nonblocking(true).expect("non-blocking");
    let port = bound.local_addr().expect("bound address").port();
    let listener = Tokio.listen(bound).expect("taken over by tokio");
    let (dialed, accepted) =
        tokio::join!(Tokio.connect("127.0.0.1", port), Tokio.accept(&listener));
    let (_, mut tx) = Tokio::split(dialed.expect("dialed")).expect("split");
    let (stream, peer) = accepted.expect("accepted");
    assert!(peer.ip().is_loopback() && peer.port() != port);
    let (mut rx, _) = Tokio::split(stream).expect("split");
    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let send = async {
        let mut sent = 0;
        while sent < payload.len() {
            // At most 64 slices of 4 KiB at a time; a short write resumes
            // mid-slice.
            let slices: Vec<IoSlice<'_>> = payload[sent..]
                .chunks(4096)
                .take(64)
                .map(IoSlice::new)
                .collect();
            let n = tx.write_vectored(&slices).await.expect("write");
            assert!(n > 0, "a zero-length write");
            sent += n;
        }
        tx.shutdown().await.expect("shutdown");
    };
    let receive = async {
        let mut got = BytesMut::new();
        loop {
            got.reserve(64 * 1024);
            if rx.read_buf(&mut got).await.expect("read") == 0 {
                return got;
            }
        }
    };
    let ((), got) = timeout(Duration::from_secs(10), async {
        tokio::join!(send, receive)
    })
    .await
    .expect("the transfer in time");
    assert_eq!(got.len(), payload.len());
    assert!(got[..] == payload[..], "the bytes arrived in order");
}

#[tokio::test]
async fn dialling_a_port_nobody_listens_on_fails() {
    // A port that was free a moment ago, its listener closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("bound address").port()
    };
    let dialed = timeout(Duration::from_secs(10), Tokio.connect("127.0.0.1", port))
        .await
        .expect("refused in time");
    assert!(dialed.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doorbell_rung_from_another_thread_wakes_the_task() {
    use stan_async::Doorbell;
    use std::task::Poll;
    let (ringer, mut bell) = Tokio.doorbell().expect("a doorbell on Unix");
    async fn once(bell: &mut Box<dyn Doorbell>) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(bell.poll_rung(cx))).await
    }
    assert_eq!(once(&mut bell).await, Poll::Pending);
    // Rung later from a thread outside the runtime: the task wakes.
    let ringing = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let rung = (0..3).all(|_| ringer.ring());
        (ringer, rung)
    });
    timeout(
        Duration::from_secs(10),
        std::future::poll_fn(|cx| bell.poll_rung(cx)),
    )
    .await
    .expect("woken by the ring");
    let (ringer, rung) = ringing.join().expect("the ringing thread");
    assert!(rung);
    // Rings that came after the wake are drained by the next poll, and
    // then it waits again.
    let _ = once(&mut bell).await;
    assert_eq!(once(&mut bell).await, Poll::Pending);
    // The bell gone, ringing fails (the caller then wakes another way).
    drop(bell);
    assert!(!ringer.ring());
}
