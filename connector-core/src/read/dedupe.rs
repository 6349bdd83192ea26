//! De-duplication of rows re-read after a retry.
//!
//! Rows are handed out as they arrive (bounded memory), so a response that
//! breaks off midway has already delivered some rows. When the same span is
//! read again, those rows must not be handed out twice. We remember a 128-bit
//! fingerprint of each row's primary key for the current unit of work (a page,
//! a list, an export window) and, after a failure, drop re-read rows whose
//! fingerprint was seen.
//!
//! It also numbers rows whose key repeats within the unit (custom events
//! that share user, name and second): the n-th repeat gets its own key, and
//! a re-read after a failure numbers the same rows the same way, because
//! the numbers handed out by the failed request are taken back.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a key fingerprint by folding it: fingerprints are already SHA-256
/// output, uniformly spread, so hashing them again would be wasted work.
/// Deterministic (no random seed): the map's order is never observed, and
/// the core stays free of randomness.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached by types other than `u128`; FNV-1a keeps it correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Counts = HashMap<u128, u32, BuildHasherDefault<FoldHasher>>;

#[derive(Default)]
pub(crate) struct Dedupe {
    seen: Vec<u128>,
    /// `seen[..sorted]` is sorted (it holds everything before the last failure).
    sorted: usize,
    filtering: bool,
    /// Rows of the unit so far, per key fingerprint.
    occurrences: Counts,
    /// Fingerprints counted by the request in flight (undone if it fails).
    counted: Vec<u128>,
}

impl Dedupe {
    /// Records the row; `false` if it was handed out before a failure.
    pub(crate) fn admit(&mut self, fingerprint: u128) -> bool {
        if self.filtering && self.seen[..self.sorted].binary_search(&fingerprint).is_ok() {
            return false;
        }
        self.seen.push(fingerprint);
        true
    }

    /// How many rows with this key fingerprint came before in the unit
    /// (0 for the first), counting this one.
    pub(crate) fn occurrence(&mut self, fingerprint: u128) -> u32 {
        let n = self.occurrences.entry(fingerprint).or_insert(0);
        let before = *n;
        *n += 1;
        self.counted.push(fingerprint);
        before
    }

    /// The request completed: its rows stay counted.
    pub(crate) fn request_done(&mut self) {
        self.counted.clear();
    }

    /// A request failed mid-unit: from now on, filter against what was seen.
    pub(crate) fn on_retry(&mut self) {
        // The request is sent again from its start: its rows are numbered again.
        for fp in self.counted.drain(..) {
            if let Some(n) = self.occurrences.get_mut(&fp) {
                *n = n.saturating_sub(1);
            }
        }
        if self.seen.is_empty() {
            return;
        }
        self.seen.sort_unstable();
        self.seen.dedup();
        self.sorted = self.seen.len();
        self.filtering = true;
    }

    /// The unit completed: forget it.
    pub(crate) fn reset(&mut self) {
        self.occurrences.clear();
        self.counted.clear();
        self.seen.clear();
        self.sorted = 0;
        self.filtering = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_rows_seen_before_a_retry_only() {
        let mut d = Dedupe::default();
        assert!(d.admit(1));
        assert!(d.admit(2));
        d.on_retry();
        assert!(!d.admit(2));
        assert!(d.admit(3));
        assert!(!d.admit(1));
        d.on_retry();
        assert!(!d.admit(3));
        d.reset();
        assert!(d.admit(1));
    }

    #[test]
    fn repeats_are_numbered_the_same_after_a_retry() {
        let mut d = Dedupe::default();
        assert_eq!(d.occurrence(7), 0);
        d.request_done();
        // A request sees the key twice more, then fails.
        assert_eq!((d.occurrence(7), d.occurrence(7)), (1, 2));
        d.on_retry();
        // Sent again: the same rows get the same numbers.
        assert_eq!((d.occurrence(7), d.occurrence(7)), (1, 2));
        assert_eq!(d.occurrence(8), 0);
        d.reset();
        assert_eq!(d.occurrence(7), 0);
    }
}
