//! Turning wire rows into records typed as the stream's schema says:
//! timestamps to RFC 3339 UTC, `transactionalData` decoded, CSV numbers typed,
//! and a stable synthetic key on event rows.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::{EVENT_KEY_FIELD, RowShape, StreamDef, TimestampPaths};
use crate::exchange::Record;
use crate::time;

mod fast;
mod sha4;

pub(crate) use fast::{PendingKeys, RowScratch, RowSpec};

/// Fields that identify an event; hashed into the synthetic key.
pub(crate) const EVENT_IDENTITY_FIELDS: &[&str] = &[
    "_type",
    "createdAt",
    "email",
    "userId",
    "itblUserId",
    "messageId",
    "campaignId",
    "templateId",
    "eventName",
    "id",
    "url",
    "clickedUrl",
    "hrefIndex",
    "fromPhoneNumber",
    "toPhoneNumber",
    "smsMessage",
    "reason",
];

/// Shapes one stream's rows as its schema says: the timestamp fields the
/// schema declares become RFC 3339 UTC; event rows also get
/// `transactionalData` decoded and the synthetic key.
#[derive(Debug, Clone)]
pub(crate) struct Shaper {
    stream: &'static str,
    timestamps: TimestampPaths,
    /// The stream carries the project's custom user fields, whose types the
    /// session does not know (they come from `users/getFields`).
    user_fields: bool,
}

impl Shaper {
    pub(crate) fn new(def: &StreamDef) -> Self {
        Shaper {
            stream: def.name,
            timestamps: def.timestamp_paths(),
            user_fields: def.user_fields,
        }
    }

    /// Shapes a row of the given kind.
    pub(crate) fn shape(&self, rows: RowShape, obj: Record) -> Record {
        match rows {
            RowShape::Object => self.object(obj),
            RowShape::Event => self.event(obj),
        }
    }

    /// An API object (campaign, list, template, user …).
    pub(crate) fn object(&self, mut obj: Record) -> Record {
        for (k, v) in obj.iter_mut() {
            self.shape_value(RowShape::Object, k, v);
        }
        obj
    }

    /// An export / event row, with its synthetic key.
    pub(crate) fn event(&self, mut obj: Record) -> Record {
        for (k, v) in obj.iter_mut() {
            self.shape_value(RowShape::Event, k, v);
        }
        let key = event_key(self.stream, &obj);
        obj.insert(EVENT_KEY_FIELD.into(), Value::String(key));
        obj
    }

    /// Shapes one top-level field's value. Each rule looks at this field
    /// only, so shaping field by field is shaping the record; the fast path
    /// ([`fast`]) takes the same rules, and this function where it cannot.
    pub(crate) fn shape_value(&self, rows: RowShape, key: &str, v: &mut Value) {
        if self.timestamps.top.contains(&key) {
            time::normalize_timestamp_in_place(v);
        }
        // Custom `date` fields (declared date-time by discovery) come in the
        // export's own format: any top-level value in exactly that format is
        // a date, and becomes RFC 3339 like the declared ones.
        if self.user_fields
            && let Value::String(s) = v
            && is_export_timestamp(s)
        {
            time::normalize_timestamp_in_place(v);
        }
        if let Some(fields) = self.nested_timestamps(key)
            && let Value::Object(inner) = v
        {
            normalize_fields(inner, fields);
        }
        if rows == RowShape::Event
            && key == TRANSACTIONAL_DATA
            && let Value::String(raw) = v
            // Iterable sends transactionalData as a JSON-encoded string.
            && let Ok(decoded @ Value::Object(_)) = serde_json::from_str::<Value>(raw)
        {
            *v = decoded;
        }
    }

    /// The timestamp fields declared inside the object field `key`, if any.
    fn nested_timestamps(&self, key: &str) -> Option<&[&'static str]> {
        self.timestamps
            .nested
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, fields)| fields.as_slice())
    }
}

/// The event field Iterable sends as a JSON-encoded string.
const TRANSACTIONAL_DATA: &str = "transactionalData";

/// `YYYY-MM-DD HH:MM:SS +00:00` (optionally with `.fff`): the timestamp
/// format of Iterable's exports, and of nothing a person types by chance.
fn is_export_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let head = b.len() >= 26
        && digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b' ')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    if !head {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    b.len() == i + 7
        && at(i, b' ')
        && (at(i + 1, b'+') || at(i + 1, b'-'))
        && digits(i + 2..i + 4)
        && at(i + 4, b':')
        && digits(i + 5..i + 7)
}

fn normalize_fields(obj: &mut Record, fields: &[&str]) {
    for field in fields {
        if let Some(v) = obj.get_mut(*field) {
            time::normalize_timestamp_in_place(v);
        }
    }
}

/// A CSV metrics row: numbers become numbers, empty cells stay null.
pub(crate) fn shape_csv_row(obj: Map<String, Value>) -> Map<String, Value> {
    obj.into_iter()
        .map(|(k, v)| {
            let typed = match &v {
                Value::String(s) => parse_number(s).unwrap_or(v),
                _ => v,
            };
            (k, typed)
        })
        .collect()
}

