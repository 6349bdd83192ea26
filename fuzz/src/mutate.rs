//! Mutations: how a new input is made from the seed corpus.
//!
//! Black-box, AFL-style havoc: one to eight stacked edits of a corpus entry
//! (bit flips, interesting bytes, inserts, deletes, duplicated ranges,
//! splices with another entry, dictionary tokens, truncation) plus, when the
//! input is JSON, a structural edit (a node replaced by an interesting value,
//! a key dropped, an array element repeated), so config, state and rows stay
//! parseable often enough to reach the checks behind the parser.

use serde_json::{Map, Value, json};

use crate::rng::Rng;

/// Tokens every target gets: numbers at the edges of every integer type,
/// dates at and past chrono's range, JSON and CSV structure, line endings,
/// and invalid or odd UTF-8.
pub const COMMON_TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1e308",
    b"-1e308",
    b"1.5",
    b"255",
    b"65535",
    b"2147483647",
    b"-2147483648",
    b"4294967295",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551615",
    b"99999999999999999999999999",
    b"9007199254740993",
    b"null",
    b"true",
    b"\"\"",
    b"{}",
    b"[]",
    b"{\"a\":",
    b"[[[[[[[[[[[[[[[[",
    b"\"\\ud800\"",
    b"\\u0000",
    b"\r\n",
    b"\n",
    b"\r",
    b"\"",
    b",",
    b";",
    b"\t",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98\x80",
    b"\xef\xbb\xbf",
    b"1970-01-01T00:00:00Z",
    b"9999-12-31T23:59:59Z",
    b"+262143-12-31T23:59:59Z",
    b"-262143-01-01T00:00:00Z",
    b"0000-00-00 00:00:00 +00:00",
    b"2024-02-30 25:61:61 +99:99",
    b"12/31/9999",
    b"1700000000000",
    b"-62135596800001",
    b"8640000000000000",
];

/// A JSON value chosen to hit edge cases in typed fields.
fn interesting_json(rng: &mut Rng) -> Value {
    match rng.below(22) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(i64::MAX),
        5 => json!(i64::MIN),
        6 => json!(u64::MAX),
        7 => json!(1e300),
        8 => json!(-0.5),
        9 => json!(""),
        10 => json!("9999-12-31T23:59:59Z"),
        11 => json!("+262143-12-31T23:59:59Z"),
        12 => json!("1970-01-01T00:00:00Z"),
        13 => json!("-0001-01-01T00:00:00Z"),
        14 => json!([]),
        15 => json!({}),
        16 => json!("x".repeat(rng.below(300))),
        17 => json!("http://user:pw@host:99999/#f"),
        18 => json!({"v": 1}),
        19 => json!(4_294_967_296_u64),
        20 => json!("2024-02-29 23:59:59 +00:00"),
        _ => json!(rng.next_u64() as i64),
    }
}

/// Edits one random node of `v` (depth-first walk to a random leaf or inner node).
fn mutate_json(v: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 8 && rng.below(3) != 0;
    match v {
        Value::Object(map) if !map.is_empty() && descend => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            match rng.below(6) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let val = map.get(&key).cloned().unwrap_or(Value::Null);
                    map.insert(format!("{key}_"), val);
                }
                _ => {
                    if let Some(child) = map.get_mut(&key) {
                        mutate_json(child, rng, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && descend => {
            let i = rng.below(items.len());
            match rng.below(6) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    let n = 1 + rng.below(64);
                    for _ in 0..n {
                        items.push(copy.clone());
                    }
                }
                _ => mutate_json(&mut items[i], rng, depth + 1),
            }
        }
        _ => {
            *v = match rng.below(4) {
                0 if v.is_object() => {
                    let mut map = v.as_object().cloned().unwrap_or_else(Map::new);
                    map.insert("unexpected".into(), interesting_json(rng));
                    Value::Object(map)
                }
                1 => json!([v.clone()]),
                _ => interesting_json(rng),
            };
        }
    }
}

/// Makes one new input from `corpus` (never empty: an empty corpus gives
/// random bytes), at most `max_len` bytes, using `tokens` besides the common ones.
pub fn mutate(corpus: &[Vec<u8>], tokens: &[&[u8]], max_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut data = if corpus.is_empty() || rng.one_in(50) {
        (0..rng.below(64)).map(|_| rng.byte()).collect()
    } else {
        rng.pick(corpus).clone()
    };
    // Sometimes the seed itself (already a good input), so the first
    // iterations check every corpus entry unmutated as well.
    if rng.one_in(20) {
        data.truncate(max_len);
        return data;
    }
    if rng.one_in(3)
        && let Ok(mut v) = serde_json::from_slice::<Value>(&data)
    {
        for _ in 0..1 + rng.below(3) {
            mutate_json(&mut v, rng, 0);
        }
        data = serde_json::to_vec(&v).unwrap_or(data);
        if rng.one_in(2) {
            data.truncate(max_len);
            return data;
        }
    }
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(&[0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'\n', b'{', b'0']);
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                // Duplicate a range (repeated lines, pages, fields).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let copy = data[i..i + n].to_vec();
                let at = rng.below(data.len() + 1);
                for _ in 0..1 + rng.below(4) {
                    data.splice(at..at, copy.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                // Splice: our head, another entry's tail.
                let other = rng.pick(corpus);
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 | 7 => {
                let token: &[u8] = if !tokens.is_empty() && rng.one_in(2) {
                    rng.pick::<&[u8]>(tokens)
                } else {
                    rng.pick::<&[u8]>(COMMON_TOKENS)
                };
                let i = rng.below(len + 1);
                if rng.one_in(2) && len > 0 {
                    // Overwrite instead of insert.
                    let end = (i + token.len()).min(len);
                    data.splice(i..end, token.iter().copied());
                } else {
                    data.splice(i..i, token.iter().copied());
                }
            }
            8 if len > 0 => data.truncate(rng.below(len)),
            9 if len > 0 => {
                // Replace a digit run with an extreme number.
                let i = rng.below(len);
                if data[i].is_ascii_digit() {
                    let mut j = i;
                    while j < data.len() && data[j].is_ascii_digit() {
                        j += 1;
                    }
                    let n: &[u8] = rng.pick::<&[u8]>(&[
                        &b"99999999999999999999"[..],
                        b"0",
                        b"-1",
                        b"9223372036854775807",
                    ]);
                    data.splice(i..j, n.iter().copied());
                }
            }
            _ => {
                let i = rng.below(len + 1);
                let b = rng.byte();
                data.insert(i, b);
            }
        }
        if data.len() > max_len {
            data.truncate(max_len);
        }
    }
    data
}
