//! `stan-server`: the NATS Streaming server. By default it embeds a NATS
//! server (the router) and runs the streaming engine in process against it;
//! with `-ns URL` it runs the engine against an external NATS server.

use std::process::ExitCode;

use smol::channel::Receiver;
use stan_cli::log;
use stan_cli::monitoring::{MonitorPort, MonitorPorts, Sources};
use stan_cli::pidfile::PidFile;
use stan_cli::reload::Reloader;
use stan_cli::server_opts::{self, Command, FileSettings, OptionsError, RuntimeKind, StoreChoice};
use stan_cli::signals::{until_stop, ServerSignal};
use stan_core::nats::router::{LogLevel, LogRecord};
use stan_core::stan::server::{ServerConfig, ServerEvent};
use stan_core::stan::store::MemStore;
use stan_tls::{ClientTls, ServerTls};
use std::future::Future;
use std::sync::Arc;

use futures_lite::future;
use stan_async::{ExternalEngine, RouteTls, RouterServer, Runtime};
use stan_smol::Smol;
use stan_tokio::Tokio;

fn main() -> ExitCode {
    // Before any thread exists: smol's executor sizes itself once.
    stan_cli::smol_threads_default();
    let opts = match server_opts::parse(std::env::args().skip(1)) {
        Ok(Command::Version) => {
            println!("stan-server version {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(opts)) => opts,
        Ok(Command::Signal { signal, pid_file }) => {
            return match stan_cli::signal_cmd::process_signal(&signal, pid_file.as_deref()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            };
        }
        Err(OptionsError::Flag(stan_cli::flags::FlagError::Help)) => {
            print!(
                "{}",
                stan_cli::flags::usage("stan-server", server_opts::SPECS)
            );
            return ExitCode::SUCCESS;
        }
        Err(e @ OptionsError::Config(_)) => {
            // Not a usage mistake: the file's own position says it all.
            eprintln!("stan-server: {e}");
            return ExitCode::from(1);
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
    if let Err(e) = log::init(opts.log.clone()) {
        // Go dies here too (`error opening file: ...`).
        eprintln!("stan-server: {e}");
        return ExitCode::from(1);
    }
    // Before anything listens, so that no signal finds the default action.
    let (_signals, signals) = match stan_cli::signals::channel() {
        Ok(s) => s,
        Err(e) => {
            log!(Fatal, "{e}");
            return ExitCode::FAILURE;
        }
    };
    let reload = Arc::new(Reloader::new(std::env::args().skip(1).collect(), &opts));
    for warning in &opts.config_warnings {
        log!(Warn, "{warning}");
    }
    match opts.runtime {
        RuntimeKind::Tokio => {}
        RuntimeKind::Mio => return serve_mio(*opts, &signals, reload),
        RuntimeKind::Smol => {
            let stop = {
                let reload = reload.clone();
                until_stop(&signals, move || reload.run())
            };
            return smol::block_on(serve::<Smol>(*opts, " (smol)", &reload, stop));
        }
    }
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
    let stop = {
        let reload = reload.clone();
        until_stop(&signals, move || reload.run())
    };
    runtime.block_on(serve::<Tokio>(*opts, "", &reload, stop))
}

/// Writes `-P`'s pid file once the server listens (as Go does); the guard
/// removes it when the server is done.
fn write_pid(opts: &server_opts::ServerOptions) -> Result<Option<PidFile>, ExitCode> {
    match &opts.pid_file {
        None => Ok(None),
        Some(path) => PidFile::write(path).map(Some).map_err(|e| {
            log!(Fatal, "{e}");
            ExitCode::from(1)
        }),
    }
}

/// Serves on an async runtime (`stan-async`'s server, engine and external
/// engine on `R`) until `stop` resolves.
async fn serve<R: Runtime + Default>(
    opts: server_opts::ServerOptions,
    label: &str,
    reload: &Reloader,
    stop: impl Future<Output = u8>,
) -> ExitCode {
    let engine = opts.engine.clone();
    log!(
        Info,
        "STREAM: Starting stan-server[{}] version {}{label}",
        engine.cluster_id,
        env!("CARGO_PKG_VERSION")
    );
    let (tls, nats_tls) = match load_tls(&opts) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let monitor_ports = match bind_monitor(&opts) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let opened = match open_store(&opts.store, &engine) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(url) = opts.nats_server.clone() {
        return serve_external::<R>(&opts, engine, url, opened, monitor_ports, nats_tls, stop)
            .await;
    }
    log!(Info, "Starting embedded NATS server");
    let addr = format!("{}:{}", opts.host, opts.port);
    let listener = match std::net::TcpListener::bind(addr.as_str()) {
        Ok(l) => l,
        Err(e) => {
            log!(Fatal, "Error listening on port: {addr}, {e:?}");
            return ExitCode::FAILURE;
        }
    };
    let routes = match bind_routes(&opts) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let route_tls = match load_route_tls(&opts) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let server = match RouterServer::<R>::serve_cluster_on(
        R::default(),
        listener,
        routes,
        opts.router.clone(),
        tls.clone(),
        route_tls,
        Box::new(log_router),
    ) {
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
    if let Some(route_addr) = server.route_addr() {
        log!(Info, "Listening for route connections on {route_addr}");
    }
    let router = server.monitor();
    reload.set_router(Box::new(move |config| match router.reload(config) {
        Some(done) => done.map_err(|e| e.to_string()),
        None => Err("the server is shutting down".into()),
    }));
    log_settings(&engine, &opts.store);
    let handle = match opened {
        None => {
            let store = MemStore::new(engine.limits.max_channels);
            server.run_engine(engine, store, log_event)
        }
        Some((opened, fds)) => match server.run_file_engine(engine, opened, fds, log_event) {
            Ok(h) => h,
            Err(e) => {
                log!(Fatal, "STREAM: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let sources = Sources::new(Some(server.monitor()), handle.monitor());
    let _http = match serve_monitor(monitor_ports, sources, tls.as_ref()) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let _pid = match write_pid(&opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    log!(Info, "STREAM: Streaming Server is ready");
    let code = stop.await;
    log!(Info, "STREAM: Shutting down.");
    handle.stop().await;
    server.shutdown().await;
    ExitCode::from(code)
}

/// Binds the monitoring ports (`-m`, `-ms`) before anything else listens,
/// as nats-server does; a busy port is fatal.
fn bind_monitor(opts: &server_opts::ServerOptions) -> Result<MonitorPorts, ExitCode> {
    let host = opts.http_host.as_deref().unwrap_or(&opts.host);
    let bind = |port: Option<u16>| {
        port.map(|port| MonitorPort::bind(host, port))
            .transpose()
            .map_err(|e| {
                log!(Fatal, "{e}");
                ExitCode::FAILURE
            })
    };
    Ok(MonitorPorts {
        http: bind(opts.http_port)?,
        https: bind(opts.https_port)?,
    })
}

/// Serves the monitoring ports, or the fatal exit code.
fn serve_monitor(
    ports: MonitorPorts,
    sources: Sources,
    tls: Option<&ServerTls>,
) -> Result<Vec<stan_monitor::http::HttpServer>, ExitCode> {
    ports.serve(sources, tls).map_err(|e| {
        log!(Fatal, "{e}");
        ExitCode::FAILURE
    })
}

/// The TLS settings read (certificate files), or the fatal exit code.
fn load_tls(
    opts: &server_opts::ServerOptions,
) -> Result<(Option<ServerTls>, Option<ClientTls>), ExitCode> {
    let server = opts.tls.as_ref().map(ServerTls::new).transpose();
    let client = opts.nats_tls.as_ref().map(ClientTls::new).transpose();
    match (server, client) {
        (Ok(s), Ok(c)) => Ok((s, c)),
        (Err(e), _) | (_, Err(e)) => {
            log!(Fatal, "TLS: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// The route TLS settings read (`cluster { tls { } }`: certificate
/// files), or the fatal exit code.
fn load_route_tls(opts: &server_opts::ServerOptions) -> Result<Option<RouteTls>, ExitCode> {
    let Some(route) = opts.route_tls.as_ref() else {
        return Ok(None);
    };
    RouteTls::new(&route.tls, route.insecure)
        .map(Some)
        .map_err(|e| {
            log!(Fatal, "cluster TLS: {e}");
            ExitCode::FAILURE
        })
}

/// Opens the file store directory (logging its repairs), or `None` for the
/// memory store. Failures are logged; the exit code is returned.
fn open_store(
    store: &StoreChoice,
    engine: &ServerConfig,
) -> Result<Option<(stan_store::Opened, usize)>, ExitCode> {
    let StoreChoice::File(f) = store else {
        return Ok(None);
    };
    let FileSettings {
        dir,
        store,
        crc_check,
        truncate_bad_eof,
        fds_limit,
    } = (**f).clone();
    let limits = engine.limits.clone();
    let mut opts = stan_store::OpenOptions::new(
        dir.clone(),
        engine.cluster_id.clone(),
        engine.server_info(),
        stan_cli::unix_now_ns(),
    );
    opts.store = store;
    opts.crc_check = crc_check;
    opts.truncate_bad_eof = truncate_bad_eof;
    opts.limits = Box::new(move |name| limits.for_channel(name));
    let started = std::time::Instant::now();
    match stan_store::open(opts) {
        Ok(opened) => {
            for repair in &opened.repairs {
                log!(Error, "STREAM: Store {}: {repair}", dir.display());
            }
            if !opened.created {
                log!(
                    Info,
                    "STREAM: Recovered the store in {:?}: {} clients, {} channels",
                    started.elapsed(),
                    opened.restored.clients.len(),
                    opened.restored.channels.len()
                );
            }
            Ok(Some((opened, fds_limit)))
        }
        Err(e) => {
            log!(Fatal, "STREAM: Failed to start: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

async fn serve_external<R: Runtime + Default>(
    opts: &server_opts::ServerOptions,
    engine: ServerConfig,
    url: String,
    opened: Option<(stan_store::Opened, usize)>,
    monitor_ports: MonitorPorts,
    nats_tls: Option<ClientTls>,
    stop: impl Future<Output = u8>,
) -> ExitCode {
    log_settings(&engine, &opts.store);
    let started = match opened {
        None => {
            let store = MemStore::new(engine.limits.max_channels);
            ExternalEngine::<R>::start_tls(&url, engine, store, nats_tls, log_event)
                .map_err(|e| e.to_string())
        }
        Some((opened, fds)) => ExternalEngine::<R>::start_file_tls(
            R::default(),
            &url,
            engine,
            opened,
            fds,
            nats_tls,
            log_event,
        )
        .map_err(|e| e.to_string()),
    };
    let runner = match started {
        Ok(r) => r,
        Err(e) => {
            log!(Fatal, "STREAM: -ns {url:?}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server_tls = match load_tls(opts) {
        Ok((tls, _)) => tls,
        Err(code) => return code,
    };
    let _http = match serve_monitor(
        monitor_ports,
        Sources::new(None::<stan_async::RouterMonitor>, runner.monitor()),
        server_tls.as_ref(),
    ) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let _pid = match write_pid(opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    log!(
        Info,
        "STREAM: Streaming Server is ready (NATS server at {url})"
    );
    let closed = future::or(async { Err(stop.await) }, async {
        Ok(runner.closed().await)
    })
    .await;
    let code = match closed {
        Ok(reason) => {
            let reason = reason.map_or_else(|| "engine task ended".to_owned(), |r| r.to_string());
            log!(Fatal, "STREAM: NATS connection closed: {reason}");
            return ExitCode::FAILURE;
        }
        Err(code) => code,
    };
    log!(Info, "STREAM: Shutting down.");
    runner.stop().await;
    ExitCode::from(code)
}

fn log_settings(engine: &ServerConfig, store: &StoreChoice) {
    let l = &engine.limits;
    match store {
        StoreChoice::Memory => log!(Info, "STREAM: Message store is MEMORY"),
        StoreChoice::File(f) => {
            log!(Info, "STREAM: Message store is FILE");
            log!(Info, "STREAM: Store location: {}", f.dir.display());
            log!(
                Info,
                "STREAM: File sync: {} (every PubAck waits for its fdatasync)",
                f.store.sync
            );
        }
    }
    log!(Info, "STREAM: ---------- Store Limits ----------");
    log!(
        Info,
        "STREAM: Channels:            {:>13}",
        unlimited(l.max_channels as u64)
    );
    log!(Info, "STREAM: --------- Channels Limits --------");
    log!(
        Info,
        "STREAM:   Subscriptions:     {:>13}",
        unlimited(l.channel.max_subs as u64)
    );
    log!(
        Info,
        "STREAM:   Messages     :     {:>13}",
        unlimited(l.channel.max_msgs)
    );
    log!(
        Info,
        "STREAM:   Bytes        :     {:>13}",
        unlimited(l.channel.max_bytes)
    );
    log!(
        Info,
        "STREAM:   Age          :     {:>13}",
        duration(l.channel.max_age)
    );
    log!(
        Info,
        "STREAM:   Inactivity   :     {:>13}",
        duration(l.channel.max_inactivity)
    );
    log!(Info, "STREAM: ----------------------------------");
}

fn unlimited(n: u64) -> String {
    if n == 0 {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

fn duration(d: std::time::Duration) -> String {
    if d.is_zero() {
        "unlimited".into()
    } else {
        format!("{d:?}")
    }
}

/// The embedded NATS server's log lines, at nats-server's levels.
fn log_router(record: LogRecord) {
    let level = match record.level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Info => log::Level::Info,
        LogLevel::Debug => log::Level::Debug,
        LogLevel::Trace => log::Level::Trace,
    };
    log::log(level, format_args!("{record}"));
}

fn log_event(event: ServerEvent) {
    match event {
        ServerEvent::ClientConnected { client_id } => {
            log!(Debug, "STREAM: [Client:{client_id}] Connected")
        }
        ServerEvent::ClientClosed { client_id, reason } => {
            log!(Debug, "STREAM: [Client:{client_id}] Closed ({reason})")
        }
        ServerEvent::HeartbeatFailed { client_id, failures } => {
            log!(Debug, "STREAM: [Client:{client_id}] Timed out on heartbeats (failures: {failures})")
        }
        ServerEvent::ChannelCreated { channel } => {
            log!(Debug, "STREAM: Channel {channel:?} has been created")
        }
        ServerEvent::ChannelDeleted { channel } => {
            log!(Info, "STREAM: Channel {channel:?} has been deleted (inactive)")
        }
        ServerEvent::Subscribed { client_id, channel, inbox, durable, queue } => log!(
            Debug,
            "STREAM: [Client:{client_id}] Added subscription on subject={channel}, inbox={inbox}, durable={durable:?}, queue={queue:?}"
        ),
        ServerEvent::Unsubscribed { client_id, channel, closed } => log!(
            Debug,
            "STREAM: [Client:{client_id}] {} subscription on subject={channel}",
            if closed { "Closed" } else { "Removed" }
        ),
        ServerEvent::Refused { request, error } => {
            log!(Debug, "STREAM: Refused {request} request: {error}")
        }
        ServerEvent::Trace {
            direction,
            subject,
            reply,
            size,
        } => log!(Trace, "STREAM: {direction} [{subject}] reply={reply:?} {size} bytes"),
        ServerEvent::StoreFailed { error } => log!(
            Error,
            "STREAM: Store write failed, every PubAck now carries the error until a restart: {error}"
        ),
        ServerEvent::StoreSuspended { error } => log!(
            Error,
            "STREAM: Store write failed and was undone, retrying (publishes are refused until it succeeds): {error}"
        ),
        ServerEvent::StoreResumed => log!(Info, "STREAM: Store writes resumed"),
        ServerEvent::StoreReadTrouble(trouble) => log!(Error, "STREAM: {trouble}"),
        ServerEvent::SliceArchived(done) if done.result.is_ok() => log!(Info, "STREAM: {done}"),
        ServerEvent::SliceArchived(done) => log!(Error, "STREAM: {done}"),
        ServerEvent::NatsDisconnected { reason } => log!(
            Error,
            "STREAM: connection to the NATS server has been disconnected: {reason} (reconnecting)"
        ),
        ServerEvent::NatsReconnected { server } => log!(
            Info,
            "STREAM: connection reconnected to NATS Server at {server}"
        ),
        other => log!(Debug, "STREAM: {other:?}"),
    }
}

/// Waits for a stopping signal (handling reloads meanwhile); its exit code.
fn wait_stop_blocking(signals: &Receiver<ServerSignal>, reload: &Reloader) -> u8 {
    loop {
        match signals.recv_blocking() {
            Ok(ServerSignal::Stop { exit_code }) => return exit_code,
            Ok(ServerSignal::Reload) => reload.run(),
            Ok(ServerSignal::Reopen) => {}
            Err(_) => return 0,
        }
    }
}

/// Binds the route listener of `--cluster` (nats-server's fatal error when
/// the port is taken).
fn bind_routes(
    opts: &server_opts::ServerOptions,
) -> Result<Option<std::net::TcpListener>, ExitCode> {
    let Some(cluster) = &opts.router.cluster else {
        return Ok(None);
    };
    let route_addr = if cluster.host.contains(':') {
        format!("[{}]:{}", cluster.host, cluster.port)
    } else {
        format!("{}:{}", cluster.host, cluster.port)
    };
    match std::net::TcpListener::bind(route_addr.as_str()) {
        Ok(l) => Ok(Some(l)),
        Err(e) => {
            log!(Fatal, "Error listening on router: {route_addr}, {e:?}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Serves on the mio adapter: one event-loop thread.
fn serve_mio(
    opts: server_opts::ServerOptions,
    signals: &Receiver<ServerSignal>,
    reload: Arc<Reloader>,
) -> ExitCode {
    let engine = opts.engine.clone();
    log!(
        Info,
        "STREAM: Starting stan-server[{}] version {} (mio)",
        engine.cluster_id,
        env!("CARGO_PKG_VERSION")
    );
    log_settings(&engine, &opts.store);
    let store = MemStore::new(engine.limits.max_channels);
    let (tls, nats_tls) = match load_tls(&opts) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let monitor_ports = match bind_monitor(&opts) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let opened = match open_store(&opts.store, &engine) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(url) = opts.nats_server.clone() {
        let started = match opened {
            None => stan_mio::ExternalEngine::start_tls(&url, engine, store, nats_tls, log_event),
            Some((opened, fds)) => stan_mio::ExternalEngine::start_file_tls(
                &url, engine, opened, fds, nats_tls, log_event,
            ),
        };
        let runner = match started {
            Ok(r) => r,
            Err(e) => {
                log!(Fatal, "STREAM: -ns {url:?}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let sources = Sources::new(None::<stan_mio::Control>, runner.monitor());
        let _http = match serve_monitor(monitor_ports, sources, tls.as_ref()) {
            Ok(h) => h,
            Err(code) => return code,
        };
        let _pid = match write_pid(&opts) {
            Ok(p) => p,
            Err(code) => return code,
        };
        log!(
            Info,
            "STREAM: Streaming Server is ready (NATS server at {url})"
        );
        let code = wait_stop_blocking(signals, &reload);
        log!(Info, "STREAM: Shutting down.");
        runner.stop();
        return ExitCode::from(code);
    }
    let addr = format!("{}:{}", opts.host, opts.port);
    let route_tls = match load_route_tls(&opts) {
        Ok(t) => t.map(|t| (t.server, t.client)),
        Err(code) => return code,
    };
    let routes = match bind_routes(&opts) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let bound = stan_mio::Server::bind_cluster(
        addr.as_str(),
        opts.router.clone(),
        tls.clone(),
        routes,
        route_tls,
    );
    let server = match bound {
        Ok(s) => s.with_log(log_router),
        Err(e) => {
            log!(Fatal, "Error listening on port: {addr}, {e:?}");
            return ExitCode::FAILURE;
        }
    };
    let server = match opened {
        None => server.with_engine(engine, store, log_event),
        Some((opened, fds)) => match server.with_file_engine(engine, opened, fds, log_event) {
            Ok(s) => s,
            Err(e) => {
                log!(Fatal, "STREAM: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    log!(
        Info,
        "Listening for client connections on {}",
        server.local_addr()
    );
    if let Some(route_addr) = server.route_addr() {
        log!(Info, "Listening for route connections on {route_addr}");
    }
    let handle = match server.spawn() {
        Ok(h) => h,
        Err(e) => {
            log!(Fatal, "cannot start the event loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sources = Sources::new(Some(handle.control()), handle.control());
    let _http = match serve_monitor(monitor_ports, sources, tls.as_ref()) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let _pid = match write_pid(&opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let control = handle.control();
    reload.set_router(Box::new(move |config| match control.reload(config) {
        Some(done) => done.map_err(|e| e.to_string()),
        None => Err("the server is shutting down".into()),
    }));
    log!(Info, "STREAM: Streaming Server is ready");
    let code = wait_stop_blocking(signals, &reload);
    log!(Info, "STREAM: Shutting down.");
    let _ = handle.shutdown();
    ExitCode::from(code)
}
