//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream` for tests:
//! plain http only, `Connection: close`, streams the body in chunks as they are
//! read and reports a body that ends early as `BodyCut`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use connector_core::TransportErrorKind;

pub enum Event<'a> {
    Head(u16, Vec<(String, String)>),
    Body(&'a [u8]),
    End,
    Error(TransportErrorKind),
}

/// Sends one request; calls `on` with the head, body chunks, then End or Error.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    on: &mut dyn FnMut(Event),
) {
    let Some(rest) = url.strip_prefix("http://") else {
        on(Event::Error(TransportErrorKind::Connect));
        return;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let stream = match TcpStream::connect(authority) {
        Ok(s) => s,
        Err(_) => {
            on(Event::Error(TransportErrorKind::Connect));
            return;
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut writer = &stream;
    if writer.write_all(req.as_bytes()).is_err()
        || body.is_some_and(|b| writer.write_all(b).is_err())
    {
        on(Event::Error(TransportErrorKind::Connect));
        return;
    }
    let mut reader = BufReader::with_capacity(64 * 1024, &stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        on(Event::Error(TransportErrorKind::Other));
        return;
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut resp_headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            on(Event::Error(TransportErrorKind::Other));
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            resp_headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        resp_headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
    on(Event::Head(status, resp_headers.clone()));
    let ok = if chunked {
        read_chunked(&mut reader, on)
    } else if let Some(n) = length {
        read_exact_streaming(&mut reader, n, on)
    } else {
        read_to_end_streaming(&mut reader, on)
    };
    on(if ok {
        Event::End
    } else {
        Event::Error(TransportErrorKind::BodyCut)
    });
}

fn read_exact_streaming(r: &mut impl Read, mut n: usize, on: &mut dyn FnMut(Event)) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    while n > 0 {
        let want = n.min(buf.len());
        match r.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return false,
            Ok(got) => {
                on(Event::Body(&buf[..got]));
                n -= got;
            }
        }
    }
    true
}

fn read_to_end_streaming(r: &mut impl Read, on: &mut dyn FnMut(Event)) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(got) => on(Event::Body(&buf[..got])),
            Err(_) => return false,
        }
    }
}

fn read_chunked(r: &mut impl BufRead, on: &mut dyn FnMut(Event)) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        let size_str = line.trim().split(';').next().unwrap_or("");
        let Ok(size) = usize::from_str_radix(size_str, 16) else {
            return false;
        };
        if size == 0 {
            // Trailers, then the final CRLF.
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return false;
                }
                if line.trim().is_empty() {
                    return true;
                }
            }
        }
        if !read_exact_streaming(r, size, on) {
            return false;
        }
        let mut crlf = [0u8; 2];
        if r.read_exact(&mut crlf).is_err() {
            return false;
        }
    }
}
