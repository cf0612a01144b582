//! The settings built from PEM (files and memory), their typed errors, and
//! the verdicts of in-memory handshakes: the refusals every adapter
//! inherits (wrong CA, expired certificate, missing client certificate).

use std::path::PathBuf;

use stan_tls::rustls::{self, ClientConnection, ServerConnection};
use stan_tls::test_certs::TestPki;
use stan_tls::{ClientTls, ClientTlsOptions, Pem, ServerTls, ServerTlsOptions, TlsError};

/// A fresh directory under the system's temp directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs both sides of a handshake in memory; the first error, or `Ok`
/// once neither side is handshaking.
fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), (&'static str, rustls::Error)> {
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().map_err(|e| ("server", e))?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().map_err(|e| ("client", e))?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake does not finish");
}

fn verdict(client: &ClientTls, server: &ServerTls) -> Result<(), (&'static str, String)> {
    let mut c = client.connect("127.0.0.1").unwrap();
    let mut s = server.accept().unwrap();
    handshake(&mut c, &mut s).map_err(|(side, e)| (side, e.to_string()))
}

#[test]
fn settings_from_files() {
    let pki = TestPki::generate();
    let dir = temp_dir("files");
    pki.write_to(&dir).unwrap();
    let server = ServerTls::new(&ServerTlsOptions {
        ca: Some(Pem::file(dir.join("ca.pem"))),
        verify: true,
        ..ServerTlsOptions::new(
            Pem::file(dir.join("server-cert.pem")),
            Pem::file(dir.join("server-key.pem")),
        )
    })
    .unwrap();
    assert!(server.verify());
    assert_eq!(
        server.handshake_timeout(),
        stan_tls::DEFAULT_HANDSHAKE_TIMEOUT
    );
    let client = ClientTls::new(&ClientTlsOptions {
        ca: Some(Pem::file(dir.join("ca.pem"))),
        cert: Some(Pem::file(dir.join("client-cert.pem"))),
        key: Some(Pem::file(dir.join("client-key.pem"))),
        ..ClientTlsOptions::default()
    })
    .unwrap();
    assert_eq!(verdict(&client, &server), Ok(()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn typed_errors_name_the_material() {
    let pki = TestPki::generate();
    let dir = temp_dir("errors");
    pki.write_to(&dir).unwrap();
    let cert = || Pem::file(dir.join("server-cert.pem"));
    let key = || Pem::file(dir.join("server-key.pem"));

    let missing = ServerTls::new(&ServerTlsOptions::new(
        Pem::file(dir.join("nope.pem")),
        key(),
    ));
    assert!(
        matches!(&missing, Err(TlsError::Read { what: "certificate", path, .. }) if path.ends_with("nope.pem")),
        "{missing:?}"
    );
    // A key file given as the certificate: no certificate in it.
    let err = ServerTls::new(&ServerTlsOptions::new(key(), key())).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                what: "certificate",
                ..
            }
        ),
        "{err:?}"
    );
    // A certificate given as the key: no key in it.
    let err = ServerTls::new(&ServerTlsOptions::new(cert(), cert())).unwrap_err();
    assert!(matches!(err, TlsError::NoKey { .. }), "{err:?}");
    // Another certificate's key.
    let err = ServerTls::new(&ServerTlsOptions::new(
        cert(),
        Pem::file(dir.join("other-key.pem")),
    ))
    .unwrap_err();
    assert!(matches!(err, TlsError::BadKey(_)), "{err:?}");
    // An unreadable CA.
    let err = ServerTls::new(&ServerTlsOptions {
        ca: Some(Pem::file(dir.join("missing-ca.pem"))),
        verify: true,
        ..ServerTlsOptions::new(cert(), key())
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::Read { what: "CA", .. }), "{err:?}");
    let err = ClientTls::new(&ClientTlsOptions {
        ca: Some(Pem::memory(
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )),
        ..ClientTlsOptions::default()
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::BadPem { what: "CA", .. }), "{err}");
    let err = ClientTls::new(&ClientTlsOptions {
        cert: Some(cert()),
        ..ClientTlsOptions::default()
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::CertWithoutKey));
    let err = ClientTls::new(&ClientTlsOptions {
        server_name: Some("not a name".into()),
        insecure_skip_verify: true,
        ..ClientTlsOptions::default()
    })
    .unwrap_err();
    assert!(matches!(err, TlsError::ServerName(_)), "{err:?}");
    // Debug never prints PEM bytes.
    assert_eq!(
        format!("{:?}", Pem::memory("secret")),
        "Pem::Memory(6 bytes)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The refusals, with rustls's texts (what the adapters log and return).
#[test]
fn handshake_verdicts() {
    let pki = TestPki::generate();
    assert_eq!(
        verdict(&pki.client_tls(false), &pki.server_tls(false)),
        Ok(())
    );
    assert_eq!(
        verdict(&pki.client_tls(true), &pki.server_tls(true)),
        Ok(())
    );
    // Wrong CA: the client refuses the server.
    assert_eq!(
        verdict(&pki.wrong_ca_client_tls(), &pki.server_tls(false)),
        Err(("client", "invalid peer certificate: UnknownIssuer".into()))
    );
    assert_eq!(
        verdict(&pki.client_tls(false), &pki.other_server_tls()),
        Err(("client", "invalid peer certificate: UnknownIssuer".into()))
    );
    // Expired server certificate.
    let expired = verdict(&pki.client_tls(false), &pki.expired_server_tls());
    assert!(
        matches!(&expired, Err(("client", e)) if e.starts_with("invalid peer certificate: certificate expired")),
        "{expired:?}"
    );
    // Verify: no client certificate, or one of another CA.
    assert_eq!(
        verdict(&pki.client_tls(false), &pki.server_tls(true)),
        Err(("server", "peer sent no certificates".into()))
    );
    assert_eq!(
        verdict(&pki.other_client_tls(), &pki.server_tls(true)),
        Err(("server", "invalid peer certificate: UnknownIssuer".into()))
    );
    // HTTPS monitoring: the same certificate, no client certificate asked.
    let https = pki.server_tls(true).without_client_verification();
    assert!(!https.verify());
    assert_eq!(verdict(&pki.client_tls(false), &https), Ok(()));
    // Skip verify accepts any server; a server name override is verified.
    let skip = ClientTls::new(&ClientTlsOptions {
        insecure_skip_verify: true,
        ..ClientTlsOptions::default()
    })
    .unwrap();
    assert_eq!(verdict(&skip, &pki.other_server_tls()), Ok(()));
    let named = ClientTls::new(&ClientTlsOptions {
        ca: Some(Pem::memory(pki.ca.clone())),
        server_name: Some("localhost".into()),
        ..ClientTlsOptions::default()
    })
    .unwrap();
    assert_eq!(verdict(&named, &pki.server_tls(false)), Ok(()));
    let wrong_name = ClientTls::new(&ClientTlsOptions {
        ca: Some(Pem::memory(pki.ca.clone())),
        server_name: Some("elsewhere.example".into()),
        ..ClientTlsOptions::default()
    })
    .unwrap();
    let err = verdict(&wrong_name, &pki.server_tls(false)).unwrap_err();
    assert!(err.1.contains("certificate not valid for name"), "{err:?}");
}
