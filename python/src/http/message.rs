//! HTTP/1.1 messages on a connection: the request written in one piece, the
//! response head parsed with `httparse`, the body framed by Content-Length,
//! chunked transfer coding or connection close, then gzip/deflate undone.

use std::io::{self, BufRead, Read, Write};

use flate2::read::{MultiGzDecoder, ZlibDecoder};

use super::conn::{Conn, Failure, Kind, io_detail};
use super::url::Target;

/// A response head larger than this is refused (no real API sends one).
const MAX_HEAD: usize = 64 * 1024;
/// A chunk-size line or trailer line longer than this is malformed.
const MAX_LINE: usize = 4096;

/// The request line and headers. `Host`, `Content-Length` and a
/// `User-Agent` are added unless the caller set them.
pub(crate) fn request_head(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body_len: Option<usize>,
) -> Result<Vec<u8>, Failure> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Failure::new(
            Kind::Other,
            "the method must be uppercase letters",
        ));
    }
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(format!("{method} {} HTTP/1.1\r\n", target.path).as_bytes());
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("host") {
        head.extend_from_slice(format!("Host: {}\r\n", target.authority).as_bytes());
    }
    if !has("user-agent") {
        head.extend_from_slice(
            format!(
                "User-Agent: iterable-connector-python/{}\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        );
    }
    let len = body_len.or(matches!(method, "POST" | "PUT" | "PATCH").then_some(0));
    if let Some(n) = len
        && !has("content-length")
    {
        head.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
    }
    for (k, v) in headers {
        let bad_name = k.is_empty() || k.bytes().any(|b| !b.is_ascii_graphic() || b == b':');
        // A CR or LF in a value would start a new header (request smuggling):
        // refused, naming the header but never echoing its value.
        let bad_value = v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if bad_name || bad_value {
            return Err(Failure::new(
                Kind::Other,
                format!("header {k:?} has characters HTTP does not allow"),
            ));
        }
        head.extend_from_slice(k.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(v.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// A parsed response head.
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    /// HTTP/1.1 without `Connection: close`: the connection may serve again.
    pub(crate) keep_alive: bool,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why an exchange failed, and whether the server sent nothing at all (a
/// reused keep-alive connection the server had closed: safe to resend once).
pub(crate) struct ExchangeError {
    pub(crate) failure: Failure,
    pub(crate) nothing_received: bool,
}

/// Writes the request, reads the response head (skipping 1xx heads).
pub(crate) fn exchange(conn: &mut Conn, head: &[u8], body: &[u8]) -> Result<Head, ExchangeError> {
    let sent = {
        let w = conn.io.get_mut();
        // One write for small requests: head and body together.
        let mut msg = Vec::with_capacity(head.len() + body.len());
        msg.extend_from_slice(head);
        msg.extend_from_slice(body);
        w.write_all(&msg).and_then(|()| w.flush())
    };
    if let Err(e) = sent {
        let mut failure = Failure::reading(&e);
        if failure.kind == Kind::BodyCut {
            failure.kind = Kind::Connect; // nothing of the response yet
        }
        return Err(ExchangeError {
            failure,
            nothing_received: true,
        });
    }
    let mut received = false;
    loop {
        let head = read_head(conn, &mut received).map_err(|failure| ExchangeError {
            failure,
            nothing_received: !received,
        })?;
        if !(100..200).contains(&head.status) {
            return Ok(head);
        }
    }
}

fn read_head(conn: &mut Conn, received: &mut bool) -> Result<Head, Failure> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let before = buf.len();
        let n = conn
            .io
            .by_ref()
            .take((MAX_HEAD - before) as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Failure::reading(&e))?;
        if n == 0 {
            return Err(Failure::new(
                Kind::BodyCut,
                "the server closed the connection before a response",
            ));
        }
        *received = true;
        if buf.len() > MAX_HEAD {
            return Err(Failure::new(
                Kind::Other,
                "the response head is over 64 KiB",
            ));
        }
        let line = &buf[before..];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut slots);
    match resp.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Failure::new(Kind::Other, "incomplete response head"));
        }
        Err(e) => {
            return Err(Failure::new(
                Kind::Other,
                format!("malformed response head: {e}"),
            ));
        }
    }
    let status = resp.code.unwrap_or(0);
    let http11 = resp.version == Some(1);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut head = Head {
        status,
        headers,
        keep_alive: false,
    };
    let close = head
        .header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    head.keep_alive = http11 && !close;
    Ok(head)
}

/// How the body's end is known.
enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked: bytes left in the current chunk (`None`: a size line next).
    Chunked(Option<u64>),
    /// Until the server closes the connection.
    Close,
    Done,
}

/// The body as sent (transfer coding undone, content coding not yet).
pub(crate) struct Body {
    conn: Conn,
    framing: Framing,
    reusable: bool,
}

