//! Golden output of the read session: a digest of every record (its JSON
//! bytes, `_key` included), every log line and every committed state of a
//! fixed, generated export read. The digests were computed at 77accde,
//! before the read path was optimised (#13), so any change to what users
//! get — a record's bytes, a stored `_key`, a twin's numbering, a schema
//! report — fails here, however the parsing and shaping are done inside.
//!
//! The rows are deliberately untidy: every timestamp format the wire uses
//! (export text with and without a fraction or a non-UTC offset, RFC 3339,
//! epoch ms as integer and float, garbage, null, missing), twins, escaped
//! and non-ASCII text, `transactionalData` valid and not, wrong types,
//! CRLF line ends and blank lines, and a body cut midway then read again.

use connector_core::{Config, ReadSession, SessionState, StreamSelection};
use integration_tests::driver::{self, MockResponse, MockTransport, SyncOutput, VirtualClock};
use integration_tests::mock_iterable::path;
use serde_json::json;
use sha2::{Digest, Sha256};

const NOW: i64 = 1_706_832_000_000; // 2024-02-02T00:00:00Z

/// A tiny deterministic generator (no randomness in tests: same rows every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn created_at(g: &mut Lcg, second_of_day: u64) -> String {
    let (h, m, s) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let ms = second_of_day * 1000 + g.below(1000);
    let epoch_day = 1_706_745_600_000u64; // 2024-02-01T00:00:00Z
    match g.below(20) {
        0 => format!(
            "\"2024-02-01 {h:02}:{m:02}:{s:02}.{:03} +00:00\"",
            g.below(1000)
        ),
        1 => format!("\"2024-02-01T{h:02}:{m:02}:{s:02}Z\""),
        2 => format!("\"2024-02-01T{h:02}:{m:02}:{s:02}.123456+00:00\""),
        3 => format!("{}", epoch_day + ms),
        4 => format!("{}.5", epoch_day + ms),
        5 if h < 22 => format!("\"2024-02-01 {:02}:{m:02}:{s:02} +02:00\"", h + 2),
        6 => "\"not a date\"".to_string(),
        7 => "null".to_string(),
        _ => format!("\"2024-02-01 {h:02}:{m:02}:{s:02} +00:00\""),
    }
}

/// One export row; `twin_of` repeats an earlier row's identity.
fn row(g: &mut Lcg, i: u64, custom: bool) -> String {
    let second = 3600 + i / 3; // three rows a second: twins meet
    let user = g.below(40);
    let mut fields = vec![
        format!("\"email\":\"user{user}@example.com\""),
        format!("\"createdAt\":{}", created_at(g, second)),
    ];
    if custom {
        fields.push(format!(
            "\"eventName\":\"{}\"",
            ["addToCart", "purchase", "caf\\u00e9 vu", "line\\nbreak"][g.below(4) as usize]
        ));
    } else {
        fields.push(format!("\"messageId\":\"m{:x}\"", g.below(50)));
        fields.push(format!("\"templateId\":{}", 3_043_605 + g.below(3)));
        fields.push(format!("\"campaignId\":{}", 2_220_229 + g.below(3)));
    }
    match g.below(12) {
        0 => fields.push("\"templateId\":\"3043605\"".into()),
        1 => fields.push("\"transactionalData\":\"{\\\"sku\\\":\\\"A-1\\\",\\\"price\\\":20.5}\"".into()),
        2 => fields.push("\"transactionalData\":\"not json\"".into()),
        3 => fields.push("\"price\":1e5,\"qty\":-3,\"big\":18446744073709551615,\"ratio\":0.1".into()),
        4 => fields.push("\"tags\":[\"a\",null,\"ü\"],\"nested\":{\"deep\":[1,{\"x\":null}]}".into()),
        5 => fields.push("\"userId\":\"u-ünï\",\"email\":null".into()),
        6 => fields.push(format!(
            "\"itblInternal\":{{\"documentCreatedAt\":\"2024-02-01 01:02:{:02} +00:00\",\"documentUpdatedAt\":{}}}",
            g.below(60),
            1_706_749_322_000u64 + g.below(100_000)
        )),
        7 => fields.push("\"createdAt\":\"2024-02-01 05:00:00 +00:00\"".into()),
        _ => {}
    }
    if g.below(7) == 0 {
        fields.reverse();
    }
    format!("{{{}}}", fields.join(","))
}

fn body(seed: u64, rows: u64, custom: bool) -> Vec<u8> {
    let mut g = Lcg(seed);
    let mut out = String::new();
    for i in 0..rows {
        out.push_str(&row(&mut g, i, custom));
        out.push_str(match g.below(10) {
            0 => "\r\n",
            1 => "\n\n",
            _ => "\n",
        });
    }
    out.into_bytes()
}

