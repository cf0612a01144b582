//! `stan-server`: serves the embedded NATS server (the router) over TCP.

use std::process::ExitCode;

use stan_cli::log;
use stan_cli::server_opts::{self, Command, OptionsError};
use stan_tokio::RouterServer;

fn main() -> ExitCode {
    let opts = match server_opts::parse(std::env::args().skip(1)) {
        Ok(Command::Version) => {
            println!("stan-server version {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(opts)) => opts,
        Err(OptionsError::Flag(stan_cli::flags::FlagError::Help)) => {
            print!(
                "{}",
                stan_cli::flags::usage("stan-server", server_opts::SPECS)
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-server: {e}");
            eprint!(
                "{}",
                stan_cli::flags::usage("stan-server", server_opts::SPECS)
            );
            return ExitCode::from(2);
        }
    };
    log::set_max_level(opts.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log!(Fatal, "cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(*opts))
}

async fn serve(opts: server_opts::ServerOptions) -> ExitCode {
    log!(
        Info,
        "Starting stan-server version {}",
        env!("CARGO_PKG_VERSION")
    );
    let addr = format!("{}:{}", opts.host, opts.port);
    let server = match RouterServer::bind(addr.as_str(), opts.router).await {
        Ok(s) => s,
        Err(e) => {
            log!(Fatal, "Error listening on port: {addr}, {e:?}");
            return ExitCode::FAILURE;
        }
    };
    log!(
        Info,
        "Listening for client connections on {}",
        server.local_addr()
    );
    log!(Info, "Server is ready");
    wait_for_signal().await;
    log!(Info, "Initiating Shutdown...");
    server.shutdown().await;
    log!(Info, "Server Exiting..");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
