//! Boundaries cannot drift: every error kind and every summary field of the
//! core must exist in the WIT the component exports. (The component and the
//! Python extension destructure the core's summary without `..`, so a new
//! field fails their builds; this test covers the interface text itself.)

use connector_core::{CsvOptions, ErrorKind, RowStatus, StreamSummary, WriteSummary};

const TYPES_WIT: &str = include_str!("../../wit/types.wit");
const WRITER_WIT: &str = include_str!("../../wit/writer.wit");
const CSV_WIT: &str = include_str!("../../wit/csv.wit");

/// The body of `header { … }` in the WIT text.
fn block<'a>(wit: &'a str, header: &str) -> &'a str {
    let start = wit
        .find(header)
        .unwrap_or_else(|| panic!("{header} is not in types.wit"));
    let body = &wit[start + header.len()..];
    &body[..body.find('}').expect("a closing brace")]
}

/// WIT names: kebab-case, `%` escapes for keywords dropped.
fn names(block: &str) -> Vec<String> {
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .map(|l| l.split("//").next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(|item| item.split(':').next().unwrap_or("").trim())
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_start_matches('%').to_string())
        .collect()
}

/// Field names of a struct, read from its `Debug` output.
fn debug_fields(debug: &str) -> Vec<String> {
    let inner = &debug[debug.find('{').expect("a struct") + 1..debug.rfind('}').expect("end")];
    inner
        .split(", ")
        .filter_map(|kv| kv.split_once(':'))
        .map(|(k, _)| k.trim().replace('_', "-"))
        .collect()
}

#[test]
fn wit_error_kinds_cover_every_core_kind() {
    let wit = names(block(TYPES_WIT, "enum error-kind {"));
    for kind in ErrorKind::ALL {
        assert!(
            wit.iter().any(|n| n == kind.as_str()),
            "error kind {} is missing from wit/types.wit",
            kind.as_str()
        );
    }
    assert_eq!(wit.len(), ErrorKind::ALL.len(), "types.wit: {wit:?}");
}

#[test]
fn wit_stream_summary_carries_every_core_field() {
    let core = debug_fields(&format!("{:?}", StreamSummary::default()));
    assert!(core.contains(&"skipped-units".to_string()), "{core:?}");
    let wit = names(block(TYPES_WIT, "record stream-summary {"));
    for field in &core {
        assert!(
            wit.contains(field),
            "summary field {field} is missing from wit/types.wit (has {wit:?})"
        );
    }
}

#[test]
fn wit_write_summary_carries_every_core_field() {
    let core = debug_fields(&format!("{:?}", WriteSummary::default()));
    assert!(core.contains(&"unknown".to_string()), "{core:?}");
    let wit = names(block(WRITER_WIT, "record write-summary {"));
    assert_eq!(
        wit, core,
        "wit/writer.wit write-summary differs from the core's"
    );
}

#[test]
fn wit_row_statuses_are_the_cores() {
    let wit = names(block(WRITER_WIT, "enum row-status {"));
    let core: Vec<&str> = [RowStatus::Ok, RowStatus::Failed, RowStatus::Unknown]
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(wit, core);
}

#[test]
fn wit_csv_options_are_the_cores() {
    let core: Vec<String> = debug_fields(&format!("{:?}", CsvOptions::default()))
        .into_iter()
        .map(|f| f.replace('-', "_"))
        .collect();
    assert!(core.contains(&"null_value".to_string()), "{core:?}");
    let doc = &CSV_WIT[CSV_WIT.find("`options-json`").expect("the options doc")..];
    let doc = &doc[..doc.find("open:").expect("open")];
    for name in &core {
        assert!(
            doc.contains(&format!("\"{name}\"")),
            "CSV option {name} is not documented in wit/csv.wit"
        );
        // ...and the core takes it under that name.
        let value = match name.as_str() {
            "bom" | "header" => serde_json::json!(true),
            "line_ending" => serde_json::json!("crlf"),
            _ => serde_json::json!("|"),
        };
        let one = serde_json::json!({ name.as_str(): value });
        let taken = CsvOptions::from_json(&one);
        assert!(taken.is_ok(), "{name}: {:?}", taken.err());
    }
}
