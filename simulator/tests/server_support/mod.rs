//! Shared helpers for the server-layer tests: a tiny blocking HTTP/1.1
//! client that tells a complete body from a cut one, and a fake handler
//! with known output so these tests do not depend on the world's data.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iterable_sim::types::{ApiRequest, ApiResponse};
use iterable_sim::{Handler, RunningSim, SimOptions, spawn_with_handler};
use serde_json::{Value, json};

/// One HTTP response as read off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `false` when the connection ended before the body did.
    pub complete: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    pub fn open(base_url: &str) -> Conn {
        let host = base_url.trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(&host).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream),
            host,
        }
    }

    /// Sends one request; `target` is path plus query.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(req.as_bytes()).unwrap();
        if let Some(b) = body {
            stream.write_all(b).unwrap();
        }
        read_response(&mut self.reader)
    }

    pub fn get(&mut self, target: &str) -> Resp {
        self.send("GET", target, &[("Api-Key", "test-key")], None)
    }
}

fn read_line(r: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) if !line.ends_with('\n') => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn read_response(r: &mut impl BufRead) -> Resp {
    let status_line = read_line(r).expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_line(r).expect("header line");
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("header");
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
        complete: false,
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        resp.complete = read_chunked(r, &mut resp.body);
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().unwrap();
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match r.read(&mut buf[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        buf.truncate(got);
        resp.body = buf;
        resp.complete = got == len;
    } else {
        let _ = r.read_to_end(&mut resp.body);
        resp.complete = true;
    }
    resp
}

/// Returns whether the terminating zero-size chunk arrived.
fn read_chunked(r: &mut impl BufRead, body: &mut Vec<u8>) -> bool {
    loop {
        let Some(size_line) = read_line(r) else {
            return false;
        };
        let Ok(size) = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
        else {
            return false;
        };
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                match read_line(r) {
                    Some(l) if l.is_empty() => return true,
                    Some(_) => continue,
                    None => return false,
                }
            }
        }
        let mut chunk = vec![0u8; size];
        let mut got = 0;
        while got < size {
            match r.read(&mut chunk[got..]) {
                Ok(0) | Err(_) => {
                    body.extend_from_slice(&chunk[..got]);
                    return false;
                }
                Ok(n) => got += n,
            }
        }
        body.extend_from_slice(&chunk);
        if read_line(r).as_deref() != Some("") {
            return false;
        }
    }
}

/// One request on a fresh connection.
pub fn request(
    base: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    Conn::open(base).send(method, target, headers, body)
}

/// GET with a valid key on a fresh connection.
pub fn get(base: &str, target: &str) -> Resp {
    Conn::open(base).get(target)
}

/// Lines of the fake NDJSON export.
pub const EXPORT_LINES: usize = 200;

pub fn export_line(i: usize) -> String {
    format!("{{\"email\":\"user{i}@example.com\",\"n\":{i}}}\n")
}

/// A handler with known output; counts how often it is reached.
#[derive(Default)]
pub struct FakeApi {
    pub calls: AtomicUsize,
}

impl FakeApi {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Handler for FakeApi {
    fn handle(&self, req: &ApiRequest) -> ApiResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match req.path.as_str() {
            "/api/export/data.json" => ApiResponse::stream(
                "application/x-json-stream",
                Box::new((0..EXPORT_LINES).map(|i| export_line(i).into_bytes())),
            ),
            // Echoes the data type so tests can see what handlers receive.
            "/api/export/data.csv" => ApiResponse::text(
                200,
                "text/csv",
                format!(
                    "dataTypeName\n{}\n",
                    req.param("dataTypeName").unwrap_or("")
                ),
            ),
            p if p.starts_with("/_files/") => ApiResponse::text(
                200,
                "application/x-json-stream",
                (0..10).map(export_line).collect(),
            ),
            _ => ApiResponse::success(
                "",
                json!({"path": req.path, "query": req.query, "now": req.now.to_rfc3339()}),
            ),
        }
    }
}

/// A simulator over [`FakeApi`].
pub fn fake_sim(opts: SimOptions) -> (RunningSim, Arc<FakeApi>) {
    let api = Arc::new(FakeApi::default());
    let sim = spawn_with_handler(opts, api.clone());
    (sim, api)
}

pub const EXPORT_JSON: &str = "/api/export/data.json?dataTypeName=emailSend&range=All";
