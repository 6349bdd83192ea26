//! The stream catalog: one table row per stream drives planning, parsing,
//! keys and schemas (design.md §3). Adding a stream is adding a row.

use serde_json::{Map, Value, json};

use crate::config::{Config, UserKey};
use crate::error::{ConnectorError, Result};

/// How a stream is read. Each variant has one reader in `session::readers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// One GET; records are the array under `field` of the JSON body.
    Simple {
        path: &'static str,
        field: &'static str,
    },
    /// `page`/`pageSize` paging while `nextPageUrl` is present.
    Paged {
        path: &'static str,
        field: &'static str,
        page_size: u32,
        /// Records sit inside Iterable's `{msg, code, params}` envelope.
        in_envelope: bool,
    },
    /// Every templateType × messageMedium combination, each paged.
    Templates,
    /// Tables → keys (nextMarker paging) → values.
    Metadata,
    /// Lists → `lists/getUsers` per list (text, one id per line).
    ListUsers,
    /// Catalogs → items per catalog (paged, in the envelope).
    CatalogItems,
    /// Campaign ids → CSV metrics in batches of ids.
    CampaignMetrics { path: &'static str },
    /// `export/data.json` over time windows (or async export jobs).
    Export { data_type: &'static str },
    /// Needs `email` or `user_id` in the config.
    ByKey(ByKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByKey {
    Events,
    UserProfile,
    InAppMessages,
    SentMessages,
    UserEvents,
}

/// Incremental cursor handling for streams that are not time-windowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    /// Full refresh only.
    None,
    /// Read everything, emit records whose `cursor_field` moved past the saved
    /// cursor (the API cannot filter on it).
    ClientSide,
    /// Time windows over the export API.
    Windowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDef {
    pub name: &'static str,
    pub family: Family,
    /// Primary key field paths. Empty = derived from `user_key` (users, list_users).
    pub primary_key: &'static [&'static str],
    pub cursor_field: Option<&'static str>,
    pub incremental: Incremental,
}

/// The synthetic primary key field added to event rows.
pub const EVENT_KEY_FIELD: &str = "_key";

/// Export data types: (stream name, Iterable dataTypeName).
pub const EXPORT_TYPES: &[(&str, &str)] = &[
    ("email_send", "emailSend"),
    ("email_open", "emailOpen"),
    ("email_click", "emailClick"),
    ("hosted_unsubscribe_click", "hostedUnsubscribeClick"),
    ("email_complaint", "emailComplaint"),
    ("email_bounce", "emailBounce"),
    ("email_send_skip", "emailSendSkip"),
    ("email_subscribe", "emailSubscribe"),
    ("email_unsubscribe", "emailUnSubscribe"),
    ("push_send", "pushSend"),
    ("push_open", "pushOpen"),
    ("push_uninstall", "pushUninstall"),
    ("push_bounce", "pushBounce"),
    ("push_send_skip", "pushSendSkip"),
    ("in_app_send", "inAppSend"),
    ("in_app_open", "inAppOpen"),
    ("in_app_click", "inAppClick"),
    ("in_app_close", "inAppClose"),
    ("in_app_delete", "inAppDelete"),
    ("in_app_delivery", "inAppDelivery"),
    ("in_app_send_skip", "inAppSendSkip"),
    ("in_app_recall", "inAppRecall"),
    ("inbox_session", "inboxSession"),
    ("inbox_message_impression", "inboxMessageImpression"),
    ("sms_send", "smsSend"),
    ("sms_bounce", "smsBounce"),
    ("sms_click", "smsClick"),
    ("sms_received", "smsReceived"),
    ("sms_send_skip", "smsSendSkip"),
    ("sms_usage_info", "smsUsageInfo"),
    ("web_push_send", "webPushSend"),
    ("web_push_click", "webPushClick"),
    ("web_push_send_skip", "webPushSendSkip"),
    ("rcs_send", "rcsSend"),
    ("rcs_send_skip", "rcsSendSkip"),
    ("embedded_send", "embeddedSend"),
    ("embedded_send_skip", "embeddedSendSkip"),
    ("embedded_click", "embeddedClick"),
    ("embedded_received", "embeddedReceived"),
    ("embedded_impression", "embeddedImpression"),
    ("embedded_session", "embeddedSession"),
    ("whatsapp_bounce", "whatsAppBounce"),
    ("whatsapp_click", "whatsAppClick"),
    ("whatsapp_received", "whatsAppReceived"),
    ("whatsapp_seen", "whatsAppSeen"),
    ("whatsapp_send", "whatsAppSend"),
    ("whatsapp_send_skip", "whatsAppSendSkip"),
    ("whatsapp_usage_info", "whatsAppUsageInfo"),
    ("purchase", "purchase"),
    ("custom_event", "customEvent"),
    ("unknown_session", "unknownSession"),
    ("journey_exit", "journeyExit"),
];

const fn simple(name: &'static str, path: &'static str, field: &'static str) -> StreamDef {
    StreamDef {
        name,
        family: Family::Simple { path, field },
        primary_key: &["id"],
        cursor_field: None,
        incremental: Incremental::None,
    }
}

const fn by_key(name: &'static str, kind: ByKey, pk: &'static [&'static str]) -> StreamDef {
    StreamDef {
        name,
        family: Family::ByKey(kind),
        primary_key: pk,
        cursor_field: None,
        incremental: Incremental::None,
    }
}

/// Streams that are not export data types, in catalog order.
const NON_EXPORT: &[StreamDef] = &[
    StreamDef {
        name: "campaigns",
        family: Family::Paged {
            path: "/api/campaigns",
            field: "campaigns",
            page_size: 1000,
            in_envelope: false,
        },
        primary_key: &["id"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
    },
    StreamDef {
        name: "campaigns_metrics",
        family: Family::CampaignMetrics {
            path: "/api/campaigns/metrics",
        },
        primary_key: &["id"],
        cursor_field: None,
        incremental: Incremental::None,
    },
    simple("channels", "/api/channels", "channels"),
    simple("lists", "/api/lists", "lists"),
    StreamDef {
        name: "list_users",
        family: Family::ListUsers,
        primary_key: &[],
        cursor_field: None,
        incremental: Incremental::None,
    },
    simple("message_types", "/api/messageTypes", "messageTypes"),
    StreamDef {
        name: "metadata",
        family: Family::Metadata,
        primary_key: &["table", "key"],
        cursor_field: Some("lastModified"),
        incremental: Incremental::ClientSide,
    },
    StreamDef {
        name: "templates",
        family: Family::Templates,
        primary_key: &["templateId"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
    },
    StreamDef {
        name: "journeys",
        family: Family::Paged {
            path: "/api/journeys",
            field: "journeys",
            page_size: 50,
            in_envelope: false,
        },
        primary_key: &["id"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
    },
    simple("snippets", "/api/snippets", "snippets"),
    simple("webhooks", "/api/webhooks", "webhooks"),
    StreamDef {
        name: "catalogs",
        family: Family::Paged {
            path: "/api/catalogs",
            field: "catalogNames",
            page_size: 100,
            in_envelope: true,
        },
        primary_key: &["name"],
        cursor_field: None,
        incremental: Incremental::None,
    },
    StreamDef {
        name: "catalog_items",
        family: Family::CatalogItems,
        primary_key: &["catalogName", "itemId"],
        cursor_field: Some("lastModified"),
        incremental: Incremental::ClientSide,
    },
    StreamDef {
        name: "experiments_metrics",
        family: Family::CampaignMetrics {
            path: "/api/experiments/metrics",
        },
        primary_key: &["experimentId", "templateId"],
        cursor_field: None,
        incremental: Incremental::None,
    },
    StreamDef {
        name: "users",
        family: Family::Export { data_type: "user" },
        primary_key: &[],
        cursor_field: Some("profileUpdatedAt"),
        incremental: Incremental::Windowed,
    },
    by_key("events", ByKey::Events, &[EVENT_KEY_FIELD]),
    by_key("user_profile", ByKey::UserProfile, &[]),
    by_key("in_app_messages", ByKey::InAppMessages, &["messageId"]),
    by_key("sent_messages", ByKey::SentMessages, &["messageId"]),
    by_key("user_events", ByKey::UserEvents, &[EVENT_KEY_FIELD]),
];

/// Every stream definition, non-export streams first, then export data types.
pub fn all_streams() -> Vec<StreamDef> {
    let mut out: Vec<StreamDef> = NON_EXPORT.to_vec();
    out.extend(EXPORT_TYPES.iter().map(|(name, data_type)| StreamDef {
        name,
        family: Family::Export { data_type },
        primary_key: &[EVENT_KEY_FIELD],
        cursor_field: Some("createdAt"),
        incremental: Incremental::Windowed,
    }));
    out
}

/// Looks a stream up by name; the error lists the valid names.
pub fn find(name: &str) -> Result<StreamDef> {
    all_streams()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            ConnectorError::config(
                "streams",
                format!(
                    "unknown stream \"{name}\"; run discover for the list (e.g. campaigns, email_send, users)"
                ),
            )
        })
}

impl StreamDef {
    /// Primary key field paths, resolving the ones that depend on `user_key`.
    pub fn key_fields(&self, config: &Config) -> Vec<&'static str> {
        if !self.primary_key.is_empty() {
            return self.primary_key.to_vec();
        }
        let user = config.user_key.field();
        match self.family {
            Family::ListUsers => vec!["listId", user],
            _ => vec![user],
        }
    }

    pub fn sync_modes(&self) -> &'static [&'static str] {
        match self.incremental {
            Incremental::None => &["full_refresh"],
            _ => &["full_refresh", "incremental"],
        }
    }

    pub fn is_by_key(&self) -> bool {
        matches!(self.family, Family::ByKey(_))
    }

    /// Whether records carry the synthetic event key.
    pub fn has_event_key(&self) -> bool {
        self.primary_key == [EVENT_KEY_FIELD]
    }
}

/// A stream as `discover` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescriptor {
    pub name: String,
    pub json_schema: Value,
    /// Each key is a path of field names (Airbyte's `[["listId"], ["email"]]`).
    pub primary_key: Vec<Vec<String>>,
    pub cursor_field: Option<String>,
    pub sync_modes: Vec<String>,
    /// Needs `email` or `user_id` in the config to be read.
    pub requires_user_filter: bool,
}

/// The catalog. `user_fields` is the body of `GET /api/users/getFields`
/// (`{"fields": {"name": "type"}}`) when the host fetched it: the `users`
/// stream then declares the project's custom fields.
pub fn discover(config: &Config, user_fields: Option<&Value>) -> Vec<StreamDescriptor> {
    all_streams()
        .iter()
        .map(|def| StreamDescriptor {
            name: def.name.to_string(),
            json_schema: schema_for(def, config, user_fields),
            primary_key: def
                .key_fields(config)
                .iter()
                .map(|f| vec![f.to_string()])
                .collect(),
            cursor_field: def.cursor_field.map(str::to_string),
            sync_modes: def.sync_modes().iter().map(|s| s.to_string()).collect(),
            requires_user_filter: def.is_by_key(),
        })
        .collect()
}

fn ts() -> Value {
    json!({"type": ["null", "string"], "format": "date-time"})
}
fn int() -> Value {
    json!({"type": ["null", "integer"]})
}
fn num() -> Value {
    json!({"type": ["null", "number"]})
}
fn string() -> Value {
    json!({"type": ["null", "string"]})
}
fn boolean() -> Value {
    json!({"type": ["null", "boolean"]})
}
fn int_array() -> Value {
    json!({"type": ["null", "array"], "items": {"type": "integer"}})
}
fn object() -> Value {
    json!({"type": ["null", "object"], "additionalProperties": true})
}

fn schema(props: &[(&str, Value)]) -> Value {
    let mut map = Map::new();
    for (name, s) in props {
        map.insert(name.to_string(), s.clone());
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": map,
    })
}

