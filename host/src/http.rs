//! A small streaming HTTP/1.1 client over tokio + hyper, with TLS by rustls
//! (ring, webpki roots) for `https://` URLs.
//!
//! Connections are kept alive and reused (one TLS handshake per connection,
//! not per request): a connection goes back to a per-origin pool once its
//! response body was read to the end, and a request takes an idle one
//! before opening another. Bodies are never collected: each frame goes to
//! the caller as it arrives, so memory stays flat whatever the export size.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::runtime::{HttpMethod, HttpRequest, TransportErrorKind};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// From sending the request to the status line (async exports can be slow).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest silence between two body frames.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A body must bring at least [`MIN_BYTES_PER_WINDOW`] bytes in every window
/// this long: a server trickling a byte every few seconds never goes idle,
/// and would hold a read forever.
pub const THROUGHPUT_WINDOW: Duration = Duration::from_secs(120);
pub const MIN_BYTES_PER_WINDOW: u64 = 1024;
/// Test knob: `ITERABLE_CONNECTOR_STALL_SECS=N` (a positive number of
/// seconds) caps every timeout above and the throughput window at N, so a
/// fault-matrix test of a trickling or silent server ends in seconds, not
/// minutes. Unset (the default) or not a positive number: no cap.
pub const STALL_ENV: &str = "ITERABLE_CONNECTOR_STALL_SECS";

