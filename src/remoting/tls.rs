//! TLS for remoting connections (the `tls` cargo feature), on rustls with the `ring` provider.
//!
//! [`TlsConnector`] is built from [`TlsOptions`] (the CA file, an optional client certificate
//! and key, whether to verify the server) and shared by every connection; its clones share one
//! swappable configuration, so [`TlsConnector::replace_with`] (a config reload) changes what every
//! *new* handshake uses while established sessions keep theirs until they close. A connection does the
//! handshake in `connect`, before anything else is written, bounded by the connect timeout: a
//! failed handshake is an [`Error::Tls`](super::Error::Tls) naming the address and a
//! [`TlsError`] reason (an unknown CA, a name mismatch, a peer that does not speak TLS, an alert
//! the peer sent), never a timeout of the first request.
//!
//! The server's certificate is checked against the address dialled: brokers register by IP, so a
//! broker's certificate must carry that IP as a subject alternative name (`IP:127.0.0.1`);
//! [`TlsOptions::server_name`] checks every server against one name instead.
//!
//! After the handshake, [`TlsSession`] is only a state machine over buffers: `encrypt` turns a
//! frame into records, `decrypt` turns received bytes into plaintext. The blocking socket I/O
//! stays with the caller, so a connection whose reader thread waits in `read` holds no lock
//! while it waits and writers only hold the session for the time it takes to encrypt their frame
//! (see [`Connection`](super::Connection)).

