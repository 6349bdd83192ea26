//! The stream catalog: one row per stream is the whole truth about it —
//! how it is read (family and endpoints), its parent, keys, cursor, schema
//! (as data, see `schema`) and which filters the API applies itself (see
//! `pushdown`). Adding a plain stream is adding a row and its fields.

mod pushdown;
mod schema;

use serde_json::Value;

use crate::config::{Config, UserKey};
use crate::error::{ConnectorError, Result};
use crate::exchange::endpoint::{self as ep, Endpoint};

pub use pushdown::{ApiParam, FilterOp, Pushdown};
pub(crate) use schema::TimestampPaths;
pub use schema::{Field, FieldType};

use pushdown::{FilterOp::*, query, setting};
use schema::*;

/// How a stream is read. Each variant has one reader in `read::readers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// One GET; records are the array under `field` of the JSON body.
    Simple {
        /// The endpoint.
        endpoint: Endpoint,
        /// The body's array of records.
        field: &'static str,
    },
    /// `page`/`pageSize` paging while `nextPageUrl` is present, once per pass.
    Paged {
        /// The endpoint.
        endpoint: Endpoint,
        /// The body's array of records.
        field: &'static str,
        /// Records per page asked for.
        page_size: u32,
        /// Records sit inside Iterable's `{msg, code, params}` envelope.
        in_envelope: bool,
        /// One paged walk per pass (most streams: one pass without filters).
        passes: &'static [Pass],
        /// Records read again every incremental sync whatever their cursor.
        reread: Option<Reread>,
    },
    /// Tables → keys (nextMarker paging) → values.
    Metadata {
        /// Lists the tables.
        tables: Endpoint,
        /// Lists a table's keys.
        keys: Endpoint,
        /// One key's value.
        values: Endpoint,
    },
    /// Lists → members per list (text, one id per line).
    ListUsers {
        /// Lists the lists.
        lists: Endpoint,
        /// One list's members.
        members: Endpoint,
    },
    /// Catalogs → items per catalog (paged, in the envelope).
    CatalogItems {
        /// Lists the catalogs (paged).
        catalogs: Endpoint,
        /// One catalog's items (paged).
        items: Endpoint,
    },
    /// Campaign ids → CSV metrics in batches of ids.
    CampaignMetrics {
        /// Lists the campaigns (paged).
        campaigns: Endpoint,
        /// Metrics of a batch of campaign ids.
        metrics: Endpoint,
    },
    /// The templates list (once per pass), then each template's full model.
    TemplateContents {
        /// Lists the templates (paged, once per pass).
        list: Endpoint,
        /// One walk per type × medium.
        passes: &'static [Pass],
    },
    /// Iterable's export over time windows, or async export jobs.
    Export {
        /// Iterable's `dataTypeName`.
        data_type: &'static str,
        /// What the rows are.
        rows: RowShape,
    },
    /// One user's data; needs `email` or `user_id` in the config.
    ByKey(ByKeyRead),
}

/// One paged walk of a [`Family::Paged`] stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Query parameters of this walk.
    pub query: &'static [(&'static str, &'static str)],
    /// Fields set on every record of this walk (what the filter implies).
    pub set: &'static [(&'static str, Literal)],
}

/// A constant field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literal {
    /// Text.
    Str(&'static str),
    /// A boolean.
    Bool(bool),
}

impl Literal {
    pub(crate) fn to_json(self) -> Value {
        match self {
            Literal::Str(s) => Value::from(s),
            Literal::Bool(b) => Value::from(b),
        }
    }
}

/// Records whose `field` holds one of `values` are handed out every
/// incremental sync: their state changes without the cursor moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reread {
    /// The field tested.
    pub field: &'static str,
    /// The values that force a re-read.
    pub values: &'static [&'static str],
}

impl Reread {
    pub(crate) fn matches(&self, record: &serde_json::Map<String, Value>) -> bool {
        record
            .get(self.field)
            .and_then(Value::as_str)
            .is_some_and(|v| self.values.contains(&v))
    }
}

/// What a response's rows are, which decides how they are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowShape {
    /// An API object: timestamps normalised.
    Object,
    /// An engagement event: also `transactionalData` decoded and a synthetic key.
    Event,
}

