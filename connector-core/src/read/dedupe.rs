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

use std::collections::BTreeMap;

/// Row counts per key fingerprint, for a whole unit (an export window may
/// hold millions of rows, so each costs as little as possible): the distinct
/// fingerprints in a dense list (16 bytes each), an open-addressing table of
/// 8-byte slots over it, and the counts that are not 1 (twins, and rows a
/// failed request counted) in a sparse map.
///
/// The fingerprints are already SHA-256 output, uniformly spread, so their
/// low bits index the table directly — no hasher, no random seed (the core
/// stays deterministic and free of `std`'s randomly seeded maps). Each slot
/// also carries 32 other bits of its fingerprint, so a probe reads the dense
/// list only when those match: a new key (the usual case) touches the slot
/// table alone, which stays in cache far longer than the list would.
#[derive(Default)]
struct Counts {
    /// 0 = empty, else a tag (high half) and an index into `keys` plus one
    /// (low half). The length is zero or a power of two, at least twice
    /// `keys.len()`.
    slots: Vec<u64>,
    /// Every fingerprint counted, in the order first counted.
    keys: Fingerprints,
    /// Counts other than 1 (a key in `keys` and not here was counted once).
    other: BTreeMap<u128, u32>,
}

/// Bits of a fingerprint kept in its slot (not those that pick the slot).
fn tag(fingerprint: u128) -> u64 {
    ((fingerprint >> 96) as u64) << 32
}

impl Counts {
    fn home(&self, fingerprint: u128) -> usize {
        (fingerprint as u64) as usize & (self.slots.len() - 1)
    }

