//! `-sl`, `--signal <command>[=<pid>]`: sends a signal to a running server
//! and exits, as nats-server's `processSignal`/`ProcessSignal` do
//! (`server/opts.go`, `server/signal.go`):
//!
//! | command  | signal    |
//! |----------|-----------|
//! | `stop`   | `SIGKILL` |
//! | `quit`   | `SIGINT`  |
//! | `reopen` | `SIGUSR1` |
//! | `reload` | `SIGHUP`  |
//! | `ldm`    | `SIGUSR2` |
//! | `term`   | `SIGTERM` |
//!
//! The pid: after `=`, a pid, or the path of a pid file whose content is
//! the pid (Go's `maybeReadPidFile`); without `=`, the pid file given with
//! `-P` (an addition of this server), else the single process named
//! `stan-server` that `pgrep` finds (Go's `resolvePids`). The errors carry
//! Go's messages.

use std::path::{Path, PathBuf};

use rustix::process::{kill_process, Pid, Signal};

/// The process name `pgrep` looks for when no pid is given.
pub const PROCESS_NAME: &str = "stan-server";

/// What `-sl` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `stop`: `SIGKILL`.
    Stop,
    /// `quit`: `SIGINT` (a clean shutdown, exit 0).
    Quit,
    /// `reopen`: `SIGUSR1` (reopen the log file).
    Reopen,
    /// `reload`: `SIGHUP` (reload the configuration).
    Reload,
    /// `ldm`: `SIGUSR2` (lame duck mode in nats-server).
    Ldm,
    /// `term`: `SIGTERM` (a clean shutdown, exit 143).
    Term,
}

impl Command {
    /// The command for a name (`stop`, `quit`, `reopen`, `reload`, `ldm`,
    /// `term`), or Go's `unknown signal "x"`.
    pub fn parse(name: &str) -> Result<Command, SignalCmdError> {
        Ok(match name {
            "stop" => Command::Stop,
            "quit" => Command::Quit,
            "reopen" => Command::Reopen,
            "reload" => Command::Reload,
            "ldm" => Command::Ldm,
            "term" => Command::Term,
            other => return Err(SignalCmdError::UnknownSignal(other.to_owned())),
        })
    }

    /// The signal's name (`SIGHUP`, ...).
    pub fn signal_name(self) -> &'static str {
        match self {
            Command::Stop => "SIGKILL",
            Command::Quit => "SIGINT",
            Command::Reopen => "SIGUSR1",
            Command::Reload => "SIGHUP",
            Command::Ldm => "SIGUSR2",
            Command::Term => "SIGTERM",
        }
    }

    fn signal(self) -> Signal {
        match self {
            Command::Stop => Signal::KILL,
            Command::Quit => Signal::INT,
            Command::Reopen => Signal::USR1,
            Command::Reload => Signal::HUP,
            Command::Ldm => Signal::USR2,
            Command::Term => Signal::TERM,
        }
    }
}

/// Why `-sl` failed; the messages are nats-server's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum SignalCmdError {
    /// More than one `=` in the value.
    #[error("invalid signal parameters: [{}]", .0.join(" "))]
    InvalidParameters(Vec<String>),
    /// The pid is not a positive number.
    #[error("invalid pid: {0}")]
    InvalidPid(String),
    /// The pid file given with `-P` cannot be read.
    #[error("cannot read pid file {}: {source}", path.display())]
    PidFile {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// `pgrep` found no server.
    #[error("no {0} processes running")]
    NoProcess(String),
    /// `pgrep` found several servers.
    #[error("multiple {name} processes running:\n{}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join("\n"))]
    MultipleProcesses {
        /// The process name.
        name: String,
        /// Their pids.
        pids: Vec<u32>,
    },
    /// `pgrep` could not be run or printed something else than pids.
    #[error("unable to resolve pid, try providing one")]
    Unresolvable,
    /// Not one of the commands.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    /// `kill` failed (`no such process`, `operation not permitted`, ...).
    #[error("{}", kill_message(.0))]
    Kill(rustix::io::Errno),
}

fn kill_message(e: &rustix::io::Errno) -> String {
    // Go prints syscall.Errno's lower-case text.
    match *e {
        rustix::io::Errno::SRCH => "no such process".into(),
        rustix::io::Errno::PERM => "operation not permitted".into(),
        other => std::io::Error::from(other).to_string(),
    }
}

/// What was done: which signal went to which process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The command.
    pub command: Command,
    /// The process signalled.
    pub pid: u32,
}

/// Runs `-sl <value>`: resolves the pid (see the module doc; `pid_file` is
/// `-P`'s value), then sends the command's signal. As in Go, the pid is
/// resolved before the command name is checked.
pub fn process_signal(value: &str, pid_file: Option<&Path>) -> Result<Sent, SignalCmdError> {
    process_signal_named(value, pid_file, PROCESS_NAME)
}

