//! `NativeTransport`: the default HTTP transport, in Rust.
//!
//! A blocking HTTP/1.1 client (keep-alive pool, rustls with webpki roots for
//! https, gzip/deflate bodies) that implements the Python `Transport`
//! protocol (`send` → a response with `status`, `headers`, `iter_chunks`,
//! `close`). Connecting, writing and every body read run with the GIL
//! released, and the body comes out in chunks of up to 256 KiB instead of
//! one Python object per HTTP chunk (the simulator and Iterable send one
//! chunk per row): Python's `http.client` chunked decoding was the largest
//! Python cost of a read. Failures raise the same `TransportError` kinds as
//! the urllib3 transport; the API key, sent in a header, never appears in one.

mod conn;
mod message;
mod url;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use conn::{Failure, Pool};
use message::{Body, Decoded, body_failure};
use url::Target;

/// Chunk size (as the Python transports' `CHUNK_SIZE`).
const CHUNK_SIZE: usize = 256 * 1024;
/// A chunk goes out when full or this long after the previous one, so that
/// a slow body still reaches the driver's minimum-throughput check often
/// (as `transport.SLICE_S`).
const SLICE: Duration = Duration::from_secs(1);
/// Connecting waits at most this long (as the Python transports).
const MAX_CONNECT: f64 = 30.0;

fn transport_error(py: Python<'_>, f: &Failure) -> PyErr {
    let made = py
        .import("iterable_connector.errors")
        .and_then(|m| m.getattr("TransportError"))
        .and_then(|cls| cls.call1((f.kind.as_str(), f.detail.as_str())));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The default transport: HTTP/1.1 in Rust, the GIL released while it waits.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct NativeTransport {
    pool: Arc<Pool>,
    chunk_size: usize,
}

#[pymethods]
impl NativeTransport {
    #[new]
    #[pyo3(signature = (*, chunk_size=CHUNK_SIZE))]
    fn new(chunk_size: usize) -> PyResult<Self> {
        if chunk_size == 0 {
            return Err(PyValueError::new_err(
                "chunk_size: must be at least 1 (bytes per chunk; the default is 262144)",
            ));
        }
        Ok(NativeTransport {
            pool: Arc::default(),
            chunk_size,
        })
    }

    /// Sends one request and reads the response head. Raises
    /// `TransportError` (`connect`, `timeout`, `body_cut`, `other`) if no
    /// response arrived. No retries, no redirects: the core decides.
    #[pyo3(signature = (method, url, headers, body, timeout))]
    fn send(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: Option<&[u8]>,
        timeout: f64,
    ) -> PyResult<NativeResponse> {
        // Copied: the bytes object cannot be borrowed while the GIL is released.
        let body = body.map(<[u8]>::to_vec);
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(PyValueError::new_err(
                "timeout: must be a positive number of seconds",
            ));
        }
        let io_timeout = Duration::from_secs_f64(timeout);
        let connect_timeout = Duration::from_secs_f64(timeout.min(MAX_CONNECT));
        let target = Target::parse(url).map_err(|e| {
            transport_error(py, &Failure::new(conn::Kind::Other, format!("url: {e}")))
        })?;
        let pool = self.pool.clone();
        let method = method.to_string();
        let opened = py
            .detach(|| {
                open(
                    &pool,
                    &target,
                    &method,
                    &headers,
                    body.as_deref(),
                    connect_timeout,
                    io_timeout,
                )
            })
            .map_err(|f| transport_error(py, &f))?;
        Ok(NativeResponse {
            status: opened.status,
            headers: opened.headers,
            pool: self.pool.clone(),
            chunk_size: self.chunk_size,
            body: Mutex::new(Some(opened.body)),
        })
    }

    /// Idle keep-alive connections held (for tests and diagnostics).
    #[getter]
    fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }

    fn __repr__(&self) -> String {
        "NativeTransport()".to_string()
    }
}

/// A response whose head was read; its body not yet.
struct Opened {
    status: u16,
    headers: Vec<(String, String)>,
    body: Decoded,
}

/// Sends the request on a pooled connection or a new one; a pooled
/// connection the server had closed without a byte of answer is replaced
/// once by a new one (it never reached the server's handler).
fn open(
    pool: &Pool,
    target: &Target,
    method: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<Opened, Failure> {
    let head = message::request_head(method, target, headers, body.map(<[u8]>::len))?;
    let origin = target.origin();
    loop {
        let (mut conn, reused) = match pool.take(&origin) {
            Some(c) => (c, true),
            None => (conn::connect(target, connect_timeout, io_timeout)?, false),
        };
        conn.set_timeout(io_timeout)
            .map_err(|e| Failure::new(conn::Kind::Other, conn::io_detail(&e)))?;
        match message::exchange(&mut conn, &head, body.unwrap_or_default()) {
            Ok(resp) => {
                let body = Body::new(conn, method, &resp)?;
                let body = Decoded::new(body, &resp);
                return Ok(Opened {
                    status: resp.status,
                    headers: resp.headers,
                    body,
                });
            }
            Err(e) if reused && e.nothing_received => continue,
            Err(e) => return Err(e.failure),
        }
    }
}

/// A response whose body is read in chunks, with the GIL released.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct NativeResponse {
    status: u16,
    headers: Vec<(String, String)>,
    pool: Arc<Pool>,
    chunk_size: usize,
    /// `None` once the body was read to its end (the connection back in the
    /// pool), failed, or was closed.
    body: Mutex<Option<Decoded>>,
}

impl NativeResponse {
    /// Up to `chunk_size` bytes: reads until the chunk is full, the body
    /// ends, or `SLICE` passed. `Ok(None)`: the body ended.
    fn read_chunk(&self) -> Result<Option<Vec<u8>>, Failure> {
        let mut guard = self.body.lock().unwrap_or_else(|e| e.into_inner());
        let Some(decoded) = guard.as_mut() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; self.chunk_size];
        let mut len = 0;
        let started = Instant::now();
        let ended = loop {
            match decoded.read(&mut buf[len..]) {
                Ok(0) => break true,
                Ok(n) => {
                    len += n;
                    if len == buf.len() || started.elapsed() >= SLICE {
                        break false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if let Some(d) = guard.take() {
                        d.body().shutdown();
                    }
                    return Err(body_failure(&e));
                }
            }
        };
        if ended && let Some(d) = guard.take() {
            // Read to the end: the connection can serve the next request.
            if let Some(conn) = d.into_body().into_reusable() {
                self.pool.put(conn);
            }
        }
        buf.truncate(len);
        Ok((len > 0 || !ended).then_some(buf))
    }
}

#[pymethods]
impl NativeResponse {
    #[getter]
    fn status(&self) -> u16 {
        self.status
    }

    /// `(name, value)` pairs as the server sent them.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    /// The body, decoded, in chunks (this object is its own iterator).
    /// Raises `TransportError` (`timeout` or `body_cut`) if it breaks off.
    fn iter_chunks(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        loop {
            match py.detach(|| self.read_chunk()) {
                Ok(Some(chunk)) if chunk.is_empty() => continue,
                Ok(Some(chunk)) => return Ok(Some(PyBytes::new(py, &chunk))),
                Ok(None) => return Ok(None),
                Err(f) => return Err(transport_error(py, &f)),
            }
        }
    }

    /// Ends the response. A body not read to its end is dropped with its
    /// connection (reusing it would mean reading the rest first).
    fn close(&self) {
        let mut guard = self.body.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = guard.take() {
            d.body().shutdown();
        }
    }

    fn __repr__(&self) -> String {
        format!("NativeResponse(status={})", self.status)
    }
}