use bytes::BytesMut;
use parking_lot::RwLock;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CA bundles tried, in order, when [`TlsOptions::ca_file`] is not given (Debian/Ubuntu/Alpine,
/// then Fedora/RHEL).
pub const SYSTEM_CA_FILES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// What a TLS connection trusts and presents. Only paths: the files are read by
/// [`TlsConnector::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// PEM file of the CAs that sign the servers' certificates; `None`: the system bundle
    /// ([`SYSTEM_CA_FILES`]).
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain presented to servers that ask for one (mutual TLS); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`: PKCS#8, PKCS#1 or SEC1 unencrypted, or encrypted PKCS#8
    /// (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, PBES2, as `openssl pkcs8 -topk8 -v2 aes-256-cbc`
    /// writes) with `key_password`.
    pub key_file: Option<PathBuf>,
    /// The passphrase of an encrypted `key_file`.
    pub key_password: Option<crate::util::Secret>,
    /// The name (DNS name or IP) every server's certificate is checked against, instead of the
    /// host of the address dialled.
    pub server_name: Option<String>,
    /// Verify the server's certificate. Defaults to true; false accepts any certificate (for
    /// test brokers only: the connection is encrypted but not authenticated).
    pub verify: bool,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            server_name: None,
            verify: true,
        }
    }
}

/// Why a [`TlsConnector`] could not be built from its files.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A file could not be read or holds no usable PEM item.
    File {
        /// The file.
        path: PathBuf,
        /// What it should hold ("CA certificates", "a certificate chain", "a private key").
        what: &'static str,
        /// The cause.
        source: rustls::pki_types::pem::Error,
    },
    /// No CA file was given and none of [`SYSTEM_CA_FILES`] exists.
    NoCaFile,
    /// A client certificate without a key, or a key without a certificate.
    IncompleteClientAuth,
    /// `tls.server_name` is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// The key file holds an encrypted PKCS#8 key and no passphrase was given.
    KeyPasswordMissing {
        /// The key file.
        path: PathBuf,
    },
    /// The encrypted key could not be decrypted with the passphrase given: a wrong passphrase.
    WrongKeyPassword {
        /// The key file.
        path: PathBuf,
    },
    /// The encrypted key is malformed or encrypted with a scheme this build cannot decrypt (it
    /// decrypts PBES2 with PBKDF2 or scrypt and AES-CBC or AES-GCM).
    EncryptedKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the passphrase).
        reason: String,
    },
    /// rustls refused the certificates or the key (for example a key that does not match the
    /// certificate, or a CA certificate it cannot parse).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::File { path, what, .. } => {
                write!(f, "cannot read {what} from {}", path.display())
            }
            TlsSetupError::NoCaFile => write!(
                f,
                "no CA file given and no system CA bundle found (looked for {})",
                SYSTEM_CA_FILES.join(", ")
            ),
            TlsSetupError::IncompleteClientAuth => {
                write!(
                    f,
                    "a client certificate needs its key, and a key its certificate"
                )
            }
            TlsSetupError::InvalidServerName(n) => {
                write!(f, "{n:?} is neither a DNS name nor an IP address")
            }
            TlsSetupError::KeyPasswordMissing { path } => write!(
                f,
                "{} holds an encrypted private key and no passphrase is given \
                 (bridge.rocket.tls.key_password_file or key_password_env)",
                path.display()
            ),
            TlsSetupError::WrongKeyPassword { path } => write!(
                f,
                "cannot decrypt the private key in {}: wrong passphrase",
                path.display()
            ),
            TlsSetupError::EncryptedKey { path, reason } => write!(
                f,
                "cannot decrypt the private key in {}: {reason}",
                path.display()
            ),
            TlsSetupError::Rustls(_) => write!(f, "the certificates or the key are not usable"),
        }
    }
}

impl std::error::Error for TlsSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsSetupError::File { source, .. } => Some(source),
            TlsSetupError::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a TLS connection failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate is not signed by a CA we trust (`tls.ca_file`).
    UnknownCa,
    /// The server's certificate is not valid for the name it was checked against.
    NameMismatch {
        /// The name (or IP) checked.
        expected: String,
    },
    /// The server's certificate was refused for another reason (expired, not yet valid, bad
    /// signature, ...).
    BadCertificate(Box<rustls::CertificateError>),
    /// The peer answered the handshake with bytes that are not TLS: a plaintext server.
    NotTls,
    /// The peer closed the connection during the handshake without a TLS alert (a plaintext
    /// RocketMQ server does that on a ClientHello: it reads a frame length it refuses).
    ClosedInHandshake,
    /// The peer refused the session with a TLS alert (`certificate_required` or
    /// `bad_certificate`: it wants a client certificate we did not send or does not trust).
    Alert(rustls::AlertDescription),
    /// The handshake did not finish within the connect timeout.
    HandshakeTimeout(Duration),
    /// Another TLS protocol error.
    Protocol(Box<rustls::Error>),
    /// `tls.server_name` is neither a DNS name nor an IP address.
    InvalidServerName(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownCa => write!(
                f,
                "the server's certificate is signed by an unknown CA (check bridge.rocket.tls.ca_file)"
            ),
            TlsError::NameMismatch { expected } => write!(
                f,
                "the server's certificate is not valid for {expected} (name mismatch; brokers \
                 need their IP as a subject alternative name, or set bridge.rocket.tls.server_name)"
            ),
            TlsError::BadCertificate(e) => write!(f, "the server's certificate is refused: {e}"),
            TlsError::NotTls => write!(
                f,
                "the peer does not speak TLS (a plaintext server? turn bridge.rocket.tls.enable off)"
            ),
            TlsError::ClosedInHandshake => write!(
                f,
                "the peer closed the connection during the TLS handshake (a plaintext-only server?)"
            ),
            TlsError::Alert(a) => match a {
                // Java's server answers a missing client certificate with bad_certificate, others
                // with certificate_required.
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA
                | rustls::AlertDescription::CertificateUnknown => write!(
                    f,
                    "the server requires a client certificate it trusts and refused ours or its \
                     absence (alert {a:?}; set bridge.rocket.tls.cert_file and key_file)"
                ),
                _ => write!(f, "the server refused the TLS session (alert {a:?})"),
            },
            TlsError::HandshakeTimeout(t) => {
                write!(f, "the TLS handshake did not finish within {t:?}")
            }
            TlsError::Protocol(_) => write!(f, "TLS protocol error"),
            TlsError::InvalidServerName(n) => {
                write!(f, "{n:?} is neither a DNS name nor an IP address")
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Protocol(e) => Some(&**e),
            _ => None,
        }
    }
}

impl TlsError {
    fn from_rustls(e: rustls::Error, expected: &str) -> TlsError {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => TlsError::UnknownCa,
            rustls::Error::InvalidCertificate(C::NotValidForName)
            | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
                TlsError::NameMismatch {
                    expected: expected.to_owned(),
                }
            }
            rustls::Error::InvalidCertificate(c) => TlsError::BadCertificate(Box::new(c)),
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                TlsError::NotTls
            }
            rustls::Error::AlertReceived(a) => TlsError::Alert(a),
            other => TlsError::Protocol(Box::new(other)),
        }
    }
}

/// The client side of TLS, shared by every connection (cheap to clone).
///
/// Clones share one configuration slot: [`TlsConnector::replace_with`] on any clone changes the
/// files (CA, client certificate and key), the server name and the verification of every clone's
/// next handshake. A handshake takes the configuration current when it starts; sessions already
/// established are not touched.
#[derive(Clone)]
pub struct TlsConnector {
    slot: Arc<RwLock<Arc<ConnectorState>>>,
}

/// One configuration of a [`TlsConnector`], replaced as a whole.
struct ConnectorState {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    verify: bool,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.current();
        f.debug_struct("TlsConnector")
            .field("server_name", &st.server_name)
            .field("verify", &st.verify)
            .field(
                "client_auth",
                &st.config.client_auth_cert_resolver.has_certs(),
            )
            .finish()
    }
}

// rustls 0.23.48 marks ring's provider deprecated because it lacks the post-quantum key exchange
// (X25519MLKEM768) that only its aws-lc-rs provider has; see the README's dependency section for
// why ring. Classical X25519/P-256 key exchange is what RocketMQ's Java servers offer anyway.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConnector {
    /// Reads the files named in `opts` and builds the client configuration.
    ///
    /// # Errors
    /// [`TlsSetupError`] naming the file that cannot be used.
    pub fn new(opts: &TlsOptions) -> Result<TlsConnector, TlsSetupError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Rustls)?;
        let builder = if opts.verify {
            let ca = match &opts.ca_file {
                Some(p) => p.clone(),
                None => SYSTEM_CA_FILES
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.is_file())
                    .ok_or(TlsSetupError::NoCaFile)?,
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certs(&ca, "CA certificates")? {
                roots.add(cert).map_err(TlsSetupError::Rustls)?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        };
        let mut config = match (&opts.cert_file, &opts.key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "a certificate chain")?;
                let key = read_key(key, opts.key_password.as_ref())?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(TlsSetupError::Rustls)?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(TlsSetupError::IncompleteClientAuth),
        };
        // Resumption would save a round trip per connection; connections are long-lived.
        config.resumption = rustls::client::Resumption::disabled();
        let server_name = match &opts.server_name {
            Some(n) => {
                Some(server_name(n).map_err(|_| TlsSetupError::InvalidServerName(n.clone()))?)
            }
            None => None,
        };
        Ok(TlsConnector {
            slot: Arc::new(RwLock::new(Arc::new(ConnectorState {
                config: Arc::new(config),
                server_name,
                verify: opts.verify,
            }))),
        })
    }

    /// Whether server certificates are verified.
    pub fn verifies(&self) -> bool {
        self.current().verify
    }

    /// Makes this connector and all its clones use `other`'s current configuration for their
    /// next handshakes (a reload: build `other` with [`TlsConnector::new`] from the new files
    /// first, so files that cannot be used leave this one as it was). Established sessions keep
    /// the configuration they were made with until they close.
    pub fn replace_with(&self, other: &TlsConnector) {
        if Arc::ptr_eq(&self.slot, &other.slot) {
            return;
        }
        let new = other.current();
        *self.slot.write() = new;
    }

    /// A connector with this one's current configuration in a slot of its own (not shared with
    /// `self`'s clones): kept to undo a [`TlsConnector::replace_with`].
    pub fn detached(&self) -> TlsConnector {
        TlsConnector {
            slot: Arc::new(RwLock::new(self.current())),
        }
    }

    /// Whether `self` and `other` are clones of one connector (share one configuration slot).
    pub fn shares_with(&self, other: &TlsConnector) -> bool {
        Arc::ptr_eq(&self.slot, &other.slot)
    }

    fn current(&self) -> Arc<ConnectorState> {
        Arc::clone(&self.slot.read())
    }

    /// Connects TLS over `stream` to `addr` ("host:port"): the whole handshake, bounded by
    /// `timeout`. The stream's read timeout is cleared afterwards.
    pub(crate) fn handshake(
        &self,
        addr: &str,
        stream: &mut TcpStream,
        timeout: Duration,
    ) -> Result<TlsSession, HandshakeFailure> {
        let st = self.current();
        let host = host_of(addr);
        let name = match &st.server_name {
            Some(n) => n.clone(),
            None => server_name(host)
                .map_err(|_| HandshakeFailure::Tls(TlsError::InvalidServerName(host.to_owned())))?,
        };
        let expected = match &name {
            ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
            ServerName::DnsName(d) => d.as_ref().to_owned(),
            _ => host.to_owned(),
        };
        let fail = HandshakeFailure::Tls;
        let io_fail = HandshakeFailure::Io;
        let mut conn = ClientConnection::new(Arc::clone(&st.config), name)
            .map_err(|e| fail(TlsError::Protocol(Box::new(e))))?;
        conn.set_buffer_limit(None);
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while conn.is_handshaking() {
            if conn.wants_write() {
                out.clear();
                while conn.wants_write() {
                    conn.write_tls(&mut out).map_err(io_fail)?;
                }
                stream.write_all(&out).map_err(io_fail)?;
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(TlsError::HandshakeTimeout(timeout)));
            }
            stream.set_read_timeout(Some(left)).map_err(io_fail)?;
            match conn.read_tls(stream) {
                Ok(0) => return Err(fail(TlsError::ClosedInHandshake)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(fail(TlsError::HandshakeTimeout(timeout)))
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(fail(TlsError::ClosedInHandshake))
                }
                Err(e) => return Err(io_fail(e)),
            }
            if let Err(e) = conn.process_new_packets() {
                // Tell the peer why (best effort), then fail.
                out.clear();
                while conn.wants_write() {
                    if conn.write_tls(&mut out).is_err() {
                        break;
                    }
                }
                let _ = stream.write_all(&out);
                return Err(fail(TlsError::from_rustls(e, &expected)));
            }
        }
        // TLS 1.3: the client's Finished may still be queued.
        out.clear();
        while conn.wants_write() {
            conn.write_tls(&mut out).map_err(io_fail)?;
        }
        stream.write_all(&out).map_err(io_fail)?;
        stream.set_read_timeout(None).map_err(io_fail)?;
        log::debug!(
            "tls handshake done addr={addr} version={:?} suite={:?}",
            conn.protocol_version(),
            conn.negotiated_cipher_suite().map(|s| s.suite())
        );
        Ok(TlsSession { conn, expected })
    }
}

/// The private key in `path` ([`super::tls_key::read_key`]), its errors as [`TlsSetupError`].
fn read_key(
    path: &Path,
    password: Option<&crate::util::Secret>,
) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    use super::tls_key::KeyError;
    let path_buf = || path.to_owned();
    super::tls_key::read_key(path, password).map_err(|e| match e {
        KeyError::File(source) => TlsSetupError::File {
            path: path_buf(),
            what: "a private key",
            source,
        },
        KeyError::PasswordMissing => TlsSetupError::KeyPasswordMissing { path: path_buf() },
        KeyError::WrongPassword => TlsSetupError::WrongKeyPassword { path: path_buf() },
        KeyError::Malformed(reason) => TlsSetupError::EncryptedKey {
            path: path_buf(),
            reason,
        },
    })
}

fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let file_err = |source| TlsSetupError::File {
        path: path.to_owned(),
        what,
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(file_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(file_err)?;
    if certs.is_empty() {
        return Err(file_err(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// The host part of "host:port" (brackets of an IPv6 literal removed).
fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

fn server_name(s: &str) -> Result<ServerName<'static>, ()> {
    ServerName::try_from(s.to_owned()).map_err(|_| ())
}

/// Why [`TlsConnector::handshake`] failed: TLS refused the peer, or the socket failed.
#[derive(Debug)]
pub(crate) enum HandshakeFailure {
    Tls(TlsError),
    Io(io::Error),
}

/// The session of one connection after the handshake: encrypts and decrypts buffers, no I/O.
pub(crate) struct TlsSession {
    conn: ClientConnection,
    /// The name the server's certificate was checked against (for errors).
    expected: String,
}

/// What [`TlsSession::decrypt`] saw besides plaintext.
pub(crate) struct Decrypted {
    /// The peer sent close_notify: no more data comes.
    pub(crate) closed: bool,
    /// rustls has records to send (an alert, a key update answer): call
    /// [`TlsSession::take_output`] under the writer's lock.
    pub(crate) wants_write: bool,
}

impl TlsSession {
    /// Encrypts `plain` and appends the records (and anything else pending) to `out`.
    pub(crate) fn encrypt(&mut self, plain: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.conn.writer().write_all(plain)?;
        self.take_output(out)
    }

    /// Appends the records rustls has pending to `out`.
    pub(crate) fn take_output(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Feeds bytes read from the socket; appends the plaintext they carry to `out`.
    pub(crate) fn decrypt(
        &mut self,
        mut cipher: &[u8],
        out: &mut BytesMut,
    ) -> Result<Decrypted, TlsError> {
        let mut closed = false;
        while !cipher.is_empty() {
            if let Err(e) = self.conn.read_tls(&mut cipher) {
                return Err(TlsError::Protocol(Box::new(rustls::Error::General(
                    e.to_string(),
                ))));
            }
            let st = self
                .conn
                .process_new_packets()
                .map_err(|e| TlsError::from_rustls(e, &self.expected))?;
            let n = st.plaintext_bytes_to_read();
            if n > 0 {
                let start = out.len();
                out.resize(start + n, 0);
                if let Err(e) = self.conn.reader().read_exact(&mut out[start..]) {
                    return Err(TlsError::Protocol(Box::new(rustls::Error::General(
                        e.to_string(),
                    ))));
                }
            }
            closed |= st.peer_has_closed();
        }
        Ok(Decrypted {
            closed,
            wants_write: self.conn.wants_write(),
        })
    }
}

/// `tls.verify = false`: any server certificate is accepted (signatures are still checked, so
/// the handshake itself is sound; who holds the key is not).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:10911"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9876"), "::1");
        assert_eq!(host_of("broker.example:9876"), "broker.example");
    }

    fn unverified(name: &str) -> TlsConnector {
        TlsConnector::new(&TlsOptions {
            verify: false,
            server_name: Some(name.to_owned()),
            ..TlsOptions::default()
        })
        .unwrap()
    }

    #[test]
    fn replace_with_changes_every_clone_and_detached_keeps_the_old() {
        let running = unverified("old.example");
        let clone = running.clone();
        let kept = running.detached();
        assert!(running.shares_with(&clone) && !running.shares_with(&kept));
        running.replace_with(&unverified("new.example"));
        assert!(format!("{clone:?}").contains("new.example"), "{clone:?}");
        assert!(format!("{kept:?}").contains("old.example"), "{kept:?}");
        // Undo.
        clone.replace_with(&kept);
        assert!(format!("{running:?}").contains("old.example"));
        // Replacing with itself is a no-op (and no deadlock).
        running.replace_with(&clone);
        assert!(format!("{running:?}").contains("old.example"));
    }

    #[test]
    fn missing_files_are_named() {
        let opts = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let e = TlsConnector::new(&opts).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let opts = TlsOptions {
            verify: false,
            cert_file: Some("/x.pem".into()),
            ..TlsOptions::default()
        };
        assert!(matches!(
            TlsConnector::new(&opts),
            Err(TlsSetupError::IncompleteClientAuth)
        ));
    }
}
