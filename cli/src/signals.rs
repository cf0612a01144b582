//! The server's signal handling, for every runtime: a thread of its own (a
//! tokio current-thread runtime, whatever runtime serves) turns signals
//! into [`ServerSignal`]s, as the streaming server's `handleSignals` does:
//!
//! | signal    | what                                                     |
//! |-----------|----------------------------------------------------------|
//! | `SIGINT`  | [`ServerSignal::Stop`], exit code 0                      |
//! | `SIGTERM` | [`ServerSignal::Stop`], exit code 143                    |
//! | `SIGHUP`  | [`ServerSignal::Reload`]                                 |
//! | `SIGUSR1` | the log file is reopened here ([`reopen_log`]), then [`ServerSignal::Reopen`] is delivered as a notice |
//!
//! The server's main loop receives them from [`channel`] (an async channel
//! that tokio, smol and a blocking loop can all wait on) or in a callback
//! ([`SignalListener::spawn`]). Once the handlers are installed the
//! signals' default actions no longer apply: a second `SIGINT` during a
//! slow shutdown is delivered as another `Stop`.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::log::{self, LogError};

/// What a signal asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSignal {
    /// Shut down cleanly, then exit with this code (`SIGINT` → 0,
    /// `SIGTERM` → 143, as nats-streaming-server does).
    Stop {
        /// The process exit code.
        exit_code: u8,
    },
    /// Reload the configuration (`SIGHUP`).
    Reload,
    /// The log file was reopened (`SIGUSR1`); already handled, for notice.
    Reopen,
}

/// The signal thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The thread or its runtime could not be created.
    #[error("cannot start the signal thread: {0}")]
    Thread(std::io::Error),
    /// A handler could not be installed.
    #[error("cannot handle {signal}: {source}")]
    Install {
        /// The signal.
        signal: &'static str,
        /// The failure.
        source: std::io::Error,
    },
}

/// Reopens the log file and logs the outcome with the streaming server's
/// messages (`File log re-opened`, or `File log re-open ignored, not a file
/// logger`). What `SIGUSR1` does.
pub fn reopen_log() {
    match log::reopen() {
        Ok(()) => crate::log!(Info, "STREAM: File log re-opened"),
        Err(LogError::NotAFileLogger) => {
            crate::log!(Info, "STREAM: File log re-open ignored, not a file logger")
        }
        Err(e) => crate::log!(Error, "STREAM: Unable to re-open the log file: {e}"),
    }
}

/// The running signal thread. Dropping it (or [`close`](Self::close))
/// stops the delivery; the handlers stay installed for the process's life.
#[derive(Debug)]
pub struct SignalListener {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SignalListener {
    /// Installs the handlers and starts the thread that calls `handler`
    /// for each signal. Returns once the handlers are in place, so a
    /// signal sent afterwards is never missed.
    pub fn spawn<F>(handler: F) -> Result<SignalListener, SignalError>
    where
        F: FnMut(ServerSignal) + Send + 'static,
    {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("stan-signals".into())
            .spawn(move || run(handler, stop_rx, ready_tx))
            .map_err(SignalError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(SignalListener {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SignalError::Thread(std::io::Error::other(
                    "the signal thread ended before it was ready",
                )))
            }
        }
    }

    /// Stops the delivery and waits for the thread to end.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the listener and returns the receiving end of its signals: await
/// `recv()` on tokio or smol, or call `recv_blocking()` from a thread.
pub fn channel() -> Result<(SignalListener, smol::channel::Receiver<ServerSignal>), SignalError> {
    let (tx, rx) = smol::channel::unbounded();
    let listener = SignalListener::spawn(move |sig| {
        let _ = tx.try_send(sig);
    })?;
    Ok((listener, rx))
}

/// Waits on `signals` until a [`ServerSignal::Stop`], calling `on_reload`
/// for each `SIGHUP` meanwhile; returns the exit code (0 if the listener
/// went away). For a runtime's `stop` future.
pub async fn until_stop(
    signals: &smol::channel::Receiver<ServerSignal>,
    mut on_reload: impl FnMut(),
) -> u8 {
    loop {
        match signals.recv().await {
            Ok(ServerSignal::Stop { exit_code }) => return exit_code,
            Ok(ServerSignal::Reload) => on_reload(),
            Ok(ServerSignal::Reopen) => {}
            Err(_) => return 0,
        }
    }
}

fn run<F>(
    mut handler: F,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    ready: mpsc::SyncSender<Result<(), SignalError>>,
) where
    F: FnMut(ServerSignal),
{
    use tokio::signal::unix::{signal, SignalKind};
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(SignalError::Thread(e)));
            return;
        }
    };
    rt.block_on(async move {
        let install = |kind: SignalKind, name: &'static str| {
            signal(kind).map_err(|source| SignalError::Install {
                signal: name,
                source,
            })
        };
        let handlers = (|| {
            Ok::<_, SignalError>((
                install(SignalKind::interrupt(), "SIGINT")?,
                install(SignalKind::terminate(), "SIGTERM")?,
                install(SignalKind::hangup(), "SIGHUP")?,
                install(SignalKind::user_defined1(), "SIGUSR1")?,
            ))
        })();
        let (mut int, mut term, mut hup, mut usr1) = match handlers {
            Ok(h) => h,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        loop {
            // Go's signal names, as nats-server's `Trapped %q signal`.
            let (sig, name) = tokio::select! {
                _ = &mut stop => break,
                Some(()) = int.recv() => (ServerSignal::Stop { exit_code: 0 }, "interrupt"),
                Some(()) = term.recv() => (ServerSignal::Stop { exit_code: 143 }, "terminated"),
                Some(()) = hup.recv() => (ServerSignal::Reload, "hangup"),
                Some(()) = usr1.recv() => (ServerSignal::Reopen, "user defined signal 1"),
                else => break,
            };
            crate::log!(Debug, "Trapped {name:?} signal");
            if sig == ServerSignal::Reopen {
                reopen_log();
            }
            handler(sig);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_stop_runs_reloads_and_returns_the_exit_code() {
        let (tx, rx) = smol::channel::unbounded();
        for s in [
            ServerSignal::Reload,
            ServerSignal::Reopen,
            ServerSignal::Reload,
            ServerSignal::Stop { exit_code: 143 },
            ServerSignal::Reload,
        ] {
            tx.try_send(s).unwrap();
        }
        let mut reloads = 0;
        let code = futures_lite::future::block_on(until_stop(&rx, || reloads += 1));
        assert_eq!((code, reloads), (143, 2));
        drop(tx);
        let code = futures_lite::future::block_on(until_stop(&rx, || reloads += 1));
        assert_eq!((code, reloads), (0, 3));
    }
}
