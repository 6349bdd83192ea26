//! Records checked against the schema their stream declares, before they
//! are handed out: a primary key that is missing or null, or a value whose
//! JSON type is not the declared one (text where the schema says integer),
//! is a violation. The config's `schema_policy` says what happens: `report`
//! (the default: the record goes out unchanged, the first violations of a
//! stream are logged with field, expected type and value, and the count
//! when the stream ends) or `fail` (a typed `schema-violation` error).
//! Every output (JSON, Arrow, CSV) reads the same checked records.

use serde_json::{Map, Value};

use crate::catalog::{FieldType, StreamDef};
use crate::config::Config;

/// Violations logged one by one per stream; the rest are only counted.
pub(crate) const REPORTED_PER_STREAM: u64 = 5;

/// One value that contradicts the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    pub(crate) field: &'static str,
    pub(crate) expected: &'static str,
    /// The value as JSON text, an echoed key redacted, cut to 80 characters.
    pub(crate) value: String,
}

impl Violation {
    pub(crate) fn describe(&self, stream: &str) -> String {
        format!(
            "{stream}.{}: expected {}, got {}",
            self.field, self.expected, self.value
        )
    }
}

/// The checks of one stream, built once per session.
pub(crate) struct Conformance {
    /// In the schema's order: the first violation reported is in this order.
    fields: Vec<(&'static str, FieldType, bool)>,
    /// The same, sorted by name, for the one-pass check ([`Self::all_fit`]).
    by_name: Vec<(&'static str, FieldType, bool)>,
    /// Violations seen so far.
    pub(crate) count: u64,
}

impl Conformance {
    pub(crate) fn new(def: &StreamDef, config: &Config) -> Self {
        let keys = def.key_fields(config);
        let mut fields: Vec<(&'static str, FieldType, bool)> = def
            .all_fields()
            .filter(|f| !matches!(f.ty, FieldType::Any))
            .map(|f| (f.name, f.ty, keys.contains(&f.name)))
            .collect();
        // Keys the field list does not declare (the user key) must still be there.
        for k in keys {
            if !fields.iter().any(|(n, _, _)| *n == k) {
                fields.push((k, FieldType::Any, true));
            }
        }
        let mut by_name = fields.clone();
        by_name.sort_unstable_by_key(|(name, _, _)| *name);
        Conformance {
            fields,
            by_name,
            count: 0,
        }
    }

    /// Whether every declared field of `rec` fits: one merge of the record's
    /// keys (a `Map` iterates sorted by key) with the sorted table, instead
    /// of a map lookup per declared field.
    fn all_fit(&self, rec: &Map<String, Value>) -> bool {
        self.all_fit_sorted(rec.iter().map(|(k, v)| (k.as_str(), Shape::of(v))))
    }

    /// Whether every declared field fits, given a record's fields as
    /// (name, shape) sorted by name (names distinct).
    fn all_fit_sorted<'k>(&self, fields: impl Iterator<Item = (&'k str, Shape)>) -> bool {
        let mut entries = fields.peekable();
        for (name, ty, key) in &self.by_name {
            while entries.next_if(|(k, _)| *k < *name).is_some() {}
            let v = entries.peek().filter(|(k, _)| *k == *name).map(|(_, v)| *v);
            if !shape_ok(*ty, *key, v) {
                return false;
            }
        }
        true
    }

    /// What the schema says about each field of a row layout (its keys,
    /// sorted and distinct), for [`LayoutChecks::fits`].
    pub(crate) fn layout_checks<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
        out: &mut LayoutChecks,
    ) {
        out.slots.clear();
        out.absent_ok = true;
        let mut declared = self.by_name.iter().peekable();
        for k in keys {
            // Declared fields sorting before `k` are absent from the layout.
            while let Some((_, ty, key)) = declared.next_if(|(n, _, _)| *n < k) {
                out.absent_ok &= shape_ok(*ty, *key, None);
            }
            let slot = declared
                .next_if(|(n, _, _)| *n == k)
                .map(|(_, ty, key)| (*ty, *key));
            out.slots.push(slot);
        }
        for (_, ty, key) in declared {
            out.absent_ok &= shape_ok(*ty, *key, None);
        }
    }

