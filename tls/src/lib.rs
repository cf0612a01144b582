//! `stan-tls`: the TLS settings of stan-server, as nats-server takes them,
//! turned into rustls configurations (the `ring` provider: no C toolchain).
//!
//! * [`ServerTls`]: what a TLS listener needs (the embedded NATS server's
//!   `--tls --tlscert --tlskey --tlsverify --tlscacert` and its `tls { }`
//!   block with `verify` and `timeout`; the monitoring port's HTTPS),
//!   built from PEM with [`ServerTlsOptions`];
//! * [`ClientTls`]: what a TLS dial needs (our client's `tls://` URLs, the
//!   streaming server's `-secure -tls_client_cert -tls_client_key
//!   -tls_client_cacert` towards an external NATS server), built with
//!   [`ClientTlsOptions`].
//!
//! TLS never enters the sans-IO core: the runtime adapters (`stan-async`,
//! `stan-mio`, `stan-monitor`) apply it as a byte transform around the
//! socket, in nats-server's order (the `INFO` in plain text, then the
//! handshake, then `CONNECT` over TLS). This crate only builds the
//! configurations and holds the few facts the adapters share
//! ([`looks_like_tls`], [`DEFAULT_HANDSHAKE_TIMEOUT`]).
//!
//! ```
//! use stan_tls::{ClientTlsOptions, Pem, ServerTlsOptions, TlsError};
//!
//! let missing = ServerTlsOptions::new(Pem::file("/nonexistent/cert.pem"), Pem::file("k.pem"));
//! let err = stan_tls::ServerTls::new(&missing).unwrap_err();
//! assert!(matches!(err, TlsError::Read { what: "certificate", .. }));
//! assert!(err.to_string().starts_with("cannot read the certificate file /nonexistent/cert.pem"));
//!
//! let not_pem = ClientTlsOptions { ca: Some(Pem::memory("hello")), ..Default::default() };
//! let err = stan_tls::ClientTls::new(&not_pem).unwrap_err();
//! assert_eq!(err.to_string(), "in-memory PEM: no CERTIFICATE block in this CA file");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

pub use rustls;

#[cfg(feature = "test-certs")]
pub mod test_certs;

/// nats-server's TLS handshake timeout when none is configured (its
/// `tls { timeout }`, 2 seconds).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// PEM material: a file, or bytes in memory. `Debug` never prints the
/// bytes (they may be a private key).
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A PEM file, read when the settings are built.
    File(PathBuf),
    /// PEM text in memory.
    Memory(Vec<u8>),
}

impl Pem {
    /// A PEM file.
    pub fn file(path: impl Into<PathBuf>) -> Pem {
        Pem::File(path.into())
    }

    /// PEM text in memory.
    pub fn memory(pem: impl Into<Vec<u8>>) -> Pem {
        Pem::Memory(pem.into())
    }

    /// Where the material comes from, for error messages.
    fn origin(&self) -> String {
        match self {
            Pem::File(p) => p.display().to_string(),
            Pem::Memory(_) => "in-memory PEM".into(),
        }
    }

    /// The bytes (`what` names the material in errors).
    fn read(&self, what: &'static str) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.clone(),
                source,
            }),
            Pem::Memory(b) => Ok(b.clone()),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(p) => write!(f, "Pem::File({})", p.display()),
            Pem::Memory(b) => write!(f, "Pem::Memory({} bytes)", b.len()),
        }
    }
}

/// Why TLS settings could not be built.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read (missing, unreadable).
    #[error("cannot read the {what} file {}: {source}", path.display())]
    Read {
        /// `certificate`, `key` or `CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: io::Error,
    },
    /// The certificate or CA material holds no `CERTIFICATE` block.
    #[error("{origin}: no CERTIFICATE block in this {what} file")]
    NoCertificate {
        /// `certificate` or `CA`.
        what: &'static str,
        /// The file, or `in-memory PEM`.
        origin: String,
    },
    /// The key material holds no private key block (PKCS#8, PKCS#1 or SEC1).
    #[error("{origin}: no private key block (PKCS#8, PKCS#1 or SEC1) in this key file")]
    NoKey {
        /// The file, or `in-memory PEM`.
        origin: String,
    },
    /// The PEM text is malformed (bad base64, a missing `END` line).
    #[error("malformed PEM in the {what} ({origin}): {detail}")]
    BadPem {
        /// `certificate`, `key` or `CA`.
        what: &'static str,
        /// The file, or `in-memory PEM`.
        origin: String,
        /// The parser's message.
        detail: String,
    },
    /// A CA certificate could not be used as a trust anchor.
    #[error("invalid CA certificate in {origin}: {detail}")]
    BadCa {
        /// The file, or `in-memory PEM`.
        origin: String,
        /// Why.
        detail: String,
    },
    /// The certificate and key cannot be used together (unsupported key
    /// type, a key that does not match the certificate).
    #[error("the certificate and key cannot be used: {0}")]
    BadKey(#[source] rustls::Error),
    /// A client certificate without its key, or a key without its
    /// certificate.
    #[error("a client certificate needs its key, and a key its certificate")]
    CertWithoutKey,
    /// The name to verify the server by is not a DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The crypto provider of every configuration built here (`ring`).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &Pem, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = pem.read(what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            what,
            origin: pem.origin(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            origin: pem.origin(),
        });
    }
    Ok(certs)
}

