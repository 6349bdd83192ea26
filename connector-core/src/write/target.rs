//! What can be written: every (object, operation) pair and the three stored
//! procedures, as one table. A row of the table says which endpoint serves
//! the pair, whether rows travel one per request or in bulk (and how many),
//! and what Iterable answers, so the session itself knows no object by name.

use crate::error::{ConnectorError, Result};
use crate::exchange::endpoint as ep;
use crate::exchange::endpoint::Endpoint;

/// A writable object and operation, resolved from user-facing names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Catalog items: create or replace the whole item.
    CatalogItemsUpsert,
    /// Catalog items: create or merge the given fields.
    CatalogItemsUpdate,
    /// Catalog items: delete by id.
    CatalogItemsDelete,
    /// Catalogs: create.
    CatalogsInsert,
    /// Catalogs: delete.
    CatalogsDelete,
    /// Lists: create (not safe to repeat).
    ListsInsert,
    /// Lists: delete.
    ListsDelete,
    /// List members: subscribe.
    ListUsersInsert,
    /// List members: unsubscribe.
    ListUsersDelete,
    /// Templates: create or update by `clientTemplateId`.
    TemplatesInsert,
    /// Templates: update by `templateId`.
    TemplatesUpdate,
    /// Templates: delete by `templateId` (in bulk).
    TemplatesDelete,
    /// Campaigns: create (not safe to repeat).
    CampaignsInsert,
    /// Events: track.
    EventsInsert,
    /// In-app messages: send to one user (not safe to repeat).
    InAppMessagesInsert,
    /// Users: create or update the profile.
    UsersUpsert,
    /// Users: delete.
    UsersDelete,
    /// Users: change the email address.
    UsersUpdateEmail,
    /// Purchases: track.
    PurchasesInsert,
    /// Subscriptions: overwrite a user's subscription preferences.
    SubscriptionsUpdate,
    /// `AbortCampaign(campaignId)`.
    AbortCampaign,
    /// `TriggerCampaign(campaignId, listIds, …)` (not safe to repeat).
    TriggerCampaign,
    /// `CancelScheduledOrRecurringCampaign(campaignId)`.
    CancelCampaign,
}

/// How rows travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One request per row.
    Single(Endpoint),
    /// Up to `max_rows` rows and `max_bytes` of body per request; `single`
    /// serves the same rows one by one when the caller asks (`bulk=false`).
    Bulk {
        endpoint: Endpoint,
        max_rows: usize,
        max_bytes: usize,
        single: Option<Endpoint>,
    },
}

/// What a 2xx answer says about each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A success envelope; nothing per row.
    Envelope,
    /// `{"listId": n}`.
    ListId,
    /// `{"campaignId": n}`.
    CampaignId,
    /// The envelope's `msg` names the template id (`… IDs: 123`).
    TemplateId,
    /// `failedUpdates` lists the users whose rows failed (bulk users, list
    /// members, bulk events).
    FailedUpdates,
    /// `{"success": [ids], "failed": [ids], "failureReason"}` (templates'
    /// bulk delete): rows by their id.
    SuccessFailedIds,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TargetDef {
    pub(crate) target: Target,
    /// Canonical object name (a stream name where one exists).
    pub(crate) object: &'static str,
    /// Canonical operation name.
    pub(crate) op: &'static str,
    pub(crate) mode: Mode,
    pub(crate) answer: Answer,
    /// Iterable accepts the write and applies it later (202 or documented
    /// as asynchronous): a read right after may not see it yet.
    pub(crate) applied_later: bool,
}

/// Catalog item bulk writes: at most 1000 documents of at most 30 KB each.
const CATALOG_BULK_ROWS: usize = 1000;
/// Bodies of bulk requests stay under Iterable's 4 MB request limit.
const MAX_BULK_BYTES: usize = 4_000_000;
/// List subscribe/unsubscribe: no documented cap; treated like bulkUpdate.
const LIST_BULK_ROWS: usize = 1000;
/// Template bulk delete: no documented cap; a modest batch keeps one
/// refusal from hiding many rows' fate.
const TEMPLATE_BULK_ROWS: usize = 100;

