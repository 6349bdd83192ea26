//! Comparisons of short byte strings (JSON keys) that stay fast as
//! WebAssembly, shared by the read path's row writer and CSV encoding.

use std::cmp::Ordering;

/// `a == b` for short byte strings such as keys, a word at a time (the
/// last word overlapping the one before): in wasm the slice comparison
/// calls the C library's `memcmp`, which compares byte by byte (it was 4%
/// of a read in the component).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default());
    let w4 = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or_default());
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if w8(a, i) != w8(b, i) {
                return false;
            }
            i += 8;
        }
        w8(a, n - 8) == w8(b, n - 8)
    } else if n >= 4 {
        w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// `a.cmp(b)` (lexicographic, as slices compare) for short byte strings,
/// eight bytes at a time (see [`same_bytes`]).
#[inline]
pub(crate) fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in x.by_ref().zip(y.by_ref()) {
        let (p, q) = (word(p), word(q));
        if p != q {
            // Byte-swapped, the words compare as their bytes do.
            return p.swap_bytes().cmp(&q.swap_bytes());
        }
    }
    // The rest of the shorter one (and as much of the other), a byte at a
    // time, then the lengths.
    let n = a.len().min(b.len()) / 8 * 8;
    for (p, q) in a[n..].iter().zip(&b[n..]) {
        if p != q {
            return p.cmp(q);
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_comparisons_agree_with_slices() {
        let words: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"_key",
            b"_key2",
            b"email",
            b"createdAt",
            b"campaignId",
            b"documentCreatedAt",
            b"documentUpdatedAt",
            b"documentUpdatedAu",
            b"abcdefgh",
            b"abcdefgg",
            b"abcdefghi",
            b"abcdefgh\xff",
            b"abcdefghijklmnop",
            b"abcdefghijklmnoq",
            b"bbcdefghijklmnop",
            b"abcdefghijklmnopq",
            b"abcdefghXjklmnopq",
            b"abc",
            b"abd",
            b"abcdefg",
            b"abcdefh",
            b"bbcdefg",
            b"abcXefg",
            b"\xffbcdefgh",
            "é".as_bytes(),
            b"Z",
        ];
        for a in &words {
            for b in &words {
                assert_eq!(compare_bytes(a, b), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
