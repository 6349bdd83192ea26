//! SHA-256 of many short messages, four at a time: each message in its own
//! 32-bit lane of a 128-bit vector. WebAssembly has no SHA instructions, and
//! the synthetic key of every export row is a SHA-256 (about 114 bytes, two
//! blocks): hashed one by one with `sha2`'s portable code it was the largest
//! single cost of a read in the component. In lanes, four keys cost little
//! more than one.
//!
//! The rounds are written once over [`Lanes`]: WebAssembly SIMD (`v128`) on
//! wasm32, plain `[u32; 4]` elsewhere, so the same code is tested natively
//! against `sha2` (the tests below). Native builds hash with `sha2` (it uses
//! the CPU's SHA instructions) unless [`MULTI_BUFFER`] says otherwise.

use sha2::{Digest, Sha256};

/// Whether [`digest_all`] hashes four messages at a time: in the component
/// (no SHA instructions), and natively in this crate's tests or with the
/// `multi-buffer-sha` feature, so native tests cover the same path.
pub(crate) const MULTI_BUFFER: bool = cfg!(any(
    target_arch = "wasm32",
    test,
    feature = "multi-buffer-sha"
));

/// Appends SHA-256's padding to `buf`, whose last `len` bytes are a
/// message: a 0x80 byte, zeros, and the message's length in bits, up to
/// whole 64-byte blocks. [`digest_all`] takes messages padded this way
/// (when [`MULTI_BUFFER`]), so that it reads their blocks where they are.
pub(crate) fn pad(buf: &mut Vec<u8>, len: usize) {
    let start = buf.len() - len;
    let bits = (len as u64).wrapping_mul(8);
    buf.push(0x80);
    buf.resize(start + 64 * blocks(len) - 8, 0);
    buf.extend_from_slice(&bits.to_be_bytes());
}