/// How one user's data is requested and where its records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByKeyRead {
    /// Used with `email`.
    pub by_email: Endpoint,
    /// Used with `user_id`.
    pub by_user_id: Endpoint,
    /// Whether the user goes in the path or in the query.
    pub key_in: KeyIn,
    /// Fixed query parameters.
    pub query: &'static [(&'static str, &'static str)],
    /// Where the records are in the body.
    pub body: ByKeyBody,
}

/// Where a by-key request carries the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIn {
    /// A path segment.
    Path,
    /// A query parameter (`email` or `userId`).
    Query,
}

/// Where a by-key response holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByKeyBody {
    /// An array under `field`.
    Array {
        /// The array's name.
        field: &'static str,
        /// What the rows are.
        rows: RowShape,
    },
    /// One object under `field`; none when absent (an unknown user).
    Single {
        /// The object's name.
        field: &'static str,
    },
    /// One row per NDJSON line.
    Lines {
        /// What the rows are.
        rows: RowShape,
    },
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

/// A stream: one row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDef {
    /// The stream's name.
    pub name: &'static str,
    /// How it is read, with its endpoints.
    pub family: Family,
    /// The stream whose records drive its requests (`lists` for `list_users`).
    pub parent: Option<&'static str>,
    /// Primary key field paths. Empty = derived from `user_key` (users, list_users).
    pub primary_key: &'static [&'static str],
    /// The cursor of incremental syncs.
    pub cursor_field: Option<&'static str>,
    /// How incremental syncs find what changed.
    pub incremental: Incremental,
    /// Its fields, in schema order (groups concatenated).
    pub fields: &'static [&'static [Field]],
    /// Declares the project's custom user fields (from `users/getFields`).
    pub user_fields: bool,
    /// Filters the API applies itself.
    pub pushdown: &'static [Pushdown],
}

/// The synthetic primary key field added to event rows.
pub const EVENT_KEY_FIELD: &str = "_key";

const fn simple(
    name: &'static str,
    endpoint: Endpoint,
    field: &'static str,
    fields: &'static [&'static [Field]],
) -> StreamDef {
    StreamDef {
        name,
        family: Family::Simple { endpoint, field },
        parent: None,
        primary_key: &["id"],
        cursor_field: None,
        incremental: Incremental::None,
        fields,
        user_fields: false,
        pushdown: &[],
    }
}

/// One walk with no filter.
const ALL: &[Pass] = &[Pass {
    query: &[],
    set: &[],
}];

const fn paged(
    endpoint: Endpoint,
    field: &'static str,
    page_size: u32,
    in_envelope: bool,
) -> Family {
    Family::Paged {
        endpoint,
        field,
        page_size,
        in_envelope,
        passes: ALL,
        reread: None,
    }
}

const fn export(
    name: &'static str,
    data_type: &'static str,
    fields: &'static [&'static [Field]],
) -> StreamDef {
    StreamDef {
        name,
        family: Family::Export {
            data_type,
            rows: RowShape::Event,
        },
        parent: None,
        primary_key: &[EVENT_KEY_FIELD],
        cursor_field: Some("createdAt"),
        incremental: Incremental::Windowed,
        fields,
        user_fields: false,
        pushdown: pushdown::EVENT_EXPORT,
    }
}

const fn by_key(
    name: &'static str,
    read: ByKeyRead,
    primary_key: &'static [&'static str],
    fields: &'static [&'static [Field]],
    user_fields: bool,
) -> StreamDef {
    StreamDef {
        name,
        family: Family::ByKey(read),
        parent: None,
        primary_key,
        cursor_field: None,
        incremental: Incremental::None,
        fields,
        user_fields,
        pushdown: pushdown::ONE_USER,
    }
}

macro_rules! template_pass {
    ($t:literal, $m:literal) => {
        Pass {
            query: &[("templateType", $t), ("messageMedium", $m)],
            set: &[
                ("templateType", Literal::Str($t)),
                ("messageMedium", Literal::Str($m)),
            ],
        }
    };
}