fn event_props() -> Vec<(&'static str, Value)> {
    vec![
        (
            EVENT_KEY_FIELD,
            json!({"type": "string", "description": "Synthetic primary key: a hash of the fields that identify the event."}),
        ),
        ("createdAt", ts()),
        ("email", string()),
        ("userId", string()),
        ("itblUserId", string()),
        ("campaignId", int()),
        ("templateId", int()),
        ("messageId", string()),
        ("channelId", int()),
        ("messageTypeId", int()),
        ("contentId", int()),
        ("workflowId", int()),
        (
            "itblInternal",
            json!({"type": ["null", "object"], "properties": {"documentCreatedAt": ts(), "documentUpdatedAt": ts()}}),
        ),
        ("transactionalData", object()),
    ]
}

/// Extra typed fields of an export data type beyond the common event fields.
fn export_extras(data_type: &str) -> Vec<(&'static str, Value)> {
    let lower = data_type.to_ascii_lowercase();
    let mut extra = Vec::new();
    if lower.contains("click") {
        extra.extend([
            ("url", string()),
            ("clickedUrl", string()),
            ("hrefIndex", int()),
        ]);
    }
    if lower.contains("open") || lower.contains("click") {
        extra.extend([
            ("ip", string()),
            ("userAgent", string()),
            ("userAgentDevice", string()),
            ("city", string()),
            ("region", string()),
            ("country", string()),
            ("isBot", boolean()),
        ]);
    }
    if lower.contains("bounce") || lower.contains("complaint") {
        extra.extend([("recipientState", string()), ("status", string())]);
    }
    if lower.contains("skip") {
        extra.push(("reason", string()));
    }
    if lower.contains("subscribe") {
        extra.extend([
            ("emailListIds", int_array()),
            ("channelIds", int_array()),
            ("unsubSource", string()),
            ("signupSource", string()),
            ("profileUpdatedAt", ts()),
        ]);
    }
    if lower.starts_with("inapp") || lower.starts_with("inbox") {
        extra.extend([
            ("sentAt", ts()),
            ("expiresAt", ts()),
            ("deviceInfo", object()),
            ("messageContext", object()),
        ]);
    }
    if lower.starts_with("sms") || lower.starts_with("whatsapp") || lower.starts_with("rcs") {
        extra.extend([
            ("toPhoneNumber", string()),
            ("fromPhoneNumber", string()),
            ("espName", string()),
            ("billingParty", string()),
        ]);
    }
    match data_type {
        "purchase" => extra.extend([
            ("id", string()),
            ("total", num()),
            (
                "shoppingCartItems",
                json!({"type": ["null", "array"], "items": {"type": "object"}}),
            ),
        ]),
        "customEvent" => extra.extend([("eventName", string()), ("eventUpdatedAt", ts())]),
        _ => {}
    }
    extra
}