/// The SHA-256 digests of `count = ends.len()` messages stored back to back
/// in `data`, in `out` (cleared first), in message order. Message `i` is
/// the first `lens[i]` bytes of `data[ends[i - 1]..ends[i]]` (the first
/// starts at 0), which, when [`MULTI_BUFFER`], is padded by [`pad`].
pub(crate) fn digest_all(data: &[u8], ends: &[usize], lens: &[usize], out: &mut Vec<[u8; 32]>) {
    out.clear();
    let stored = |i: usize| &data[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
    if !MULTI_BUFFER {
        out.extend(
            (0..ends.len()).map(|i| <[u8; 32]>::from(Sha256::digest(&stored(i)[..lens[i]]))),
        );
        return;
    }
    out.resize(ends.len(), [0; 32]);
    // Messages with as many blocks share a group, so no lane idles while
    // another finishes; within a group, read order.
    let mut order: Vec<(usize, usize)> = (0..ends.len()).map(|i| (stored(i).len(), i)).collect();
    order.sort_unstable();
    for group in order.chunks(4) {
        // A short last group repeats its first message in the spare lanes.
        let pick = |k: usize| stored(group.get(k).unwrap_or(&group[0]).1);
        let digests = digest4_padded([pick(0), pick(1), pick(2), pick(3)]);
        for (&(_, i), d) in group.iter().zip(digests) {
            out[i] = d;
        }
    }
}

/// How many 64-byte blocks a message of `len` bytes pads to (a 0x80 byte
/// and the 8-byte bit length follow it).
fn blocks(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// The SHA-256 digests of four messages of any lengths.
#[cfg(test)]
fn digest4(messages: [&[u8]; 4]) -> [[u8; 32]; 4] {
    let padded = messages.map(|m| {
        let mut v = m.to_vec();
        pad(&mut v, m.len());
        v
    });
    digest4_padded(padded.each_ref().map(|v| v.as_slice()))
}

/// The SHA-256 digests of four messages padded by [`pad`].
fn digest4_padded(padded: [&[u8]; 4]) -> [[u8; 32]; 4] {
    #[cfg(target_arch = "wasm32")]
    {
        digest4_in::<simd::V>(padded)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        digest4_in::<Portable>(padded)
    }
}

/// Four u32 lanes and the operations the rounds need.
trait Lanes: Copy {
    /// The 16 big-endian words of four blocks, word `t` of block `l` in
    /// lane `l` of the `t`-th vector.
    fn load(blocks: [&[u8; 64]; 4]) -> [Self; 16];
    fn from_array(a: [u32; 4]) -> Self;
    fn to_array(self) -> [u32; 4];
    fn splat(x: u32) -> Self;
    fn add(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn shr(self, n: u32) -> Self;
    fn shl(self, n: u32) -> Self;
    /// `self`'s bits where `mask` has ones, `other`'s elsewhere.
    fn select(self, other: Self, mask: Self) -> Self;

    fn rotr(self, n: u32) -> Self {
        self.shr(n).xor(self.shl(32 - n))
    }
}

/// Plain arrays: the natively tested stand-in for `v128`.
#[derive(Clone, Copy)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
struct Portable([u32; 4]);

impl Portable {
    fn map2(self, o: Self, f: impl Fn(u32, u32) -> u32) -> Self {
        Portable(std::array::from_fn(|i| f(self.0[i], o.0[i])))
    }
}

impl Lanes for Portable {
    fn load(blocks: [&[u8; 64]; 4]) -> [Self; 16] {
        std::array::from_fn(|t| {
            Portable(
                blocks.map(|b| {
                    u32::from_be_bytes([b[4 * t], b[4 * t + 1], b[4 * t + 2], b[4 * t + 3]])
                }),
            )
        })
    }
    fn from_array(a: [u32; 4]) -> Self {
        Portable(a)
    }
    fn to_array(self) -> [u32; 4] {
        self.0
    }
    fn splat(x: u32) -> Self {
        Portable([x; 4])
    }
    fn add(self, o: Self) -> Self {
        self.map2(o, u32::wrapping_add)
    }
    fn xor(self, o: Self) -> Self {
        self.map2(o, |a, b| a ^ b)
    }
    fn shr(self, n: u32) -> Self {
        Portable(self.0.map(|a| a >> n))
    }
    fn shl(self, n: u32) -> Self {
        Portable(self.0.map(|a| a << n))
    }
    fn select(self, other: Self, mask: Self) -> Self {
        Portable(std::array::from_fn(|i| {
            (self.0[i] & mask.0[i]) | (other.0[i] & !mask.0[i])
        }))
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    //! `v128` lanes. The intrinsics are safe functions here because
    //! `.cargo/config.toml` enables `simd128` for the whole build.
    use core::arch::wasm32::{
        i32x4_shuffle, i64x2_shuffle, u8x16, u32x4, u32x4_add, u32x4_extract_lane, u32x4_shl,
        u32x4_shr, u32x4_splat, v128, v128_bitselect, v128_xor,
    };

    use super::Lanes;

    #[derive(Clone, Copy)]
    pub(super) struct V(v128);

    /// Four big-endian words of `b` from byte `at` (the compiler makes
    /// this one load and one shuffle).
    #[inline(always)]
    fn be_words(b: &[u8; 64], at: usize) -> v128 {
        let x = |i: usize| b[at + i];
        u8x16(
            x(3),
            x(2),
            x(1),
            x(0),
            x(7),
            x(6),
            x(5),
            x(4),
            x(11),
            x(10),
            x(9),
            x(8),
            x(15),
            x(14),
            x(13),
            x(12),
        )
    }

    impl Lanes for V {
        fn load(blocks: [&[u8; 64]; 4]) -> [Self; 16] {
            let mut w = [V(u32x4_splat(0)); 16];
            for q in 0..4 {
                // Words 4q..4q+4 of each block, then a 4×4 transpose.
                let [r0, r1, r2, r3] = blocks.map(|b| be_words(b, 16 * q));
                let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1);
                let t1 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1);
                let t2 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3);
                let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3);
                w[4 * q] = V(i64x2_shuffle::<0, 2>(t0, t2));
                w[4 * q + 1] = V(i64x2_shuffle::<1, 3>(t0, t2));
                w[4 * q + 2] = V(i64x2_shuffle::<0, 2>(t1, t3));
                w[4 * q + 3] = V(i64x2_shuffle::<1, 3>(t1, t3));
            }
            w
        }
        fn from_array(a: [u32; 4]) -> Self {
            V(u32x4(a[0], a[1], a[2], a[3]))
        }
        fn to_array(self) -> [u32; 4] {
            [
                u32x4_extract_lane::<0>(self.0),
                u32x4_extract_lane::<1>(self.0),
                u32x4_extract_lane::<2>(self.0),
                u32x4_extract_lane::<3>(self.0),
            ]
        }
        fn splat(x: u32) -> Self {
            V(u32x4_splat(x))
        }
        fn add(self, o: Self) -> Self {
            V(u32x4_add(self.0, o.0))
        }
        fn xor(self, o: Self) -> Self {
            V(v128_xor(self.0, o.0))
        }
        fn shr(self, n: u32) -> Self {
            V(u32x4_shr(self.0, n))
        }
        fn shl(self, n: u32) -> Self {
            V(u32x4_shl(self.0, n))
        }
        fn select(self, other: Self, mask: Self) -> Self {
            V(v128_bitselect(self.0, other.0, mask.0))
        }
    }
}

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

