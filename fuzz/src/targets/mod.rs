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

/// How many leading bytes of `key` `text` echoes after a key name
/// (`Api-Key`, `api_key`, `x-api-key`, `API KEY`, any case, then any of
/// `"':=` and blanks), when 4 or more.
pub fn key_echo_in(text: &str, key: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = lower[from..].find("api") {
        let at = from + found;
        from = at + 3;
        let mut i = at + 3;
        if matches!(bytes.get(i), Some(b'-' | b'_' | b' ')) {
            i += 1;
        }
        if !lower[i..].starts_with("key") {
            continue;
        }
        i += 3;
        while matches!(
            bytes.get(i),
            Some(b'"' | b'\'' | b':' | b'=' | b' ' | b'\t')
        ) {
            i += 1;
        }
        let same = bytes[i..]
            .iter()
            .zip(key.as_bytes())
            .take_while(|(a, b)| a == b)
            .count();
        if same >= 4 {
            return Some(same);
        }
    }
    None
}

/// Panics when `text` echoes `key` after a key name (see [`key_echo_in`]).
/// That is the core's promise for the bodies it quotes
/// (`redact_key_echo`); a key a server writes into prose without a name is
/// the host's to scrub (`host/src/redact.rs`), as only the host may know it.
pub fn assert_no_key_echo(text: &str, key: &str) {
    if let Some(n) = key_echo_in(text, key) {
        panic!("the API key is echoed ({n} bytes of it after a key name) in: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_checks_catch_echoes_and_pieces() {
        let echo = key_echo_in("HTTP 400: Api-Key: fuzz-SECRET-k…", API_KEY);
        assert_eq!(echo, Some(13), "an echoed prefix is caught");
        assert_eq!(key_echo_in(r#"{"x_api_key":"fuzz-S"}"#, API_KEY), Some(6));
        let reason = "Iterable rejected the API key: use a server-side key";
        assert_eq!(key_echo_in(reason, API_KEY), None);
        assert_eq!(key_echo_in("Api-Key: ***", API_KEY), None);
        assert_eq!(
            key_piece_in("x SECRET-key-0123 y", API_KEY).as_deref(),
            Some("SECRET-key-0")
        );
        assert_eq!(key_piece_in("fuzz-SECRET", API_KEY), None);
    }
}
