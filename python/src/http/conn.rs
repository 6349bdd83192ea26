//! Connections: plain TCP or rustls TLS (webpki roots), and a small pool of
//! idle keep-alive connections.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::url::{Origin, Target};

/// The kinds the core knows (`TransportError.KINDS` in Python).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Connect,
    Timeout,
    BodyCut,
    Other,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Timeout => "timeout",
            Kind::BodyCut => "body_cut",
            Kind::Other => "other",
        }
    }
}

/// Why a request failed. `detail` never holds a header value (the API key
/// travels in one), only what went wrong.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: Kind,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(kind: Kind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// An I/O error while waiting for or reading a response: a timeout is a
    /// `timeout`, anything else cut the message short (as urllib3's
    /// `ProtocolError` is a `body_cut`).
    pub(crate) fn reading(e: &io::Error) -> Failure {
        let kind = match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Kind::Timeout,
            io::ErrorKind::InvalidData => Kind::Other,
            _ => Kind::BodyCut,
        };
        Failure::new(kind, io_detail(e))
    }
}

pub(crate) fn io_detail(e: &io::Error) -> String {
    format!("{:?}: {e}", e.kind())
}

/// A connection's byte stream.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Reads go through a buffer large enough that a 256 KiB chunk takes a few
/// system calls, not thousands.
const READ_BUFFER: usize = 64 * 1024;

/// One connection to one origin.
pub(crate) struct Conn {
    pub(crate) origin: Origin,
    pub(crate) io: BufReader<Stream>,
}

impl Conn {
    /// The idle timeout: no single read or write may wait longer.
    pub(crate) fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tcp = self.io.get_ref().tcp();
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))
    }

    /// An idle pooled connection the server closed (or wrote to, which it
    /// should not have) is no use: a non-blocking peek tells.
    fn is_usable(&self) -> bool {
        if !self.io.buffer().is_empty() {
            return false;
        }
        let tcp = self.io.get_ref().tcp();
        if tcp.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let alive = matches!(tcp.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        tcp.set_nonblocking(false).is_ok() && alive
    }

    pub(crate) fn shutdown(&self) {
        let _ = self.io.get_ref().tcp().shutdown(Shutdown::Both);
    }
}

/// Opens a connection: DNS, TCP (each address in turn, `connect_timeout`
/// each), then the TLS handshake for https.
pub(crate) fn connect(
    target: &Target,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<Conn, Failure> {
    let addrs = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| Failure::new(Kind::Connect, format!("name resolution: {}", io_detail(&e))))?;
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, connect_timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| match last {
        Some(e) => Failure::new(Kind::Connect, io_detail(&e)),
        None => Failure::new(Kind::Connect, "name resolution: no address"),
    })?;
    // Requests are written in one piece; Nagle would only delay them.
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(Some(io_timeout))
        .and_then(|()| tcp.set_write_timeout(Some(io_timeout)))
        .map_err(|e| Failure::new(Kind::Other, io_detail(&e)))?;
    let stream = if target.tls {
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| Failure::new(Kind::Connect, "the host is not a valid TLS server name"))?;
        let conn = ClientConnection::new(tls_config(), name)
            .map_err(|e| Failure::new(Kind::Other, format!("TLS: {e}")))?;
        let mut tls = StreamOwned::new(conn, tcp);
        // Handshake now, so that its failures are connect failures rather
        // than surfacing as a write error later.
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| Failure::new(Kind::Connect, format!("TLS handshake: {e}")))?;
        }
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    Ok(Conn {
        origin: target.origin(),
        io: BufReader::with_capacity(READ_BUFFER, stream),
    })
}

/// One TLS configuration for the process: Mozilla's roots (webpki-roots),
/// TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Idle keep-alive connections, most recent last.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Conn>>,
}

/// At most this many idle connections are kept (urllib3's default pool keeps
/// a few per host; the driver uses one at a time).
const MAX_IDLE: usize = 8;

impl Pool {
    /// A usable idle connection to `origin`, if any (stale ones are dropped).
    pub(crate) fn take(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(i) = idle.iter().rposition(|c| &c.origin == origin) {
            let conn = idle.remove(i);
            if conn.is_usable() {
                return Some(conn);
            }
        }
        None
    }

    pub(crate) fn put(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(conn);
    }

    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
