//! Plain text, one identifier per line (`lists/getUsers`, `lists/previewUsers`).
//!
//! Each non-blank line, trimmed, becomes a `Value::String`. Iterable may end the
//! body with a blank line (iterable-api.md §4.4); blank lines carry no user.

use serde_json::Value;

use super::lines::LineEvent;
use super::{Output, ParseError, excerpt};

pub(crate) fn on_line(event: LineEvent<'_>, out: &mut Output) -> Result<(), ParseError> {
    match event {
        LineEvent::Line {
            bytes,
            offset,
            number,
        } => match std::str::from_utf8(bytes) {
            Ok(text) => {
                let text = text.trim();
                if !text.is_empty() {
                    out.emit(Value::String(text.to_owned()));
                }
                Ok(())
            }
            Err(e) => {
                let message = format!(
                    "invalid UTF-8 at byte {} in {}",
                    e.valid_up_to(),
                    excerpt(bytes)
                );
                out.malformed(ParseError::new(offset, number, message))
            }
        },
        LineEvent::Oversized { offset, number } => {
            out.malformed(ParseError::new(offset, number, "line too long"))
        }
    }
}
