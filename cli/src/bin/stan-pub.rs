//! `stan-pub`: publishes one message to a NATS Streaming channel, as the Go
//! example `stan-pub.go` does.
//!
//! `stan-pub [options] <subject> <message>`; `-a` publishes asynchronously
//! and waits for the ack through the returned future. Exit codes: 0
//! published and acked, 1 connection or publish failure, 2 bad command
//! line.

use std::process::ExitCode;

use stan_cli::tool_opts::{self, PubOptions};
use stan_tokio::{Connection, Options};

fn main() -> ExitCode {
    let opts = match tool_opts::parse_pub(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e.is_help() => {
            print!("{}", tool_opts::pub_usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-pub: {e}");
            eprint!("{}", tool_opts::pub_usage());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stan-pub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(opts))
}

async fn run(opts: PubOptions) -> ExitCode {
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
    let (subject, message) = (opts.subject.as_str(), opts.message.as_str());
    let result = if opts.asynchronous {
        match conn.publish_async(subject, message.to_owned()).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        }
        .map_err(|e| format!("Error during async publish: {e}"))
    } else {
        conn.publish(subject, message.to_owned())
            .await
            .map_err(|e| format!("Error during publish: {e}"))
    };
    let code = match result {
        Ok(()) => {
            println!("Published [{subject}] : '{message}'");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    };
    let _ = conn.close().await;
    code
}