fn digest(out: &SyncOutput) -> (usize, String, String, String) {
    let hex = |h: Sha256| {
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut records = Sha256::new();
    let mut count = 0;
    for (stream, recs) in &out.records {
        records.update(stream.as_bytes());
        for r in recs {
            count += 1;
            records.update(serde_json::to_vec(r).expect("a record serialises"));
            records.update(b"\n");
        }
    }
    let mut logs = Sha256::new();
    for l in &out.logs {
        logs.update(format!("{:?} {:?} {}\n", l.level, l.stream, l.message));
    }
    let mut state = Sha256::new();
    for (stream, s) in &out.state {
        state.update(format!("{stream} {s}\n"));
    }
    (count, hex(records), hex(logs), hex(state))
}

/// Reads `stream` from one export window whose body is `body`, fed in
/// `chunk`-byte pieces; with `cut`, the first answer breaks off after that
/// many bytes and the window is read again.
fn read(stream: &str, body: Vec<u8>, chunk: usize, cut: Option<usize>) -> SyncOutput {
    let mut cut = cut;
    let mut transport = MockTransport::new(move |req| {
        if path(req) != "/api/export/data.json" {
            return MockResponse::Ok(200, "application/json", b"{}".to_vec());
        }
        match cut.take() {
            Some(n) => MockResponse::Cut(body.clone(), n),
            None => MockResponse::Ok(200, "application/x-json-stream", body.clone()),
        }
    });
    transport.chunk = chunk;
    let config = Config::from_json(&json!({"base_url": "http://golden.test",
        "start_date": "2024-02-01T00:00:00Z", "end_date": "2024-02-02T00:00:00Z",
        "window_days": 1}))
    .expect("config");
    let mut session = ReadSession::open(
        config,
        &[StreamSelection::incremental(stream)],
        &SessionState::new(),
    )
    .expect("open");
    driver::run(&mut session, &mut transport, &mut VirtualClock(NOW), None).expect("read")
}

fn check(stream: &str, body: &[u8], cut: Option<usize>, want: (usize, &str, &str, &str)) {
    // The chunking must not matter either: odd small chunks and big ones.
    for chunk in [7, 4093, 64 * 1024] {
        let out = read(stream, body.to_vec(), chunk, cut);
        // Twins are in the data, and each still has its own key.
        let keys: std::collections::BTreeSet<&str> = out.records[stream]
            .iter()
            .filter_map(|r| r.get("_key").and_then(|k| k.as_str()))
            .collect();
        assert_eq!(keys.len(), out.count(stream), "{stream}: a `_key` repeats");
        let (n, records, logs, state) = digest(&out);
        assert_eq!(
            (n, records.as_str(), logs.as_str(), state.as_str()),
            want,
            "{stream} in {chunk}-byte chunks, cut {cut:?}"
        );
    }
}

#[test]
fn email_send_output_is_unchanged() {
    let body = body(13, 3000, false);
    check(
        "email_send",
        &body,
        None,
        (
            3000,
            "7f7a13f44326029c21e642d13f072521c9eb133f6d4b18c125c8cc2237b6c24c",
            "d65b19cd9ab7c4c8a743910f9505e943cffde573df32a7347ddcd9598ac2b765",
            "290bee298a679ba6b133545652b188ff561ec1202b2a5117d7a739e483012ce2",
        ),
    );
}

#[test]
fn custom_event_output_with_twins_is_unchanged() {
    let body = body(1313, 3000, true);
    check(
        "custom_event",
        &body,
        None,
        (
            3000,
            "75643f0ae256a0eb60fc351ac5ae8d2a3e3cd11d971d3bbe5fb35ef0e5f44925",
            "b99817e58f8eb637c4ae91241217e91e57c27e297642b8a2bf1ba1e668c43ecf",
            "024d067792173aab8459e204fd629a071158d68f36af61cf35a22f88e60530dd",
        ),
    );
}

#[test]
fn a_cut_and_reread_body_gives_the_same_output() {
    let body = body(7, 2000, true);
    let cut = body.len() / 2 + 3;
    check(
        "custom_event",
        &body,
        Some(cut),
        (
            2000,
            "171f563857f0deaf4d24ca50633fe46066a638f31aba607869250e96f1188fc7",
            "c55c620ac7f54187af1cec7b7abc7bdeacee40e66e079b40d6a404b64213a769",
            "024d067792173aab8459e204fd629a071158d68f36af61cf35a22f88e60530dd",
        ),
    );
}