const fn bulk(endpoint: Endpoint, max_rows: usize, single: Option<Endpoint>) -> Mode {
    Mode::Bulk {
        endpoint,
        max_rows,
        max_bytes: MAX_BULK_BYTES,
        single,
    }
}

use Answer::*;
use Target::*;

/// Every writable pair. Procedures use the operation `call`.
pub(crate) const TARGETS: &[TargetDef] = &[
    def(
        CatalogItemsUpsert,
        "catalog_items",
        "upsert",
        bulk(
            ep::CATALOG_ITEMS_BULK_UPSERT,
            CATALOG_BULK_ROWS,
            Some(ep::CATALOG_ITEM_REPLACE),
        ),
        Envelope,
        true,
    ),
    def(
        CatalogItemsUpdate,
        "catalog_items",
        "update",
        bulk(
            ep::CATALOG_ITEMS_BULK_UPSERT,
            CATALOG_BULK_ROWS,
            Some(ep::CATALOG_ITEM_MERGE),
        ),
        Envelope,
        true,
    ),
    def(
        CatalogItemsDelete,
        "catalog_items",
        "delete",
        bulk(
            ep::CATALOG_ITEMS_BULK_DELETE,
            CATALOG_BULK_ROWS,
            Some(ep::CATALOG_ITEM_DELETE),
        ),
        Envelope,
        true,
    ),
    def(
        CatalogsInsert,
        "catalogs",
        "insert",
        Mode::Single(ep::CATALOG_CREATE),
        Envelope,
        false,
    ),
    def(
        CatalogsDelete,
        "catalogs",
        "delete",
        Mode::Single(ep::CATALOG_DELETE),
        Envelope,
        false,
    ),
    def(
        ListsInsert,
        "lists",
        "insert",
        Mode::Single(ep::LIST_CREATE),
        ListId,
        false,
    ),
    def(
        ListsDelete,
        "lists",
        "delete",
        Mode::Single(ep::LIST_DELETE),
        Envelope,
        false,
    ),
    def(
        ListUsersInsert,
        "list_users",
        "insert",
        bulk(ep::LIST_SUBSCRIBE, LIST_BULK_ROWS, None),
        FailedUpdates,
        true,
    ),
    def(
        ListUsersDelete,
        "list_users",
        "delete",
        bulk(ep::LIST_UNSUBSCRIBE, LIST_BULK_ROWS, None),
        FailedUpdates,
        true,
    ),
    def(
        TemplatesInsert,
        "templates",
        "insert",
        Mode::Single(ep::TEMPLATE_UPSERT),
        TemplateId,
        false,
    ),
    def(
        TemplatesUpdate,
        "templates",
        "update",
        Mode::Single(ep::TEMPLATE_UPDATE),
        Envelope,
        false,
    ),
    def(
        TemplatesDelete,
        "templates",
        "delete",
        bulk(ep::TEMPLATE_BULK_DELETE, TEMPLATE_BULK_ROWS, None),
        SuccessFailedIds,
        false,
    ),
    def(
        CampaignsInsert,
        "campaigns",
        "insert",
        Mode::Single(ep::CAMPAIGN_CREATE),
        CampaignId,
        false,
    ),
    def(
        EventsInsert,
        "events",
        "insert",
        bulk(ep::EVENT_TRACK_BULK, 1000, Some(ep::EVENT_TRACK)),
        FailedUpdates,
        true,
    ),
    def(
        InAppMessagesInsert,
        "in_app_messages",
        "insert",
        Mode::Single(ep::IN_APP_TARGET),
        Envelope,
        false,
    ),
    def(
        UsersUpsert,
        "users",
        "upsert",
        bulk(ep::USER_BULK_UPDATE, 1000, Some(ep::USER_UPDATE)),
        FailedUpdates,
        true,
    ),
    def(
        UsersDelete,
        "users",
        "delete",
        Mode::Single(ep::USER_DELETE),
        Envelope,
        true,
    ),
    def(
        UsersUpdateEmail,
        "users",
        "update_email",
        Mode::Single(ep::USER_UPDATE_EMAIL),
        Envelope,
        false,
    ),
    def(
        PurchasesInsert,
        "purchases",
        "insert",
        Mode::Single(ep::PURCHASE_TRACK),
        Envelope,
        true,
    ),
    def(
        SubscriptionsUpdate,
        "subscriptions",
        "update",
        Mode::Single(ep::USER_UPDATE_SUBSCRIPTIONS),
        Envelope,
        true,
    ),
    def(
        AbortCampaign,
        "AbortCampaign",
        "call",
        Mode::Single(ep::CAMPAIGN_ABORT),
        Envelope,
        false,
    ),
    def(
        TriggerCampaign,
        "TriggerCampaign",
        "call",
        Mode::Single(ep::CAMPAIGN_TRIGGER),
        Envelope,
        false,
    ),
    def(
        CancelCampaign,
        "CancelScheduledOrRecurringCampaign",
        "call",
        Mode::Single(ep::CAMPAIGN_CANCEL),
        Envelope,
        false,
    ),
];

