//! Percent-decoding of paths and `application/x-www-form-urlencoded`
//! queries, small enough not to need a crate.

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`, as in
/// query strings). Invalid escapes are kept literally; invalid UTF-8 is
/// replaced, never rejected (the spec checks decide what is valid).
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    out.push(hex(*h) << 4 | hex(*l));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a request path but keeps an encoded slash (`%2F`) encoded, so a
/// path parameter holding `/` (a userId like `a/b`) stays one segment when
/// the path is split for routing, as on Iterable's servers.
pub(crate) fn percent_decode_path(s: &str) -> String {
    s.split("%2F")
        .flat_map(|part| part.split("%2f"))
        .map(|part| percent_decode(part, false))
        .collect::<Vec<_>>()
        .join("%2F")
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Splits and decodes a raw query into ordered pairs; repeated keys stay
/// repeated, a key without `=` gets an empty value.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(
            percent_decode("/api/users/a%40b.com", false),
            "/api/users/a@b.com"
        );
        assert_eq!(
            percent_decode_path("/api/events/byUserId/u%201%2F2"),
            "/api/events/byUserId/u 1%2F2"
        );
        assert_eq!(
            percent_decode("/api/users/a%40b.com", false),
            "/api/users/a@b.com"
        );
        assert_eq!(percent_decode("a+b%2", false), "a+b%2");
        assert_eq!(
            parse_query("startDateTime=2024-01-01+00%3A00%3A00+%2B00%3A00&x&c=1&c=2"),
            vec![
                ("startDateTime".into(), "2024-01-01 00:00:00 +00:00".into()),
                ("x".into(), String::new()),
                ("c".into(), "1".into()),
                ("c".into(), "2".into()),
            ]
        );
    }
}
