//! Stream schemas as data: each stream row lists its fields with their
//! types, and everything else follows from that list — the JSON Schema that
//! `discover` declares, and which fields hold timestamps to normalise.

use serde_json::{Map, Value, json};

/// The type of one field, as records carry it once shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// A point in time: any wire format in, RFC 3339 UTC out.
    Timestamp,
    /// An array of whole numbers (list ids, channel ids).
    IntegerArray,
    /// An array of text.
    StringArray,
    /// An array of objects.
    ObjectArray,
    /// An object of any shape.
    Object,
    /// An object with known fields (their timestamps are normalised too).
    Nested(&'static [Field]),
    /// The synthetic primary key of event rows.
    SyntheticKey,
    /// Text, or an array of text: a custom field `users/getFields` calls
    /// `string` (it names an array by its elements' type).
    StringOrArray,
    /// An object, or an array of objects (`object` in getFields: `devices`).
    ObjectOrArray,
    /// Unknown: a custom field of a type Iterable did not name.
    Any,
}

/// One field of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field's name in records (users exports keep dotted names).
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Whether records may carry `null` (keys never do).
    pub nullable: bool,
}

/// A field that may be null or absent.
pub(crate) const fn field(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        nullable: true,
    }
}

/// A field every record carries (a key).
pub(crate) const fn key(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        nullable: false,
    }
}

impl FieldType {
    /// This type as a JSON Schema fragment.
    pub fn json_schema(self, nullable: bool) -> Value {
        let ty = |t: &str| {
            if nullable {
                json!(["null", t])
            } else {
                json!(t)
            }
        };
        match self {
            FieldType::String => json!({"type": ty("string")}),
            FieldType::Integer => json!({"type": ty("integer")}),
            FieldType::Number => json!({"type": ty("number")}),
            FieldType::Boolean => json!({"type": ty("boolean")}),
            FieldType::Timestamp => json!({"type": ty("string"), "format": "date-time"}),
            FieldType::IntegerArray => json!({"type": ty("array"), "items": {"type": "integer"}}),
            FieldType::StringArray => json!({"type": ty("array"), "items": {"type": "string"}}),
            FieldType::ObjectArray => json!({"type": ty("array"), "items": {"type": "object"}}),
            FieldType::Object => json!({"type": ty("object"), "additionalProperties": true}),
            FieldType::Nested(fields) => {
                json!({"type": ty("object"), "properties": properties(fields)})
            }
            FieldType::SyntheticKey => json!({
                "type": "string",
                "description": "Synthetic primary key: a hash of the fields that identify the event.",
            }),
            FieldType::StringOrArray => {
                json!({"type": ty_or_array(nullable, "string"), "items": {"type": "string"}})
            }
            FieldType::ObjectOrArray => json!({"type": ty_or_array(nullable, "object"),
                "additionalProperties": true, "items": {"type": "object"}}),
            FieldType::Any => json!({}),
        }
    }

    /// The type Iterable's `users/getFields` names (`string`, `long`, …).
    /// getFields names an array field by its elements' type, so text and
    /// objects may come as arrays (`devices`, list-like custom fields);
    /// numbers, booleans and dates are taken as scalars (typed columns
    /// matter more there, and the project's own array fields are declared
    /// as arrays by the catalog).
    pub(crate) fn from_iterable(name: &str) -> FieldType {
        match name {
            "string" => FieldType::StringOrArray,
            "long" => FieldType::Integer,
            "double" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Timestamp,
            "object" | "nested" => FieldType::ObjectOrArray,
            _ => FieldType::Any,
        }
    }
}

/// `[null,] t, array`.
fn ty_or_array(nullable: bool, t: &str) -> Value {
    if nullable {
        json!(["null", t, "array"])
    } else {
        json!([t, "array"])
    }
}

fn properties<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Map<std::string::String, Value> {
    let mut map = Map::new();
    for f in fields {
        map.insert(f.name.to_string(), f.ty.json_schema(f.nullable));
    }
    map
}

/// A stream's JSON Schema (draft 07) from its fields, in order.
pub(crate) fn json_schema<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": properties(fields),
    })
}

/// Where a stream's records hold timestamps: top-level fields, and fields
/// of nested objects. Derived from the schema once per session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimestampPaths {
    pub(crate) top: Vec<&'static str>,
    pub(crate) nested: Vec<(&'static str, Vec<&'static str>)>,
}

impl TimestampPaths {
    pub(crate) fn of<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Self {
        let mut paths = TimestampPaths::default();
        for f in fields {
            match f.ty {
                FieldType::Timestamp => paths.top.push(f.name),
                FieldType::Nested(inner) => {
                    let ts: Vec<&'static str> = inner
                        .iter()
                        .filter(|i| i.ty == FieldType::Timestamp)
                        .map(|i| i.name)
                        .collect();
                    if !ts.is_empty() {
                        paths.nested.push((f.name, ts));
                    }
                }
                _ => {}
            }
        }
        paths
    }
}

