//! A tiny deterministic PRNG (splitmix64) and stable hashing.
//!
//! Every generated value is a pure function of `(seed, kind, indices…)`, so any
//! slice of the world (one user, one day of one event type) can be produced
//! independently and in any order, without generating what comes before it.

/// One splitmix64 step: a strong 64-bit mixer.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a label, so call sites can name their hash domain ("user", "emailSend").
pub const fn label(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// Hash of a seed, a domain label and indices.
pub fn hash(seed: u64, kind: &str, parts: &[u64]) -> u64 {
    let mut h = mix(seed ^ label(kind));
    for p in parts {
        h = mix(h ^ p);
    }
    h
}

/// A sequential generator seeded from [`hash`], for values that need several draws.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, kind: &str, parts: &[u64]) -> Rng {
        Rng(hash(seed, kind, parts))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }

    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// 32 lower-case hex digits, shaped like Iterable's message ids.
    pub fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_domain_separated() {
        assert_eq!(hash(1, "a", &[1, 2]), hash(1, "a", &[1, 2]));
        assert_ne!(hash(1, "a", &[1, 2]), hash(1, "b", &[1, 2]));
        assert_ne!(hash(1, "a", &[1, 2]), hash(2, "a", &[1, 2]));
        assert_ne!(hash(1, "a", &[1, 2]), hash(1, "a", &[2, 1]));
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::new(7, "t", &[]);
        for _ in 0..1000 {
            assert!(r.below(5) < 5);
            let v = r.range(-3, 3);
            assert!((-3..=3).contains(&v));
        }
        assert_eq!(r.below(0), 0);
    }
}