/// Every templateType × messageMedium combination: without a type filter
/// Iterable leaves some templates out.
const TEMPLATE_PASSES: &[Pass] = &[
    template_pass!("Base", "Email"),
    template_pass!("Base", "Push"),
    template_pass!("Base", "InApp"),
    template_pass!("Base", "SMS"),
    template_pass!("Blast", "Email"),
    template_pass!("Blast", "Push"),
    template_pass!("Blast", "InApp"),
    template_pass!("Blast", "SMS"),
    template_pass!("Triggered", "Email"),
    template_pass!("Triggered", "Push"),
    template_pass!("Triggered", "InApp"),
    template_pass!("Triggered", "SMS"),
    template_pass!("Workflow", "Email"),
    template_pass!("Workflow", "Push"),
    template_pass!("Workflow", "InApp"),
    template_pass!("Workflow", "SMS"),
];

/// The fields of the templates list.
const TEMPLATE_LIST_FIELDS: &[Field] = &[
    key("templateId", FieldType::Integer),
    field("name", FieldType::String),
    field("templateType", FieldType::String),
    field("messageMedium", FieldType::String),
    field("createdAt", FieldType::Timestamp),
    field("updatedAt", FieldType::Timestamp),
    field("creatorUserId", FieldType::String),
    field("messageTypeId", FieldType::Integer),
    field("campaignId", FieldType::Integer),
    field("clientTemplateId", FieldType::String),
];

/// The templates list's filters; its date parameters filter on creation time.
const TEMPLATE_PUSHDOWN: &[Pushdown] = &[
    query("templateType", Eq, "templateType"),
    query("templateType", In, "templateType"),
    query("messageMedium", Eq, "messageMedium"),
    query("messageMedium", In, "messageMedium"),
    query("createdAt", Ge, "startDateTime"),
    query("createdAt", Lt, "endDateTime"),
];

/// Without `state`, Iterable leaves archived journeys out; with
/// `state=Archived` it returns only those. Users expect every journey.
const JOURNEY_PASSES: &[Pass] = &[
    Pass {
        query: &[],
        set: &[],
    },
    Pass {
        query: &[("state", "Archived")],
        set: &[("isArchived", Literal::Bool(true))],
    },
];

const CAMPAIGN_FIELDS: &[Field] = &[
    key("id", FieldType::Integer),
    field("name", FieldType::String),
    field("type", FieldType::String),
    field("campaignState", FieldType::String),
    field("messageMedium", FieldType::String),
    field("templateId", FieldType::Integer),
    field("createdAt", FieldType::Timestamp),
    field("updatedAt", FieldType::Timestamp),
    field("startAt", FieldType::Timestamp),
    field("endedAt", FieldType::Timestamp),
    field("createdByUserId", FieldType::String),
    field("updatedByUserId", FieldType::String),
    field("labels", FieldType::StringArray),
    field("listIds", FieldType::IntegerArray),
    field("suppressionListIds", FieldType::IntegerArray),
    field("recurringCampaignId", FieldType::Integer),
    field("sendSize", FieldType::Integer),
    field("workflowId", FieldType::Integer),
];

const ID_NAME: &[Field] = &[
    key("id", FieldType::Integer),
    field("name", FieldType::String),
];