fn user_props(config: &Config, user_fields: Option<&Value>) -> Vec<(String, Value)> {
    let mut props: Vec<(String, Value)> = vec![
        ("email".into(), string()),
        ("userId".into(), string()),
        ("itblUserId".into(), string()),
        ("signupDate".into(), ts()),
        ("signupSource".into(), string()),
        ("profileUpdatedAt".into(), ts()),
        ("emailListIds".into(), int_array()),
        ("unsubscribedChannelIds".into(), int_array()),
        ("unsubscribedMessageTypeIds".into(), int_array()),
        ("subscribedMessageTypeIds".into(), int_array()),
    ];
    if let Some(fields) = user_fields
        .and_then(|v| v.get("fields"))
        .and_then(Value::as_object)
    {
        for (name, ty) in fields {
            if props.iter().any(|(n, _)| n == name) {
                continue;
            }
            let s = match ty.as_str().unwrap_or("") {
                "string" => string(),
                "long" => int(),
                "double" => num(),
                "boolean" => boolean(),
                "date" => ts(),
                "object" => object(),
                _ => json!({}),
            };
            props.push((name.clone(), s));
        }
    }
    let key = config.user_key.field();
    if let Some((_, s)) = props.iter_mut().find(|(n, _)| n == key) {
        *s = json!({"type": "string"});
    }
    props
}

