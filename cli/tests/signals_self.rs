//! The signal listener against real signals sent to this test process (its
//! own binary, one test, so nothing else here can be disturbed).

use std::time::Duration;

use futures_lite::future;
use rustix::process::{getpid, kill_process, Signal};
use stan_cli::log::{self, Destination, LogConfig};
use stan_cli::signals::{self, ServerSignal};

fn next(rx: &smol::channel::Receiver<ServerSignal>) -> Option<ServerSignal> {
    future::block_on(future::or(async { rx.recv().await.ok() }, async {
        smol::Timer::after(Duration::from_secs(10)).await;
        None
    }))
}

fn raise(sig: Signal) {
    kill_process(getpid(), sig).expect("kill self");
}

#[test]
fn signals_become_server_signals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stan-server.log");
    log::init(LogConfig {
        destination: Destination::File(path.clone()),
        ..LogConfig::default()
    })
    .unwrap();
    let (listener, rx) = signals::channel().unwrap();

    raise(Signal::HUP);
    assert_eq!(next(&rx), Some(ServerSignal::Reload));

    // logrotate: rename, then SIGUSR1; the listener reopens by path.
    stan_cli::log!(Info, "before rotation");
    let rotated = dir.path().join("stan-server.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    raise(Signal::USR1);
    assert_eq!(next(&rx), Some(ServerSignal::Reopen));
    stan_cli::log!(Info, "after rotation");
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&path).unwrap();
    assert!(old.contains("[INF] before rotation"), "{old}");
    assert!(!old.contains("after rotation"), "{old}");
    assert!(new.contains("[INF] STREAM: File log re-opened\n"), "{new}");
    assert!(new.contains("[INF] after rotation\n"), "{new}");

    raise(Signal::TERM);
    assert_eq!(next(&rx), Some(ServerSignal::Stop { exit_code: 143 }));
    raise(Signal::INT);
    assert_eq!(next(&rx), Some(ServerSignal::Stop { exit_code: 0 }));

    // Not a file logger any more: SIGUSR1 is logged as ignored.
    log::reconfigure(LogConfig::default()).unwrap();
    raise(Signal::USR1);
    assert_eq!(next(&rx), Some(ServerSignal::Reopen));

    listener.close();
    assert_eq!(next(&rx), None, "the channel closes with the listener");
}
