//! `stan-server` as an operator runs it: signals (SIGINT exits 0, SIGTERM
//! 143, both releasing the port at once; SIGHUP reloads; SIGUSR1 reopens
//! the log file after logrotate renamed it), the pid file, `-sl` to
//! signal a running server, and logging to a file with or without
//! timestamps. On every runtime where the runtime matters.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::raw::Raw;
use common::{free_port, wait_port, Kill, T};
use rustix::process::{kill_process, Pid, Signal};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(args: &[&str]) -> (Kill, u16) {
    let p = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(["-a", "127.0.0.1", "-p", &p.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stan-server starts");
    let child = Kill(child);
    wait_port(p);
    (child, p)
}

fn signal(child: &Kill, sig: Signal) {
    let pid = Pid::from_raw(child.0.id() as i32).expect("a pid");
    kill_process(pid, sig).expect("signal sent");
}

fn wait_exit(child: &mut Kill) -> ExitStatus {
    let deadline = Instant::now() + T;
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `file` holds a line containing `text`; its content.
fn wait_for_line(file: &Path, text: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let content = std::fs::read_to_string(file).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in {}:\n{content}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stops_with(runtime: &str, sig: Signal, code: i32) {
    let (mut child, port) = start(&["--runtime", runtime]);
    signal(&child, sig);
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(code), "{runtime}: {status:?}");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is released at once");
}

#[test]
fn sigint_exits_0_and_sigterm_143_on_every_runtime() {
    for runtime in ["tokio", "smol", "mio"] {
        stops_with(runtime, Signal::INT, 0);
        stops_with(runtime, Signal::TERM, 143);
    }
}

#[test]
fn pid_file_log_file_reopen_and_signal_command() {
    let dir = temp_dir("pid");
    let (pid_file, log) = (dir.join("stan.pid"), dir.join("stan.log"));
    let args = [
        "-P",
        pid_file.to_str().unwrap(),
        "-l",
        log.to_str().unwrap(),
    ];
    let (mut child, _) = start(&args);
    wait_for_line(&log, "Streaming Server is ready");
    let written = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(written.trim(), child.0.id().to_string());
    // Timestamps by default: `[pid] 2006/01/02 15:04:05.000000 [INF] ...`.
    let first = std::fs::read_to_string(&log).unwrap();
    let line = first.lines().next().unwrap();
    assert!(
        line.starts_with(&format!("[{}] 20", child.0.id())) && line.contains(" [INF] "),
        "{line}"
    );

    // logrotate: the file is renamed, then SIGUSR1 (`-sl reopen` with the
    // pid file) makes the server write a new one.
    let rotated = dir.join("stan.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let sl = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(["-sl", "reopen", "-P", pid_file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(sl.success());
    wait_for_line(&log, "File log re-opened");

    // SIGHUP reloads (without a configuration file there is nothing to
    // reload, and the server says so and goes on).
    let sl = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(["-sl", &format!("reload={}", pid_file.display())])
        .status()
        .unwrap();
    assert!(sl.success());
    wait_for_line(&log, "Reloading server configuration");
    assert!(child.0.try_wait().unwrap().is_none(), "still running");

    // `-sl quit` is SIGINT: a clean stop, the pid file removed.
    let sl = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(["-sl", &format!("quit={}", child.0.id())])
        .status()
        .unwrap();
    assert!(sl.success());
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    assert!(!pid_file.exists(), "pid file removed on a clean exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logtime_off_and_bad_log_file() {
    let dir = temp_dir("logtime");
    let log = dir.join("stan.log");
    let (child, _) = start(&["-T=false", "-l", log.to_str().unwrap()]);
    let content = wait_for_line(&log, "Streaming Server is ready");
    let prefix = format!("[{}] [INF] ", child.0.id());
    assert!(
        content.lines().all(|l| l.starts_with(&prefix)),
        "no timestamps:\n{content}"
    );
    drop(child);

    let out = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args([
            "-p",
            &free_port().to_string(),
            "-l",
            "/nonexistent/dir/stan.log",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/stan.log"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(["-sl", "reload=999999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no such process");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `INFO` line a new connection to `port` gets.
fn info(port: u16) -> String {
    use std::io::{BufRead, BufReader};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

fn reload_applies_and_refuses(runtime: &str) {
    let dir = temp_dir(&format!("reload-{runtime}"));
    let (conf, log) = (dir.join("stan.conf"), dir.join("stan.log"));
    let p = free_port();
    let write = |extra: &str, port: u16| {
        std::fs::write(
            &conf,
            format!(
                "port: {port}\nlog_file: {:?}\n{extra}",
                log.to_str().unwrap()
            ),
        )
        .unwrap();
    };
    write("", p);
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args([
                "-a",
                "127.0.0.1",
                "-c",
                conf.to_str().unwrap(),
                "--runtime",
                runtime,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(p);
    wait_for_line(&log, "Streaming Server is ready");
    assert!(info(p).contains(r#""max_payload":1048576"#));
    // A client from before the reload: it has no token.
    let mut before = Raw::connect(p, "before");
    before.send("PING\r\n");
    before.flush();
    assert_eq!(before.line(Instant::now() + T).as_deref(), Some("PONG"));

    write(
        "authorization { token: s3cret }\ndebug: true\nmax_payload: 2048\n",
        p,
    );
    signal(&child, Signal::HUP);
    let content = wait_for_line(&log, "Reloaded server configuration");
    // Closed as nats-server closes the clients a reload no longer admits.
    assert_eq!(
        before.line(Instant::now() + T).as_deref(),
        Some("-ERR 'Authorization Violation'"),
        "{runtime}"
    );
    for line in [
        "Reloaded: authorization users",
        "Reloaded: max_payload = 2048",
        "Reloaded: debug = true",
    ] {
        assert!(
            content.contains(line),
            "{runtime}: no {line:?} in\n{content}"
        );
    }
    let after = info(p);
    assert!(
        after.contains(r#""auth_required":true"#) && after.contains(r#""max_payload":2048"#),
        "{runtime}: {after}"
    );

    // A new port needs a restart: refused whole, the old settings stay.
    write("debug: false\n", free_port());
    signal(&child, Signal::HUP);
    let content = wait_for_line(&log, "config reload not supported for port");
    assert!(
        !content.contains("Reloaded: debug = false"),
        "nothing applied"
    );
    assert!(info(p).contains(r#""auth_required":true"#));
    signal(&child, Signal::TERM);
    assert_eq!(wait_exit(&mut child).code(), Some(143));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_reloads_authorization_limits_and_logging() {
    for runtime in ["tokio", "smol", "mio"] {
        reload_applies_and_refuses(runtime);
    }
}

/// `--file_slice_archive_script`: every slice the limits empty is renamed
/// `.bak` and handed to the script (channel, data file, index file), whose
/// output the server logs at once, on every runtime.
fn archives_emptied_slices(runtime: &str) {
    // stan-bench's channel for the client ID prefix `archiver`.
    const CHANNEL: &str = "archiver.bench";
    let dir = temp_dir(&format!("archive-{runtime}"));
    let (store, saved, log, runs) = (
        dir.join("store"),
        dir.join("saved"),
        dir.join("stan.log"),
        dir.join("runs"),
    );
    std::fs::create_dir_all(&saved).unwrap();
    let script = dir.join("archive.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $(basename $2) $(basename $3)\" >> {runs}\nmv \"$2\" \"$3\" {saved}\necho moved\n",
            runs = runs.display(),
            saved = saved.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let args = [
        "--runtime",
        runtime,
        "-st",
        "file",
        "--dir",
        store.to_str().unwrap(),
        "--file_slice_max_msgs",
        "2",
        "-mm",
        "4",
        "--file_slice_archive_script",
        script.to_str().unwrap(),
        "-l",
        log.to_str().unwrap(),
    ];
    let (mut child, port) = start(&args);
    // 10 messages: slices of 2, 4 kept, so slices 1 to 3 are emptied.
    let bench = Command::new(env!("CARGO_BIN_EXE_stan-bench"))
        .args(["-s", &format!("nats://127.0.0.1:{port}"), "-n", "10"])
        .args(["--id", "archiver"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(bench.success(), "{runtime}: {bench:?}");
    // The runs are concurrent (a thread each, as Go's goroutines): in any
    // order.
    for n in 1..=3 {
        wait_for_line(&log, &format!("msgs.{n}.idx.bak): moved\n"));
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    for n in 1..=3 {
        assert!(
            logged.contains(&format!(
                "[INF] STREAM: Output of archive script for {CHANNEL} ({} and {}): moved\n",
                store.join(format!("{CHANNEL}/msgs.{n}.dat.bak")).display(),
                store.join(format!("{CHANNEL}/msgs.{n}.idx.bak")).display()
            )),
            "{runtime}: {logged}"
        );
        assert!(saved.join(format!("msgs.{n}.dat.bak")).exists());
    }
    let mut lines: Vec<String> = std::fs::read_to_string(&runs)
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    lines.sort();
    assert_eq!(
        lines.concat(),
        (1..=3)
            .map(|n| format!("{CHANNEL} msgs.{n}.dat.bak msgs.{n}.idx.bak\n"))
            .collect::<String>(),
        "{runtime}"
    );
    let mut left: Vec<String> = std::fs::read_dir(store.join(CHANNEL))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("msgs."))
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["msgs.4.dat", "msgs.4.idx", "msgs.5.dat", "msgs.5.idx"],
        "{runtime}"
    );
    signal(&child, Signal::INT);
    assert_eq!(wait_exit(&mut child).code(), Some(0), "{runtime}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn slice_archive_script_on_every_runtime() {
    for runtime in ["tokio", "smol", "mio"] {
        archives_emptied_slices(runtime);
    }
}