fn parse_number(s: &str) -> Option<Value> {
    let t = s.trim();
    if t.is_empty() {
        return Some(Value::Null);
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::from)
}

/// The canonical text of a key field, as the key recipes define it (the
/// hot paths hash it without building it: [`hash_canonical`]).
#[cfg(test)]
fn canonical(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Feeds what [`canonical`] would give into the hash, without building it.
fn hash_canonical(h: &mut Sha256, v: Option<&Value>) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => h.update(s.as_bytes()),
        // `Value`'s Display is serde_json's compact writer: the same bytes.
        Some(other) => {
            let _ = serde_json::to_writer(HashWriter(h), other);
        }
    }
}

/// Lets serde_json write straight into a hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Position of `name` in [`EVENT_IDENTITY_FIELDS`] (a `match` so one pass
/// over a record finds all of them; a unit test keeps it in step).
fn identity_index(name: &str) -> Option<usize> {
    Some(match name {
        "_type" => 0,
        "createdAt" => 1,
        "email" => 2,
        "userId" => 3,
        "itblUserId" => 4,
        "messageId" => 5,
        "campaignId" => 6,
        "templateId" => 7,
        "eventName" => 8,
        "id" => 9,
        "url" => 10,
        "clickedUrl" => 11,
        "hrefIndex" => 12,
        "fromPhoneNumber" => 13,
        "toPhoneNumber" => 14,
        "smsMessage" => 15,
        "reason" => 16,
        _ => return None,
    })
}

