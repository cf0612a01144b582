//! The embedded NATS server with the streaming engine, serving TLS as
//! nats-server does, from PEM files; the flags are nats-server's (and
//! stan-server's) names:
//!
//! ```text
//! cargo run -p stan-tokio --example tls_server -- -a 127.0.0.1 -p 4443 \
//!     --tls --tlscert server-cert.pem --tlskey server-key.pem \
//!     [--tlsverify --tlscacert ca.pem]
//! ```
//!
//! Clients connect with `tls://127.0.0.1:4443` (cluster `test-cluster`).
//!
//! With `-ns URL` it runs the streaming engine against that NATS server
//! instead (no embedded server), over TLS with Go streaming's flags:
//!
//! ```text
//! cargo run -p stan-tokio --example tls_server -- -ns tls://127.0.0.1:4222 \
//!     -secure -tls_client_cert client-cert.pem -tls_client_key client-key.pem \
//!     -tls_client_cacert ca.pem
//! ```
//!
//! The TLS interop kit (`interop/tls/run.sh`) runs against it as it runs
//! against `stan-server`.

use std::time::Duration;

use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_tokio::{
    ClientTls, ClientTlsOptions, ExternalEngine, Pem, RouterServer, ServerTls, ServerTlsOptions,
};

fn usage() -> ! {
    eprintln!(
        "usage: tls_server [-a HOST] [-p PORT] --tls --tlscert FILE --tlskey FILE \
         [--tlsverify] [--tlscacert FILE] [--tlstimeout SECS] [-D]\n       \
         tls_server -ns URL [-secure] [-tls_client_cert FILE -tls_client_key FILE] \
         [-tls_client_cacert FILE]"
    );
    std::process::exit(64)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut host, mut port) = ("0.0.0.0".to_owned(), 4222u16);
    let (mut cert, mut key, mut ca) = (None, None, None);
    let (mut verify, mut debug) = (false, false);
    // nats-server's TLS timeout.
    let mut timeout = Duration::from_secs(2);
    let mut ns = None;
    let mut client = ClientTlsOptions::default();
    let mut secure = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "-a" | "--addr" => host = value(),
            "-p" | "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--tls" => {}
            "--tlscert" => cert = Some(value()),
            "--tlskey" => key = Some(value()),
            "--tlscacert" => ca = Some(value()),
            "--tlsverify" => verify = true,
            "--tlstimeout" => {
                let secs: f64 = value().parse().unwrap_or_else(|_| usage());
                timeout = Duration::from_secs_f64(secs);
            }
            "-D" => debug = true,
            "-ns" | "--nats_server" => ns = Some(value()),
            "-secure" => secure = true,
            "-tls_client_cert" => client.cert = Some(Pem::file(value())),
            "-tls_client_key" => client.key = Some(Pem::file(value())),
            "-tls_client_cacert" => client.ca = Some(Pem::file(value())),
            _ => usage(),
        }
    }
    if let Some(url) = ns {
        let given = secure || client.cert.is_some() || client.ca.is_some();
        let tls = given.then(|| ClientTls::new(&client)).transpose()?;
        let engine = ExternalEngine::start_tls(
            &url,
            ServerConfig::default(),
            MemStore::new(1000),
            tls,
            |e| eprintln!("{e:?}"),
        )?;
        eprintln!("Streaming engine connecting to {url}");
        tokio::signal::ctrl_c().await?;
        engine.stop().await;
        return Ok(());
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        usage()
    };
    let tls = ServerTls::new(&ServerTlsOptions {
        ca: ca.map(Pem::file),
        verify,
        handshake_timeout: timeout,
        ..ServerTlsOptions::new(Pem::file(cert), Pem::file(key))
    })?;
    let config = RouterConfig {
        debug,
        ..RouterConfig::default()
    };
    let addr = format!("{host}:{port}");
    let server = RouterServer::bind_tls_with_log(&addr, config, Some(tls), |r| {
        eprintln!("[{:?}] {r}", r.level);
    })
    .await?;
    let engine = server.run_engine(ServerConfig::default(), MemStore::new(1000), |_| {});
    eprintln!(
        "Listening for TLS client connections on {}",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    engine.stop().await;
    server.shutdown().await;
    Ok(())
}
