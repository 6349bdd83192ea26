//! Rows in, request pieces out: each input row is checked before anything is
//! sent (required fields, types, sizes, Iterable's id rules) and turned into
//! what it contributes to a request. A bad row fails alone, naming the field
//! and the fix; the others go on.
//!
//! Rows use Iterable's own field names (`email`, `eventName`, `itemId`…).
//! Where a flat row is the natural input (events, users, catalog items), the
//! fields Iterable does not define at the top level go into `dataFields` (or
//! the item's `value`), so a warehouse table maps over without reshaping.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ConnectorError, Result};
use crate::exchange::endpoint as ep;
use crate::exchange::endpoint::Endpoint;
use crate::time;

use super::options::WriteOptions;
use super::target::Target;

/// Catalog item values and metadata values: at most 30 KB each.
const MAX_ITEM_BYTES: usize = 30 * 1024;
/// A single request body (and any one row of a bulk body).
const MAX_ROW_BYTES: usize = 4_000_000;
/// Iterable's limit on an event or purchase `id`.
const MAX_EVENT_ID_BYTES: usize = 512;

/// Which identifier a row names its user by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserRef {
    Email(String),
    UserId(String),
}

impl UserRef {
    fn field(&self) -> &'static str {
        match self {
            UserRef::Email(_) => "email",
            UserRef::UserId(_) => "userId",
        }
    }

    fn value(&self) -> &str {
        match self {
            UserRef::Email(v) | UserRef::UserId(v) => v,
        }
    }
}

/// One valid row, ready to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The input row's number.
    pub(crate) row: u64,
    /// Rows of different groups never share a request (one catalog, one list).
    pub(crate) group: String,
    /// What identifies the row's entity: rows with the same key never share
    /// a request, so a bulk answer can always be mapped back to one row.
    pub(crate) key: String,
    /// The user the row writes, for mapping `failedUpdates` back.
    pub(crate) user: Option<UserRef>,
    /// For events: the name, for mapping `disallowedEventNames` back.
    pub(crate) event_name: Option<String>,
    /// Path segments of a one-row request.
    pub(crate) segments: Vec<String>,
    /// A different endpoint than the table's, for this row (deletes by userId).
    pub(crate) endpoint: Option<Endpoint>,
    /// The row's part of the body: a bulk item, or a whole one-row body.
    pub(crate) item: Value,
    /// The id this row writes under where it is ours to give (events, purchases).
    pub(crate) id: Option<String>,
    /// Serialised size of `item`.
    pub(crate) bytes: usize,
}

impl Prepared {
    fn new(row: u64, item: Value) -> Prepared {
        Prepared {
            row,
            group: String::new(),
            key: String::new(),
            user: None,
            event_name: None,
            segments: Vec::new(),
            endpoint: None,
            item,
            id: None,
            bytes: 0,
        }
    }
}

/// Stands in for a row that cannot be prepared, where only its number matters.
pub(crate) fn placeholder(row: u64) -> Prepared {
    let mut p = Prepared::new(row, Value::Null);
    p.key = format!("row {row}");
    p
}

