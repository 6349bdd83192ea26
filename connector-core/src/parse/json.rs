//! A single JSON document (most Iterable endpoints).
//!
//! JSON cannot be decoded to a `Value` before it is complete, so the document is
//! buffered, up to `max_document_bytes`, and parsed at the end of the body.
//! Errors here are always fatal, whatever `skip_malformed` says: the document is
//! the whole response, so skipping it would silently lose everything.

use super::{Output, ParseError};

#[derive(Debug)]
pub(crate) struct JsonDocument {
    buf: Vec<u8>,
    max_bytes: usize,
}

impl JsonDocument {
    pub(crate) fn new(max_bytes: usize) -> Self {
        JsonDocument {
            buf: Vec::new(),
            max_bytes,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        if self.buf.len() + chunk.len() > self.max_bytes {
            self.buf = Vec::new();
            let message = format!("JSON document larger than {} bytes", self.max_bytes);
            return Err(ParseError::new(0, 1, message));
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Output) -> Result<(), ParseError> {
        let buf = std::mem::take(&mut self.buf);
        if buf.trim_ascii().is_empty() {
            return Err(ParseError::new(
                0,
                1,
                "empty body where a JSON document was expected",
            ));
        }
        match serde_json::from_slice(&buf) {
            Ok(value) => {
                out.emit(value);
                Ok(())
            }
            // serde_json's message names the line and column of the problem and
            // quotes no input, so it is safe to pass on.
            Err(e) => Err(ParseError::new(0, 1, format!("invalid JSON document: {e}"))),
        }
    }
}
