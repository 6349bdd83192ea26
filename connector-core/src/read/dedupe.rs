//! De-duplication of rows re-read after a retry.
//!
//! Rows are handed out as they arrive (bounded memory), so a response that
//! breaks off midway has already delivered some rows. When the same span is
//! read again, those rows must not be handed out twice. We remember a 128-bit
//! fingerprint of each row's primary key for the current unit of work (a page,
//! a list, an export window) and, after a failure, drop re-read rows whose
//! fingerprint was seen.

#[derive(Default)]
pub(crate) struct Dedupe {
    seen: Vec<u128>,
    /// `seen[..sorted]` is sorted (it holds everything before the last failure).
    sorted: usize,
    filtering: bool,
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

    /// A request failed mid-unit: from now on, filter against what was seen.
    pub(crate) fn on_retry(&mut self) {
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
}