fn schema_for(def: &StreamDef, config: &Config, user_fields: Option<&Value>) -> Value {
    let props: Vec<(&str, Value)> = match def.name {
        "campaigns" => vec![
            ("id", json!({"type": "integer"})),
            ("name", string()),
            ("type", string()),
            ("campaignState", string()),
            ("messageMedium", string()),
            ("templateId", int()),
            ("createdAt", ts()),
            ("updatedAt", ts()),
            ("startAt", ts()),
            ("endedAt", ts()),
            ("createdByUserId", string()),
            ("updatedByUserId", string()),
            (
                "labels",
                json!({"type": ["null", "array"], "items": {"type": "string"}}),
            ),
            ("listIds", int_array()),
            ("suppressionListIds", int_array()),
            ("recurringCampaignId", int()),
            ("sendSize", int()),
            ("workflowId", int()),
        ],
        "campaigns_metrics" => vec![("id", json!({"type": "integer"}))],
        "experiments_metrics" => vec![("experimentId", int()), ("templateId", int())],
        "channels" => vec![
            ("id", json!({"type": "integer"})),
            ("name", string()),
            ("channelType", string()),
            ("messageMedium", string()),
        ],
        "lists" => vec![
            ("id", json!({"type": "integer"})),
            ("name", string()),
            ("createdAt", ts()),
            ("listType", string()),
            ("description", string()),
        ],
        "list_users" => vec![
            ("listId", json!({"type": "integer"})),
            ("email", string()),
            ("userId", string()),
        ],
        "message_types" => vec![
            ("id", json!({"type": "integer"})),
            ("name", string()),
            ("channelId", int()),
            ("createdAt", ts()),
            ("updatedAt", ts()),
            ("subscriptionPolicy", string()),
            ("rateLimitPerMinute", int()),
            ("frequencyCap", object()),
        ],
        "metadata" => vec![
            ("table", json!({"type": "string"})),
            ("key", json!({"type": "string"})),
            ("size", int()),
            ("lastModified", ts()),
            ("value", object()),
        ],
        "templates" => vec![
            ("templateId", json!({"type": "integer"})),
            ("name", string()),
            ("templateType", string()),
            ("messageMedium", string()),
            ("createdAt", ts()),
            ("updatedAt", ts()),
            ("creatorUserId", string()),
            ("messageTypeId", int()),
            ("campaignId", int()),
            ("clientTemplateId", string()),
        ],
        "journeys" => vec![
            ("id", json!({"type": "integer"})),
            ("name", string()),
            ("description", string()),
            ("enabled", boolean()),
            ("isArchived", boolean()),
            ("journeyType", string()),
            ("createdAt", ts()),
            ("updatedAt", ts()),
            (
                "triggerEventNames",
                json!({"type": ["null", "array"], "items": {"type": "string"}}),
            ),
        ],
        "snippets" | "webhooks" => vec![("id", json!({"type": "integer"})), ("name", string())],
        "catalogs" => vec![("name", json!({"type": "string"}))],
        "catalog_items" => vec![
            ("catalogName", json!({"type": "string"})),
            ("itemId", json!({"type": "string"})),
            ("lastModified", ts()),
            ("size", int()),
            ("value", object()),
        ],
        "users" | "user_profile" => {
            let owned = user_props(config, user_fields);
            let borrowed: Vec<(&str, Value)> =
                owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let mut s = schema(&borrowed);
            if def.name == "user_profile" {
                s["properties"]["dataFields"] = object();
            }
            return s;
        }
        "in_app_messages" => vec![
            ("messageId", json!({"type": "string"})),
            ("campaignId", int()),
            ("createdAt", ts()),
            ("expiresAt", ts()),
            ("content", object()),
            ("customPayload", object()),
            ("trigger", object()),
            ("read", boolean()),
            ("priorityLevel", num()),
        ],
        "sent_messages" => vec![
            ("messageId", json!({"type": "string"})),
            ("campaignId", int()),
            ("templateId", int()),
            ("createdAt", ts()),
        ],
        "events" | "user_events" => {
            let mut p = event_props();
            p.push(("_type", string()));
            p.push(("eventName", string()));
            p
        }
        _ => match def.family {
            Family::Export { data_type } => {
                let mut p = event_props();
                p.extend(export_extras(data_type));
                p
            }
            _ => vec![],
        },
    };
    schema(&props)
}

