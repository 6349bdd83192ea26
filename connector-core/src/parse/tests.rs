//! Unit tests for [`BodyParser`], one section per format. Every body is parsed
//! twice, in one chunk and one byte at a time, and both runs must agree.

use serde_json::{Value, json};

use super::*;
use crate::error::ErrorKind;

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Value>,
    skipped: u64,
    result: Result<(), ParseError>,
}

fn run(format: BodyFormat, options: ParseOptions, chunks: &[&[u8]]) -> Outcome {
    let mut p = BodyParser::new(format, options);
    let mut items = Vec::new();
    let mut result = Ok(());
    for chunk in chunks {
        result = p.push(chunk);
        items.extend(p.take());
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = p.finish();
    }
    items.extend(p.take());
    assert_eq!(p.pending(), 0);
    Outcome {
        items,
        skipped: p.skipped(),
        result,
    }
}

/// Parses `body` whole and byte by byte; asserts both agree.
fn parse_with(format: BodyFormat, options: ParseOptions, body: &[u8]) -> Outcome {
    let whole = run(format, options, &[body]);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    let bytewise = run(format, options, &bytes);
    assert_eq!(whole, bytewise, "chunking changed the outcome");
    whole
}

fn parse(format: BodyFormat, body: &[u8]) -> Outcome {
    parse_with(format, ParseOptions::default(), body)
}

fn skipping() -> ParseOptions {
    ParseOptions {
        skip_malformed: true,
        ..ParseOptions::default()
    }
}

fn limited(max_document_bytes: usize) -> ParseOptions {
    ParseOptions {
        max_document_bytes,
        ..ParseOptions::default()
    }
}

fn ok(items: Vec<Value>) -> Outcome {
    Outcome {
        items,
        skipped: 0,
        result: Ok(()),
    }
}

fn err_at(outcome: &Outcome, offset: u64, line: u64) -> &ParseError {
    let e = outcome.result.as_ref().expect_err("expected a parse error");
    assert_eq!((e.offset, e.line), (offset, line), "{e}");
    e
}

const CSV: BodyFormat = BodyFormat::Csv { delimiter: b',' };

// --- NDJSON -----------------------------------------------------------------

#[test]
fn ndjson_lines_blank_lines_crlf_and_missing_final_newline() {
    let body = b"{\"a\":1}\r\n\n   \r\n{\"b\":\"\xc3\xa9\"}\n\t{\"c\":null} \n{\"d\":[1,2]}";
    let want = vec![
        json!({"a": 1}),
        json!({"b": "é"}),
        json!({"c": null}),
        json!({"d": [1, 2]}),
    ];
    assert_eq!(parse(BodyFormat::Ndjson, body), ok(want));
}

#[test]
fn ndjson_empty_and_blank_bodies_yield_nothing() {
    assert_eq!(parse(BodyFormat::Ndjson, b""), ok(vec![]));
    assert_eq!(parse(BodyFormat::Ndjson, b"\n\r\n  \n"), ok(vec![]));
}

#[test]
fn ndjson_export_lines_keep_their_values() {
    let body = br#"{"email":"jane@example.com","createdAt":"2021-04-14 16:25:56 +00:00","campaignId":2220229,"itblInternal":{"documentCreatedAt":"2021-04-14 16:25:56 +00:00"}}
{"email":"skip@example.com","transactionalData":"{\"sku\":\"A-1\"}","total":45.5}
"#;
    let out = parse(BodyFormat::Ndjson, body);
    assert_eq!(out.result, Ok(()));
    assert_eq!(out.items.len(), 2);
    assert_eq!(out.items[0]["campaignId"], json!(2220229));
    assert_eq!(
        out.items[0]["itblInternal"]["documentCreatedAt"],
        json!("2021-04-14 16:25:56 +00:00")
    );
    assert_eq!(
        out.items[1]["transactionalData"],
        json!("{\"sku\":\"A-1\"}")
    );
    assert_eq!(out.items[1]["total"], json!(45.5));
}

