//! The fuzz targets: each a `fn(&[u8])` that panics when the core breaks a
//! promise on that input (the runner turns the panic into a finding).

pub mod parsers;
pub mod server;
pub mod session;
pub mod settings;
pub mod writes;

/// The simulated "now" of every target: 2026-11-30T12:00:00Z, epoch ms.
pub const NOW_MS: i64 = 1_796_040_000_000;

/// The API key the targets configure and the hostile server echoes back:
/// it must never show in a log, an error or a URL.
pub const API_KEY: &str = "fuzz-SECRET-key-0123456789abcdef";

/// The first 12-byte piece of `key` found in `text` (an excerpt cut inside
/// the key still leaks most of it). Keys shorter than that have none: their
/// pieces match ordinary words.
pub fn key_piece_in(text: &str, key: &str) -> Option<String> {
    const PIECE: usize = 12;
    let (text, key) = (text.as_bytes(), key.as_bytes());
    if key.len() < PIECE {
        return None;
    }
    key.windows(PIECE)
        .find(|piece| text.windows(PIECE).any(|w| w == *piece))
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
}

/// Panics when `text` holds a piece of `key` (see [`key_piece_in`]).
pub fn assert_no_key(text: &str, key: &str) {
    if let Some(piece) = key_piece_in(text, key) {
        panic!("the API key (its piece {piece:?}) leaks into: {text}");
    }
}