/// [`process_signal`] looking for `process_name` when no pid is given.
pub fn process_signal_named(
    value: &str,
    pid_file: Option<&Path>,
    process_name: &str,
) -> Result<Sent, SignalCmdError> {
    let (name, pid_arg) = split(value)?;
    let pid = resolve_pid(pid_arg, pid_file, process_name)?;
    let command = Command::parse(name)?;
    send(command, pid)?;
    Ok(Sent { command, pid })
}

/// Splits `command[=pid]` as Go does (`strings.Split(signal, "=")`).
pub fn split(value: &str) -> Result<(&str, Option<&str>), SignalCmdError> {
    let parts: Vec<&str> = value.split('=').collect();
    match parts.as_slice() {
        [name] => Ok((name, None)),
        [name, pid] => Ok((name, Some(pid))),
        [_, _, rest @ ..] => Err(SignalCmdError::InvalidParameters(
            rest.iter().map(|s| (*s).to_owned()).collect(),
        )),
        [] => Ok(("", None)),
    }
}

/// The pid to signal: `pid_arg` (a pid, or a readable pid file's content),
/// else the content of `pid_file`, else the one `process_name` process
/// `pgrep` finds.
pub fn resolve_pid(
    pid_arg: Option<&str>,
    pid_file: Option<&Path>,
    process_name: &str,
) -> Result<u32, SignalCmdError> {
    if let Some(arg) = pid_arg {
        // Go's maybeReadPidFile: a readable file's content, else the text.
        let text = std::fs::read_to_string(arg).unwrap_or_else(|_| arg.to_owned());
        return parse_pid(&text);
    }
    if let Some(path) = pid_file.filter(|p| !p.as_os_str().is_empty()) {
        let text = std::fs::read_to_string(path).map_err(|source| SignalCmdError::PidFile {
            path: path.to_path_buf(),
            source,
        })?;
        return parse_pid(&text);
    }
    let pids = pgrep(process_name)?;
    match pids.as_slice() {
        [] => Err(SignalCmdError::NoProcess(process_name.to_owned())),
        [pid] => Ok(*pid),
        _ => Err(SignalCmdError::MultipleProcesses {
            name: process_name.to_owned(),
            pids,
        }),
    }
}

/// A positive pid (surrounding whitespace allowed: pid files written by
/// other tools end with a newline). Zero and negative numbers, which
/// `kill(2)` would take as process groups, are refused.
fn parse_pid(text: &str) -> Result<u32, SignalCmdError> {
    match text.trim().parse::<i32>() {
        Ok(p) if p > 0 => Ok(p.unsigned_abs()),
        _ => Err(SignalCmdError::InvalidPid(text.to_owned())),
    }
}

