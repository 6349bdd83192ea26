//! Test support: JSON values as text, written as users and the core write
//! them, for properties of code that reads NDJSON lines.

use serde_json::Value;

/// One JSON value as text, written loosely or compactly (with escapes,
/// fractions, repeated or unordered keys, or as the core writes it).
pub(crate) fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let scalar = prop_oneof![
        4 => (-100_000i64..100_000).prop_map(|n| n.to_string()),
        4 => "[a-z,;|' é]{0,8}".prop_map(|s| format!("\"{s}\"")),
        1 => Just("null".to_string()),
        1 => Just("true".to_string()),
        1 => Just("false".to_string()),
        1 => Just("-0".to_string()),
        1 => Just("1.50".to_string()),
        1 => Just("15.25".to_string()),
        1 => Just("-0.5".to_string()),
        1 => Just("1e5".to_string()),
        1 => Just("12345678901234567890".to_string()),
        1 => "[a-z,;|'\" é\t\r\n\\\\\u{1}]{0,8}".prop_map(|s| Value::from(s).to_string()),
        1 => Just(r#""\u00e9\/x""#.to_string()),
        // No value at all: the line around it is malformed (error paths).
        1 => Just(String::new()),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        let sep = prop_oneof![3 => Just(""), 1 => Just(" ")];
        prop_oneof![
            (proptest::collection::vec(inner.clone(), 0..4), sep.clone())
                .prop_map(|(items, s)| format!("[{s}{}]", items.join(&format!(",{s}")))),
            (
                proptest::collection::vec(("[abcé]{1,2}", inner), 0..4),
                sep,
                any::<bool>()
            )
                .prop_map(|(mut members, s, sorted)| {
                    // Sorted keys (the core's way) now and then, with
                    // any repeats side by side.
                    if sorted {
                        members.sort_by(|a, b| a.0.cmp(&b.0));
                    }
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("\"{k}\":{s}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
        ]
    })
}
