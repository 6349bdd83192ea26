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

/// Row counts per key fingerprint: an open-addressing table of 8-byte
/// slots pointing into a dense list of (fingerprint, count). The
/// fingerprints are already SHA-256 output, uniformly spread, so their low
/// bits index the table directly — no hasher, no random seed (the core stays
/// deterministic and free of `std`'s randomly seeded maps). Each slot also
/// carries 32 other bits of its fingerprint, so a probe reads the dense list
/// only when those match: a new key (the usual case) touches the slot table
/// alone, which stays in cache far longer than the entries would.
#[derive(Default)]
struct Counts {
    /// 0 = empty, else a tag (high half) and an index into `entries` plus
    /// one (low half). The length is zero or a power of two, at least twice
    /// `entries.len()`.
    slots: Vec<u64>,
    entries: Vec<(u128, u32)>,
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
                    && self.entries[(s & 0xffff_ffff) as usize - 1].0 == fingerprint =>
                {
                    return i;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The count of `fingerprint`, inserted as 0 when absent.
    fn entry(&mut self, fingerprint: u128) -> &mut u32 {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let i = self.slot_of(fingerprint);
        if self.slots[i] == 0 {
            self.entries.push((fingerprint, 0));
            self.slots[i] = tag(fingerprint) | self.entries.len() as u64;
        }
        let at = (self.slots[i] & 0xffff_ffff) as usize - 1;
        &mut self.entries[at].1
    }

    fn get_mut(&mut self, fingerprint: u128) -> Option<&mut u32> {
        if self.slots.is_empty() {
            return None;
        }
        match self.slots[self.slot_of(fingerprint)] {
            0 => None,
            s => Some(&mut self.entries[(s & 0xffff_ffff) as usize - 1].1),
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        self.slots.clear();
        self.slots.resize(size, 0);
        for at in 0..self.entries.len() {
            let fingerprint = self.entries[at].0;
            let i = self.slot_of(fingerprint);
            self.slots[i] = tag(fingerprint) | (at as u64 + 1);
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.entries.clear();
    }
}

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
        let n = self.occurrences.entry(fingerprint);
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
            if let Some(n) = self.occurrences.get_mut(fp) {
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
                    *c.entry(*k) += 1;
                }
            }
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.get_mut(*k).copied(), Some((i % 3 + 1) as u32), "key {i}");
        }
        assert_eq!(c.get_mut(7), None);
        assert_eq!(c.entries.len(), keys.len());
        c.clear();
        assert_eq!(c.get_mut(keys[0]), None);
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