impl Body {
    pub(crate) fn new(conn: Conn, method: &str, head: &Head) -> Result<Body, Failure> {
        let no_body = method == "HEAD" || head.status == 204 || head.status == 304;
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let framing = if no_body {
            Framing::Done
        } else if chunked {
            Framing::Chunked(None)
        } else if let Some(len) = head.header("content-length") {
            let n = len
                .trim()
                .parse()
                .map_err(|_| Failure::new(Kind::Other, "the Content-Length is not a number"))?;
            if n == 0 {
                Framing::Done
            } else {
                Framing::Length(n)
            }
        } else {
            Framing::Close
        };
        let reusable = head.keep_alive && !matches!(framing, Framing::Close);
        Ok(Body {
            conn,
            framing,
            reusable,
        })
    }

    /// The whole body was read and the connection may serve another request.
    pub(crate) fn into_reusable(self) -> Option<Conn> {
        (matches!(self.framing, Framing::Done) && self.reusable).then_some(self.conn)
    }

    pub(crate) fn shutdown(&self) {
        self.conn.shutdown();
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.conn
            .io
            .by_ref()
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(cut("the body ended inside a chunk header"));
        }
        Ok(line)
    }

    fn next_chunk_size(&mut self) -> io::Result<u64> {
        let line = self.line()?;
        let text = std::str::from_utf8(&line).map_err(|_| bad("a chunk size is not text"))?;
        let hex = text.split(';').next().unwrap_or("").trim();
        u64::from_str_radix(hex, 16).map_err(|_| bad("a chunk size is not hexadecimal"))
    }
}

fn cut(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, msg.to_string())
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.framing {
                Framing::Done => return Ok(0),
                Framing::Close => {
                    let n = self.conn.io.read(buf)?;
                    if n == 0 {
                        self.framing = Framing::Done;
                    }
                    return Ok(n);
                }
                Framing::Length(left) => {
                    let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.conn.io.read(&mut buf[..max])?;
                    if n == 0 {
                        return Err(cut("the body ended before its Content-Length"));
                    }
                    let left = left - n as u64;
                    self.framing = if left == 0 {
                        Framing::Done
                    } else {
                        Framing::Length(left)
                    };
                    return Ok(n);
                }
                Framing::Chunked(None) => {
                    let size = self.next_chunk_size()?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while !matches!(self.line()?.as_slice(), b"\r\n" | b"\n") {}
                        self.framing = Framing::Done;
                    } else {
                        self.framing = Framing::Chunked(Some(size));
                    }
                }
                Framing::Chunked(Some(left)) => {
                    let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.conn.io.read(&mut buf[..max])?;
                    if n == 0 {
                        return Err(cut("the body ended inside a chunk"));
                    }
                    let left = left - n as u64;
                    if left == 0 {
                        if !matches!(self.line()?.as_slice(), b"\r\n" | b"\n") {
                            return Err(bad("a chunk does not end with CRLF"));
                        }
                        self.framing = Framing::Chunked(None);
                    } else {
                        self.framing = Framing::Chunked(Some(left));
                    }
                    return Ok(n);
                }
            }
        }
    }
}

/// The body with its content coding undone (urllib3 decodes gzip and
/// deflate the same way, keeping the `Content-Encoding` header).
pub(crate) enum Decoded {
    Identity(Body),
    Gzip(Box<MultiGzDecoder<Body>>),
    Deflate(Box<ZlibDecoder<Body>>),
}

impl Decoded {
    pub(crate) fn new(body: Body, head: &Head) -> Decoded {
        match head
            .header("content-encoding")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            Some(e) if e == "gzip" || e == "x-gzip" => {
                Decoded::Gzip(Box::new(MultiGzDecoder::new(body)))
            }
            Some(e) if e == "deflate" => Decoded::Deflate(Box::new(ZlibDecoder::new(body))),
            _ => Decoded::Identity(body),
        }
    }

    pub(crate) fn into_body(self) -> Body {
        match self {
            Decoded::Identity(b) => b,
            Decoded::Gzip(d) => (*d).into_inner(),
            Decoded::Deflate(d) => (*d).into_inner(),
        }
    }

    pub(crate) fn body(&self) -> &Body {
        match self {
            Decoded::Identity(b) => b,
            Decoded::Gzip(d) => d.get_ref(),
            Decoded::Deflate(d) => d.get_ref(),
        }
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Identity(b) => b.read(buf),
            Decoded::Gzip(d) => d.read(buf),
            Decoded::Deflate(d) => d.read(buf),
        }
    }
}

/// A read error's failure: bad framing or a bad gzip stream is a cut body
/// (the core retries it), like urllib3's `DecodeError`.
pub(crate) fn body_failure(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            Failure::new(Kind::Timeout, io_detail(e))
        }
        _ => Failure::new(Kind::BodyCut, io_detail(e)),
    }
}