/// Checks `value` (input row `row`) for `target` and prepares it.
pub(crate) fn prepare(
    target: Target,
    row: u64,
    value: Value,
    options: &WriteOptions,
) -> Result<Prepared> {
    let Value::Object(fields) = value else {
        return Err(ConnectorError::input(
            "row",
            format!(
                "row {row} is {}, not a JSON object; give one object per row",
                kind_of(&value)
            ),
        ));
    };
    let mut r = Row { fields };
    let mut p = match target {
        Target::CatalogItemsUpsert | Target::CatalogItemsUpdate => {
            catalog_item(&mut r, row, options, true)?
        }
        Target::CatalogItemsDelete => catalog_item(&mut r, row, options, false)?,
        Target::CatalogsInsert | Target::CatalogsDelete => {
            let name = r.string(&["catalogName", "name"])?;
            check_name("catalogName", &name)?;
            keyed(row, Value::Null, &name, vec![name.clone()])
        }
        Target::ListsInsert => {
            let name = r.string(&["name"])?;
            r.opt_string(&["description"])?;
            keyed(
                row,
                Value::Object(r.pick(&["name", "description"])),
                &name,
                vec![],
            )
        }
        Target::ListsDelete => {
            let id = r.int(&["listId", "id"])?.to_string();
            keyed(row, Value::Null, &id, vec![id.clone()])
        }
        Target::ListUsersInsert | Target::ListUsersDelete => {
            let list_id = match r.opt_int(&["listId"])? {
                Some(id) => id,
                None => options.list_id.ok_or_else(|| {
                    ConnectorError::input(
                        "listId",
                        "is required: give it in each row or as the `list_id` option",
                    )
                })?,
            };
            let user = r.user(&["email"], &["userId"])?;
            let mut item = Map::new();
            item.insert(user.field().into(), json!(user.value()));
            if target == Target::ListUsersInsert {
                r.opt_bool(&["preferUserId"])?;
                r.opt_bool(&["mergeNestedObjects"])?;
                item.extend(r.pick(&["preferUserId", "mergeNestedObjects"]));
                let data = r.data_fields(&[
                    "listId",
                    "email",
                    "userId",
                    "preferUserId",
                    "mergeNestedObjects",
                ])?;
                if !data.is_empty() {
                    item.insert("dataFields".into(), Value::Object(data));
                }
            }
            let mut p = for_user(row, Value::Object(item), user);
            p.group = list_id.to_string();
            p
        }
        Target::TemplatesInsert | Target::TemplatesUpdate => {
            let medium = template_medium(&mut r, options)?;
            let key = if target == Target::TemplatesInsert {
                format!("client:{}", r.string(&["clientTemplateId"])?)
            } else {
                format!("id:{}", r.int(&["templateId"])?)
            };
            r.opt_int(&["messageTypeId"])?;
            let mut p = keyed(row, Value::Object(r.fields), &key, vec![medium.to_string()]);
            p.group = medium.to_string();
            p
        }
        Target::TemplatesDelete => {
            let id = r.int(&["templateId", "id"])?.to_string();
            keyed(row, Value::Null, &id, vec![])
        }
        Target::CampaignsInsert => {
            let name = r.string(&["name"])?;
            r.int(&["templateId"])?;
            r.int_list(&["listIds"], true)?;
            r.opt_int_list(&["suppressionListIds"])?;
            r.opt_object(&["dataFields"])?;
            if let Some(at) = r.fields.get("sendAt").cloned() {
                r.set("sendAt", json!(send_at("sendAt", &at)?));
            }
            keyed(row, Value::Object(r.fields), &name, vec![])
        }
        Target::EventsInsert => event(&mut r, row)?,
        Target::InAppMessagesInsert => {
            r.int(&["campaignId"])?;
            let user = r.user(&["recipientEmail", "email"], &["recipientUserId", "userId"])?;
            r.opt_object(&["dataFields"])?;
            r.opt_bool(&["allowRepeatMarketingSends"])?;
            if let Some(at) = r.fields.get("sendAt").cloned() {
                r.set("sendAt", json!(send_at("sendAt", &at)?));
            }
            // One recipient field only: the email wins when both are given.
            match user {
                UserRef::Email(_) => r.fields.remove("recipientUserId"),
                UserRef::UserId(_) => r.fields.remove("recipientEmail"),
            };
            for_user(row, Value::Object(r.fields), user)
        }
        Target::UsersUpsert => {
            let user = r.user(&["email"], &["userId"])?;
            r.opt_bool(&["preferUserId"])?;
            r.opt_bool(&["mergeNestedObjects"])?;
            if let (None, Some(m)) = (
                r.fields.get("mergeNestedObjects"),
                options.merge_nested_objects,
            ) {
                r.set("mergeNestedObjects", json!(m));
            }
            const KNOWN: &[&str] = &["email", "userId", "preferUserId", "mergeNestedObjects"];
            let mut item = r.pick(KNOWN);
            let data = r.data_fields(KNOWN)?;
            item.insert("dataFields".into(), Value::Object(data));
            for_user(row, Value::Object(item), user)
        }
        Target::UsersDelete => {
            let user = r.user(&["email"], &["userId"])?;
            let mut p = for_user(row, Value::Null, user.clone());
            p.segments = vec![user.value().to_string()];
            if let UserRef::UserId(_) = user {
                p.endpoint = Some(ep::USER_DELETE_BY_USER_ID);
            }
            p
        }
        Target::UsersUpdateEmail => {
            let user = r.user(&["currentEmail", "email"], &["currentUserId", "userId"])?;
            let new_email = r.string(&["newEmail"])?;
            check_email("newEmail", &new_email)?;
            let field = match user {
                UserRef::Email(_) => "currentEmail",
                UserRef::UserId(_) => "currentUserId",
            };
            let body = json!({field: user.value(), "newEmail": new_email});
            for_user(row, body, user)
        }
        Target::PurchasesInsert => purchase(&mut r, row)?,
        Target::SubscriptionsUpdate => {
            let user = r.user(&["email"], &["userId"])?;
            for list in [
                "emailListIds",
                "unsubscribedChannelIds",
                "unsubscribedMessageTypeIds",
                "subscribedMessageTypeIds",
            ] {
                r.opt_int_list(&[list])?;
            }
            r.opt_int(&["campaignId"])?;
            r.opt_int(&["templateId"])?;
            match user {
                UserRef::Email(_) => r.fields.remove("userId"),
                UserRef::UserId(_) => r.fields.remove("email"),
            };
            for_user(row, Value::Object(r.fields), user)
        }
        Target::AbortCampaign | Target::CancelCampaign => {
            let id = r.int(&["campaignId", "id"])?;
            keyed(row, json!({"campaignId": id}), &id.to_string(), vec![])
        }
        Target::TriggerCampaign => {
            let id = r.int(&["campaignId", "id"])?;
            r.int_list(&["listIds"], false)?;
            r.opt_int_list(&["suppressionListIds"])?;
            r.opt_object(&["dataFields"])?;
            r.opt_bool(&["allowRepeatMarketingSends"])?;
            keyed(row, Value::Object(r.fields), &id.to_string(), vec![])
        }
    };
    p.bytes = serde_json::to_vec(&p.item).map(|v| v.len()).unwrap_or(0);
    if p.bytes > MAX_ROW_BYTES {
        return Err(ConnectorError::input(
            "row",
            format!(
                "row {row} is {} bytes, over Iterable's 4 MB request limit; split it",
                p.bytes
            ),
        ));
    }
    Ok(p)
}