const fn def(
    target: Target,
    object: &'static str,
    op: &'static str,
    mode: Mode,
    answer: Answer,
    applied_later: bool,
) -> TargetDef {
    TargetDef {
        target,
        object,
        op,
        mode,
        answer,
        applied_later,
    }
}

/// Other names users know objects by (Skyvia's object names among them).
const OBJECT_ALIASES: &[(&str, &str)] = &[
    ("catalogitems", "catalog_items"),
    ("catalogs", "catalogs"),
    ("lists", "lists"),
    ("listusers", "list_users"),
    ("listmembers", "list_users"),
    ("subscribers", "list_users"),
    ("templates", "templates"),
    ("campaigns", "campaigns"),
    ("events", "events"),
    ("inappmessages", "in_app_messages"),
    ("users", "users"),
    ("userprofile", "users"),
    ("purchases", "purchases"),
    ("subscriptions", "subscriptions"),
    ("abortcampaign", "AbortCampaign"),
    ("triggercampaign", "TriggerCampaign"),
    (
        "cancelscheduledorrecurringcampaign",
        "CancelScheduledOrRecurringCampaign",
    ),
];

/// Other operation names: SQL's and the reverse-ETL tools' words.
const OP_ALIASES: &[(&str, &str)] = &[
    ("insert", "insert"),
    ("create", "insert"),
    ("add", "insert"),
    ("subscribe", "insert"),
    ("track", "insert"),
    ("update", "update"),
    ("merge", "update"),
    ("upsert", "upsert"),
    ("replace", "upsert"),
    ("delete", "delete"),
    ("remove", "delete"),
    ("unsubscribe", "delete"),
    ("updateemail", "update_email"),
    ("call", "call"),
];

/// One writable object and operation, as shown to users (`write --list`,
/// the WIT `write-targets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// Canonical object (or procedure) name.
    pub object: &'static str,
    /// Canonical operation; `call` for procedures.
    pub op: &'static str,
    /// A stored procedure (one row of parameters per call).
    pub procedure: bool,
    /// Rows per request at most (1 for one-by-one endpoints).
    pub max_rows_per_request: usize,
    /// Iterable applies the write after answering.
    pub applied_later: bool,
}

/// Every writable object and operation, in table order.
pub fn targets() -> Vec<TargetInfo> {
    TARGETS
        .iter()
        .map(|d| TargetInfo {
            object: d.object,
            op: d.op,
            procedure: d.op == "call",
            max_rows_per_request: match d.mode {
                Mode::Single(_) => 1,
                Mode::Bulk { max_rows, .. } => max_rows,
            },
            applied_later: d.applied_later,
        })
        .collect()
}

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The canonical object name for `name` (case, `_` and `-` ignored).
pub(crate) fn object_name(name: &str) -> Option<&'static str> {
    let n = normalise(name);
    OBJECT_ALIASES
        .iter()
        .find(|(alias, _)| *alias == n)
        .map(|(_, canonical)| *canonical)
}

