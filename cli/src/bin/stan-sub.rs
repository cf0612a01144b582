//! `stan-sub`: subscribes to a NATS Streaming channel and prints what
//! arrives, as the Go example `stan-sub.go` does.
//!
//! `stan-sub [options] <subject>`. On Ctrl-C (or SIGTERM), or after
//! `--count` messages: a durable subscription is closed (kept for a later
//! resume) unless `--unsubscribe` is given, any other is removed; then the
//! connection is closed. Each message is acked once printed, so a durable
//! resumes after the last printed message. Exit codes: 0 normal end, 1
//! connection, subscription or cleanup failure, 2 bad command line.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use stan_cli::tool_opts::{self, SubOptions};
use stan_tokio::{ClientError, Connection, Msg, Options};

fn main() -> ExitCode {
    let opts = match tool_opts::parse_sub(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e.is_help() => {
            print!("{}", tool_opts::sub_usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-sub: {e}");
            eprint!("{}", tool_opts::sub_usage());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stan-sub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(opts))
}

/// Why the receive loop ended.
enum End {
    /// `--count` messages were printed.
    Count,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The connection was lost.
    Lost(ClientError),
}

async fn run(opts: SubOptions) -> ExitCode {
    // Installed first, so that an interrupt at any later point is seen.
    let mut interrupt = match Interrupt::new() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("stan-sub: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let c = &opts.conn;
    let conn =
        match Connection::connect(&c.url, &c.cluster_id, &c.client_id, Options::default()).await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!(
                    "Can't connect: {e}.\nMake sure a NATS Streaming Server is running at: {}",
                    c.url
                );
                return ExitCode::FAILURE;
            }
        };
    println!(
        "Connected to {} clusterID: [{}] clientID: [{}]",
        c.url, c.cluster_id, c.client_id
    );
    let mut sub = match conn.subscribe(&opts.subject, opts.subscription()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stan-sub: cannot subscribe to [{}]: {e}", opts.subject);
            let _ = conn.close().await;
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Listening on [{}], clientID=[{}], qgroup=[{}] durable=[{}]",
        opts.subject,
        c.client_id,
        opts.queue.as_deref().unwrap_or(""),
        opts.durable.as_deref().unwrap_or("")
    );
    let mut received = 0u64;
    let end = loop {
        tokio::select! {
            m = sub.next() => match m {
                Some(msg) => {
                    received += 1;
                    print_msg(&msg, received, opts.show_time);
                    // Errors surface as a lost connection below.
                    let _ = msg.ack().await;
                    if opts.count == Some(received) {
                        break End::Count;
                    }
                }
                None => break End::Lost(ClientError::ConnectionClosed),
            },
            reason = conn.connection_lost() => break End::Lost(reason),
            () = interrupt.recv() => break End::Interrupted,
        }
    };
    match end {
        End::Lost(reason) => {
            eprintln!("Connection lost, reason: {reason}");
            return ExitCode::FAILURE;
        }
        End::Interrupted => {
            println!("\nReceived an interrupt, unsubscribing and closing connection...\n")
        }
        End::Count => {}
    }
    let mut code = ExitCode::SUCCESS;
    let ended = if opts.keep_on_exit() {
        sub.close().await
    } else {
        sub.unsubscribe().await
    };
    if let Err(e) = ended {
        eprintln!("stan-sub: error ending the subscription: {e}");
        code = ExitCode::FAILURE;
    }
    if let Err(e) = conn.close().await {
        eprintln!("stan-sub: error closing the connection: {e}");
        code = ExitCode::FAILURE;
    }
    code
}

fn print_msg(msg: &Msg, n: u64, show_time: bool) {
    let line = tool_opts::received_line(
        n,
        msg.sequence(),
        msg.subject(),
        msg.data(),
        msg.timestamp(),
        msg.redelivered(),
        msg.redelivery_count(),
    );
    if show_time {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        println!("{} {line}", tool_opts::time_prefix(now));
    } else {
        println!("{line}");
    }
}

/// Ctrl-C (and SIGTERM on Unix), listened to from creation on.
struct Interrupt {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn new() -> std::io::Result<Interrupt> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Interrupt {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