fn key(pem: &Pem) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = pem.read("key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            origin: pem.origin(),
        },
        e => TlsError::BadPem {
            what: "key",
            origin: pem.origin(),
            detail: e.to_string(),
        },
    })
}

/// The trust anchors of `ca`, or the system's when `None`.
fn roots(ca: Option<&Pem>) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match ca {
        Some(pem) => {
            for cert in certs(pem, "CA")? {
                store.add(cert).map_err(|e| TlsError::BadCa {
                    origin: pem.origin(),
                    detail: e.to_string(),
                })?;
            }
        }
        None => {
            // As Go's crypto/tls: the system's roots. Unreadable system
            // certificates are skipped (then every peer fails to verify).
            let found = rustls_native_certs::load_native_certs();
            let _ = store.add_parsable_certificates(found.certs);
        }
    }
    Ok(store)
}

/// Settings of a TLS listener (nats-server's `tls { cert_file, key_file,
/// ca_file, verify, timeout }`; its flags `--tlscert --tlskey --tlscacert
/// --tlsverify`).
#[derive(Debug, Clone)]
pub struct ServerTlsOptions {
    /// The server's certificate chain (`cert_file`, `--tlscert`).
    pub cert: Pem,
    /// The server's private key (`key_file`, `--tlskey`).
    pub key: Pem,
    /// The CA that client certificates must chain to (`ca_file`,
    /// `--tlscacert`); the system's roots when `None`. Used only with
    /// [`verify`](Self::verify), as in nats-server.
    pub ca: Option<Pem>,
    /// Require and verify a client certificate (`verify`, `--tlsverify`).
    pub verify: bool,
    /// How long a client has to complete the handshake (`timeout`);
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`] by default.
    pub handshake_timeout: Duration,
}

impl ServerTlsOptions {
    /// A certificate and key; no client verification, the default timeout.
    pub fn new(cert: Pem, key: Pem) -> Self {
        ServerTlsOptions {
            cert,
            key,
            ca: None,
            verify: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// A TLS listener's configuration, ready to accept: cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    /// The same certificate without client verification (HTTPS
    /// monitoring); `config` itself when it does not verify.
    unverified: Arc<ServerConfig>,
    verify: bool,
    handshake_timeout: Duration,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("verify", &self.verify)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads and checks the PEM material of `options`.
    pub fn new(options: &ServerTlsOptions) -> Result<ServerTls, TlsError> {
        let chain = certs(&options.cert, "certificate")?;
        let key = key(&options.key)?;
        let provider = provider();
        let builder = || {
            ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))
        };
        let unverified = Arc::new(
            builder()?
                .with_no_client_auth()
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(TlsError::BadKey)?,
        );
        let config = if options.verify {
            let roots = Arc::new(roots(options.ca.as_ref())?);
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            Arc::new(
                builder()?
                    .with_client_cert_verifier(verifier)
                    .with_single_cert(chain, key)
                    .map_err(TlsError::BadKey)?,
            )
        } else {
            Arc::clone(&unverified)
        };
        Ok(ServerTls {
            config,
            unverified,
            verify: options.verify,
            handshake_timeout: options.handshake_timeout,
        })
    }

    /// Wraps a rustls configuration built elsewhere; `verify` is what
    /// `INFO` announces (`tls_verify`): say whether `config` requires
    /// client certificates.
    pub fn from_config(
        config: Arc<ServerConfig>,
        verify: bool,
        handshake_timeout: Duration,
    ) -> ServerTls {
        ServerTls {
            unverified: Arc::clone(&config),
            config,
            verify,
            handshake_timeout,
        }
    }

    /// The same certificate without client verification, as nats-server
    /// serves HTTPS monitoring (its client TLS configuration with
    /// `ClientAuth = NoClientCert`). A configuration wrapped with
    /// [`from_config`](Self::from_config) stays as it is.
    pub fn without_client_verification(&self) -> ServerTls {
        ServerTls {
            config: Arc::clone(&self.unverified),
            unverified: Arc::clone(&self.unverified),
            verify: false,
            handshake_timeout: self.handshake_timeout,
        }
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Whether client certificates are required and verified.
    pub fn verify(&self) -> bool {
        self.verify
    }

    /// How long a client has to complete the handshake.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// A new server-side TLS session for an accepted connection.
    pub fn accept(&self) -> Result<rustls::ServerConnection, rustls::Error> {
        rustls::ServerConnection::new(self.config())
    }
}

/// Settings of a TLS dial (our client's `tls://` URLs; the streaming
/// server's `-secure -tls_client_cert -tls_client_key -tls_client_cacert`,
/// `tls_server_name`, `tls_skip_verify`).
#[derive(Debug, Clone, Default)]
pub struct ClientTlsOptions {
    /// The CA the server's certificate must chain to (`-tls_client_cacert`,
    /// nats.go's `RootCAs`); the system's roots when `None`.
    pub ca: Option<Pem>,
    /// Our certificate chain, for servers that verify clients
    /// (`-tls_client_cert`, nats.go's `ClientCert`).
    pub cert: Option<Pem>,
    /// Our private key (`-tls_client_key`).
    pub key: Option<Pem>,
    /// The name to verify the server's certificate by, instead of the host
    /// dialled (Go streaming's `tls_server_name`).
    pub server_name: Option<String>,
    /// Accept any server certificate (Go streaming's `tls_skip_verify`,
    /// `InsecureSkipVerify`): encryption without authentication.
    pub insecure_skip_verify: bool,
}

/// A TLS dial's configuration, ready to connect: cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads and checks the PEM material of `options`.
    pub fn new(options: &ClientTlsOptions) -> Result<ClientTls, TlsError> {
        let identity = match (&options.cert, &options.key) {
            (Some(c), Some(k)) => Some((certs(c, "certificate")?, key(k)?)),
            (None, None) => None,
            _ => return Err(TlsError::CertWithoutKey),
        };
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if options.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
        } else {
            builder.with_root_certificates(roots(options.ca.as_ref())?)
        };
        let config = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::BadKey)?,
            None => builder.with_no_client_auth(),
        };
        if let Some(name) = &options.server_name {
            server_name(name)?;
        }
        Ok(ClientTls {
            config: Arc::new(config),
            server_name: options.server_name.clone(),
        })
    }

    /// Wraps a rustls configuration built elsewhere.
    pub fn from_config(config: Arc<ClientConfig>, server_name: Option<String>) -> ClientTls {
        ClientTls {
            config,
            server_name,
        }
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// The name the server's certificate is verified by when dialling
    /// `host`: the configured server name, else `host` (a DNS name or an
    /// IP address).
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        server_name(self.server_name.as_deref().unwrap_or(host))
    }

    /// A new client-side TLS session towards `host`.
    pub fn connect(&self, host: &str) -> Result<rustls::ClientConnection, TlsError> {
        let name = self.server_name_for(host)?;
        rustls::ClientConnection::new(self.config(), name)
            .map_err(|e| TlsError::Config(e.to_string()))
    }
}

fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.to_owned()))
}

/// Whether the first bytes a client sent open a TLS record, as Go's
/// crypto/tls judges a first record (a handshake or alert record type,
/// and a plausible version): `None` until a byte arrived. A plain-text
/// client on a TLS port (its `CONNECT`) answers `Some(false)`.
///
/// ```
/// assert_eq!(stan_tls::looks_like_tls(b""), None);
/// assert_eq!(stan_tls::looks_like_tls(b"CONNECT {}"), Some(false));
/// assert_eq!(stan_tls::looks_like_tls(&[0x16, 3, 1, 0, 200]), Some(true));
/// ```
pub fn looks_like_tls(first: &[u8]) -> Option<bool> {
    let kind = *first.first()?;
    if kind != 0x16 && kind != 0x15 {
        return Some(false);
    }
    // A version major byte of 0x10 or more is no TLS (Go: vers >= 0x1000).
    Some(first.get(1).is_none_or(|&major| major < 0x10))
}

/// Go streaming's `tls_skip_verify`: any certificate is accepted, the
/// handshake signatures are still checked.
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