/// Checks that a by-key stream can be read with this config.
pub fn check_user_filter(def: &StreamDef, config: &Config) -> Result<()> {
    if def.is_by_key() && config.email.is_none() && config.user_id.is_none() {
        return Err(ConnectorError::config(
            "email",
            format!(
                "stream \"{}\" reads one user's data: set \"email\" (or \"user_id\") in the config",
                def.name
            ),
        )
        .with_stream(def.name));
    }
    Ok(())
}

/// Which identifier a by-key request uses.
pub fn user_param(config: &Config) -> Option<(&'static str, &str)> {
    match (&config.email, &config.user_id, config.user_key) {
        (Some(e), _, UserKey::Email) | (Some(e), None, _) => Some(("email", e.as_str())),
        (_, Some(u), _) => Some(("userId", u.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_complete() {
        let all = all_streams();
        let mut names: Vec<&str> = all.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(EXPORT_TYPES.len(), 52); // + users (dataTypeName "user") = 53
        assert_eq!(all.len(), 20 + 52);
    }

    #[test]
    fn users_declares_custom_fields_and_keys_follow_user_key() {
        let config = Config::from_json(&json!({"user_key": "userId"})).unwrap();
        let fields = json!({"fields": {"favoriteColor": "string", "LTV": "double"}});
        let cat = discover(&config, Some(&fields));
        let users = cat.iter().find(|s| s.name == "users").unwrap();
        assert_eq!(users.primary_key, vec![vec!["userId".to_string()]]);
        assert_eq!(
            users.json_schema["properties"]["LTV"]["type"],
            json!(["null", "number"])
        );
        let lu = cat.iter().find(|s| s.name == "list_users").unwrap();
        assert_eq!(
            lu.primary_key,
            vec![vec!["listId".to_string()], vec!["userId".to_string()]]
        );
        let send = cat.iter().find(|s| s.name == "email_send").unwrap();
        assert_eq!(send.cursor_field.as_deref(), Some("createdAt"));
        assert_eq!(send.sync_modes, vec!["full_refresh", "incremental"]);
    }

    #[test]
    fn by_key_stream_without_filter_says_which_filter() {
        let config = Config::from_json(&json!({})).unwrap();
        let err = check_user_filter(&find("events").unwrap(), &config).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("email"));
        assert!(err.message.contains("user_id"));
        assert!(find("nope").unwrap_err().message.contains("unknown stream"));
    }
}