fn keyed(row: u64, item: Value, key: &str, segments: Vec<String>) -> Prepared {
    let mut p = Prepared::new(row, item);
    p.key = key.to_string();
    p.segments = segments;
    p
}

fn for_user(row: u64, item: Value, user: UserRef) -> Prepared {
    let mut p = Prepared::new(row, item);
    p.key = format!("{}:{}", user.field(), user.value());
    p.user = Some(user);
    p
}

fn catalog_item(
    r: &mut Row,
    row: u64,
    options: &WriteOptions,
    with_value: bool,
) -> Result<Prepared> {
    let catalog = match r.opt_string(&["catalogName"])? {
        Some(c) => c,
        None => options.catalog.clone().ok_or_else(|| {
            ConnectorError::input(
                "catalogName",
                "is required: give it in each row or as the `catalog` option",
            )
        })?,
    };
    check_name("catalogName", &catalog)?;
    let id = r.string(&["itemId", "id"])?;
    check_name("itemId", &id)?;
    let item = if with_value {
        // Rows from our own read path carry bookkeeping that is not the value.
        for meta in ["catalogName", "itemId", "lastModified", "size", "_key"] {
            r.fields.remove(meta);
        }
        let value = match r.fields.remove("value") {
            Some(Value::Object(v)) => v,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(v)) => v,
                _ => {
                    return Err(ConnectorError::input(
                        "value",
                        "must be a JSON object (or its JSON text)",
                    ));
                }
            },
            Some(other) => {
                return Err(ConnectorError::input(
                    "value",
                    format!("must be a JSON object, not {}", kind_of(&other)),
                ));
            }
            None => std::mem::take(&mut r.fields),
        };
        check_catalog_fields(&value, "value")?;
        let v = Value::Object(value);
        let size = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0);
        if size > MAX_ITEM_BYTES {
            return Err(ConnectorError::input(
                "value",
                format!("item {id} is {size} bytes; Iterable's limit is 30 KB per item"),
            ));
        }
        v
    } else {
        Value::Null
    };
    let mut p = keyed(row, item, &id, vec![catalog.clone(), id.clone()]);
    p.group = catalog;
    Ok(p)
}

