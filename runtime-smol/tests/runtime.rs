//! `stan-smol`'s own part, the [`Smol`] runtime seam, over loopback: a read
//! that loses a race to a timer takes no bytes (its read buffer is copied
//! into the caller's only once data is there), a half-closed stream still
//! carries the other direction, tasks run on smol's global executor while
//! the caller blocks, and a timer never fires early. The layers above are
//! the conformance suite's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use smol::future;
use stan_async::{ReadHalf, WriteHalf};
use stan_smol::{Reader, Runtime, Smol, Writer};

/// `fut`, failing the test after ten seconds.
fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    smol::block_on(future::or(fut, async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("not done within ten seconds")
    }))
}

/// A connected pair: (dialled side, accepted side).
async fn pair() -> ((Reader, Writer), (Reader, Writer, SocketAddr)) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("non-blocking");
    let addr = std_listener.local_addr().expect("address");
    let listener = Smol.listen(std_listener).expect("listen");
    let accepting = Smol.accept(&listener);
    let dialling = Smol.connect("127.0.0.1", addr.port());
    let (dialled, accepted) = future::zip(dialling, accepting).await;
    let (stream, peer) = accepted.expect("accept");
    let (r, w) = Smol::split(stream).expect("split the accepted stream");
    (
        Smol::split(dialled.expect("dial")).expect("split"),
        (r, w, peer),
    )
}

#[test]
fn a_read_that_loses_a_race_takes_nothing() {
    bounded(async {
        let ((mut reader, _dial_w), (_acc_r, mut writer, _)) = pair().await;
        let mut buf = BytesMut::from(&b"kept:"[..]);
        buf.reserve(1024);
        let soon = Instant::now() + Duration::from_millis(50);
        // Nothing was sent: the timer wins and the read is dropped.
        let raced = future::or(async { Some(reader.read_buf(&mut buf).await) }, async {
            Smol.sleep_until(soon).await;
            None
        })
        .await;
        assert!(raced.is_none());
        assert_eq!(&buf[..], b"kept:");
        writer
            .write_vectored(&[std::io::IoSlice::new(b"la"), std::io::IoSlice::new(b"te")])
            .await
            .expect("write");
        let mut n = 0;
        while n < 4 {
            n += reader.read_buf(&mut buf).await.expect("read");
        }
        // Appended after what the buffer held.
        assert_eq!(&buf[..], b"kept:late");
    });
}

#[test]
fn a_half_closed_stream_still_carries_the_answer() {
    bounded(async {
        let ((mut client_r, mut client_w), (mut server_r, mut server_w, peer)) = pair().await;
        assert_eq!(peer.ip().to_string(), "127.0.0.1");
        client_w
            .write_vectored(&[std::io::IoSlice::new(b"question")])
            .await
            .expect("write");
        client_w.shutdown().await.expect("shutdown");
        // The server reads to the end of the client's direction...
        let mut asked = BytesMut::with_capacity(64);
        while server_r.read_buf(&mut asked).await.expect("read") > 0 {}
        assert_eq!(&asked[..], b"question");
        // ...and can still answer on its own.
        server_w
            .write_vectored(&[std::io::IoSlice::new(b"answer")])
            .await
            .expect("write");
        server_w.shutdown().await.expect("shutdown");
        let mut answer = BytesMut::with_capacity(64);
        while client_r.read_buf(&mut answer).await.expect("read") > 0 {}
        assert_eq!(&answer[..], b"answer");
    });
}

#[test]
fn spawned_tasks_run_while_the_caller_blocks() {
    let (tx, rx) = smol::channel::bounded(1);
    let past = Instant::now();
    Smol.spawn(Box::pin(async move {
        // A deadline already past does not hold the task up.
        Smol.sleep_until(past).await;
        let _ = tx.send(std::thread::current().id()).await;
    }));
    let ran_on = bounded(rx.recv()).expect("the task ran");
    assert_ne!(
        ran_on,
        std::thread::current().id(),
        "on the executor's thread"
    );
}

#[test]
fn a_timer_never_fires_early() {
    bounded(async {
        for ms in [1u64, 5, 20] {
            let at = Instant::now() + Duration::from_millis(ms);
            Smol.sleep_until(at).await;
            assert!(Instant::now() >= at, "{ms} ms timer fired early");
        }
    });
}

#[test]
fn a_doorbell_rung_from_another_thread_wakes_the_task() {
    use stan_async::Doorbell;
    use std::task::Poll;
    let (ringer, mut bell) = Smol.doorbell().expect("a doorbell on Unix");
    let once = |bell: &mut Box<dyn Doorbell>| {
        bounded(future::poll_fn(|cx| Poll::Ready(bell.poll_rung(cx))))
    };
    assert_eq!(once(&mut bell), Poll::Pending);
    // Rung later from a thread outside the runtime: the task wakes.
    let ringing = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let rung = (0..3).all(|_| ringer.ring());
        (ringer, rung)
    });
    bounded(future::poll_fn(|cx| bell.poll_rung(cx)));
    let (ringer, rung) = ringing.join().expect("the ringing thread");
    assert!(rung);
    // Rings that came after the wake are drained by the next poll, and
    // then it waits again.
    let _ = once(&mut bell);
    assert_eq!(once(&mut bell), Poll::Pending);
    // The bell gone, ringing fails (the caller then wakes another way).
    drop(bell);
    assert!(!ringer.ring());
}