/// Go's `resolvePids`: `pgrep <name>`, without this process. A `pgrep`
/// that exits non-zero found nothing; one that cannot run leaves the pid to
/// the user.
fn pgrep(name: &str) -> Result<Vec<u32>, SignalCmdError> {
    let out = std::process::Command::new("pgrep")
        .arg(name)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|_| SignalCmdError::Unresolvable)?;
    if !out.status.success() {
        return Ok(Vec::new());
    }
    let me = std::process::id();
    let mut pids = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.is_empty() {
            continue;
        }
        let pid: u32 = line
            .trim()
            .parse()
            .map_err(|_| SignalCmdError::Unresolvable)?;
        if pid != me {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Sends `command`'s signal to `pid`.
pub fn send(command: Command, pid: u32) -> Result<(), SignalCmdError> {
    let raw = i32::try_from(pid).map_err(|_| SignalCmdError::InvalidPid(pid.to_string()))?;
    let pid = Pid::from_raw(raw).ok_or_else(|| SignalCmdError::InvalidPid(raw.to_string()))?;
    kill_process(pid, command.signal()).map_err(SignalCmdError::Kill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Kills the child on drop, so a failed test leaves no process behind.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn wait_signal(child: &mut Child) -> Option<i32> {
        for _ in 0..500 {
            if let Some(status) = child.try_wait().unwrap() {
                return status.signal();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("child still running after 5 s");
    }

    /// `program` run with the default action for the signals these tests
    /// send (GNU `env --default-signal`): a test run from a background job
    /// or under `nohup` inherits them ignored, and a shell cannot trap a
    /// signal ignored on entry.
    fn default_signals(program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("env");
        cmd.args(["--default-signal=HUP,INT,QUIT,TERM,USR1", program]);
        cmd
    }

    /// Waits until process `pid` runs `program` (`env` has reset the
    /// signals and executed it): a signal sent earlier could find it still
    /// ignored.
    fn wait_exec(pid: u32, program: &str) {
        for _ in 0..500 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == program {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{program} never started");
    }

    /// A shell that prints `ready`, then a line per trapped signal.
    fn trapper() -> (Reaped, mpsc::Receiver<String>) {
        let mut child = default_signals("sh")
            .arg("-c")
            .arg(
                "trap 'echo hup' HUP; trap 'echo usr1' USR1; trap 'exit 0' TERM; \
                 echo ready; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
            )
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ready, "ready");
        (Reaped(child), rx)
    }

    #[test]
    fn commands_and_their_signals() {
        for (name, sig) in [
            ("stop", "SIGKILL"),
            ("quit", "SIGINT"),
            ("reopen", "SIGUSR1"),
            ("reload", "SIGHUP"),
            ("ldm", "SIGUSR2"),
            ("term", "SIGTERM"),
        ] {
            assert_eq!(Command::parse(name).unwrap().signal_name(), sig);
        }
        assert_eq!(
            Command::parse("restart").unwrap_err().to_string(),
            r#"unknown signal "restart""#
        );
    }

    #[test]
    fn split_as_go() {
        assert_eq!(split("reload").unwrap(), ("reload", None));
        assert_eq!(split("reload=12").unwrap(), ("reload", Some("12")));
        assert_eq!(
            split("reload=12=a=b").unwrap_err().to_string(),
            "invalid signal parameters: [a b]"
        );
    }

    #[test]
    fn pid_resolution() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve_pid(Some("123"), None, "x").unwrap(), 123);
        let file = dir.path().join("s.pid");
        std::fs::write(&file, "4567").unwrap();
        let file_arg = file.to_str().unwrap();
        assert_eq!(resolve_pid(Some(file_arg), None, "x").unwrap(), 4567);
        // -P when no pid follows `=`; a pid after `=` wins.
        std::fs::write(&file, "890\n").unwrap();
        assert_eq!(resolve_pid(None, Some(&file), "x").unwrap(), 890);
        assert_eq!(resolve_pid(Some("5"), Some(&file), "x").unwrap(), 5);
        for bad in ["abc", "0", "-1", ""] {
            assert_eq!(
                resolve_pid(Some(bad), None, "x").unwrap_err().to_string(),
                format!("invalid pid: {bad}")
            );
        }
        let missing = dir.path().join("missing.pid");
        let e = resolve_pid(None, Some(&missing), "x").unwrap_err();
        assert!(e.to_string().starts_with("cannot read pid file "), "{e}");
    }

    #[test]
    fn pgrep_resolution() {
        if std::process::Command::new("pgrep")
            .arg("--version")
            .output()
            .is_err()
        {
            let e = resolve_pid(None, None, "no-such-proc-xyz").unwrap_err();
            assert_eq!(e.to_string(), "unable to resolve pid, try providing one");
            return;
        }
        let e = resolve_pid(None, None, "no-such-proc-xyz").unwrap_err();
        assert_eq!(e.to_string(), "no no-such-proc-xyz processes running");
        let e = SignalCmdError::MultipleProcesses {
            name: "stan-server".into(),
            pids: vec![1, 2],
        };
        assert_eq!(
            e.to_string(),
            "multiple stan-server processes running:\n1\n2"
        );
    }

    #[test]
    fn pid_is_resolved_before_the_command_is_checked() {
        let e = process_signal("bogus=abc", None).unwrap_err();
        assert_eq!(e.to_string(), "invalid pid: abc");
    }

    #[test]
    fn stop_kills_a_child() {
        let mut child = Reaped(
            std::process::Command::new("sleep")
                .arg("30")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let value = format!("stop={}", child.0.id());
        let sent = process_signal(&value, None).unwrap();
        assert_eq!(sent.command, Command::Stop);
        assert_eq!(sent.pid, child.0.id());
        assert_eq!(wait_signal(&mut child.0), Some(9));
    }

    #[test]
    fn quit_interrupts_a_child_found_by_pid_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Reaped(
            default_signals("sleep")
                .arg("30")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_exec(child.0.id(), "sleep");
        let pid_file = dir.path().join("sleep.pid");
        std::fs::write(&pid_file, child.0.id().to_string()).unwrap();
        process_signal("quit", Some(&pid_file)).unwrap();
        assert_eq!(wait_signal(&mut child.0), Some(2));
    }

    #[test]
    fn reload_and_reopen_reach_a_trapping_child() {
        let (mut child, lines) = trapper();
        let pid = child.0.id();
        process_signal(&format!("reload={pid}"), None).unwrap();
        assert_eq!(lines.recv_timeout(Duration::from_secs(5)).unwrap(), "hup");
        process_signal(&format!("reopen={pid}"), None).unwrap();
        assert_eq!(lines.recv_timeout(Duration::from_secs(5)).unwrap(), "usr1");
        process_signal(&format!("term={pid}"), None).unwrap();
        for _ in 0..500 {
            if let Some(status) = child.0.try_wait().unwrap() {
                assert_eq!(status.code(), Some(0));
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("trapper still running");
    }

    #[test]
    fn kill_errors_as_go_prints_them() {
        // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
        let e = send(Command::Reload, 0x3fff_fff0).unwrap_err();
        assert_eq!(e.to_string(), "no such process");
        assert!(matches!(
            send(Command::Reload, u32::MAX),
            Err(SignalCmdError::InvalidPid(_))
        ));
    }
}