fn event(r: &mut Row, row: u64) -> Result<Prepared> {
    let name = r.string(&["eventName"])?;
    let user = r.user(&["email"], &["userId"])?;
    if let Some(at) = r.fields.get("createdAt").cloned() {
        r.set("createdAt", json!(epoch_secs("createdAt", &at)?));
    }
    r.opt_int(&["campaignId"])?;
    r.opt_int(&["templateId"])?;
    r.opt_bool(&["createNewFields"])?;
    r.opt_string(&["id"])?;
    const KNOWN: &[&str] = &[
        "eventName",
        "email",
        "userId",
        "createdAt",
        "campaignId",
        "templateId",
        "createNewFields",
        "id",
    ];
    let mut item = r.pick(KNOWN);
    let data = r.data_fields(KNOWN)?;
    item.insert("dataFields".into(), Value::Object(data));
    let id = match item.get("id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => derived_id("ev", &Value::Object(item.clone())),
    };
    check_event_id(&id)?;
    item.insert("id".into(), json!(id));
    let mut p = for_user(row, Value::Object(item), user);
    p.event_name = Some(name);
    p.id = Some(id);
    Ok(p)
}

fn purchase(r: &mut Row, row: u64) -> Result<Prepared> {
    let user = match r.fields.remove("user") {
        Some(Value::Object(u)) => Row { fields: u }.user(&["email"], &["userId"])?,
        Some(other) => {
            return Err(ConnectorError::input(
                "user",
                format!(
                    "must be an object with email or userId, not {}",
                    kind_of(&other)
                ),
            ));
        }
        None => r.user(&["email"], &["userId"])?,
    };
    let items = match r.fields.remove("items") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Array(items)) if !items.is_empty() => items,
            _ => {
                return Err(ConnectorError::input(
                    "items",
                    "must be a non-empty JSON array",
                ));
            }
        },
        _ => {
            return Err(ConnectorError::input(
                "items",
                "is required: a non-empty list of {id, name, price, quantity}",
            ));
        }
    };
    let mut total = 0.0;
    let mut checked = Vec::with_capacity(items.len());
    for (i, it) in items.into_iter().enumerate() {
        let Value::Object(fields) = it else {
            return Err(ConnectorError::input(
                format!("items[{i}]"),
                "must be an object",
            ));
        };
        let mut it = Row { fields };
        let price = number(&mut it, "price").map_err(|e| prefix(e, i))?;
        let quantity = number(&mut it, "quantity").map_err(|e| prefix(e, i))?;
        it.string(&["id"]).map_err(|e| prefix(e, i))?;
        it.string(&["name"]).map_err(|e| prefix(e, i))?;
        total += price * quantity;
        checked.push(Value::Object(it.fields));
    }
    if let Some(v) = r.fields.get("total") {
        let t = v
            .as_f64()
            .ok_or_else(|| ConnectorError::input("total", "must be a number"))?;
        r.set("total", json!(t));
    } else {
        r.set("total", json!(total));
    }
    if let Some(at) = r.fields.get("createdAt").cloned() {
        r.set("createdAt", json!(epoch_secs("createdAt", &at)?));
    }
    r.opt_int(&["campaignId"])?;
    r.opt_int(&["templateId"])?;
    r.opt_string(&["id"])?;
    r.fields.remove("email");
    r.fields.remove("userId");
    const KNOWN: &[&str] = &["total", "createdAt", "campaignId", "templateId", "id"];
    let mut body = r.pick(KNOWN);
    body.insert("user".into(), json!({user.field(): user.value()}));
    body.insert("items".into(), Value::Array(checked));
    let data = r.data_fields(KNOWN)?;
    if !data.is_empty() {
        body.insert("dataFields".into(), Value::Object(data));
    }
    let id = match body.get("id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => derived_id("pu", &Value::Object(body.clone())),
    };
    check_event_id(&id)?;
    body.insert("id".into(), json!(id));
    let mut p = for_user(row, Value::Object(body), user);
    p.id = Some(id);
    Ok(p)
}