    /// The slot holding `fingerprint`, or the empty slot where it would go.
    fn slot_of(&self, fingerprint: u128) -> usize {
        let mask = self.slots.len() - 1;
        let tag = tag(fingerprint);
        let mut i = self.home(fingerprint);
        // Linear probing; the table is at most half full, so a free slot exists.
        loop {
            match self.slots[i] {
                0 => return i,
                s if s & !0xffff_ffff == tag
                    && self.keys.get((s & 0xffff_ffff) as usize - 1) == fingerprint =>
                {
                    return i;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn contains(&self, fingerprint: u128) -> bool {
        !self.slots.is_empty() && self.slots[self.slot_of(fingerprint)] != 0
    }

    /// The count of `fingerprint` (0 when never counted).
    fn get(&self, fingerprint: u128) -> u32 {
        if !self.contains(fingerprint) {
            return 0;
        }
        self.other.get(&fingerprint).copied().unwrap_or(1)
    }

    fn set(&mut self, fingerprint: u128, n: u32) {
        if n == 1 {
            self.other.remove(&fingerprint);
        } else {
            self.other.insert(fingerprint, n);
        }
    }

    /// Counts one more of `fingerprint`; returns the count before, whether
    /// the key is new to the list, and its place in the list.
    fn bump(&mut self, fingerprint: u128) -> (u32, bool, usize) {
        if (self.keys.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let i = self.slot_of(fingerprint);
        if self.slots[i] == 0 {
            self.keys.push(fingerprint);
            self.slots[i] = tag(fingerprint) | self.keys.len() as u64;
            return (0, true, self.keys.len() - 1);
        }
        let at = (self.slots[i] & 0xffff_ffff) as usize - 1;
        let before = self.other.get(&fingerprint).copied().unwrap_or(1);
        self.set(fingerprint, before + 1);
        (before, false, at)
    }

    /// Takes one count of `fingerprint` back (a counted row is read again).
    fn unbump(&mut self, fingerprint: u128) {
        let n = self.get(fingerprint);
        if n > 0 {
            self.set(fingerprint, n - 1);
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        self.slots.clear();
        self.slots.resize(size, 0);
        for at in 0..self.keys.len() {
            let fingerprint = self.keys.get(at);
            let i = self.slot_of(fingerprint);
            self.slots[i] = tag(fingerprint) | (at as u64 + 1);
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.keys.clear();
        self.other.clear();
    }
}

/// The fingerprints of a unit in fixed-size chunks: no doubling spike and
/// no unused half of a grown `Vec` when a window holds millions of rows.
#[derive(Default)]
struct Fingerprints {
    chunks: Vec<Vec<u128>>,
    len: usize,
}

/// Fingerprints per chunk (1 MiB).
const CHUNK: usize = 1 << 16;

impl Fingerprints {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, at: usize) -> u128 {
        self.chunks[at / CHUNK][at % CHUNK]
    }

    fn push(&mut self, fingerprint: u128) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks[self.len / CHUNK].push(fingerprint);
        self.len += 1;
    }

    /// The fingerprints counted at and after place `start`, copied out.
    fn listed_since(&self, start: usize) -> Vec<u128> {
        (start..self.len).map(|at| self.get(at)).collect()
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

#[derive(Default)]
pub(crate) struct Dedupe {
    /// Fingerprints handed out that `occurrences` does not list: every row
    /// of a stream keyed by its fields, and the re-keyed repeats of events.
    /// (An event handed out under its own key is in `occurrences.keys`
    /// already: each key counted was handed out when first counted.)
    seen: Vec<u128>,
    /// `seen[..sorted]` is sorted (it holds everything before the last failure).
    sorted: usize,
    /// `occurrences.keys[..counted_before_failure]` were handed out before
    /// the last failure.
    counted_before_failure: usize,
    filtering: bool,
    /// The last key counted by `occurrence`, its place in
    /// `occurrences.keys` and the rows with it before: the next `admit`
    /// of the same fingerprint is that row under its own key.
    last_counted: Option<(u128, usize, u32)>,
    /// Rows of the unit so far, per key fingerprint.
    occurrences: Counts,
    /// What the request in flight counted, to take back if it fails: the
    /// keys new to the unit are `occurrences.keys[request_keys..]`; the
    /// others are listed (repeats and re-reads after a failure: rare).
    request_keys: usize,
    request_repeats: Vec<u128>,
}

impl Dedupe {
    /// Records the row; `false` if it was handed out before a failure.
    pub(crate) fn admit(&mut self, fingerprint: u128) -> bool {
        if let Some((counted, at, 0)) = self.last_counted.take()
            && counted == fingerprint
        {
            // An event under its own key: listed in `occurrences.keys`.
            return !(self.filtering && at < self.counted_before_failure);
        }
        if self.filtering && self.seen[..self.sorted].binary_search(&fingerprint).is_ok() {
            return false;
        }
        self.seen.push(fingerprint);
        true
    }

    /// How many rows with this key fingerprint came before in the unit
    /// (0 for the first), counting this one.
    pub(crate) fn occurrence(&mut self, fingerprint: u128) -> u32 {
        let (before, new, at) = self.occurrences.bump(fingerprint);
        if !new {
            // Counted before this request (maybe taken back to 0 by a retry).
            self.request_repeats.push(fingerprint);
        }
        self.last_counted = Some((fingerprint, at, before));
        before
    }

    /// The request completed: its rows stay counted.
    pub(crate) fn request_done(&mut self) {
        self.request_keys = self.occurrences.keys.len();
        self.request_repeats.clear();
    }

    /// A request failed mid-unit: from now on, filter against what was seen.
    pub(crate) fn on_retry(&mut self) {
        // The request is sent again from its start: its rows are numbered again.
        for fp in std::mem::take(&mut self.request_repeats) {
            self.occurrences.unbump(fp);
        }
        for fp in self.occurrences.keys.listed_since(self.request_keys) {
            self.occurrences.unbump(fp);
        }
        self.last_counted = None;
        // Every key counted so far was handed out (when first counted).
        self.counted_before_failure = self.occurrences.keys.len();
        self.seen.sort_unstable();
        self.seen.dedup();
        self.sorted = self.seen.len();
        self.filtering = self.sorted > 0 || self.counted_before_failure > 0;
    }

    /// The unit completed: forget it.
    pub(crate) fn reset(&mut self) {
        self.occurrences.clear();
        self.request_keys = 0;
        self.request_repeats.clear();
        self.seen.clear();
        self.sorted = 0;
        self.counted_before_failure = 0;
        self.last_counted = None;
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

    /// Keys whose low bits collide, enough of them to grow the table
    /// several times: every count stays its own.
    #[test]
    fn counts_survive_collisions_and_growth() {
        let mut c = Counts::default();
        // The low 64 bits pick the slot: every key starts at the same one.
        // Half of them also share their slot tag (bits 96..128), so the
        // entries themselves must tell them apart.
        let keys: Vec<u128> = (0..1000u128)
            .map(|i| {
                if i % 2 == 0 {
                    (i << 64) | 5
                } else {
                    (i << 96) | 5
                }
            })
            .collect();
        for round in 0..3 {
            for (i, k) in keys.iter().enumerate() {
                if i % 3 >= round {
                    let (before, new, _) = c.bump(*k);
                    assert_eq!((before, new), (round as u32, round == 0));
                }
            }
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.get(*k), (i % 3 + 1) as u32, "key {i}");
        }
        assert_eq!(c.get(7), 0);
        assert_eq!(c.keys.len(), keys.len());
        c.clear();
        assert_eq!(c.get(keys[0]), 0);
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

    /// What a property test does next: a row with one of a few keys, a
    /// completed request, a failed one, the end of the unit.
    #[derive(Debug, Clone)]
    enum Op {
        Row(u8),
        Done,
        Retry,
        Reset,
    }

    /// The counting as first written (a map of counts, every fingerprint
    /// the request counted listed for undo), against the compact one over
    /// any sequence of rows, completed requests, failures and unit ends.
    #[test]
    fn counting_matches_the_plain_model() {
        use proptest::prelude::*;
        let op = prop_oneof![
            8 => (0u8..6).prop_map(Op::Row),
            2 => Just(Op::Done),
            2 => Just(Op::Retry),
            1 => Just(Op::Reset),
        ];
        proptest!(|(ops in proptest::collection::vec(op, 0..200))| {
            let mut d = Dedupe::default();
            let mut counts: BTreeMap<u128, u32> = BTreeMap::new();
            let mut counted: Vec<u128> = Vec::new();
            for op in ops {
                match op {
                    Op::Row(k) => {
                        // Small keys, some sharing their slot and tag.
                        let fp = u128::from(k % 3) << 100 | u128::from(k);
                        let n = counts.entry(fp).or_default();
                        let want = *n;
                        *n += 1;
                        counted.push(fp);
                        prop_assert_eq!(d.occurrence(fp), want);
                    }
                    Op::Done => {
                        counted.clear();
                        d.request_done();
                    }
                    Op::Retry => {
                        for fp in counted.drain(..) {
                            if let Some(n) = counts.get_mut(&fp) {
                                *n = n.saturating_sub(1);
                            }
                        }
                        d.on_retry();
                    }
                    Op::Reset => {
                        counts.clear();
                        counted.clear();
                        d.reset();
                    }
                }
            }
        });
    }

    /// Which rows are handed out, against the first design (every
    /// fingerprint handed out kept in one list, searched after a failure),
    /// for event streams (rows numbered, repeats re-keyed) and streams keyed
    /// by their fields, over any sequence of rows, requests, failures and
    /// unit ends.
    #[test]
    fn admission_matches_the_plain_model() {
        use proptest::prelude::*;
        /// The first design, as it was written.
        #[derive(Default)]
        struct Plain {
            counts: BTreeMap<u128, u32>,
            counted: Vec<u128>,
            seen: Vec<u128>,
            sorted: usize,
            filtering: bool,
        }
        impl Plain {
            fn admit(&mut self, fp: u128) -> bool {
                if self.filtering && self.seen[..self.sorted].binary_search(&fp).is_ok() {
                    return false;
                }
                self.seen.push(fp);
                true
            }
            fn retry(&mut self) {
                for fp in self.counted.drain(..) {
                    if let Some(n) = self.counts.get_mut(&fp) {
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
        }
        // A re-keyed repeat's fingerprint: far from every row key.
        let repeat = |fp: u128, n: u32| (u128::from(n) << 64) | (fp + 1000);
        let op = prop_oneof![
            10 => (0u8..8).prop_map(Op::Row),
            2 => Just(Op::Done),
            2 => Just(Op::Retry),
            1 => Just(Op::Reset),
        ];
        proptest!(|(events: bool, ops in proptest::collection::vec(op, 0..300))| {
            let mut d = Dedupe::default();
            let mut m = Plain::default();
            for op in ops {
                match op {
                    Op::Row(k) => {
                        let mut fp = u128::from(k % 3) << 100 | u128::from(k);
                        if events {
                            let n = m.counts.entry(fp).or_default();
                            let want = *n;
                            *n += 1;
                            m.counted.push(fp);
                            prop_assert_eq!(d.occurrence(fp), want);
                            if want > 0 {
                                fp = repeat(fp, want);
                            }
                        }
                        prop_assert_eq!(d.admit(fp), m.admit(fp), "row {}", k);
                    }
                    Op::Done => {
                        m.counted.clear();
                        d.request_done();
                    }
                    Op::Retry => {
                        m.retry();
                        d.on_retry();
                    }
                    Op::Reset => {
                        m = Plain::default();
                        d.reset();
                    }
                }
            }
        });
    }
}
