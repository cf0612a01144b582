//! The process logger's API as the server uses it: `init`, `reopen`,
//! `reconfigure`, `config` (its own binary: the logger is process-wide).

use stan_cli::log::{self, Destination, Level, LogConfig, LogError};

#[test]
fn init_reopen_reconfigure() {
    let dir = tempfile::tempdir().unwrap();

    // A destination that cannot open: stderr, and the error for the caller.
    let bad = LogConfig {
        destination: Destination::File(dir.path().join("no/such/dir/s.log")),
        ..LogConfig::default()
    };
    let e = log::init(bad).unwrap_err();
    assert!(matches!(e, LogError::OpenFile { .. }), "{e}");
    assert_eq!(log::config().destination, Destination::Stderr);
    assert!(matches!(log::reopen(), Err(LogError::NotAFileLogger)));

    let path = dir.path().join("s.log");
    let file_cfg = LogConfig {
        destination: Destination::File(path.clone()),
        ..LogConfig::default()
    };
    log::init(file_cfg.clone()).unwrap();
    assert_eq!(log::config(), file_cfg);
    stan_cli::log!(Info, "STREAM: Starting");
    stan_cli::log!(Debug, "hidden");
    assert!(!log::enabled(Level::Debug));

    std::fs::rename(&path, dir.path().join("s.log.1")).unwrap();
    log::reopen().unwrap();
    stan_cli::log!(Error, "rotated");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with(" [ERR] rotated\n"), "{text}");

    // SIGHUP: new levels and logtime; the caller logs what changed.
    let reloaded = LogConfig {
        logtime: false,
        debug: true,
        trace: true,
        ..file_cfg.clone()
    };
    let changes = log::config().reload_changes(&reloaded);
    assert_eq!(
        changes,
        [
            "Reloaded: debug = true",
            "Reloaded: trace = true",
            "Reloaded: logtime = false"
        ]
    );
    log::reconfigure(reloaded.clone()).unwrap();
    assert!(log::enabled(Level::Trace));
    stan_cli::log!(Trace, "traced");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.ends_with(&format!("[{}] [TRC] traced\n", std::process::id())),
        "{text}"
    );

    // A reload to a destination that fails keeps the file.
    let e = log::reconfigure(LogConfig {
        destination: Destination::RemoteSyslog("ftp://x:1".into()),
        ..reloaded
    })
    .unwrap_err();
    assert_eq!(e.to_string(), r#"error invalid network type: "ftp""#);
    assert_eq!(log::config().destination, file_cfg.destination);
    stan_cli::log!(Info, "still here");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .ends_with("[INF] still here\n"));
}
