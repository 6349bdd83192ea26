//! NDJSON (`application/x-json-stream`): one JSON object per line.
//!
//! Iterable's exports may contain blank lines and may end without a newline
//! (iterable-api.md §4.7); both are fine. Anything that is not a JSON object on
//! a non-blank line is malformed: a bare array or number would mean the stream
//! is not what we asked for.

use serde_json::Value;

use super::lines::LineEvent;
use super::{Output, ParseError, excerpt};

pub(crate) fn on_line(event: LineEvent<'_>, out: &mut Output) -> Result<(), ParseError> {
    let (bytes, offset, number) = match event {
        LineEvent::Line {
            bytes,
            offset,
            number,
        } => (bytes, offset, number),
        LineEvent::Oversized { offset, number } => {
            return out.malformed(ParseError::new(offset, number, "line too long"));
        }
    };
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Ok(());
    }
    // The usual row: valid UTF-8 the scanner tapes, no value built.
    if let Ok(text) = std::str::from_utf8(trimmed)
        && out.rows.push_scanned(text)
    {
        return Ok(());
    }
    match decode(trimmed) {
        Ok(_) => {
            // serde_json accepted it: valid UTF-8, so the text is kept.
            if let Ok(text) = std::str::from_utf8(trimmed) {
                out.rows.push_untaped(text);
            }
            Ok(())
        }
        Err(reason) => {
            let message = format!("{reason} in {}", excerpt(trimmed));
            out.malformed(ParseError::new(offset, number, message))
        }
    }
}

fn decode(bytes: &[u8]) -> Result<Value, String> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            // serde_json rejects invalid UTF-8 anywhere, so a line it accepts
            // is valid and only a failing one is checked again: invalid UTF-8
            // gets its own message instead of a syntax error.
            if let Err(u) = std::str::from_utf8(bytes) {
                return Err(format!("invalid UTF-8 at byte {}", u.valid_up_to()));
            }
            let full = e.to_string();
            // serde_json appends "at line 1 column N"; within one line only the column matters.
            let reason = full.rfind(" at line ").map_or(&full[..], |i| &full[..i]);
            return Err(format!("invalid JSON ({reason}) at column {}", e.column()));
        }
    };
    let found = match value {
        Value::Object(_) => return Ok(value),
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    };
    Err(format!("expected a JSON object, found {found}"))
}