// ------------------------------------------------------------ field groups

use FieldType::*;

/// `itblInternal` as nested objects carry it.
pub(crate) const ITBL_INTERNAL: Field = field(
    "itblInternal",
    Nested(&[
        field("documentCreatedAt", Timestamp),
        field("documentUpdatedAt", Timestamp),
    ]),
);

/// Fields of every engagement event.
pub(crate) const EVENT: &[Field] = &[
    key("_key", SyntheticKey),
    field("createdAt", Timestamp),
    field("email", String),
    field("userId", String),
    field("itblUserId", String),
    field("campaignId", Integer),
    field("templateId", Integer),
    field("messageId", String),
    field("channelId", Integer),
    field("messageTypeId", Integer),
    field("contentId", Integer),
    field("workflowId", Integer),
    ITBL_INTERNAL,
    field("transactionalData", Object),
];

/// Clicks: which link.
pub(crate) const CLICK: &[Field] = &[
    field("url", String),
    field("clickedUrl", String),
    field("hrefIndex", Integer),
];
/// Opens and clicks: where and on what.
pub(crate) const DEVICE: &[Field] = &[
    field("ip", String),
    field("userAgent", String),
    field("userAgentDevice", String),
    field("city", String),
    field("region", String),
    field("country", String),
    field("isBot", Boolean),
];
/// Bounces and complaints.
pub(crate) const BOUNCE: &[Field] = &[field("recipientState", String), field("status", String)];
/// Skipped sends.
pub(crate) const SKIP: &[Field] = &[field("reason", String)];
/// Subscription changes.
pub(crate) const SUBSCRIPTION: &[Field] = &[
    field("emailListIds", IntegerArray),
    field("channelIds", IntegerArray),
    field("unsubSource", String),
    field("signupSource", String),
    field("profileUpdatedAt", Timestamp),
];
/// In-app and inbox messages.
pub(crate) const IN_APP: &[Field] = &[
    field("sentAt", Timestamp),
    field("expiresAt", Timestamp),
    field("deviceInfo", Object),
    field("messageContext", Object),
];
/// SMS, WhatsApp and RCS.
pub(crate) const PHONE: &[Field] = &[
    field("toPhoneNumber", String),
    field("fromPhoneNumber", String),
    field("espName", String),
    field("billingParty", String),
];
/// Purchases.
pub(crate) const PURCHASE: &[Field] = &[
    field("id", String),
    field("total", Number),
    field("shoppingCartItems", ObjectArray),
];
/// Custom events.
pub(crate) const CUSTOM_EVENT: &[Field] = &[
    field("eventName", String),
    field("eventUpdatedAt", Timestamp),
];
/// Events read per user (`events`, `user_events`): any type, named.
pub(crate) const TYPED_EVENT: &[Field] = &[field("_type", String), field("eventName", String)];

/// User profile fields every project has (the user key is made non-null
/// per config). Exports flatten `itblInternal` into dotted names; the
/// by-user endpoint nests it: both are declared.
pub(crate) const USER: &[Field] = &[
    field("email", String),
    field("userId", String),
    field("itblUserId", String),
    field("signupDate", Timestamp),
    field("signupSource", String),
    field("profileUpdatedAt", Timestamp),
    field("emailListIds", IntegerArray),
    field("unsubscribedChannelIds", IntegerArray),
    field("unsubscribedMessageTypeIds", IntegerArray),
    field("subscribedMessageTypeIds", IntegerArray),
];
/// Timestamps users exports carry under dotted names.
pub(crate) const USER_EXPORT_INTERNAL: &[Field] = &[
    field("itblInternal.documentCreatedAt", Timestamp),
    field("itblInternal.documentUpdatedAt", Timestamp),
];
/// What the by-user profile adds.
pub(crate) const USER_PROFILE_EXTRA: &[Field] = &[ITBL_INTERNAL, field("dataFields", Object)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_the_schema() {
        let paths = TimestampPaths::of(EVENT.iter().chain(CUSTOM_EVENT));
        assert_eq!(paths.top, vec!["createdAt", "eventUpdatedAt"]);
        assert_eq!(
            paths.nested,
            vec![(
                "itblInternal",
                vec!["documentCreatedAt", "documentUpdatedAt"]
            )]
        );
        assert_eq!(
            Timestamp.json_schema(true),
            json!({"type": ["null", "string"], "format": "date-time"})
        );
        assert_eq!(Integer.json_schema(false), json!({"type": "integer"}));
    }
}