/// Streams that are not export data types, in catalog order.
const NON_EXPORT: &[StreamDef] = &[
    StreamDef {
        name: "campaigns",
        family: Family::Paged {
            endpoint: ep::CAMPAIGNS,
            field: "campaigns",
            page_size: 1000,
            in_envelope: false,
            passes: ALL,
            // Campaigns whose state changes without `updatedAt` moving (EST #5259).
            reread: Some(Reread {
                field: "campaignState",
                values: &["Scheduled", "Running", "Recurring", "Starting"],
            }),
        },
        parent: None,
        primary_key: &["id"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
        fields: &[CAMPAIGN_FIELDS],
        user_fields: false,
        pushdown: &[
            query("campaignState", Eq, "campaignState"),
            query("campaignState", In, "campaignState"),
        ],
    },
    StreamDef {
        name: "campaigns_metrics",
        family: Family::CampaignMetrics {
            campaigns: ep::CAMPAIGNS,
            metrics: ep::CAMPAIGN_METRICS,
        },
        parent: Some("campaigns"),
        primary_key: &["id"],
        cursor_field: None,
        incremental: Incremental::None,
        fields: &[&[key("id", FieldType::Integer)]],
        user_fields: false,
        pushdown: &[query("id", In, "campaignId")],
    },
    simple(
        "channels",
        ep::CHANNELS,
        "channels",
        &[
            ID_NAME,
            &[
                field("channelType", FieldType::String),
                field("messageMedium", FieldType::String),
            ],
        ],
    ),
    simple(
        "lists",
        ep::LISTS,
        "lists",
        &[
            ID_NAME,
            &[
                field("createdAt", FieldType::Timestamp),
                field("listType", FieldType::String),
                field("description", FieldType::String),
            ],
        ],
    ),
    StreamDef {
        name: "list_users",
        family: Family::ListUsers {
            lists: ep::LISTS,
            members: ep::LIST_USERS,
        },
        parent: Some("lists"),
        primary_key: &[],
        cursor_field: None,
        incremental: Incremental::None,
        fields: &[&[
            key("listId", FieldType::Integer),
            field("email", FieldType::String),
            field("userId", FieldType::String),
        ]],
        user_fields: false,
        pushdown: &[
            setting("listId", In, "list_ids"),
            setting("listId", Eq, "list_ids"),
        ],
    },
    simple(
        "message_types",
        ep::MESSAGE_TYPES,
        "messageTypes",
        &[
            ID_NAME,
            &[
                field("channelId", FieldType::Integer),
                field("createdAt", FieldType::Timestamp),
                field("updatedAt", FieldType::Timestamp),
                field("subscriptionPolicy", FieldType::String),
                field("rateLimitPerMinute", FieldType::Integer),
                field("frequencyCap", FieldType::Object),
            ],
        ],
    ),
    StreamDef {
        name: "metadata",
        family: Family::Metadata {
            tables: ep::METADATA_TABLES,
            keys: ep::METADATA_KEYS,
            values: ep::METADATA_VALUE,
        },
        parent: None,
        primary_key: &["table", "key"],
        cursor_field: Some("lastModified"),
        incremental: Incremental::ClientSide,
        fields: &[&[
            key("table", FieldType::String),
            key("key", FieldType::String),
            field("size", FieldType::Integer),
            field("lastModified", FieldType::Timestamp),
            field("value", FieldType::Object),
        ]],
        user_fields: false,
        pushdown: &[],
    },
    StreamDef {
        name: "templates",
        family: Family::Paged {
            endpoint: ep::TEMPLATES,
            field: "templates",
            page_size: 1000,
            in_envelope: false,
            passes: TEMPLATE_PASSES,
            reread: None,
        },
        parent: None,
        primary_key: &["templateId"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
        fields: &[TEMPLATE_LIST_FIELDS],
        user_fields: false,
        pushdown: TEMPLATE_PUSHDOWN,
    },
    StreamDef {
        name: "template_contents",
        family: Family::TemplateContents {
            list: ep::TEMPLATES,
            passes: TEMPLATE_PASSES,
        },
        parent: Some("templates"),
        primary_key: &["templateId"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
        fields: &[
            TEMPLATE_LIST_FIELDS,
            &[
                // Email
                field("subject", FieldType::String),
                field("preheaderText", FieldType::String),
                field("fromName", FieldType::String),
                field("fromEmail", FieldType::String),
                field("replyToEmail", FieldType::String),
                field("ccEmails", FieldType::StringArray),
                field("bccEmails", FieldType::StringArray),
                field("html", FieldType::String),
                field("plainText", FieldType::String),
                field("googleAnalyticsCampaignName", FieldType::String),
                field("linkParams", FieldType::ObjectArray),
                field("dataFeedIds", FieldType::IntegerArray),
                field("cacheDataFeed", FieldType::Boolean),
                field("mergeDataFeedContext", FieldType::Boolean),
                // Push, SMS, in-app
                field("title", FieldType::String),
                field("message", FieldType::String),
                field("badge", FieldType::String),
                field("sound", FieldType::String),
                field("payload", FieldType::Object),
                field("buttons", FieldType::ObjectArray),
                field("deeplink", FieldType::Object),
                field("richMedia", FieldType::Object),
                field("interruptionLevel", FieldType::String),
                field("isSilentPush", FieldType::Boolean),
                field("relevanceScore", FieldType::Number),
                field("wake", FieldType::Boolean),
                field("imageUrl", FieldType::String),
                field("trackingDomain", FieldType::String),
                field("expirationDateTime", FieldType::Timestamp),
                field("expirationDuration", FieldType::Integer),
                field("inAppDisplaySettings", FieldType::Object),
                field("webInAppDisplaySettings", FieldType::Object),
                field("inboxMetadata", FieldType::Object),
                field("locale", FieldType::String),
                field("isDefaultLocale", FieldType::Boolean),
            ],
        ],
        user_fields: false,
        pushdown: TEMPLATE_PUSHDOWN,
    },
    StreamDef {
        name: "journeys",
        family: Family::Paged {
            endpoint: ep::JOURNEYS,
            field: "journeys",
            page_size: 50,
            in_envelope: false,
            passes: JOURNEY_PASSES,
            reread: None,
        },
        parent: None,
        primary_key: &["id"],
        cursor_field: Some("updatedAt"),
        incremental: Incremental::ClientSide,
        fields: &[
            ID_NAME,
            &[
                field("description", FieldType::String),
                field("enabled", FieldType::Boolean),
                field("isArchived", FieldType::Boolean),
                field("journeyType", FieldType::String),
                field("createdAt", FieldType::Timestamp),
                field("updatedAt", FieldType::Timestamp),
                field("triggerEventNames", FieldType::StringArray),
            ],
        ],
        user_fields: false,
        pushdown: &[],
    },
    simple("snippets", ep::SNIPPETS, "snippets", &[ID_NAME]),
    simple("webhooks", ep::WEBHOOKS, "webhooks", &[ID_NAME]),
    StreamDef {
        name: "catalogs",
        family: paged(ep::CATALOGS, "catalogNames", 100, true),
        parent: None,
        primary_key: &["name"],
        cursor_field: None,
        incremental: Incremental::None,
        fields: &[&[key("name", FieldType::String)]],
        user_fields: false,
        pushdown: &[],
    },
    StreamDef {
        name: "catalog_items",
        family: Family::CatalogItems {
            catalogs: ep::CATALOGS,
            items: ep::CATALOG_ITEMS,
        },
        parent: Some("catalogs"),
        primary_key: &["catalogName", "itemId"],
        cursor_field: Some("lastModified"),
        incremental: Incremental::ClientSide,
        fields: &[&[
            key("catalogName", FieldType::String),
            key("itemId", FieldType::String),
            field("lastModified", FieldType::Timestamp),
            field("size", FieldType::Integer),
            field("value", FieldType::Object),
        ]],
        user_fields: false,
        pushdown: &[
            setting("catalogName", Eq, "catalog_names"),
            setting("catalogName", In, "catalog_names"),
            setting("itemId", Eq, "item_ids"),
            setting("itemId", In, "item_ids"),
        ],
    },
    StreamDef {
        name: "experiments_metrics",
        family: Family::CampaignMetrics {
            campaigns: ep::CAMPAIGNS,
            metrics: ep::EXPERIMENT_METRICS,
        },
        parent: Some("campaigns"),
        primary_key: &["experimentId", "templateId"],
        cursor_field: None,
        incremental: Incremental::None,
        fields: &[&[
            field("experimentId", FieldType::Integer),
            field("templateId", FieldType::Integer),
        ]],
        user_fields: false,
        pushdown: &[],
    },
    StreamDef {
        name: "users",
        family: Family::Export {
            data_type: "user",
            rows: RowShape::Object,
        },
        parent: None,
        primary_key: &[],
        cursor_field: Some("profileUpdatedAt"),
        incremental: Incremental::Windowed,
        fields: &[USER, USER_EXPORT_INTERNAL],
        user_fields: true,
        pushdown: pushdown::USER_EXPORT,
    },
    by_key(
        "events",
        ByKeyRead {
            by_email: ep::EVENTS_BY_EMAIL,
            by_user_id: ep::EVENTS_BY_USER_ID,
            key_in: KeyIn::Path,
            query: &[("limit", "200")],
            body: ByKeyBody::Array {
                field: "events",
                rows: RowShape::Event,
            },
        },
        &[EVENT_KEY_FIELD],
        &[EVENT, TYPED_EVENT],
        false,
    ),
    by_key(
        "user_profile",
        ByKeyRead {
            by_email: ep::USER_BY_EMAIL,
            by_user_id: ep::USER_BY_USER_ID,
            key_in: KeyIn::Path,
            query: &[],
            body: ByKeyBody::Single { field: "user" },
        },
        &[],
        &[USER, USER_EXPORT_INTERNAL, USER_PROFILE_EXTRA],
        true,
    ),
    by_key(
        "in_app_messages",
        ByKeyRead {
            by_email: ep::IN_APP_MESSAGES,
            by_user_id: ep::IN_APP_MESSAGES,
            key_in: KeyIn::Query,
            query: &[("count", "100")],
            body: ByKeyBody::Array {
                field: "inAppMessages",
                rows: RowShape::Object,
            },
        },
        &["messageId"],
        &[&[
            key("messageId", FieldType::String),
            field("campaignId", FieldType::Integer),
            field("createdAt", FieldType::Timestamp),
            field("expiresAt", FieldType::Timestamp),
            field("content", FieldType::Object),
            field("customPayload", FieldType::Object),
            field("trigger", FieldType::Object),
            field("read", FieldType::Boolean),
            field("priorityLevel", FieldType::Number),
        ]],
        false,
    ),
    by_key(
        "sent_messages",
        ByKeyRead {
            by_email: ep::SENT_MESSAGES,
            by_user_id: ep::SENT_MESSAGES,
            key_in: KeyIn::Query,
            query: &[("limit", "1000")],
            body: ByKeyBody::Array {
                field: "messages",
                rows: RowShape::Object,
            },
        },
        &["messageId"],
        &[&[
            key("messageId", FieldType::String),
            field("campaignId", FieldType::Integer),
            field("templateId", FieldType::Integer),
            field("createdAt", FieldType::Timestamp),
        ]],
        false,
    ),
    by_key(
        "user_events",
        ByKeyRead {
            by_email: ep::USER_EVENTS_EXPORT,
            by_user_id: ep::USER_EVENTS_EXPORT,
            key_in: KeyIn::Query,
            query: &[("includeCustomEvents", "true")],
            body: ByKeyBody::Lines {
                rows: RowShape::Event,
            },
        },
        &[EVENT_KEY_FIELD],
        &[EVENT, TYPED_EVENT],
        false,
    ),
];

/// One stream per export data type, in Iterable's order.
const EXPORT: &[StreamDef] = &[
    export("email_send", "emailSend", &[EVENT]),
    export("email_open", "emailOpen", &[EVENT, DEVICE]),
    export("email_click", "emailClick", &[EVENT, CLICK, DEVICE]),
    export(
        "hosted_unsubscribe_click",
        "hostedUnsubscribeClick",
        &[EVENT, CLICK, DEVICE, SUBSCRIPTION],
    ),
    export("email_complaint", "emailComplaint", &[EVENT, BOUNCE]),
    export("email_bounce", "emailBounce", &[EVENT, BOUNCE]),
    export("email_send_skip", "emailSendSkip", &[EVENT, SKIP]),
    export("email_subscribe", "emailSubscribe", &[EVENT, SUBSCRIPTION]),
    export(
        "email_unsubscribe",
        "emailUnSubscribe",
        &[EVENT, SUBSCRIPTION],
    ),
    export("push_send", "pushSend", &[EVENT]),
    export("push_open", "pushOpen", &[EVENT, DEVICE]),
    export("push_uninstall", "pushUninstall", &[EVENT]),
    export("push_bounce", "pushBounce", &[EVENT, BOUNCE]),
    export("push_send_skip", "pushSendSkip", &[EVENT, SKIP]),
    export("in_app_send", "inAppSend", &[EVENT, IN_APP]),
    export("in_app_open", "inAppOpen", &[EVENT, DEVICE, IN_APP]),
    export(
        "in_app_click",
        "inAppClick",
        &[EVENT, CLICK, DEVICE, IN_APP],
    ),
    export("in_app_close", "inAppClose", &[EVENT, IN_APP]),
    export("in_app_delete", "inAppDelete", &[EVENT, IN_APP]),
    export("in_app_delivery", "inAppDelivery", &[EVENT, IN_APP]),
    export("in_app_send_skip", "inAppSendSkip", &[EVENT, SKIP, IN_APP]),
    export("in_app_recall", "inAppRecall", &[EVENT, IN_APP]),
    export("inbox_session", "inboxSession", &[EVENT, IN_APP]),
    export(
        "inbox_message_impression",
        "inboxMessageImpression",
        &[EVENT, IN_APP],
    ),
    export("sms_send", "smsSend", &[EVENT, PHONE]),
    export("sms_bounce", "smsBounce", &[EVENT, BOUNCE, PHONE]),
    export("sms_click", "smsClick", &[EVENT, CLICK, DEVICE, PHONE]),
    export("sms_received", "smsReceived", &[EVENT, PHONE]),
    export("sms_send_skip", "smsSendSkip", &[EVENT, SKIP, PHONE]),
    export("sms_usage_info", "smsUsageInfo", &[EVENT, PHONE]),
    export("web_push_send", "webPushSend", &[EVENT]),
    export("web_push_click", "webPushClick", &[EVENT, CLICK, DEVICE]),
    export("web_push_send_skip", "webPushSendSkip", &[EVENT, SKIP]),
    export("rcs_send", "rcsSend", &[EVENT, PHONE]),
    export("rcs_send_skip", "rcsSendSkip", &[EVENT, SKIP, PHONE]),
    export("embedded_send", "embeddedSend", &[EVENT]),
    export("embedded_send_skip", "embeddedSendSkip", &[EVENT, SKIP]),
    export("embedded_click", "embeddedClick", &[EVENT, CLICK, DEVICE]),
    export("embedded_received", "embeddedReceived", &[EVENT]),
    export("embedded_impression", "embeddedImpression", &[EVENT]),
    export("embedded_session", "embeddedSession", &[EVENT]),
    export("whatsapp_bounce", "whatsAppBounce", &[EVENT, BOUNCE, PHONE]),
    export(
        "whatsapp_click",
        "whatsAppClick",
        &[EVENT, CLICK, DEVICE, PHONE],
    ),
    export("whatsapp_received", "whatsAppReceived", &[EVENT, PHONE]),
    export("whatsapp_seen", "whatsAppSeen", &[EVENT, PHONE]),
    export("whatsapp_send", "whatsAppSend", &[EVENT, PHONE]),
    export(
        "whatsapp_send_skip",
        "whatsAppSendSkip",
        &[EVENT, SKIP, PHONE],
    ),
    export("whatsapp_usage_info", "whatsAppUsageInfo", &[EVENT, PHONE]),
    export("purchase", "purchase", &[EVENT, PURCHASE]),
    export("custom_event", "customEvent", &[EVENT, CUSTOM_EVENT]),
    export("unknown_session", "unknownSession", &[EVENT]),
    export("journey_exit", "journeyExit", &[EVENT]),
];

/// Every stream, non-export streams first, then export data types.
pub fn all_streams() -> impl Iterator<Item = &'static StreamDef> {
    NON_EXPORT.iter().chain(EXPORT)
}

/// Looks a stream up by name; the error lists how to find the valid names.
pub fn find(name: &str) -> Result<StreamDef> {
    all_streams()
        .find(|d| d.name == name)
        .copied()
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
            Family::ListUsers { .. } => vec!["listId", user],
            _ => vec![user],
        }
    }

    /// Airbyte's sync modes for this stream.
    pub fn sync_modes(&self) -> &'static [&'static str] {
        match self.incremental {
            Incremental::None => &["full_refresh"],
            _ => &["full_refresh", "incremental"],
        }
    }

    /// Whether reading needs one user (`email` or `user_id`).
    pub fn is_by_key(&self) -> bool {
        matches!(self.family, Family::ByKey(_))
    }

    /// Whether this is an export data type (time windows or export jobs).
    pub fn is_export(&self) -> bool {
        matches!(self.family, Family::Export { .. })
    }

    /// Every field of the schema, in order.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().flat_map(|group| group.iter())
    }

    /// The stream's JSON Schema. `user_fields` is the body of
    /// `GET /api/users/getFields`, for the streams that declare them.
    pub fn json_schema(&self, config: &Config, user_fields: Option<&Value>) -> Value {
        let fields: Vec<Field> = self.all_fields().copied().collect();
        if self.user_fields {
            let extra = self.custom_fields(user_fields);
            let mut schema = schema::json_schema(&fields);
            let props = schema["properties"].as_object_mut().expect("an object");
            for (name, ty) in extra {
                props.insert(name, ty.json_schema(true));
            }
            // The user key is what identifies a row: never null.
            let key = config.user_key.field();
            if props.contains_key(key) {
                props.insert(key.to_string(), FieldType::String.json_schema(false));
            }
            return schema;
        }
        schema::json_schema(&fields)
    }

    /// The project's custom user fields this stream declares beyond its
    /// own (none unless it declares user fields): from the body of
    /// `GET /api/users/getFields`, in name order.
    fn custom_fields(&self, user_fields: Option<&Value>) -> Vec<(String, FieldType)> {
        if !self.user_fields {
            return Vec::new();
        }
        let custom = user_fields
            .and_then(|v| v.get("fields"))
            .and_then(Value::as_object);
        custom
            .into_iter()
            .flatten()
            .filter(|(name, _)| !self.all_fields().any(|f| f.name == name.as_str()))
            .map(|(name, ty)| {
                (
                    name.clone(),
                    FieldType::from_iterable(ty.as_str().unwrap_or("")),
                )
            })
            .collect()
    }

    /// The names of the stream's fields in definition order (the order of
    /// [`StreamDef::fields`]), then the custom user fields it declares (in
    /// name order), as `json_schema` declares them. A JSON Schema's
    /// `properties` cannot carry this order (they are a sorted map), so
    /// column-oriented outputs (CSV) take it from here.
    pub fn field_names(&self, user_fields: Option<&Value>) -> Vec<String> {
        self.all_fields()
            .map(|f| f.name.to_string())
            .chain(self.custom_fields(user_fields).into_iter().map(|(n, _)| n))
            .collect()
    }

    /// Where records of this stream hold timestamps (from the schema).
    pub(crate) fn timestamp_paths(&self) -> TimestampPaths {
        TimestampPaths::of(self.all_fields())
    }
}