/// Resolves user-facing names to a table row, or says what exists. An
/// empty operation means the object's first one.
pub(crate) fn resolve(object: &str, op: &str) -> Result<&'static TargetDef> {
    let Some(canonical) = object_name(object) else {
        let known: Vec<&str> = unique(TARGETS.iter().map(|d| d.object));
        return Err(ConnectorError::input(
            "object",
            format!(
                "unknown object \"{object}\"; writable objects and procedures: {}",
                known.join(", ")
            ),
        ));
    };
    let ops: Vec<&'static TargetDef> = TARGETS.iter().filter(|d| d.object == canonical).collect();
    // No operation: the object's first (its usual write: upsert for users
    // and catalog items, insert for events...; `call` for a procedure).
    let op_name = if op.trim().is_empty() {
        ops.first().map(|d| d.op)
    } else {
        let n = normalise(op);
        OP_ALIASES
            .iter()
            .find(|(alias, _)| *alias == n)
            .map(|(_, canonical)| *canonical)
    };
    // Catalog items have no plain insert: Iterable's item PUT creates or
    // replaces, which is what an insert of a new id means.
    let op_name = match (canonical, op_name) {
        ("catalog_items", Some("insert")) => Some("upsert"),
        ("users", Some("insert" | "update")) => Some("upsert"),
        (_, other) => other,
    };
    op_name
        .and_then(|o| ops.iter().find(|d| d.op == o).copied())
        .ok_or_else(|| {
            let valid: Vec<&str> = ops.iter().map(|d| d.op).collect();
            ConnectorError::input(
                "op",
                format!(
                    "\"{op}\" is not an operation of {canonical}; use one of: {}",
                    valid.join(", ")
                ),
            )
        })
}

fn unique(names: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn skyvia_names_and_sql_words_resolve() {
        assert_eq!(
            resolve("CatalogItems", "INSERT").unwrap().target,
            CatalogItemsUpsert
        );
        assert_eq!(
            resolve("catalog_items", "update").unwrap().target,
            CatalogItemsUpdate
        );
        assert_eq!(
            resolve("InAppMessages", "insert").unwrap().target,
            InAppMessagesInsert
        );
        assert_eq!(
            resolve("list-users", "subscribe").unwrap().target,
            ListUsersInsert
        );
        assert_eq!(
            resolve("TriggerCampaign", "").unwrap().target,
            TriggerCampaign
        );
        assert_eq!(
            resolve("users", "update_email").unwrap().target,
            UsersUpdateEmail
        );
    }

    #[test]
    fn unknown_names_say_what_exists() {
        let e = resolve("channels", "insert").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert_eq!(e.field.as_deref(), Some("object"));
        assert!(e.message.contains("catalog_items"), "{}", e.message);
        let e = resolve("lists", "update").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("op"));
        assert!(e.message.contains("insert, delete"), "{}", e.message);
    }

    #[test]
    fn no_operation_means_the_objects_first() {
        let pick = |object: &str| {
            let d = resolve(object, "").expect("resolves");
            (d.object, d.op)
        };
        assert_eq!(pick("users"), ("users", "upsert"));
        assert_eq!(pick("CatalogItems"), ("catalog_items", "upsert"));
        assert_eq!(pick("events"), ("events", "insert"));
        assert_eq!(pick("TriggerCampaign"), ("TriggerCampaign", "call"));
        assert_eq!(resolve("users", "  ").expect("blank").op, "upsert");
    }

    #[test]
    fn every_row_is_reachable_and_unique() {
        for d in TARGETS {
            let found = resolve(d.object, d.op).unwrap();
            assert_eq!(found.target, d.target, "{} {}", d.object, d.op);
            let same = TARGETS
                .iter()
                .filter(|o| o.object == d.object && o.op == d.op)
                .count();
            assert_eq!(same, 1, "{} {}", d.object, d.op);
        }
    }
}
