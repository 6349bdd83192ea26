//! The last line of defence for the API key: every text the host prints
//! (errors, logs, result lines) passes through [`scrub`], which replaces the
//! key and any run of 4 or more of its leading characters (a body cut inside
//! the key leaves a prefix) with `***`.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

/// Shortest piece of a secret worth hiding (shorter runs are too common).
const MIN_SECRET_PREFIX: usize = 4;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `secret` for [`scrub`] (ignored when shorter than 4 bytes).
pub fn register(secret: &str) {
    if secret.len() < MIN_SECRET_PREFIX {
        return;
    }
    let mut s = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    if !s.iter().any(|x| x == secret) {
        s.push(secret.to_string());
    }
}

/// `text` without any registered secret or prefix of one.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if let Some(clean) = scrub_one(&out, secret) {
            out = Cow::Owned(clean);
        }
    }
    out
}

/// Replaces each run of `secret`'s leading bytes (at least 4) in `text`;
/// `None` when there is none.
fn scrub_one(text: &str, secret: &str) -> Option<String> {
    let head = secret.get(..MIN_SECRET_PREFIX)?;
    if !text.contains(head) {
        return None;
    }
    let (t, s) = (text.as_bytes(), secret.as_bytes());
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while let Some(found) = text[i..].find(head) {
        let at = i + found;
        let mut n = 0;
        while n < s.len() && at + n < t.len() && t[at + n] == s[n] {
            n += 1;
        }
        // Only cut at a character boundary (a secret is ASCII in practice).
        while !text.is_char_boundary(at + n) {
            n -= 1;
        }
        out.push_str(&text[copied..at]);
        out.push_str("***");
        copied = at + n;
        i = at + n.max(1);
    }
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_its_prefixes_are_scrubbed() {
        let key = "k3y-5ecret-abcdef-0123456789";
        assert_eq!(
            scrub_one("a k3y-5ecret-abcdef-0123456789 b", key).unwrap(),
            "a *** b"
        );
        assert_eq!(scrub_one("cut: k3y-5ecr", key).unwrap(), "cut: ***");
        assert_eq!(
            scrub_one("k3y-5 and k3y-5ecret", key).unwrap(),
            "*** and ***"
        );
        assert_eq!(scrub_one("k3 is short", key), None);
        register(key);
        assert_eq!(scrub("Api-Key: k3y-5ecret-abcdef-012"), "Api-Key: ***");
    }
}
