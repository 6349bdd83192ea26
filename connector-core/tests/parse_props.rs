//! Property tests: body parsing does not depend on chunking, and timestamps
//! survive a round trip through their RFC 3339 form.
//!
//! Every generated body is built together with what it must parse to (items,
//! and the offset / line of an injected bad item), then parsed whole, split at a
//! random set of byte boundaries, and one byte at a time. Random cuts land inside
//! multi-byte UTF-8 characters, `\r\n` pairs and quoted CSV fields; the one-byte
//! run hits every such position.

use chrono::{DateTime, FixedOffset, Utc};
use connector_core::{BodyFormat, BodyParser, ParseError, ParseOptions};
use connector_core::{
    parse_config_date, parse_timestamp_str, parse_wire_timestamp, to_epoch_ms, to_export_param,
    to_rfc3339,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Value>,
    skipped: u64,
    result: Result<(), ParseError>,
}

/// Parses `body` pushed in pieces ending at `cuts` (sorted), taking items
/// between pushes as a real driver would.
fn run(format: BodyFormat, options: ParseOptions, body: &[u8], cuts: &[usize]) -> Outcome {
    let mut parser = BodyParser::new(format, options);
    let mut items = Vec::new();
    let mut result = Ok(());
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&body.len())) {
        result = parser.push(&body[start..end]);
        start = end;
        items.extend(parser.take());
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = parser.finish();
    }
    items.extend(parser.take());
    Outcome {
        items,
        skipped: parser.skipped(),
        result,
    }
}

/// Parses whole, at `cuts`, and byte by byte; all three must agree.
fn parse_every_way(
    format: BodyFormat,
    options: ParseOptions,
    body: &[u8],
    cuts: &[Index],
) -> Outcome {
    let whole = run(format, options, body, &[]);
    let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
    cuts.sort_unstable();
    let split = run(format, options, body, &cuts);
    let every_byte: Vec<usize> = (1..body.len()).collect();
    let bytewise = run(format, options, body, &every_byte);
    assert_eq!(whole, split, "cuts {cuts:?} changed the outcome");
    assert_eq!(whole, bytewise, "one-byte chunks changed the outcome");
    whole
}

fn skipping() -> ParseOptions {
    ParseOptions {
        skip_malformed: true,
        ..ParseOptions::default()
    }
}

fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..24)
}

fn eol() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n")]
}

/// Text with the characters that break naive parsers: multi-byte UTF-8,
/// quotes, delimiters, backslashes, newlines, carriage returns.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,8}",
        "[a-zé🚀ü\"\\\\,;|\t\r\n ]{0,10}",
        "\\PC{0,8}",
    ]
}

// --- NDJSON -----------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1000i32..1000).prop_map(|n| Value::from(f64::from(n) + 0.5)),
        tricky_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-zA-Z_é]{1,6}", json_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

#[derive(Debug, Clone)]
enum NdjsonLine {
    Item {
        value: Value,
        pad: (&'static str, &'static str),
    },
    Blank(&'static str),
    Bad(Vec<u8>),
}

fn padding() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(""), Just(" "), Just("\t "), Just("  ")]
}

fn ndjson_line(bad: bool) -> BoxedStrategy<NdjsonLine> {
    let good = prop_oneof![
        4 => (json_object(), padding(), padding())
            .prop_map(|(value, a, b)| NdjsonLine::Item { value, pad: (a, b) }),
        1 => padding().prop_map(NdjsonLine::Blank),
    ];
    if !bad {
        return good.boxed();
    }
    prop_oneof![
        Just(b"{".to_vec()),
        Just(b"[1,2]".to_vec()),
        Just(b"not json".to_vec()),
        Just(b"{\"a\":1}}".to_vec()),
        Just(b"\"str\"".to_vec()),
        Just(b"{\"a\":\"\xff\xfe\"}".to_vec()),
        Just("{\"é\":\"\u{1F680}\"".as_bytes().to_vec()),
    ]
    .prop_map(NdjsonLine::Bad)
    .boxed()
}

/// A body and what it must parse to.
#[derive(Debug)]
struct Expected {
    body: Vec<u8>,
    /// All good items, in order.
    items: Vec<Value>,
    /// (offset, line, good items before it) of each bad item.
    bad: Vec<(u64, u64, usize)>,
}

impl Expected {
    fn new() -> Self {
        Expected {
            body: Vec::new(),
            items: Vec::new(),
            bad: Vec::new(),
        }
    }

    fn line_number(&self) -> u64 {
        self.body.iter().filter(|&&b| b == b'\n').count() as u64 + 1
    }