fn number(r: &mut Row, name: &str) -> Result<f64> {
    let v = r.canon(&[name]).ok_or_else(|| missing(&[name]))?;
    let n = v
        .as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| {
            ConnectorError::input(name, format!("must be a number, not {}", kind_of(&v)))
        })?;
    r.set(name, json!(n));
    Ok(n)
}

fn prefix(mut e: ConnectorError, i: usize) -> ConnectorError {
    if let Some(f) = &e.field {
        let field = format!("items[{i}].{f}");
        e.message = e.message.replacen(f.as_str(), &field, 1);
        e.field = Some(field);
    }
    e
}

/// An id derived from the row's content: sending the same row again (a
/// retry, a resumed load) writes the same event instead of a second one.
fn derived_id(prefix: &str, content: &Value) -> String {
    // serde_json's map is ordered by key, so the text is canonical.
    let text = content.to_string();
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("ic-{prefix}-{hex}")
}

fn template_medium(r: &mut Row, options: &WriteOptions) -> Result<&'static str> {
    let given = r.opt_string(&["messageMedium", "medium"])?;
    // The medium is the path, not a body field.
    r.fields.remove("messageMedium");
    let given = match given {
        Some(m) => m,
        None => options.medium.clone().ok_or_else(|| {
            ConnectorError::input(
                "messageMedium",
                "is required: Email, Push, SMS or InApp, in each row or as the `medium` option",
            )
        })?,
    };
    crate::exchange::endpoint::template_medium_path(&given).ok_or_else(|| {
        ConnectorError::input(
            "messageMedium",
            format!("\"{given}\" is not a template medium; use Email, Push, SMS or InApp"),
        )
    })
}

/// Catalog names and item ids: letters, digits and dashes, at most 255.
fn check_name(field: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 255 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ConnectorError::input(
            field,
            format!("\"{v}\" is not valid: use 1-255 letters, digits and dashes"),
        ));
    }
    Ok(())
}

fn check_catalog_fields(value: &Map<String, Value>, path: &str) -> Result<()> {
    for (k, v) in value {
        if k.contains('.') {
            return Err(ConnectorError::input(
                format!("{path}.{k}"),
                "catalog field names cannot contain a period; rename the field or nest it",
            ));
        }
        if let Value::Object(inner) = v {
            check_catalog_fields(inner, &format!("{path}.{k}"))?;
        }
    }
    Ok(())
}

fn check_email(field: &str, v: &str) -> Result<()> {
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !v.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        return Err(ConnectorError::input(
            field,
            format!("\"{v}\" is not an email address"),
        ));
    }
    Ok(())
}

fn check_event_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_EVENT_ID_BYTES {
        return Err(ConnectorError::input(
            "id",
            "must be 1-512 bytes (leave it out and one is derived from the row)",
        ));
    }
    Ok(())
}

fn check_int(field: &str, v: &Value) -> Result<i64> {
    as_int(v).ok_or_else(|| {
        ConnectorError::input(field, format!("must be an integer, not {}", kind_of(v)))
    })
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A time as Iterable's epoch seconds: from seconds, milliseconds or text.
fn epoch_secs(field: &str, v: &Value) -> Result<i64> {
    let parsed = match v {
        Value::Number(_) => as_int(v).map(|n| if n > 100_000_000_000 { n / 1000 } else { n }),
        Value::String(_) => time::parse_wire_timestamp(v).map(|t| time::to_epoch_ms(&t) / 1000),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ConnectorError::input(
            field,
            format!(
                "{} is not a time: give epoch seconds or an ISO 8601 text",
                v
            ),
        )
    })
}