    /// The first violation in `rec`, if any (counted).
    pub(crate) fn check(&mut self, rec: &Map<String, Value>) -> Option<Violation> {
        if self.all_fit(rec) {
            return None;
        }
        for (name, ty, key) in &self.fields {
            let v = rec.get(*name);
            if !field_ok(*ty, *key, v) {
                self.count += 1;
                // A value is server text: it may echo the request's headers.
                let mut value = crate::exchange::redact_key_echo(
                    &v.map_or_else(|| "nothing".to_string(), Value::to_string),
                );
                if value.chars().count() > 80 {
                    value = value.chars().take(77).collect::<String>() + "...";
                }
                return Some(Violation {
                    field: name,
                    expected: if *key && !matches!(v, Some(x) if !x.is_null()) {
                        "a value (it is the primary key)"
                    } else {
                        expected(*ty)
                    },
                    value,
                });
            }
        }
        None
    }
}

/// What the schema check needs to know of a value: its JSON type, whether
/// a number is integral, and what an array holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Null,
    Bool,
    /// A number: integral (`7`, `7.0`) or not (`7.5`).
    Number {
        integral: bool,
    },
    Str,
    Object,
    /// An array; each flag says every element is that type or null.
    Array {
        ints: bool,
        strs: bool,
        objects: bool,
    },
}

impl Shape {
    /// The shape of a JSON value.
    pub(crate) fn of(v: &Value) -> Shape {
        match v {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Bool,
            Value::Number(_) => Shape::Number {
                integral: is_int(v),
            },
            Value::String(_) => Shape::Str,
            Value::Object(_) => Shape::Object,
            Value::Array(a) => {
                let all = |pred: fn(&Value) -> bool| a.iter().all(|x| x.is_null() || pred(x));
                Shape::Array {
                    ints: all(is_int),
                    strs: all(Value::is_string),
                    objects: all(Value::is_object),
                }
            }
        }
    }
}

/// The schema's checks laid out for rows that share their keys: rows of
/// one export do, so each is checked without comparing a field name.
#[derive(Debug, Default, Clone)]
pub(crate) struct LayoutChecks {
    /// Per field of the layout, in order: its declared type and whether it
    /// is part of the primary key (`None`: not declared).
    slots: Vec<Option<(FieldType, bool)>>,
    /// The declared fields the layout lacks may all be absent.
    absent_ok: bool,
}

impl LayoutChecks {
    /// Whether a row of the layout, its values' shapes in layout order, fits.
    pub(crate) fn fits(&self, shapes: impl Iterator<Item = Shape>) -> bool {
        self.absent_ok
            && self
                .slots
                .iter()
                .zip(shapes)
                .all(|(slot, shape)| slot.is_none_or(|(ty, key)| shape_ok(ty, key, Some(shape))))
    }
}

/// Whether a field's value (or its absence) is what the schema allows.
fn field_ok(ty: FieldType, key: bool, v: Option<&Value>) -> bool {
    shape_ok(ty, key, v.map(Shape::of))
}

fn shape_ok(ty: FieldType, key: bool, v: Option<Shape>) -> bool {
    match v {
        None | Some(Shape::Null) => !key,
        Some(v) => fits(ty, v),
    }
}