/// The first 16 bytes of a digest as 32 lowercase hex digits.
fn hex16(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in &digest[..16] {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Stable synthetic key of an event: a hash of the stream and the fields that
/// identify the event (never of fields Iterable rewrites, like documentUpdatedAt),
/// so a re-read of the same event gives the same key and dedupes downstream.
///
/// The recipe is fixed (users store these keys): SHA-256 of the stream name,
/// then for each of [`EVENT_IDENTITY_FIELDS`] in order a 0x1f byte and the
/// field's canonical text (nothing when absent or null, a string's text,
/// else its compact JSON); the first 16 bytes in hex.
pub(crate) fn event_key(stream: &str, obj: &Map<String, Value>) -> String {
    // One pass over the record instead of a lookup per identity field.
    let mut found: [Option<&Value>; EVENT_IDENTITY_FIELDS.len()] =
        [None; EVENT_IDENTITY_FIELDS.len()];
    for (k, v) in obj {
        if let Some(i) = identity_index(k) {
            found[i] = Some(v);
        }
    }
    let mut h = Sha256::new();
    h.update(stream.as_bytes());
    for v in found {
        h.update([0x1f]);
        hash_canonical(&mut h, v);
    }
    hex16(&h.finalize())
}

/// Gives the `n`-th repeat (n ≥ 1) of an event key within a read unit its
/// own key: a hash of the first one's key and `n`. The first keeps the
/// plain recipe, so keys of events without twins never change.
pub(crate) fn repeat_key(obj: &mut Map<String, Value>, n: u32) {
    let base = match obj.get(EVENT_KEY_FIELD) {
        Some(Value::String(k)) => k.clone(),
        _ => return,
    };
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    h.update([0x1e]);
    h.update(n.to_string().as_bytes());
    obj.insert(EVENT_KEY_FIELD.into(), Value::String(hex16(&h.finalize())));
}

/// A 128-bit fingerprint of a record's primary key, for de-duplication of rows
/// re-read after a retry.
pub(crate) fn key_fingerprint(obj: &Map<String, Value>, key_fields: &[&str]) -> u128 {
    // The synthetic event key already is a 128-bit hash: reuse it.
    if let [EVENT_KEY_FIELD] = key_fields
        && let Some(Value::String(hex)) = obj.get(EVENT_KEY_FIELD)
        && let Ok(fp) = u128::from_str_radix(hex, 16)
    {
        return fp;
    }
    let mut h = Sha256::new();
    for field in key_fields {
        h.update([0x1f]);
        hash_canonical(&mut h, obj.get(*field));
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// The value of a timestamp field as epoch ms, for cursor comparisons.
pub(crate) fn timestamp_ms(obj: &Map<String, Value>, field: &str) -> Option<i64> {
    obj.get(field).and_then(time::wire_timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().expect("an object").clone()
    }

    fn shaper(stream: &str) -> Shaper {
        Shaper::new(&crate::catalog::find(stream).expect("a stream"))
    }

    fn shape_event(stream: &str, row: Record) -> Record {
        shaper(stream).event(row)
    }

    #[test]
    fn custom_dates_of_users_become_rfc3339_and_text_stays() {
        let row = obj(json!({
            "email": "jane@example.com",
            "lastPurchaseDate": "2024-08-23 22:10:54 +00:00",
            "trialEnds": "2024-08-23 22:10:54.250 +00:00",
            "note": "2024-08-23 22:10:54 maybe",
            "code": "2024-08-23",
        }));
        let shaped = shaper("users").object(row.clone());
        assert_eq!(shaped["lastPurchaseDate"], "2024-08-23T22:10:54Z");
        assert_eq!(shaped["trialEnds"], "2024-08-23T22:10:54.250Z");
        assert_eq!(shaped["note"], row["note"]);
        assert_eq!(shaped["code"], row["code"]);
        // Streams without custom fields leave undeclared text alone.
        let other = shaper("campaigns").object(obj(json!({"x": "2024-08-23 22:10:54 +00:00"})));
        assert_eq!(other["x"], "2024-08-23 22:10:54 +00:00");
    }

    #[test]
    fn event_rows_are_normalised_and_keyed() {
        let row = obj(json!({
            "email": "jane@example.com",
            "createdAt": "2021-04-14 16:25:57 +00:00",
            "messageId": "9f1c",
            "transactionalData": "{\"sku\":\"A-1\",\"price\":20}",
            "itblInternal": {"documentCreatedAt": "2021-04-14 16:25:56 +00:00"}
        }));
        let shaped = shape_event("email_send_skip", row.clone());
        assert_eq!(shaped["createdAt"], "2021-04-14T16:25:57Z");
        assert_eq!(
            shaped["itblInternal"]["documentCreatedAt"],
            "2021-04-14T16:25:56Z"
        );
        assert_eq!(shaped["transactionalData"]["price"], 20);
        let key = shaped[EVENT_KEY_FIELD].as_str().unwrap().to_string();
        assert_eq!(key.len(), 32);
        // Same event, re-read with a bumped documentUpdatedAt: same key.
        let mut again = row.clone();
        again.insert(
            "itblInternal".into(),
            json!({"documentUpdatedAt": "2022-01-01 00:00:00 +00:00"}),
        );
        assert_eq!(shape_event("email_send_skip", again)[EVENT_KEY_FIELD], key);
        // Another message: another key; another stream: another key.
        let mut other = row.clone();
        other.insert("messageId".into(), json!("x"));
        assert_ne!(shape_event("email_send_skip", other)[EVENT_KEY_FIELD], key);
        assert_ne!(shape_event("email_send", row)[EVENT_KEY_FIELD], key);
    }

    #[test]
    fn epoch_ms_objects_and_csv_rows() {
        let c = shaper("campaigns").object(obj(json!({"id": 1, "updatedAt": 1618417553314i64})));
        assert_eq!(c["updatedAt"], "2021-04-14T16:25:53.314Z");
        let r = shape_csv_row(obj(json!({"id": "2220229", "Revenue": "12.5", "x": null})));
        assert_eq!(r["id"], 2220229);
        assert_eq!(r["Revenue"], 12.5);
        assert_eq!(r["x"], Value::Null);
    }

    /// The key recipe as first written (a lookup and a `String` per field,
    /// `format!` per hex byte): the fast `event_key` must give the same keys.
    fn reference_key(stream: &str, obj: &Map<String, Value>) -> String {
        let mut h = Sha256::new();
        h.update(stream.as_bytes());
        for field in EVENT_IDENTITY_FIELDS {
            h.update([0x1f]);
            h.update(canonical(obj.get(*field)).as_bytes());
        }
        let digest = h.finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn identity_index_follows_the_field_list() {
        for (i, f) in EVENT_IDENTITY_FIELDS.iter().enumerate() {
            assert_eq!(identity_index(f), Some(i), "{f}");
        }
        assert_eq!(identity_index("documentUpdatedAt"), None);
        assert_eq!(identity_index("Email"), None);
    }

    #[test]
    fn event_keys_and_fingerprints_follow_the_original_recipe() {
        let rows = [
            json!({}),
            json!({"email": "a@x.io", "createdAt": "2024-01-01T00:00:00Z", "campaignId": 5,
                   "templateId": -7, "hrefIndex": 1.5, "id": true, "reason": null,
                   "url": {"b": [1, "x"], "a": "é\n"}, "smsMessage": ["a", null],
                   "userId": "u\u{0}", "unrelated": 1}),
            json!({"eventName": "e", "messageId": 18_446_744_073_709_551_615u64,
                   "itblUserId": 1e300, "toPhoneNumber": "+1", "fromPhoneNumber": "",
                   "clickedUrl": "https://x/?a=b&c", "_type": "customEvent"}),
        ];
        for row in rows {
            let row = obj(row);
            assert_eq!(
                event_key("custom_event", &row),
                reference_key("custom_event", &row)
            );
            let fields = ["email", "campaignId", "url", "missing"];
            let mut h = Sha256::new();
            for f in fields {
                h.update([0x1f]);
                h.update(canonical(row.get(f)).as_bytes());
            }
            let want = u128::from_be_bytes(h.finalize()[..16].try_into().expect("16 bytes"));
            assert_eq!(key_fingerprint(&row, &fields), want, "{row:?}");
        }
    }
}