/// A stream as `discover` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescriptor {
    /// The stream's name.
    pub name: String,
    /// JSON Schema (draft 07) of its records.
    pub json_schema: Value,
    /// Each key is a path of field names (Airbyte's `[["listId"], ["email"]]`).
    pub primary_key: Vec<Vec<String>>,
    /// The cursor of incremental syncs.
    pub cursor_field: Option<String>,
    /// `full_refresh`, and `incremental` where supported.
    pub sync_modes: Vec<String>,
    /// Needs `email` or `user_id` in the config to be read.
    pub requires_user_filter: bool,
}

/// The catalog. `user_fields` is the body of `GET /api/users/getFields`
/// (`{"fields": {"name": "type"}}`) when the host fetched it: the `users`
/// stream then declares the project's custom fields.
pub fn discover(config: &Config, user_fields: Option<&Value>) -> Vec<StreamDescriptor> {
    all_streams()
        .map(|def| StreamDescriptor {
            name: def.name.to_string(),
            json_schema: def.json_schema(config, user_fields),
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

/// Checks that a by-key stream can be read with this config.
pub(crate) fn check_user_filter(def: &StreamDef, config: &Config) -> Result<()> {
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

/// Which identifier a by-key request uses: (`email` | `userId`, value).
pub(crate) fn user_param(config: &Config) -> Option<(&'static str, &str)> {
    match (&config.email, &config.user_id, config.user_key) {
        (Some(e), _, UserKey::Email) | (Some(e), None, _) => Some(("email", e.as_str())),
        (_, Some(u), _) => Some(("userId", u.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