fn digest4_in<L: Lanes>(padded: [&[u8]; 4]) -> [[u8; 32]; 4] {
    const NONE: [u8; 64] = [0; 64];
    let n = padded.map(|m| m.len() / 64);
    let most = n.iter().copied().max().unwrap_or(0);
    let mut state = H0.map(L::splat);
    for b in 0..most {
        let active = n.map(|n| b < n);
        // Blocks are read where they are; a lane past its message's end
        // hashes zeros and keeps its state (below).
        let blocks = padded.map(|m| {
            m.get(64 * b..64 * b + 64)
                .and_then(|block| block.try_into().ok())
                .unwrap_or(&NONE)
        });
        let w = L::load(blocks);
        let next = compress(state, w);
        if active.iter().all(|&a| a) {
            state = next;
        } else {
            // A lane whose message has ended keeps its state.
            let mask = L::from_array(active.map(|a| if a { u32::MAX } else { 0 }));
            for (s, x) in state.iter_mut().zip(next) {
                *s = x.select(*s, mask);
            }
        }
    }
    let words = state.map(L::to_array);
    std::array::from_fn(|lane| {
        let mut d = [0u8; 32];
        for (i, w) in words.iter().enumerate() {
            d[4 * i..4 * i + 4].copy_from_slice(&w[lane].to_be_bytes());
        }
        d
    })
}