    fn mark_bad(&mut self) {
        let at = (self.body.len() as u64, self.line_number(), self.items.len());
        self.bad.push(at);
    }

    /// What a strict parse must produce: items up to the first bad one, its error.
    fn check_strict(&self, out: &Outcome) {
        match self.bad.first() {
            None => {
                assert_eq!(out.result, Ok(()));
                assert_eq!(out.items, self.items);
            }
            Some(&(offset, line, before)) => {
                let e = out.result.as_ref().expect_err("expected an error");
                assert_eq!((e.offset, e.line), (offset, line), "{e}");
                assert_eq!(out.items, self.items[..before]);
            }
        }
        assert_eq!(out.skipped, 0);
    }

    fn check_skipping(&self, out: &Outcome) {
        assert_eq!(out.result, Ok(()));
        assert_eq!(out.items, self.items);
        assert_eq!(out.skipped, self.bad.len() as u64);
    }
}

fn build_ndjson(lines: &[(NdjsonLine, &str)], final_eol: bool) -> Expected {
    let mut x = Expected::new();
    for (i, (line, eol)) in lines.iter().enumerate() {
        match line {
            NdjsonLine::Item { value, pad } => {
                x.body.extend_from_slice(pad.0.as_bytes());
                x.body
                    .extend_from_slice(serde_json::to_string(value).unwrap().as_bytes());
                x.body.extend_from_slice(pad.1.as_bytes());
                x.items.push(value.clone());
            }
            NdjsonLine::Blank(pad) => x.body.extend_from_slice(pad.as_bytes()),
            NdjsonLine::Bad(bytes) => {
                x.mark_bad();
                x.body.extend_from_slice(bytes);
            }
        }
        if final_eol || i + 1 < lines.len() {
            x.body.extend_from_slice(eol.as_bytes());
        }
    }
    x
}

fn ndjson_body(max_bad: usize) -> impl Strategy<Value = Expected> {
    let lines = prop::collection::vec((ndjson_line(false), eol()), 0..12);
    let bad = prop::collection::vec((any::<Index>(), ndjson_line(true), eol()), 0..=max_bad);
    (lines, bad, any::<bool>()).prop_map(|(mut lines, bad, final_eol)| {
        for (at, line, eol) in bad {
            lines.insert(at.index(lines.len() + 1), (line, eol));
        }
        build_ndjson(&lines, final_eol)
    })
}

// --- CSV --------------------------------------------------------------------

#[derive(Debug, Clone)]
struct CsvCase {
    delimiter: u8,
    header: Vec<String>,
    /// `None` is an empty unquoted cell; `bool` forces quoting.
    rows: Vec<Vec<(Option<String>, bool)>>,
}

fn csv_case() -> impl Strategy<Value = CsvCase> {
    let delimiter = prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')];
    let header = prop::collection::btree_set("[a-z]{1,5}", 2..5);
    (delimiter, header).prop_flat_map(|(delimiter, header)| {
        let n = header.len();
        let cell = (prop::option::weighted(0.8, tricky_text()), any::<bool>());
        let rows = prop::collection::vec(prop::collection::vec(cell, n), 0..8);
        rows.prop_map(move |rows| CsvCase {
            delimiter,
            header: header.iter().cloned().collect(),
            rows,
        })
    })
}