fn is_int(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// Whether a non-null value has the declared type.
fn fits(ty: FieldType, v: Shape) -> bool {
    use Shape::{Array, Number, Object, Str};
    match ty {
        FieldType::String | FieldType::Timestamp | FieldType::SyntheticKey => v == Str,
        FieldType::Integer => v == Number { integral: true },
        FieldType::Number => matches!(v, Number { .. }),
        FieldType::Boolean => v == Shape::Bool,
        FieldType::IntegerArray => matches!(v, Array { ints: true, .. }),
        FieldType::StringArray => matches!(v, Array { strs: true, .. }),
        FieldType::ObjectArray => matches!(v, Array { objects: true, .. }),
        FieldType::Object | FieldType::Nested(_) => v == Object,
        FieldType::StringOrArray => matches!(v, Str | Array { .. }),
        FieldType::ObjectOrArray => matches!(v, Object | Array { .. }),
        FieldType::Any => true,
    }
}

fn expected(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::SyntheticKey => "text",
        FieldType::Timestamp => "a timestamp (text)",
        FieldType::Integer => "an integer",
        FieldType::Number => "a number",
        FieldType::Boolean => "true or false",
        FieldType::IntegerArray => "an array of integers",
        FieldType::StringArray => "an array of text",
        FieldType::ObjectArray => "an array of objects",
        FieldType::Object | FieldType::Nested(_) => "an object",
        FieldType::StringOrArray => "text or an array",
        FieldType::ObjectOrArray => "an object or an array",
        FieldType::Any => "a value",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog;

    fn conformance(stream: &str) -> Conformance {
        let config = Config::from_json(&json!({})).expect("config");
        Conformance::new(&catalog::find(stream).expect("stream"), &config)
    }

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn wrong_types_and_missing_keys_are_violations() {
        let mut c = conformance("campaigns");
        assert_eq!(c.check(&rec(json!({"id": 5, "name": "x"}))), None);
        let v = c.check(&rec(json!({"id": "5"}))).expect("a string id");
        assert_eq!((v.field, v.expected), ("id", "an integer"));
        assert_eq!(v.value, "\"5\"");
        let v = c.check(&rec(json!({"name": "no id"}))).expect("no key");
        assert_eq!(v.field, "id");
        assert!(v.expected.contains("primary key"));
        assert_eq!(c.check(&rec(json!({"id": 7.0, "name": null}))), None);
        assert_eq!(c.count, 2);
        // The users' key is the configured user key, declared or not.
        let mut u = conformance("users");
        let v = u.check(&rec(json!({"userId": "u1"}))).expect("no email");
        assert_eq!(v.field, "email");
        assert_eq!(
            u.check(&rec(json!({"email": "a@x.io", "emailListIds": [1, 2]}))),
            None
        );
        assert!(
            u.check(&rec(json!({"email": "a@x.io", "emailListIds": ["x"]})))
                .is_some()
        );
        // Text a server sent back never carries an echoed key into a log.
        let v = c
            .check(&rec(json!({"id": "Api-Key: sk-live-123"})))
            .expect("text id");
        assert!(!v.value.contains("sk-live-123"), "{}", v.value);
    }

    /// `all_fit` merges against the record's keys in iteration order: that
    /// holds while serde_json's `Map` is a `BTreeMap` (its `preserve_order`
    /// feature off). Turning the feature on fails here, not silently.
    #[test]
    fn records_iterate_sorted_by_key() {
        let mut m = Map::new();
        for k in ["z", "b", "a", "Z", "_key", "é"] {
            m.insert(k.to_string(), Value::Null);
        }
        let keys: Vec<&String> = m.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn the_one_pass_check_agrees_with_the_lookups() {
        let mut c = conformance("email_send");
        for r in [
            json!({"email": "a@x.io", "createdAt": "2024-01-01T00:00:00Z", "_key": "k"}),
            json!({"email": "a@x.io", "templateId": "7", "_key": "k"}),
            json!({"email": "a@x.io", "templateId": 7, "campaignId": 1.5, "_key": "k"}),
            json!({"aaa": 1, "zzz": [1], "email": null, "_key": "k"}),
            json!({"_key": null}),
            json!({}),
        ] {
            let r = rec(r);
            let slow = c.fields.iter().all(|(n, t, k)| field_ok(*t, *k, r.get(*n)));
            assert_eq!(c.all_fit(&r), slow, "{r:?}");
            assert_eq!(c.check(&r).is_none(), slow, "{r:?}");
        }
    }
}