/// `d`, capped by [`STALL_ENV`] when it is set.
fn capped(d: Duration) -> Duration {
    static CAP: OnceLock<Option<Duration>> = OnceLock::new();
    let cap = CAP.get_or_init(|| {
        std::env::var(STALL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
    });
    cap.map_or(d, |c| d.min(c))
}

/// What happens to one request, in order: `Head`, `Body`*, then `End` or
/// `Failed` (or just `Failed`).
#[derive(Debug)]
pub enum Event {
    Head(u16, Vec<(String, String)>),
    Body(Bytes),
    End,
    Failed(TransportErrorKind),
}

/// An open HTTP/1.1 connection, ready for its next request.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections per origin (`scheme://host:port`).
static POOL: Mutex<Option<HashMap<String, Vec<Sender>>>> = Mutex::new(None);
/// Idle connections kept per origin at most.
const MAX_IDLE_PER_ORIGIN: usize = 8;

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Requests sent and connections opened by this process so far.
pub fn counts() -> (u64, u64) {
    (
        REQUESTS.load(Ordering::Relaxed),
        CONNECTIONS.load(Ordering::Relaxed),
    )
}

fn take_idle(origin: &str) -> Option<Sender> {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let idle = pool.get_or_insert_with(HashMap::new).get_mut(origin)?;
    while let Some(sender) = idle.pop() {
        if sender.is_ready() {
            return Some(sender);
        }
    }
    None
}

fn put_idle(origin: String, sender: Sender) {
    if !sender.is_ready() {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let idle = pool
        .get_or_insert_with(HashMap::new)
        .entry(origin)
        .or_default();
    if idle.len() < MAX_IDLE_PER_ORIGIN {
        idle.push(sender);
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn tls() -> Option<&'static tokio_rustls::TlsConnector> {
    static TLS: OnceLock<Option<tokio_rustls::TlsConnector>> = OnceLock::new();
    TLS.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
    })
    .as_ref()
}

fn method(m: HttpMethod) -> hyper::Method {
    match m {
        HttpMethod::Get => hyper::Method::GET,
        HttpMethod::Post => hyper::Method::POST,
        HttpMethod::Put => hyper::Method::PUT,
        HttpMethod::Patch => hyper::Method::PATCH,
        HttpMethod::Delete => hyper::Method::DELETE,
    }
}

/// Sends `req` (plus `Api-Key` when it needs auth and a key is given) and
/// reports every step to `tx` tagged with the request id. Never panics;
/// every failure becomes `Event::Failed`.
pub async fn send(req: HttpRequest, api_key: Option<Arc<str>>, tx: mpsc::Sender<(u64, Event)>) {
    let id = req.id;
    if let Err(kind) = exchange(req, api_key, |ev| {
        let tx = tx.clone();
        async move { tx.send((id, ev)).await.is_ok() }
    })
    .await
    {
        let _ = tx.send((id, Event::Failed(kind))).await;
    }
}

/// Sends `req` and collects the body (for `check` and `discover`; at most
/// `limit` bytes are kept).
pub async fn fetch_all(
    req: HttpRequest,
    api_key: Option<Arc<str>>,
    limit: usize,
) -> Result<(u16, Vec<u8>), TransportErrorKind> {
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(send(req, api_key, tx));
    let mut status = 0;
    let mut body = Vec::new();
    while let Some((_, ev)) = rx.recv().await {
        match ev {
            Event::Head(s, _) => status = s,
            Event::Body(b) => {
                let room = limit.saturating_sub(body.len());
                body.extend_from_slice(&b[..b.len().min(room)]);
            }
            Event::End => return Ok((status, body)),
            Event::Failed(k) => return Err(k),
        }
    }
    Err(TransportErrorKind::Other)
}

/// Bytes of a body per [`THROUGHPUT_WINDOW`], to tell a trickle from a
/// slow but working transfer.
struct Throughput {
    since: tokio::time::Instant,
    bytes: u64,
}

impl Throughput {
    fn new(now: tokio::time::Instant) -> Self {
        Throughput {
            since: now,
            bytes: 0,
        }
    }

    fn received(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// `false` once a whole window went by with too few bytes.
    fn keeps_up(&mut self, now: tokio::time::Instant) -> bool {
        if now.duration_since(self.since) < capped(THROUGHPUT_WINDOW) {
            return true;
        }
        let ok = self.bytes >= MIN_BYTES_PER_WINDOW;
        *self = Throughput::new(now);
        ok
    }
}

/// Opens a connection (TCP, then TLS for `https`) and its HTTP/1.1 session.
async fn connect(host: &str, port: u16, https: bool) -> Result<Sender, TransportErrorKind> {
    use TransportErrorKind as K;
    let tcp = timeout(capped(CONNECT_TIMEOUT), TcpStream::connect((host, port)))
        .await
        .map_err(|_| K::Timeout)?
        .map_err(|_| K::Connect)?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if https {
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| K::Connect)?;
        let stream = timeout(
            capped(CONNECT_TIMEOUT),
            tls().ok_or(K::Connect)?.connect(name, tcp),
        )
        .await
        .map_err(|_| K::Timeout)?
        .map_err(|_| K::Connect)?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|_| K::Connect)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    Ok(sender)
}

async fn exchange<F, Fut>(
    req: HttpRequest,
    api_key: Option<Arc<str>>,
    mut emit: F,
) -> Result<(), TransportErrorKind>
where
    F: FnMut(Event) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    use TransportErrorKind as K;
    let uri: Uri = req.url.parse().map_err(|_| K::Connect)?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(K::Connect),
    };
    let host = uri.host().ok_or(K::Connect)?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());

    let origin = format!("{}://{host}:{port}", if https { "https" } else { "http" });
    // Only reads go out on a reused connection: a write on a connection the
    // server was just closing could fail in a way that leaves it unknown
    // whether it was applied. (Any connection returns to the pool after a
    // complete response.)
    let idle = if req.method == HttpMethod::Get {
        take_idle(&origin)
    } else {
        None
    };
    let mut sender = match idle {
        Some(sender) => sender,
        None => connect(&host, port, https).await?,
    };
    REQUESTS.fetch_add(1, Ordering::Relaxed);

    let mut builder = hyper::Request::builder()
        .method(method(req.method))
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("iterable-connector/", env!("CARGO_PKG_VERSION")),
        );
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    if req.needs_auth
        && let Some(key) = &api_key
    {
        builder = builder.header("Api-Key", key.as_ref());
    }
    let body = Full::new(Bytes::from(req.body.unwrap_or_default()));
    let request = builder.body(body).map_err(|_| K::Other)?;
    let response = timeout(capped(HEAD_TIMEOUT), sender.send_request(request))
        .await
        .map_err(|_| K::Timeout)?
        .map_err(|_| K::Other)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !emit(Event::Head(status, headers)).await {
        return Ok(());
    }
    let mut body = response.into_body();
    let mut pace = Throughput::new(tokio::time::Instant::now());
    loop {
        if !pace.keeps_up(tokio::time::Instant::now()) {
            return Err(K::Timeout);
        }
        match timeout(capped(IDLE_TIMEOUT), body.frame()).await {
            Err(_) => return Err(K::Timeout),
            Ok(None) => {
                // Read to the end: the connection can serve the next request.
                put_idle(origin, sender);
                emit(Event::End).await;
                return Ok(());
            }
            Ok(Some(Err(_))) => return Err(K::BodyCut),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    pace.received(data.len());
                    if !emit(Event::Body(data)).await {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickle_fails_the_throughput_check_and_a_slow_body_passes() {
        let t0 = tokio::time::Instant::now();
        let mut trickle = Throughput::new(t0);
        for _ in 0..60 {
            trickle.received(1); // a byte every two seconds
        }
        assert!(trickle.keeps_up(t0 + Duration::from_secs(119)));
        assert!(!trickle.keeps_up(t0 + THROUGHPUT_WINDOW));

        let mut slow = Throughput::new(t0);
        slow.received(4096);
        assert!(slow.keeps_up(t0 + THROUGHPUT_WINDOW));
        // A new window starts: it must bring its own bytes.
        assert!(!slow.keeps_up(t0 + THROUGHPUT_WINDOW * 2));
    }
}