/// One SHA-256 compression of a block per lane (FIPS 180-4, 6.2.2).
/// Sixteen rounds are written out, so that the schedule's ring and the
/// working variables stay in registers (locals in wasm) rather than in
/// memory.
#[inline(always)]
fn compress<L: Lanes>(state: [L; 8], mut w: [L; 16]) -> [L; 8] {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
    // One round; the callers rotate the roles of the working variables
    // instead of moving them.
    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
         $k:expr, $w:expr) => {
            let s1 = $e.rotr(6).xor($e.rotr(11)).xor($e.rotr(25));
            // Ch(e, f, g): f where e has ones, else g.
            let ch = $f.select($g, $e);
            let t1 = $h.add(s1).add(ch).add(L::splat($k)).add($w);
            let s0 = $a.rotr(2).xor($a.rotr(13)).xor($a.rotr(22));
            // Maj(a, b, c): where a and b differ, c decides; else b.
            let maj = $c.select($b, $a.xor($b));
            $d = $d.add(t1);
            $h = t1.add(s0.add(maj));
        };
    }
    macro_rules! sixteen {
        ($k:expr) => {
            round!(a, b, c, d, e, f, g, h, $k[0], w[0]);
            round!(h, a, b, c, d, e, f, g, $k[1], w[1]);
            round!(g, h, a, b, c, d, e, f, $k[2], w[2]);
            round!(f, g, h, a, b, c, d, e, $k[3], w[3]);
            round!(e, f, g, h, a, b, c, d, $k[4], w[4]);
            round!(d, e, f, g, h, a, b, c, $k[5], w[5]);
            round!(c, d, e, f, g, h, a, b, $k[6], w[6]);
            round!(b, c, d, e, f, g, h, a, $k[7], w[7]);
            round!(a, b, c, d, e, f, g, h, $k[8], w[8]);
            round!(h, a, b, c, d, e, f, g, $k[9], w[9]);
            round!(g, h, a, b, c, d, e, f, $k[10], w[10]);
            round!(f, g, h, a, b, c, d, e, $k[11], w[11]);
            round!(e, f, g, h, a, b, c, d, $k[12], w[12]);
            round!(d, e, f, g, h, a, b, c, $k[13], w[13]);
            round!(c, d, e, f, g, h, a, b, $k[14], w[14]);
            round!(b, c, d, e, f, g, h, a, $k[15], w[15]);
        };
    }
    // The next word of the message schedule, in place: word t - 16 is
    // w[t % 16] until it is overwritten.
    macro_rules! schedule {
        ($($t:literal)*) => {$(
            let w15 = w[($t + 1) % 16];
            let w2 = w[($t + 14) % 16];
            let s0 = w15.rotr(7).xor(w15.rotr(18)).xor(w15.shr(3));
            let s1 = w2.rotr(17).xor(w2.rotr(19)).xor(w2.shr(10));
            w[$t] = w[$t].add(s0).add(w[($t + 9) % 16]).add(s1);
        )*};
    }
    for (i, k) in K.chunks_exact(16).enumerate() {
        if i > 0 {
            schedule!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        }
        sixteen!(k);
    }
    let out = [a, b, c, d, e, f, g, h];
    std::array::from_fn(|i| state[i].add(out[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the core has no randomness).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    fn sha2(m: &[u8]) -> [u8; 32] {
        Sha256::digest(m).into()
    }

    #[test]
    fn four_lanes_match_sha2_for_every_length_mix() {
        let mut rng = Lcg(7);
        let data: Vec<u8> = (0..400).map(|_| rng.next() as u8).collect();
        // Every length 0..300 in lane 0, the others random (blocks differ
        // within a group, including padding edges at 55, 56, 63, 64, 119).
        for len in 0..300 {
            let lens = [
                len,
                rng.next() as usize % 300,
                rng.next() as usize % 300,
                299 - len,
            ];
            let starts = lens.map(|_| rng.next() as usize % 100);
            let msgs: [&[u8]; 4] = std::array::from_fn(|i| &data[starts[i]..starts[i] + lens[i]]);
            let got = digest4(msgs);
            for (m, d) in msgs.iter().zip(got) {
                assert_eq!(d, sha2(m), "length {}", m.len());
            }
        }
    }

    #[test]
    fn batches_match_sha2_in_order() {
        let mut rng = Lcg(11);
        for count in [0, 1, 2, 3, 4, 5, 7, 8, 9, 33, 200] {
            let mut data = Vec::new();
            let (mut ends, mut lens) = (Vec::new(), Vec::new());
            for _ in 0..count {
                let len = match rng.next() % 4 {
                    0 => rng.next() as usize % 300,
                    _ => 100 + rng.next() as usize % 30,
                };
                data.extend((0..len).map(|_| rng.next() as u8));
                pad(&mut data, len);
                ends.push(data.len());
                lens.push(len);
            }
            let mut out = vec![[1; 32]; 3];
            digest_all(&data, &ends, &lens, &mut out);
            assert_eq!(out.len(), count);
            let mut start = 0;
            for ((&end, &len), d) in ends.iter().zip(&lens).zip(&out) {
                assert_eq!(*d, sha2(&data[start..start + len]), "count {count}");
                assert_eq!((end - start) % 64, 0, "padded to whole blocks");
                start = end;
            }
        }
    }

    #[test]
    fn known_answers() {
        let abc = digest4([b"abc", b"", b"abc", b"abc"]);
        let hex = |d: &[u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(&abc[0]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&abc[1]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