/// Campaign and in-app `sendAt`: Iterable wants `YYYY-MM-DD HH:MM:SS` (UTC).
fn send_at(field: &str, v: &Value) -> Result<String> {
    let t = match v {
        Value::String(_) | Value::Number(_) => time::parse_wire_timestamp(v),
        _ => None,
    };
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .ok_or_else(|| {
            ConnectorError::input(
                field,
                format!("{v} is not a time: give YYYY-MM-DD HH:MM:SS (UTC) or ISO 8601"),
            )
        })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An input row being checked. Accessors validate a field in place: the
/// value moves under its canonical name (the first of `names`, aliases
/// dropped) with its type normalised, so a pass-through body is the row.
struct Row {
    fields: Map<String, Value>,
}

impl Row {
    /// The first present, non-null field of `names`, now under `names[0]`.
    fn canon(&mut self, names: &[&str]) -> Option<Value> {
        let mut found = None;
        for n in names {
            if let Some(v) = self.fields.remove(*n)
                && !v.is_null()
                && found.is_none()
            {
                found = Some(v);
            }
        }
        if let Some(v) = &found {
            self.fields.insert(names[0].to_string(), v.clone());
        }
        found
    }

    fn set(&mut self, name: &str, v: Value) {
        self.fields.insert(name.to_string(), v);
    }

    fn string(&mut self, names: &[&str]) -> Result<String> {
        self.opt_string(names)?.ok_or_else(|| missing(names))
    }

    fn opt_string(&mut self, names: &[&str]) -> Result<Option<String>> {
        let s = match self.canon(names) {
            None => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(ConnectorError::input(
                    names[0],
                    "is empty; give a value or leave the field out",
                ));
            }
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(ConnectorError::input(
                    names[0],
                    format!("must be a string, not {}", kind_of(&other)),
                ));
            }
        };
        self.set(names[0], json!(s));
        Ok(Some(s))
    }

    fn int(&mut self, names: &[&str]) -> Result<i64> {
        self.opt_int(names)?.ok_or_else(|| missing(names))
    }

    fn opt_int(&mut self, names: &[&str]) -> Result<Option<i64>> {
        match self.canon(names) {
            None => Ok(None),
            Some(v) => {
                let n = check_int(names[0], &v)?;
                self.set(names[0], json!(n));
                Ok(Some(n))
            }
        }
    }

    fn opt_bool(&mut self, names: &[&str]) -> Result<Option<bool>> {
        let b = match self.canon(names) {
            None => return Ok(None),
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(other) => {
                return Err(ConnectorError::input(
                    names[0],
                    format!("must be true or false, not {}", kind_of(&other)),
                ));
            }
        };
        self.set(names[0], json!(b));
        Ok(Some(b))
    }

    fn opt_object(&mut self, names: &[&str]) -> Result<Option<Map<String, Value>>> {
        let o = match self.canon(names) {
            None => return Ok(None),
            Some(Value::Object(o)) => o,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(o)) => o,
                _ => return Err(ConnectorError::input(names[0], "must be a JSON object")),
            },
            Some(other) => {
                return Err(ConnectorError::input(
                    names[0],
                    format!("must be a JSON object, not {}", kind_of(&other)),
                ));
            }
        };
        self.set(names[0], Value::Object(o.clone()));
        Ok(Some(o))
    }

    /// A list of integer ids (also from JSON text or `"1,2,3"`).
    fn int_list(&mut self, names: &[&str], allow_empty: bool) -> Result<Vec<i64>> {
        let list = self.opt_int_list(names)?.ok_or_else(|| missing(names))?;
        if list.is_empty() && !allow_empty {
            return Err(ConnectorError::input(names[0], "must list at least one id"));
        }
        Ok(list)
    }

    fn opt_int_list(&mut self, names: &[&str]) -> Result<Option<Vec<i64>>> {
        let Some(v) = self.canon(names) else {
            return Ok(None);
        };
        let items: Vec<Value> = match v {
            Value::Array(items) => items,
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Array(items)) => items,
                _ => s
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| json!(p.trim()))
                    .collect(),
            },
            Value::Number(_) => vec![v],
            other => {
                return Err(ConnectorError::input(
                    names[0],
                    format!("must be a list of integer ids, not {}", kind_of(&other)),
                ));
            }
        };
        let ids = items
            .iter()
            .map(|i| check_int(names[0], i))
            .collect::<Result<Vec<i64>>>()?;
        self.set(names[0], json!(ids));
        Ok(Some(ids))
    }

    /// The row's user: an email or a userId (the email wins when both are
    /// given; both stay in the row under `email_name` / `id_name`).
    fn user(&mut self, email: &[&str], user_id: &[&str]) -> Result<UserRef> {
        let e = self.opt_string(email)?;
        let u = self.opt_string(user_id)?;
        if let Some(e) = &e {
            check_email(email[0], e)?;
        }
        match (e, u) {
            (Some(e), _) => Ok(UserRef::Email(e)),
            (None, Some(u)) => Ok(UserRef::UserId(u)),
            (None, None) => Err(ConnectorError::input(
                email[0],
                format!("is required: give {} or {}", email[0], user_id[0]),
            )),
        }
    }

    /// `dataFields` merged with every field not in `known`; `known` fields stay.
    fn data_fields(&mut self, known: &[&str]) -> Result<Map<String, Value>> {
        let mut data = match self.fields.remove("dataFields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(o)) => o,
                _ => return Err(ConnectorError::input("dataFields", "must be a JSON object")),
            },
            Some(other) => {
                return Err(ConnectorError::input(
                    "dataFields",
                    format!("must be a JSON object, not {}", kind_of(&other)),
                ));
            }
        };
        // Bookkeeping of rows that came from our own read path.
        self.fields.remove("_key");
        let extra: Vec<String> = self
            .fields
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in extra {
            if let Some(v) = self.fields.remove(&k) {
                data.entry(k).or_insert(v);
            }
        }
        Ok(data)
    }

    /// The named fields that are present, in order, as a new map.
    fn pick(&self, names: &[&str]) -> Map<String, Value> {
        names
            .iter()
            .filter_map(|n| self.fields.get(*n).map(|v| (n.to_string(), v.clone())))
            .collect()
    }
}

