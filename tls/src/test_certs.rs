//! Certificates generated at test time (feature `test-certs`, with
//! `rcgen`): a CA, a server certificate for `localhost`, `127.0.0.1` and
//! `::1`, a client certificate, a route certificate (both), an expired server certificate, and a
//! second CA with its own server and client certificates (for "wrong CA"
//! refusals). Nothing is read from or written to disk unless asked
//! ([`TestPki::write_to`]).
//!
//! ```
//! use stan_tls::test_certs::TestPki;
//!
//! let pki = TestPki::generate();
//! let server = pki.server_tls(true);
//! assert!(server.verify());
//! let client = pki.client_tls(true);
//! assert!(client.connect("127.0.0.1").is_ok());
//! ```

use std::io;
use std::path::Path;
use std::time::Duration;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::{
    ClientTls, ClientTlsOptions, Pem, ServerTls, ServerTlsOptions, DEFAULT_HANDSHAKE_TIMEOUT,
};

/// A certificate and its private key, as PEM text.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert: String,
    /// The private key (PKCS#8).
    pub key: String,
}

/// Everything a TLS test needs, as PEM text.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA every "good" certificate chains to.
    pub ca: String,
    /// The server certificate (`localhost`, `127.0.0.1`, `::1`; server
    /// auth), signed by [`ca`](Self::ca).
    pub server: CertKey,
    /// A client certificate (client auth), signed by [`ca`](Self::ca).
    pub client: CertKey,
    /// A route certificate: the names of [`server`](Self::server), server
    /// and client auth (routes present one certificate in both roles),
    /// signed by [`ca`](Self::ca).
    pub route: CertKey,
    /// A server certificate like [`server`](Self::server) that expired in
    /// 2001.
    pub expired_server: CertKey,
    /// Another CA.
    pub other_ca: String,
    /// A server certificate signed by [`other_ca`](Self::other_ca).
    pub other_server: CertKey,
    /// A client certificate signed by [`other_ca`](Self::other_ca).
    pub other_client: CertKey,
}

// Test material: a generation failure is a bug of the test setup.
#[allow(clippy::expect_used)]
fn key_pair() -> KeyPair {
    KeyPair::generate().expect("generate a key pair")
}

#[allow(clippy::expect_used)]
fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = key_pair();
    let cert = params.self_signed(&key).expect("self-sign the CA");
    (cert.pem(), Issuer::new(params, key))
}

/// The common name of the route certificate (server and client auth).
const ROUTE_NAME: &str = "route";

#[allow(clippy::expect_used)]
fn leaf(issuer: &Issuer<'_, KeyPair>, name: &str, server: bool, expired: bool) -> CertKey {
    let sans: Vec<String> = if server {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    } else {
        Vec::new()
    };
    let mut params = CertificateParams::new(sans).expect("leaf parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = if server {
        vec![ExtendedKeyUsagePurpose::ServerAuth]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    if name == ROUTE_NAME {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let key = key_pair();
    let cert = params.signed_by(&key, issuer).expect("sign the leaf");
    CertKey {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

#[allow(clippy::expect_used)]
fn server_tls(server: &CertKey, ca: Option<&str>, verify: bool, timeout: Duration) -> ServerTls {
    ServerTls::new(&ServerTlsOptions {
        ca: ca.map(Pem::memory),
        verify,
        handshake_timeout: timeout,
        ..ServerTlsOptions::new(
            Pem::memory(server.cert.clone()),
            Pem::memory(server.key.clone()),
        )
    })
    .expect("server TLS settings from generated certificates")
}

#[allow(clippy::expect_used)]
fn client_tls(ca: &str, identity: Option<&CertKey>) -> ClientTls {
    ClientTls::new(&ClientTlsOptions {
        ca: Some(Pem::memory(ca)),
        cert: identity.map(|i| Pem::memory(i.cert.clone())),
        key: identity.map(|i| Pem::memory(i.key.clone())),
        ..ClientTlsOptions::default()
    })
    .expect("client TLS settings from generated certificates")
}

impl TestPki {
    /// Generates a fresh set (ECDSA P-256 keys: fast).
    pub fn generate() -> TestPki {
        let (ca, issuer) = new_ca("stan test CA");
        let (other_ca, other_issuer) = new_ca("another CA");
        TestPki {
            server: leaf(&issuer, "localhost", true, false),
            client: leaf(&issuer, "client", false, false),
            route: leaf(&issuer, ROUTE_NAME, true, false),
            expired_server: leaf(&issuer, "localhost", true, true),
            other_server: leaf(&other_issuer, "localhost", true, false),
            other_client: leaf(&other_issuer, "client", false, false),
            ca,
            other_ca,
        }
    }

    /// The server certificate; with `verify`, clients must present a
    /// certificate of [`ca`](Self::ca).
    pub fn server_tls(&self, verify: bool) -> ServerTls {
        server_tls(
            &self.server,
            Some(&self.ca),
            verify,
            DEFAULT_HANDSHAKE_TIMEOUT,
        )
    }

    /// [`server_tls`](Self::server_tls) with a short handshake timeout.
    pub fn server_tls_with_timeout(&self, verify: bool, timeout: Duration) -> ServerTls {
        server_tls(&self.server, Some(&self.ca), verify, timeout)
    }

    /// The expired server certificate (no client verification).
    pub fn expired_server_tls(&self) -> ServerTls {
        server_tls(&self.expired_server, None, false, DEFAULT_HANDSHAKE_TIMEOUT)
    }

    /// A server certificate of the other CA (no client verification).
    pub fn other_server_tls(&self) -> ServerTls {
        server_tls(&self.other_server, None, false, DEFAULT_HANDSHAKE_TIMEOUT)
    }

    /// A client trusting [`ca`](Self::ca), presenting [`client`](Self::client)
    /// when `with_cert`.
    pub fn client_tls(&self, with_cert: bool) -> ClientTls {
        client_tls(&self.ca, with_cert.then_some(&self.client))
    }

    /// A client trusting [`ca`](Self::ca) that presents the other CA's
    /// client certificate.
    pub fn other_client_tls(&self) -> ClientTls {
        client_tls(&self.ca, Some(&self.other_client))
    }

    /// A client trusting only the other CA (refuses our server).
    pub fn wrong_ca_client_tls(&self) -> ClientTls {
        client_tls(&self.other_ca, None)
    }

    /// Writes `ca.pem`, `server-cert.pem`, `server-key.pem`,
    /// `client-cert.pem`, `client-key.pem`, `route-cert.pem`,
    /// `route-key.pem`, `expired-cert.pem`,
    /// `expired-key.pem`, `other-ca.pem`, `other-cert.pem`,
    /// `other-key.pem` into `dir`.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        let files = [
            ("ca.pem", &self.ca),
            ("server-cert.pem", &self.server.cert),
            ("server-key.pem", &self.server.key),
            ("client-cert.pem", &self.client.cert),
            ("client-key.pem", &self.client.key),
            ("route-cert.pem", &self.route.cert),
            ("route-key.pem", &self.route.key),
            ("expired-cert.pem", &self.expired_server.cert),
            ("expired-key.pem", &self.expired_server.key),
            ("other-ca.pem", &self.other_ca),
            ("other-cert.pem", &self.other_server.cert),
            ("other-key.pem", &self.other_server.key),
        ];
        for (name, pem) in files {
            std::fs::write(dir.join(name), pem)?;
        }
        Ok(())
    }
}