fn csv_cell(out: &mut Vec<u8>, text: &str, force_quotes: bool, delimiter: u8) {
    let special = text.is_empty()
        || text
            .bytes()
            .any(|b| b == delimiter || b == b'"' || b == b'\r' || b == b'\n');
    if special || force_quotes {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Encodes `case`; `bad_at` = (row index, eol) of an extra row with one field
/// too few. `eols` / `blanks` are consumed cyclically per record.
fn build_csv(
    case: &CsvCase,
    eols: &[&str],
    blanks: &[bool],
    final_eol: bool,
    bad_at: Option<usize>,
) -> Expected {
    let mut x = Expected::new();
    let d = case.delimiter;
    let eol_at = |i: usize| eols[i % eols.len()];
    let header: Vec<(Option<String>, bool)> = case
        .header
        .iter()
        .map(|h| (Some(h.clone()), false))
        .collect();
    let mut records = vec![header];
    records.extend(case.rows.iter().cloned());
    let bad_record = bad_at.map(|i| 1 + i.min(case.rows.len()));
    if let Some(i) = bad_record {
        let short = vec![(Some("x".to_owned()), false); case.header.len() - 1];
        records.insert(i, short);
    }
    for (i, record) in records.iter().enumerate() {
        if blanks[i % blanks.len()] {
            x.body.extend_from_slice(b"  ");
            x.body.extend_from_slice(eol_at(i + 1).as_bytes());
        }
        if Some(i) == bad_record {
            x.mark_bad();
        } else if i > 0 {
            let row = case.header.iter().zip(record).map(|(name, (cell, _))| {
                let value = cell.clone().map_or(Value::Null, Value::String);
                (name.clone(), value)
            });
            x.items.push(Value::Object(row.collect()));
        }
        for (j, (cell, quoted)) in record.iter().enumerate() {
            if j > 0 {
                x.body.push(d);
            }
            if let Some(text) = cell {
                csv_cell(&mut x.body, text, *quoted, d);
            }
        }
        if final_eol || i + 1 < records.len() {
            x.body.extend_from_slice(eol_at(i).as_bytes());
        }
    }
    x
}

// --- Text lines -------------------------------------------------------------

fn text_body() -> impl Strategy<Value = (Expected, Option<usize>)> {
    let line = (padding(), "\\PC{0,10}", padding(), eol());
    let lines = prop::collection::vec(line, 0..12);
    let bad = prop::option::of(any::<Index>());
    (lines, bad, any::<bool>()).prop_map(|(lines, bad, final_eol)| {
        let bad_at = bad.map(|i| i.index(lines.len() + 1));
        let mut x = Expected::new();
        let n = lines.len() + usize::from(bad_at.is_some());
        let mut lines = lines.into_iter();
        for i in 0..n {
            let eol = if Some(i) == bad_at {
                x.mark_bad();
                x.body.extend_from_slice(b"user\xff@example.com");
                "\n"
            } else {
                let (a, text, b, eol) = lines.next().unwrap();
                x.body.extend_from_slice(format!("{a}{text}{b}").as_bytes());
                if !text.trim().is_empty() {
                    x.items.push(Value::String(text.trim().to_owned()));
                }
                eol
            };
            if final_eol || i + 1 < n {
                x.body.extend_from_slice(eol.as_bytes());
            }
        }
        (x, bad_at)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ndjson_any_chunking_gives_the_same_items(x in ndjson_body(0), cuts in cuts()) {
        let out = parse_every_way(BodyFormat::Ndjson, ParseOptions::default(), &x.body, &cuts);
        x.check_strict(&out);
    }

    #[test]
    fn ndjson_malformed_lines_report_the_same_offset(x in ndjson_body(3), cuts in cuts()) {
        let out = parse_every_way(BodyFormat::Ndjson, ParseOptions::default(), &x.body, &cuts);
        x.check_strict(&out);
        let out = parse_every_way(BodyFormat::Ndjson, skipping(), &x.body, &cuts);
        x.check_skipping(&out);
    }

    #[test]
    fn csv_any_chunking_gives_the_same_rows(
        case in csv_case(),
        eols in prop::collection::vec(eol(), 1..4),
        blanks in prop::collection::vec(prop::bool::weighted(0.2), 1..5),
        final_eol in any::<bool>(),
        cuts in cuts(),
    ) {
        let x = build_csv(&case, &eols, &blanks, final_eol, None);
        let format = BodyFormat::Csv { delimiter: case.delimiter };
        let out = parse_every_way(format, ParseOptions::default(), &x.body, &cuts);
        x.check_strict(&out);
    }

    #[test]
    fn csv_bad_rows_report_the_same_offset(
        case in csv_case(),
        eols in prop::collection::vec(eol(), 1..4),
        blanks in prop::collection::vec(prop::bool::weighted(0.2), 1..5),
        final_eol in any::<bool>(),
        bad_at in 0usize..8,
        cuts in cuts(),
    ) {
        let x = build_csv(&case, &eols, &blanks, final_eol, Some(bad_at));
        let format = BodyFormat::Csv { delimiter: case.delimiter };
        let out = parse_every_way(format, ParseOptions::default(), &x.body, &cuts);
        x.check_strict(&out);
        let out = parse_every_way(format, skipping(), &x.body, &cuts);
        x.check_skipping(&out);
    }

    #[test]
    fn text_lines_any_chunking_gives_the_same_lines((x, _) in text_body(), cuts in cuts()) {
        let out = parse_every_way(BodyFormat::TextLines, ParseOptions::default(), &x.body, &cuts);
        x.check_strict(&out);
        let out = parse_every_way(BodyFormat::TextLines, skipping(), &x.body, &cuts);
        x.check_skipping(&out);
    }

    #[test]
    fn json_document_any_chunking(value in json_value(), cuts in cuts()) {
        let body = serde_json::to_vec_pretty(&value).unwrap();
        let out = parse_every_way(BodyFormat::Json, ParseOptions::default(), &body, &cuts);
        prop_assert_eq!(out.result, Ok(()));
        prop_assert_eq!(out.items, vec![value]);
    }

    #[test]
    fn arbitrary_bytes_never_depend_on_chunking(
        body in prop::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'"'), Just(b','), Just(b'{'), Just(b'}'), any::<u8>()],
            0..64,
        ),
        cuts in cuts(),
    ) {
        // Garbage in: whatever comes out (items, skips, error position) must not
        // depend on the chunking. parse_every_way asserts that.
        for format in [
            BodyFormat::Ndjson,
            BodyFormat::TextLines,
            BodyFormat::Csv { delimiter: b',' },
            BodyFormat::Json,
        ] {
            parse_every_way(format, ParseOptions::default(), &body, &cuts);
            parse_every_way(format, skipping(), &body, &cuts);
            let small = ParseOptions { skip_malformed: true, max_document_bytes: 8 };
            parse_every_way(format, small, &body, &cuts);
        }
    }
}

// --- Timestamps -------------------------------------------------------------

/// 0001-01-01T00:00:00Z and 9998-12-31T00:00:00Z in epoch nanoseconds / 1000
/// (microseconds), leaving room for any offset within the year range.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_370_678_400_000_000;

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let precision = prop_oneof![
        Just(1_000_000_000u32),
        Just(1_000_000),
        Just(1_000),
        Just(1)
    ];
    (
        MIN_MICROS / 1_000_000..MAX_MICROS / 1_000_000,
        0u32..1_000_000_000,
        precision,
    )
        .prop_map(|(secs, nanos, precision)| {
            DateTime::from_timestamp(secs, nanos - nanos % precision).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rfc3339_round_trips(dt in instant()) {
        let s = to_rfc3339(&dt);
        prop_assert!(s.ends_with('Z'), "{}", s);
        let parsed = parse_timestamp_str(&s);
        prop_assert_eq!(parsed, Some(dt));
        prop_assert_eq!(to_rfc3339(&parsed.unwrap()), s.clone());
        prop_assert_eq!(parse_config_date(&s), Some(dt));
        prop_assert_eq!(
            parse_wire_timestamp(&Value::String(format!("  {s} "))),
            Some(dt)
        );
    }

    #[test]
    fn offsets_are_converted_to_utc(dt in instant(), minutes in -(23 * 60 + 59)..=(23 * 60 + 59)) {
        let zone = FixedOffset::east_opt(minutes * 60).unwrap();
        let local = dt.with_timezone(&zone);
        let iso = local.format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string();
        prop_assert_eq!(parse_timestamp_str(&iso), Some(dt), "{}", iso);
        prop_assert_eq!(parse_config_date(&iso), Some(dt), "{}", iso);
        let export = local.format("%Y-%m-%d %H:%M:%S%.f %z").to_string();
        prop_assert_eq!(parse_timestamp_str(&export), Some(dt), "{}", export);
    }

    #[test]
    fn export_params_round_trip_to_the_second(dt in instant()) {
        let param = to_export_param(&dt);
        let parsed = parse_timestamp_str(&param).unwrap();
        prop_assert_eq!(parsed.timestamp(), dt.timestamp());
        prop_assert_eq!(parsed.timestamp_subsec_nanos(), 0);
        let with_zone = format!("{param} +00:00");
        prop_assert_eq!(parse_timestamp_str(&with_zone), Some(parsed));
    }

    #[test]
    fn epoch_millis_round_trip(ms in MIN_MICROS / 1000..MAX_MICROS / 1000) {
        let dt = parse_wire_timestamp(&Value::from(ms)).unwrap();
        prop_assert_eq!(to_epoch_ms(&dt), ms);
        if ms >= 10_000_000_000 {
            prop_assert_eq!(parse_timestamp_str(&ms.to_string()), Some(dt));
        }
    }

    #[test]
    fn mangled_double_fraction_keeps_the_first(dt in instant()) {
        let s = to_rfc3339(&dt);
        // Without a first fraction, `…:SS.000Z` is a plain fraction: still dt.
        let mangled = format!("{}.000Z", s.trim_end_matches('Z'));
        prop_assert_eq!(parse_timestamp_str(&mangled), Some(dt), "{}", mangled);
    }

    #[test]
    fn garbage_strings_never_panic(s in "\\PC{0,40}") {
        if let Some(dt) = parse_timestamp_str(&s) {
            let again = parse_timestamp_str(&to_rfc3339(&dt));
            prop_assert_eq!(again, Some(dt));
        }
        let _ = parse_config_date(&s);
    }
}
