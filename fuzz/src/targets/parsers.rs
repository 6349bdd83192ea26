//! The body parsers (`BodyParser`, one target per `BodyFormat`).
//!
//! The whole input is the body. Options and chunk boundaries come from a
//! hash of it, so an input replays exactly. Checked: no panic; the parse
//! does not depend on chunking (one push and many pushes give the same
//! items, skip count and error, as the module docs promise); items are
//! bounded by the bytes; an error points inside the body and quotes at most
//! a short excerpt.

use connector_core::{BodyFormat, BodyParser, ParseError, ParseOptions};
use serde_json::Value;

use crate::rng::{Rng, fnv1a};

/// What one parse produced: items in order, malformed items skipped, and
/// the first error.
#[derive(Debug, PartialEq)]
struct Parsed {
    items: Vec<Value>,
    skipped: u64,
    error: Option<ParseError>,
}

fn parse(format: BodyFormat, options: ParseOptions, chunks: &[&[u8]]) -> Parsed {
    let mut p = BodyParser::new(format, options);
    let mut items = Vec::new();
    let mut error = None;
    for chunk in chunks {
        let r = p.push(chunk);
        items.extend(p.take());
        if let Err(e) = r {
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        error = p.finish().err();
        items.extend(p.take());
    }
    // Poisoned after an error: the same error again, and nothing more.
    if let Some(e) = &error {
        assert_eq!(p.push(b"x").as_ref().err(), Some(e), "push after an error");
        assert_eq!(p.finish().as_ref().err(), Some(e), "finish after an error");
        assert_eq!(p.pending(), 0, "items after an error");
    }
    Parsed {
        items,
        skipped: p.skipped(),
        error,
    }
}

fn check(format: BodyFormat, body: &[u8]) {
    let mut rng = Rng::new(fnv1a(body));
    let options = ParseOptions {
        skip_malformed: rng.one_in(2),
        max_document_bytes: *rng.pick(&[64 * 1024 * 1024, 1, 7, 64, 1024]),
    };
    let whole = parse(format, options, &[body]);
    // The same body in pieces: one-byte pieces, random cuts, or cuts right
    // after each line end (CR and LF split from each other).
    let mut cuts: Vec<usize> = match rng.below(3) {
        0 => (1..body.len()).collect(),
        1 => (0..1 + rng.below(16))
            .map(|_| rng.below(body.len() + 1))
            .collect(),
        _ => body
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n' || **b == b'\r')
            .map(|(i, _)| i + 1)
            .collect(),
    };
    cuts.push(0);
    cuts.push(body.len());
    cuts.sort_unstable();
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let chunked = parse(format, options, &pieces);
    assert_eq!(
        whole, chunked,
        "the result depends on how the body was chunked"
    );

    let lines = body.iter().filter(|b| **b == b'\n' || **b == b'\r').count() as u64 + 1;
    match format {
        BodyFormat::Json => assert!(whole.items.len() <= 1, "one document, several items"),
        _ => assert!(
            (whole.items.len() as u64) + whole.skipped <= lines,
            "{} items and {} skipped from {lines} lines",
            whole.items.len(),
            whole.skipped
        ),
    }
    if !options.skip_malformed {
        assert_eq!(whole.skipped, 0, "skipped without skip_malformed");
    }
    if let Some(e) = &whole.error {
        assert!(
            e.offset <= body.len() as u64,
            "offset {} past the body",
            e.offset
        );
        assert!(
            e.line <= lines,
            "line {} past the last line {lines}",
            e.line
        );
        assert!(
            e.message.chars().count() <= 300,
            "an error quotes {} chars: {}",
            e.message.chars().count(),
            e.message
        );
    }
}

/// `BodyFormat::Json`: one document.
pub fn json(data: &[u8]) {
    check(BodyFormat::Json, data);
}

/// `BodyFormat::Ndjson`: export bodies.
pub fn ndjson(data: &[u8]) {
    check(BodyFormat::Ndjson, data);
}

/// `BodyFormat::Csv`: metrics bodies, with a delimiter from the input's hash.
pub fn csv(data: &[u8]) {
    let delimiter = *Rng::new(fnv1a(data) ^ 1).pick(b",,,;\t");
    check(BodyFormat::Csv { delimiter }, data);
}

/// `BodyFormat::TextLines`: `lists/getUsers` bodies.
pub fn text_lines(data: &[u8]) {
    check(BodyFormat::TextLines, data);
}