#[test]
fn ndjson_malformed_line_reports_its_start() {
    // Line 3 starts at byte 9: `{"a":1}\n` is 8 bytes, then a blank line.
    let body = b"{\"a\":1}\n\n{\"b\":\n{\"c\":3}\n";
    let out = parse(BodyFormat::Ndjson, body);
    assert_eq!(out.items, vec![json!({"a": 1})]);
    let e = err_at(&out, 9, 3);
    assert!(e.message.contains("invalid JSON"), "{e}");
}

#[test]
fn ndjson_non_objects_are_malformed() {
    for (line, found) in [
        ("[1,2]", "an array"),
        ("42", "a number"),
        ("\"x\"", "a string"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let body = format!("{{}}\r\n{line}\r\n");
        let out = parse(BodyFormat::Ndjson, body.as_bytes());
        let e = err_at(&out, 4, 2);
        assert!(e.message.contains(found), "{e}");
    }
}

#[test]
fn ndjson_malformed_last_line_without_newline() {
    let out = parse(BodyFormat::Ndjson, b"{\"a\":1}\n{\"a\":");
    assert_eq!(out.items, vec![json!({"a": 1})]);
    err_at(&out, 8, 2);
}

#[test]
fn ndjson_skip_malformed_counts_and_continues() {
    let body = b"{\"a\":1}\nnope\n{\"a\":2}\n[3]\n{\"a\":\xff}\n{\"a\":4}";
    let out = parse_with(BodyFormat::Ndjson, skipping(), body);
    assert_eq!(out.result, Ok(()));
    assert_eq!(out.skipped, 3);
    assert_eq!(
        out.items,
        vec![json!({"a": 1}), json!({"a": 2}), json!({"a": 4})]
    );
}

#[test]
fn ndjson_invalid_utf8_is_malformed() {
    let out = parse(BodyFormat::Ndjson, b"{\"a\":\"ok\"}\n{\"a\":\"\xe9\"}\n");
    let e = err_at(&out, 11, 2);
    assert!(e.message.contains("invalid UTF-8"), "{e}");
    // A truncated multi-byte character at the very end, too.
    let out = parse(BodyFormat::Ndjson, b"{\"a\":\"\xc3");
    err_at(&out, 0, 1);
}

#[test]
fn ndjson_multibyte_characters_split_across_chunks() {
    let body = "{\"name\":\"Łódź 🚀\"}\n".as_bytes();
    let (a, b) = body.split_at(12); // inside `Ł`... somewhere in the multi-byte run
    let out = run(BodyFormat::Ndjson, ParseOptions::default(), &[a, b]);
    assert_eq!(out, ok(vec![json!({"name": "Łódź 🚀"})]));
}

#[test]
fn ndjson_errors_carry_a_short_excerpt_only() {
    let long = format!("{{\"secret\": \"{}\" oops}}", "x".repeat(5000));
    let body = format!("{{}}\n{long}\n");
    let out = parse(BodyFormat::Ndjson, body.as_bytes());
    let e = err_at(&out, 3, 2).clone();
    assert!(e.message.len() < 200, "{}", e.message);
    assert!(e.message.contains("{\\\"secret\\\""), "{}", e.message);
    let ce = ConnectorError::from(e);
    assert_eq!(ce.kind, ErrorKind::MalformedResponse);
    assert!(ce.message.contains("line 2"), "{}", ce.message);
    assert!(ce.message.contains("byte offset 3"), "{}", ce.message);
}

/// A 2xx page that repeats the request's headers (a gateway, a proxy)
/// fails to parse; the quoted excerpt must not carry the key (found by the
/// fuzzer: `fuzz/regressions/read_session/`).
#[test]
fn excerpts_do_not_quote_an_echoed_key() {
    for format in [BodyFormat::Ndjson, BodyFormat::Json] {
        let body = b"Api-Key: k3y-5ecret-0123456789\nHost: api.iterable.com\n";
        let out = parse(format, body);
        let e = out.result.expect_err("not JSON");
        assert!(!e.message.contains("5ecret"), "{format:?}: {}", e.message);
    }
    let out = parse(BodyFormat::Ndjson, b"Api-Key: k3y-5ecret-0123456789\n");
    let e = out.result.expect_err("not JSON");
    assert!(e.message.contains("Api-Key: ***"), "{}", e.message);
    let e = excerpt(br#"{"headers": {"x-api-key": "k3y-5ecret-0123456789"}}"#);
    assert!(!e.contains("5ecret"), "{e}");
    assert!(e.contains("***"), "{e}");
}

#[test]
fn excerpts_are_at_most_80_chars() {
    assert_eq!(excerpt(b"abc"), "\"abc\"");
    assert_eq!(excerpt(b"a\nb"), "\"a\\nb\"");
    let long = excerpt("é".repeat(1000).as_bytes());
    assert!(long.chars().count() <= 80, "{long}");
    assert!(long.ends_with("…\""));
    let bad = excerpt(&[0xff; 500]);
    assert!(bad.chars().count() <= 80, "{bad}");
}

#[test]
fn ndjson_oversized_line() {
    let body = b"{\"a\":1}\n{\"long\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n{\"b\":2}\n";
    let out = parse_with(BodyFormat::Ndjson, limited(20), body);
    assert_eq!(out.items, vec![json!({"a": 1})]);
    let e = err_at(&out, 8, 2);
    assert!(e.message.contains("too long"), "{e}");

    let options = ParseOptions {
        skip_malformed: true,
        max_document_bytes: 20,
    };
    let out = parse_with(BodyFormat::Ndjson, options, body);
    assert_eq!(out.items, vec![json!({"a": 1}), json!({"b": 2})]);
    assert_eq!(out.skipped, 1);
}

#[test]
fn errors_are_sticky() {
    let mut p = BodyParser::new(BodyFormat::Ndjson, ParseOptions::default());
    let e = p.push(b"{}\n]\n{}\n").unwrap_err();
    assert_eq!((e.offset, e.line), (3, 2));
    assert_eq!(p.push(b"{}\n"), Err(e.clone()));
    assert_eq!(p.finish(), Err(e));
    assert_eq!(p.take(), vec![json!({})]);
}

#[test]
fn take_pending_and_bytes_seen() {
    let mut p = BodyParser::new(BodyFormat::Ndjson, ParseOptions::default());
    p.push(b"{\"a\":1}\n{\"a\":2}\n{\"a\"").unwrap();
    assert_eq!(p.pending(), 2);
    assert_eq!(p.bytes_seen(), 20);
    assert_eq!(p.take(), vec![json!({"a": 1}), json!({"a": 2})]);
    assert_eq!(p.pending(), 0);
    p.push(b":3}").unwrap();
    assert_eq!(p.pending(), 0, "the last line is only complete at finish");
    p.finish().unwrap();
    assert_eq!(p.take(), vec![json!({"a": 3})]);
    assert_eq!(p.bytes_seen(), 23);
    // finish is idempotent; data after it is refused.
    assert_eq!(p.finish(), Ok(()));
    assert_eq!(p.push(b""), Ok(()));
    let e = p.push(b"{}").unwrap_err();
    assert_eq!(e.offset, 23);
}

// --- JSON -------------------------------------------------------------------

#[test]
fn json_document_in_chunks() {
    let body = br#"{"lists":[{"id":1,"name":"A \u00e9","createdAt":1618417387154}]}"#;
    let out = parse(BodyFormat::Json, body);
    let want = json!({"lists": [{"id": 1, "name": "A é", "createdAt": 1618417387154_i64}]});
    assert_eq!(out, ok(vec![want]));
}

#[test]
fn json_any_value_and_empty_object() {
    assert_eq!(parse(BodyFormat::Json, b"{}"), ok(vec![json!({})]));
    assert_eq!(parse(BodyFormat::Json, b" 42\n"), ok(vec![json!(42)]));
}

#[test]
fn json_empty_body_is_malformed() {
    for body in [&b""[..], b"  \r\n"] {
        let out = parse(BodyFormat::Json, body);
        let e = err_at(&out, 0, 1);
        assert!(e.message.contains("empty"), "{e}");
    }
}

#[test]
fn json_invalid_document_is_fatal_even_when_skipping() {
    let out = parse_with(BodyFormat::Json, skipping(), b"{\"a\":\n[1,}");
    let e = err_at(&out, 0, 1);
    assert!(e.message.contains("line 2"), "{e}");
    assert!(out.items.is_empty());
    let out = parse(BodyFormat::Json, b"{} {}");
    err_at(&out, 0, 1);
    let out = parse(BodyFormat::Json, b"{\"a\":\"\xff\"}");
    err_at(&out, 0, 1);
}

#[test]
fn json_oversized_document() {
    let body = br#"{"a":"0123456789"}"#; // 18 bytes
    assert_eq!(
        parse_with(BodyFormat::Json, limited(18), body).items.len(),
        1
    );
    let out = parse_with(BodyFormat::Json, limited(17), body);
    let e = err_at(&out, 0, 1);
    assert!(e.message.contains("larger than 17 bytes"), "{e}");
    // Refused during push, before the body is complete.
    let mut p = BodyParser::new(BodyFormat::Json, limited(17));
    p.push(&body[..10]).unwrap();
    assert!(p.push(&body[10..]).is_err());
}

// --- CSV --------------------------------------------------------------------

#[test]
fn csv_header_rows_and_null_cells() {
    let body = b"id,name,opens,rate\n2220229,Spring sale,12,\n2197857,\"\",,0.5\n";
    let want = vec![
        json!({"id": "2220229", "name": "Spring sale", "opens": "12", "rate": null}),
        json!({"id": "2197857", "name": "", "opens": null, "rate": "0.5"}),
    ];
    assert_eq!(parse(CSV, body), ok(want));
}

#[test]
fn csv_quoted_fields_with_delimiters_quotes_and_newlines() {
    let body = "k,v\r\n\"a,b\",\"say \"\"hi\"\"\"\r\n\"line1\nline2\",\"crlf\r\ninside\"\r\n\"\"\"\",\"ü,🚀\"\r\n";
    let want = vec![
        json!({"k": "a,b", "v": "say \"hi\""}),
        json!({"k": "line1\nline2", "v": "crlf\r\ninside"}),
        json!({"k": "\"", "v": "ü,🚀"}),
    ];
    assert_eq!(parse(CSV, body.as_bytes()), ok(want));
}

#[test]
fn csv_blank_lines_crlf_and_missing_final_newline() {
    let body = b"\r\n\na,b\r\n\r\n1,2\n  \n3,4";
    let want = vec![json!({"a": "1", "b": "2"}), json!({"a": "3", "b": "4"})];
    assert_eq!(parse(CSV, body), ok(want));
    // A final record ending in a delimiter has an empty last cell.
    assert_eq!(
        parse(CSV, b"a,b\n1,"),
        ok(vec![json!({"a": "1", "b": null})])
    );
    // A final record ending in a lone `\r`.
    assert_eq!(
        parse(CSV, b"a,b\r\n1,2\r"),
        ok(vec![json!({"a": "1", "b": "2"})])
    );
}

#[test]
fn csv_header_only_and_empty_bodies() {
    assert_eq!(parse(CSV, b""), ok(vec![]));
    assert_eq!(parse(CSV, b"a,b\r\n"), ok(vec![]));
    assert_eq!(parse(CSV, b"a,b"), ok(vec![]));
}

#[test]
fn csv_other_delimiters() {
    let body = b"a;b\n\"x;y\";z,w\n";
    let out = parse(BodyFormat::Csv { delimiter: b';' }, body);
    assert_eq!(out, ok(vec![json!({"a": "x;y", "b": "z,w"})]));
    let body = b"a\tb\n1\t\n";
    let out = parse(BodyFormat::Csv { delimiter: b'\t' }, body);
    assert_eq!(out, ok(vec![json!({"a": "1", "b": null})]));
}

#[test]
fn csv_lenient_quotes_and_carriage_returns() {
    let body = b"a,b\n5\" screen,x\ry\n";
    let want = vec![json!({"a": "5\" screen", "b": "x\ry"})];
    assert_eq!(parse(CSV, body), ok(want));
}

#[test]
fn csv_field_count_mismatch_reports_the_record_start() {
    // The second data record starts on line 4 because the first spans two lines.
    let body = b"a,b\n\"1\n1\",2\n3\n4,5\n";
    let out = parse(CSV, body);
    assert_eq!(out.items, vec![json!({"a": "1\n1", "b": "2"})]);
    let e = err_at(&out, 12, 4);
    assert!(e.message.contains("expected 2 fields, found 1"), "{e}");

    let out = parse_with(CSV, skipping(), body);
    assert_eq!(out.result, Ok(()));
    assert_eq!(out.skipped, 1);
    assert_eq!(out.items.len(), 2);
    assert_eq!(out.items[1], json!({"a": "4", "b": "5"}));
}

#[test]
fn csv_text_after_closing_quote_is_malformed() {
    let out = parse(CSV, b"a,b\n\"x\"y,1\n2,3\n");
    let e = err_at(&out, 4, 2);
    assert!(e.message.contains("after a closing quote"), "{e}");
    let out = parse_with(CSV, skipping(), b"a,b\n\"x\"\ry,1\n2,3\n");
    assert_eq!(
        (out.items, out.skipped),
        (vec![json!({"a": "2", "b": "3"})], 1)
    );
}

#[test]
fn csv_unterminated_quote_at_end_of_body() {
    let out = parse(CSV, b"a,b\n1,2\n3,\"open\n4,5\n");
    assert_eq!(out.items, vec![json!({"a": "1", "b": "2"})]);
    let e = err_at(&out, 8, 3);
    assert!(e.message.contains("unterminated"), "{e}");
}

#[test]
fn csv_invalid_utf8() {
    let out = parse(CSV, b"a,b\n1,\xff\xfe\n");
    let e = err_at(&out, 4, 2);
    assert!(e.message.contains("invalid UTF-8 in field 2"), "{e}");
    let out = parse_with(CSV, skipping(), b"a,b\n1,\xff\n\xc3\xa9,2\n");
    assert_eq!(out.items, vec![json!({"a": "é", "b": "2"})]);
    assert_eq!(out.skipped, 1);
}

#[test]
fn csv_header_problems_are_fatal() {
    let out = parse_with(CSV, skipping(), b"\na,b,a\n1,2,3\n");
    let e = err_at(&out, 1, 2);
    assert!(e.message.contains("duplicate column"), "{e}");
    let out = parse_with(CSV, skipping(), b"\"a\"x,b\n1,2\n");
    err_at(&out, 0, 1);
}

#[test]
fn csv_oversized_record() {
    let body = b"a,b\n1,2\n\"0123456789\n0123456789\",x\n3,4\n";
    let out = parse_with(CSV, limited(10), body);
    let e = err_at(&out, 8, 3);
    assert!(e.message.contains("too long"), "{e}");
    let options = ParseOptions {
        skip_malformed: true,
        max_document_bytes: 10,
    };
    let out = parse_with(CSV, options, body);
    let want = vec![json!({"a": "1", "b": "2"}), json!({"a": "3", "b": "4"})];
    assert_eq!((out.items, out.skipped), (want, 1));
    // Exactly at the limit, terminator not counted.
    let out = parse_with(CSV, limited(5), b"aa,bb\r\n1,234\r\n");
    assert_eq!(out, ok(vec![json!({"aa": "1", "bb": "234"})]));
}

// --- Text lines -------------------------------------------------------------

#[test]
fn text_lines_trimmed_and_blank_lines_dropped() {
    let body =
        b"jane@example.com\r\n\n  bob@example.com \r\n\t\r\nu-1001\nz\xc3\xbc@example.com\n\n";
    let want = vec![
        json!("jane@example.com"),
        json!("bob@example.com"),
        json!("u-1001"),
        json!("zü@example.com"),
    ];
    assert_eq!(parse(BodyFormat::TextLines, body), ok(want));
    assert_eq!(
        parse(BodyFormat::TextLines, b"a\r\nb"),
        ok(vec![json!("a"), json!("b")])
    );
    assert_eq!(parse(BodyFormat::TextLines, b""), ok(vec![]));
}

#[test]
fn text_lines_invalid_utf8() {
    let out = parse(BodyFormat::TextLines, b"a\n\xff@example.com\nb\n");
    let e = err_at(&out, 2, 2);
    assert!(e.message.contains("invalid UTF-8"), "{e}");
    let out = parse_with(BodyFormat::TextLines, skipping(), b"a\n\xff\nb");
    assert_eq!((out.items, out.skipped), (vec![json!("a"), json!("b")], 1));
}

#[test]
fn text_lines_oversized() {
    let out = parse_with(BodyFormat::TextLines, limited(3), b"abc\r\nabcd\nab");
    assert_eq!(out.items, vec![json!("abc")]);
    err_at(&out, 5, 2);
}