fn missing(names: &[&str]) -> ConnectorError {
    let also = if names.len() > 1 {
        format!(" (or {})", names[1..].join(", "))
    } else {
        String::new()
    };
    ConnectorError::input(names[0], format!("is required{also}; add it to the row"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A prepared row with nothing in it, for other modules' tests.
    pub(crate) fn blank(row: u64) -> Prepared {
        Prepared::new(row, Value::Null)
    }

    fn ok(target: Target, row: Value) -> Prepared {
        prepare(
            target,
            0,
            row,
            &WriteOptions::from_json(&Value::Null).unwrap(),
        )
        .unwrap()
    }

    fn err(target: Target, row: Value) -> ConnectorError {
        let e = prepare(
            target,
            0,
            row,
            &WriteOptions::from_json(&Value::Null).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{e}");
        e
    }

    #[test]
    fn events_need_a_name_and_a_user_and_get_a_stable_id() {
        let e = err(Target::EventsInsert, json!({"email": "a@x.io"}));
        assert_eq!(e.field.as_deref(), Some("eventName"));
        let e = err(Target::EventsInsert, json!({"eventName": "x"}));
        assert_eq!(e.field.as_deref(), Some("email"));
        assert!(e.message.contains("userId"), "{}", e.message);
        let e = err(
            Target::EventsInsert,
            json!({"eventName": "x", "email": "nope"}),
        );
        assert!(e.message.contains("not an email"), "{}", e.message);
        let row = json!({"eventName": "viewed", "email": "a@x.io", "sku": "A-1",
                         "createdAt": "2024-03-05T14:22:01Z"});
        let a = ok(Target::EventsInsert, row.clone());
        let b = ok(Target::EventsInsert, row);
        assert_eq!(a.id, b.id, "the same row gets the same id");
        assert_eq!(a.item["dataFields"], json!({"sku": "A-1"}));
        assert_eq!(a.item["createdAt"], json!(1_709_648_521));
        let given = ok(
            Target::EventsInsert,
            json!({"eventName": "v", "userId": "u1", "id": "e-9"}),
        );
        assert_eq!(given.id.as_deref(), Some("e-9"));
        assert_eq!(given.key, "userId:u1");
    }

    #[test]
    fn catalog_items_check_ids_sizes_and_field_names() {
        let opts = WriteOptions::from_json(&json!({"catalog": "shoes"})).unwrap();
        let p = prepare(
            Target::CatalogItemsUpsert,
            3,
            json!({"itemId": "sku-1", "price": 9}),
            &opts,
        )
        .unwrap();
        assert_eq!((p.group.as_str(), p.key.as_str()), ("shoes", "sku-1"));
        assert_eq!(p.item, json!({"price": 9}));
        let e = prepare(
            Target::CatalogItemsUpsert,
            0,
            json!({"itemId": "a b"}),
            &opts,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("itemId"));
        let e = prepare(
            Target::CatalogItemsUpsert,
            0,
            json!({"itemId": "a", "value": {"x.y": 1}}),
            &opts,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("value.x.y"));
        let big = "x".repeat(31 * 1024);
        let e = prepare(
            Target::CatalogItemsUpsert,
            0,
            json!({"itemId": "a", "blob": big}),
            &opts,
        )
        .unwrap_err();
        assert!(e.message.contains("30 KB"), "{}", e.message);
        let e = err(Target::CatalogItemsDelete, json!({"itemId": "a"}));
        assert_eq!(e.field.as_deref(), Some("catalogName"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = err(Target::ListsDelete, json!({"listId": "abc"}));
        assert_eq!(e.field.as_deref(), Some("listId"));
        let e = err(
            Target::CampaignsInsert,
            json!({"name": "n", "templateId": 1, "listIds": [1, "x"]}),
        );
        assert_eq!(e.field.as_deref(), Some("listIds"));
        let e = err(
            Target::TriggerCampaign,
            json!({"campaignId": 5, "listIds": []}),
        );
        assert!(e.message.contains("at least one"), "{}", e.message);
        let e = err(Target::UsersUpsert, json!({"userId": 5, "dataFields": [1]}));
        assert_eq!(e.field.as_deref(), Some("dataFields"));
        let e = prepare(
            Target::EventsInsert,
            7,
            json!([1]),
            &WriteOptions::default(),
        )
        .unwrap_err();
        assert!(e.message.contains("row 7"), "{}", e.message);
    }

    #[test]
    fn users_fold_flat_fields_into_data_fields() {
        let p = ok(
            Target::UsersUpsert,
            json!({"email": "a@x.io", "firstName": "A", "userId": "u"}),
        );
        assert_eq!(
            p.item,
            json!({"email": "a@x.io", "userId": "u", "dataFields": {"firstName": "A"}})
        );
        let d = ok(Target::UsersDelete, json!({"userId": "u 1"}));
        assert_eq!(d.segments, ["u 1"]);
        assert!(d.endpoint.is_some());
    }

    #[test]
    fn purchases_total_their_items() {
        let p = ok(
            Target::PurchasesInsert,
            json!({"email": "a@x.io",
            "items": [{"id": "A", "name": "Runner", "price": 20, "quantity": 2}]}),
        );
        assert_eq!(p.item["total"], json!(40.0));
        assert_eq!(p.item["user"], json!({"email": "a@x.io"}));
        assert!(p.id.as_deref().is_some_and(|i| i.starts_with("ic-pu-")));
        let e = err(
            Target::PurchasesInsert,
            json!({"email": "a@x.io", "items": [{"id": "A", "name": "R", "price": "x", "quantity": 1}]}),
        );
        assert_eq!(e.field.as_deref(), Some("items[0].price"));
    }
}
