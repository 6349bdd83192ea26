//! The request log: one entry per request, in memory and optionally as JSON
//! lines in a file, so tests and benchmarks can count requests and statuses.
//!
//! The API key never reaches the log: only method, path and a redacted query
//! are recorded, never headers.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One finished request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub method: String,
    /// Path without query, as sent.
    pub path: String,
    /// Raw query string (without `?`), key-like parameters redacted.
    pub query: String,
    /// The status answered; 0 when the connection was cut after a write was
    /// applied, without an answer (the `write_cut_rate` fault).
    pub status: u16,
    /// Body bytes actually sent (less than the full body when cut).
    pub bytes: u64,
    /// Milliseconds from request arrival to the end of the response body.
    pub ms: u64,
}

/// Shared, append-only log.
pub struct RequestLog {
    entries: Mutex<Vec<LogEntry>>,
    file: Option<Mutex<BufWriter<File>>>,
}

impl RequestLog {
    /// Creates (truncates) `path` when given.
    pub fn new(path: Option<&Path>) -> io::Result<RequestLog> {
        let file = match path {
            Some(p) => Some(Mutex::new(BufWriter::new(File::create(p)?))),
            None => None,
        };
        Ok(RequestLog {
            entries: Mutex::new(Vec::new()),
            file,
        })
    }

    pub fn record(&self, entry: LogEntry) {
        if let Some(file) = &self.file {
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            let line = serde_json::to_string(&entry).expect("log entry serialises");
            // Flush per line: the file is read while the server runs (tail -f,
            // tests) and the process may be killed rather than stopped.
            let _ = writeln!(f, "{line}").and_then(|_| f.flush());
        }
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    pub fn snapshot(&self) -> Vec<LogEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Removes credentials from a raw query string: values of key-like
/// parameters (`api_key`, `apiKey`, `Api-Key`…) and any occurrence of the
/// key that authenticated the request.
pub fn redact_query(raw: &str, key: Option<&str>) -> String {
    let redacted: Vec<String> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let norm: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if norm == "apikey" {
                format!("{name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    let mut out = redacted.join("&");
    if let Some(k) = key.filter(|k| k.len() >= 4) {
        out = out.replace(k, "REDACTED");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_query("a=1&api_key=s3cr3t&apiKey=x&b=2", None),
            "a=1&api_key=REDACTED&apiKey=REDACTED&b=2"
        );
        assert_eq!(
            redact_query("email=s3cr3t", Some("s3cr3t")),
            "email=REDACTED"
        );
        assert_eq!(redact_query("", Some("s3cr3t")), "");
    }
}
