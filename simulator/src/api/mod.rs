//! Iterable's REST endpoints over a [`World`]: routing plus one module per family.
//!
//! Requests arrive authenticated and validated against the OpenAPI spec by the
//! server layer; handlers still check what they rely on and answer 400
//! `BadParams` rather than panic.

mod campaigns;
mod catalogs;
mod export;
mod lists;
mod misc;
mod templates;
mod users;

use serde_json::{Value, json};

use crate::types::{ApiRequest, ApiResponse};
use crate::world::World;

pub use export::{DataType, ExportRequest, count_rows, export_rows};
pub(crate) use lists::member_stream;

/// Routes one request to its handler.
pub fn handle(world: &World, req: &ApiRequest) -> ApiResponse {
    // Asynchronous writes whose delay has passed land before anything reads.
    world.settle(req.now.timestamp_millis());
    if let Some(rest) = req.path.strip_prefix(crate::types::ADMIN_PREFIX) {
        return admin(world, req, rest);
    }
    if let Some(rest) = req.path.strip_prefix(crate::types::DOWNLOAD_PREFIX) {
        return export::download(world, req, rest);
    }
    let Some(rest) = req.path.strip_prefix("/api/") else {
        return not_found("Unknown path");
    };
    let seg: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let m = req.method.to_ascii_uppercase();
    match (m.as_str(), s.as_slice()) {
        // Campaigns
        ("GET", ["campaigns"]) => campaigns::list(world, req),
        ("GET", ["campaigns", "metrics"]) => campaigns::metrics(world, req),
        ("GET", ["campaigns", "recurring", id, "childCampaigns"]) => {
            campaigns::children(world, req, id)
        }
        ("GET", ["campaigns", id]) => campaigns::get(world, id),
        ("POST", ["campaigns", "create"]) => campaigns::create(world, req),
        ("POST", ["campaigns", "abort"]) => campaigns::abort(world, req),
        ("POST", ["campaigns", "cancel"]) => campaigns::cancel(world, req),
        ("POST", ["campaigns", "trigger"]) => campaigns::trigger(world, req),
        ("GET", ["experiments", "metrics"]) => campaigns::experiments(world, req),
        // Simple lists of entities
        ("GET", ["channels"]) => misc::channels(world),
        ("GET", ["messageTypes"]) => misc::message_types(world),
        ("GET", ["journeys"]) => misc::journeys(world, req),
        ("GET", ["snippets"]) => misc::snippets(world),
        ("GET", ["snippets", id]) => misc::snippet(world, id),
        ("GET", ["webhooks"]) => misc::webhooks(world),
        ("GET", ["metadata"]) => misc::metadata_tables(world),
        ("GET", ["metadata", table]) => misc::metadata_keys(world, req, table),
        ("GET", ["metadata", table, key]) => misc::metadata_value(world, table, key),
        // Lists
        ("GET", ["lists"]) => lists::list(world),
        ("POST", ["lists"]) => lists::create(world, req),
        ("GET", ["lists", "getUsers"]) => lists::get_users(world, req, None),
        ("GET", ["lists", "previewUsers"]) => {
            let size = req
                .param("size")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(1000)
                .min(5000);
            lists::get_users(world, req, Some(size))
        }
        ("GET", ["lists", id, "size"]) => lists::size(world, id),
        ("DELETE", ["lists", id]) => lists::delete(world, id),
        ("POST", ["lists", "subscribe"]) => lists::subscribe(world, req, true),
        ("POST", ["lists", "unsubscribe"]) => lists::subscribe(world, req, false),
        ("PUT", ["subscriptions", group, id]) => lists::subscription_bulk(world, req, group, id),
        ("PATCH", ["subscriptions", group, id, "user", email]) => {
            lists::subscription_one(world, req, group, id, Some(email), None, true)
        }
        ("DELETE", ["subscriptions", group, id, "user", email]) => {
            lists::subscription_one(world, req, group, id, Some(email), None, false)
        }
        ("PATCH", ["subscriptions", group, id, "byUserId", uid]) => {
            lists::subscription_one(world, req, group, id, None, Some(uid), true)
        }
        ("DELETE", ["subscriptions", group, id, "byUserId", uid]) => {
            lists::subscription_one(world, req, group, id, None, Some(uid), false)
        }
        // Templates
        ("GET", ["templates"]) => templates::list(world, req),
        ("GET", ["templates", "getByClientTemplateId"]) => templates::by_client_id(world, req),
        ("GET", ["templates", kind, "get"]) => templates::get(world, req, kind),
        ("POST", ["templates", "bulkDelete"]) => templates::bulk_delete(world, req),
        ("POST", ["templates", kind, "upsert"]) => templates::upsert(world, req, kind),
        ("POST", ["templates", kind, "update"]) => templates::update(world, req, kind),
        // Export
        ("GET", ["export", "data.json"]) => export::sync(world, req, false),
        ("GET", ["export", "data.csv"]) => export::sync(world, req, true),
        ("GET", ["export", "userEvents"]) => export::user_events(world, req),
        ("POST", ["export", "start"]) => export::start(world, req),
        ("GET", ["export", "jobs"]) => export::jobs(world, req),
        ("GET", ["export", id, "files"]) => export::files(world, req, id),
        ("DELETE", ["export", id]) => export::cancel(world, id),
        // Users and events
        ("GET", ["users", "getFields"]) => users::get_fields(),
        ("GET", ["users", "getSentMessages"]) => users::sent_messages(world, req),
        ("GET", ["users", "getByEmail"]) => {
            users::get_by_email(world, req.param("email").unwrap_or(""))
        }
        ("GET", ["users", "byUserId"]) => {
            users::get_by_user_id(world, req.param("userId").unwrap_or(""))
        }
        ("GET", ["users", "byUserId", id]) => users::get_by_user_id(world, id),
        ("DELETE", ["users", "byUserId", id]) => users::delete_by_user_id(world, id),
        ("POST", ["users", "update"]) => users::update(world, req),
        ("POST", ["users", "bulkUpdate"]) => users::bulk_update(world, req),
        ("POST", ["users", "forget"]) => users::forget(world, req),
        ("POST", ["users", "updateEmail"]) => users::update_email(world, req),
        ("POST", ["users", "updateSubscriptions"]) => users::update_subscriptions(world, req),
        ("GET", ["users", email]) => users::get_by_email(world, email),
        ("DELETE", ["users", email]) => users::delete(world, email),
        ("GET", ["events", "byUserId", id]) => users::events(world, req, None, Some(id)),
        ("GET", ["events", email]) => users::events(world, req, Some(email), None),
        ("POST", ["events", "track"]) => users::track(world, req),
        ("POST", ["events", "trackBulk"]) => users::track_bulk(world, req),
        ("POST", ["commerce", "trackPurchase"]) => users::track_purchase(world, req),
        ("GET", ["inApp", "getMessages"]) => users::inapp_messages(world, req),
        ("POST", ["inApp", "target"]) => users::inapp_target(world, req),
        // Catalogs
        ("GET", ["catalogs"]) => catalogs::list(world, req),
        ("POST", ["catalogs", name]) => catalogs::create(world, name),
        ("DELETE", ["catalogs", name]) => catalogs::delete(world, name),
        ("GET", ["catalogs", name, "fieldMappings"]) => catalogs::field_mappings(world, name),
        ("PUT", ["catalogs", name, "fieldMappings"]) => {
            catalogs::put_field_mappings(world, req, name)
        }
        ("GET", ["catalogs", name, "items"]) => catalogs::items(world, req, name),
        ("POST", ["catalogs", name, "items"]) => catalogs::bulk_upsert(world, req, name),
        ("DELETE", ["catalogs", name, "items"]) => catalogs::bulk_delete(world, req, name),
        ("GET", ["catalogs", name, "items", id]) => catalogs::item(world, name, id),
        ("PUT", ["catalogs", name, "items", id]) => catalogs::put_item(world, req, name, id, false),
        ("PATCH", ["catalogs", name, "items", id]) => {
            catalogs::put_item(world, req, name, id, true)
        }
        ("DELETE", ["catalogs", name, "items", id]) => catalogs::delete_item(world, req, name, id),
        _ => not_found(format!("No handler for {} {}", req.method, req.path)),
    }
}

/// The simulator's own test API under `/_sim/` (no key, outside the spec,
/// rate limits and faults):
/// - `GET /_sim/applied`: how often each write was applied, as
///   `{"applied": {kind: {key: count}}, "pendingWrites": n, "kinds": [{kind, key, endpoints}]}`
///   (kinds in [`crate::world::applied::KINDS`]).
/// - `GET /_sim/truth?stream=S[&start=T][&end=T]`: ground truth of the world
///   as it is now, writes included (`{"stream", "count", "keys"}`, natural
///   keys as in [`crate::truth`]); `start`/`end` bound `[start, end)` on
///   `createdAt` / `profileUpdatedAt` like `iterable-sim truth`. A test that
///   changes data through the API compares a connector's copy with this.
/// - `POST /_sim/change?object=catalog_items&catalog=C&count=N` or
///   `?object=templates&medium=M&count=N`: someone else edits the first `N`
///   items of catalog `C` (or templates of medium `M` that have a
///   `clientTemplateId`), in key order: the first text field of each item's
///   value (a template's `name` and, when it has one, `subject`) gets
///   " (edited)" appended, and its `lastModified` / `updatedAt` becomes now.
///   Answers `{"changed": [keys]}` (item ids, clientTemplateIds). Two-way
///   sync tests make remote changes between syncs with it.
fn admin(world: &World, req: &ApiRequest, rest: &str) -> ApiResponse {
    match (req.method.to_ascii_uppercase().as_str(), rest) {
        ("POST", "change") => change(world, req),
        ("GET", "truth") => {
            let Some(stream) = req.param("stream").filter(|s| !s.is_empty()) else {
                return bad("stream is required (a stream name, e.g. users or email_send)");
            };
            let (start, end) = match (time_param(req, "start"), time_param(req, "end")) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(r), _) | (_, Err(r)) => return r,
            };
            match crate::truth::world_truth(world, stream, start, end) {
                Ok(t) => ApiResponse::json(
                    200,
                    json!({"stream": stream, "count": t.count, "keys": t.keys}),
                ),
                Err(e) => bad(e),
            }
        }
        ("GET", "applied") => {
            let applied = serde_json::to_value(&world.read().applied).unwrap_or(Value::Null);
            let kinds: Vec<Value> = crate::world::applied::KINDS
                .iter()
                .map(|(k, key, eps)| json!({"kind": k, "key": key, "endpoints": eps}))
                .collect();
            ApiResponse::json(
                200,
                json!({"applied": applied, "pendingWrites": world.pending_writes(), "kinds": kinds}),
            )
        }
        _ => not_found(format!(
            "No simulator admin route {} {}",
            req.method, req.path
        )),
    }
}

/// `POST /_sim/change`: see [`admin`].
fn change(world: &World, req: &ApiRequest) -> ApiResponse {
    let count = match int_param(req, "count") {
        Ok(Some(n)) if n >= 0 => n as usize,
        Ok(None) => 1,
        Ok(Some(_)) => return bad("count must be 0 or more"),
        Err(e) => return e,
    };
    let now_ms = req.now.timestamp_millis();
    let edit = |s: &str| format!("{s} (edited)");
    let mut st = world.write();
    let mut changed = Vec::new();
    match req.param("object") {
        Some("catalog_items") => {
            let Some(name) = req.param("catalog") else {
                return bad("catalog is required with object=catalog_items");
            };
            let Some(c) = st.catalogs.get_mut(name) else {
                return not_found(format!("No catalog {name}"));
            };
            for (id, item) in c.items.iter_mut().take(count) {
                if let Value::Object(v) = &mut item.value {
                    let field = v
                        .iter()
                        .find(|(_, x)| x.is_string())
                        .map(|(k, _)| k.clone())
                        .unwrap_or_else(|| "name".into());
                    let old = v.get(&field).and_then(Value::as_str).unwrap_or("item");
                    let new = edit(old);
                    v.insert(field, json!(new));
                }
                item.last_modified = now_ms;
                changed.push(id.clone());
            }
        }
        Some("templates") => {
            let medium = req.param("medium").unwrap_or("Email");
            for t in st
                .templates
                .iter_mut()
                .filter(|t| t.medium == medium && t.json["clientTemplateId"].is_string())
                .take(count)
            {
                let name = t.json["name"].as_str().unwrap_or("template").to_string();
                t.json["name"] = json!(edit(&name));
                if let Some(Value::String(s)) = t.detail.get("subject").cloned() {
                    t.detail.insert("subject".into(), json!(edit(&s)));
                }
                t.json["updatedAt"] = json!(now_ms);
                changed.push(
                    t.json["clientTemplateId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        _ => return bad("object must be catalog_items or templates"),
    }
    ApiResponse::json(200, json!({ "changed": changed }))
}

// ---- shared helpers -------------------------------------------------------

pub(crate) fn bad(msg: impl Into<String>) -> ApiResponse {
    ApiResponse::error(400, "BadParams", msg)
}

/// Iterable's answer to a malformed email address.
pub(crate) fn invalid_email(email: &str) -> ApiResponse {
    ApiResponse::error(
        400,
        "InvalidEmailAddressError",
        format!("Invalid email: {email}"),
    )
}

pub(crate) fn not_found(msg: impl Into<String>) -> ApiResponse {
    ApiResponse::error(404, "NotFound", msg)
}

pub(crate) fn ok_envelope(msg: impl Into<String>) -> ApiResponse {
    ApiResponse::success(msg, Value::Null)
}

/// The request body as JSON, or 400 `BadJsonBody`.
pub(crate) fn body(req: &ApiRequest) -> Result<Value, ApiResponse> {
    if req.body.is_empty() {
        return Err(ApiResponse::error(
            400,
            "BadJsonBody",
            "Request body is empty",
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiResponse::error(
            400,
            "BadJsonBody",
            format!("Could not parse JSON body: {e}"),
        )
    })
}

/// An integer query parameter (absent → `None`, malformed → 400).
pub(crate) fn int_param(req: &ApiRequest, name: &str) -> Result<Option<i64>, ApiResponse> {
    match req.param(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad(format!("Invalid {name}: {v}"))),
    }
}

pub(crate) fn bool_param(req: &ApiRequest, name: &str) -> bool {
    req.param(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A date-time query parameter in any format Iterable accepts (epoch seconds).
pub(crate) fn time_param(req: &ApiRequest, name: &str) -> Result<Option<i64>, ApiResponse> {
    match req.param(name) {
        None | Some("") => Ok(None),
        Some(v) => crate::world::time::parse(v)
            .map(Some)
            .ok_or_else(|| bad(format!("Invalid {name}: {v}"))),
    }
}

/// `(page, pageSize)` when the client asked for pagination, `None` for legacy mode.
pub(crate) fn paging(
    req: &ApiRequest,
    default: usize,
    max: usize,
) -> Result<Option<(usize, usize)>, ApiResponse> {
    let page = int_param(req, "page")?;
    let size = int_param(req, "pageSize")?;
    if page.is_none() && size.is_none() {
        return Ok(None);
    }
    let page = page.unwrap_or(1);
    let size = size.unwrap_or(default as i64);
    if page < 1 {
        return Err(bad("page must be >= 1"));
    }
    if size < 1 || size as usize > max {
        return Err(bad(format!("pageSize must be between 1 and {max}")));
    }
    Ok(Some((page as usize, size as usize)))
}

/// Slice of one page plus `nextPageUrl`/`previousPageUrl` (absolute, on this server).
pub(crate) fn page_of<T: Clone>(
    req: &ApiRequest,
    all: &[T],
    page: usize,
    size: usize,
) -> (Vec<T>, Option<String>, Option<String>) {
    let start = (page - 1).saturating_mul(size).min(all.len());
    let end = start.saturating_add(size).min(all.len());
    let next = (end < all.len()).then(|| page_url(req, page + 1, size));
    let prev = (page > 1).then(|| page_url(req, page - 1, size));
    (all[start..end].to_vec(), next, prev)
}

fn page_url(req: &ApiRequest, page: usize, size: usize) -> String {
    let mut q: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "page" && k != "pageSize")
        .cloned()
        .collect();
    q.push(("page".into(), page.to_string()));
    q.push(("pageSize".into(), size.to_string()));
    format!("{}{}?{}", req.base_url, req.path, query_string(&q))
}

/// Adds paging fields to a response object.
pub(crate) fn with_links(
    mut v: Value,
    total_key: &str,
    total: usize,
    next: Option<String>,
    prev: Option<String>,
) -> Value {
    v[total_key] = json!(total);
    if let Some(n) = next {
        v["nextPageUrl"] = json!(n);
    }
    if let Some(p) = prev {
        v["previousPageUrl"] = json!(p);
    }
    v
}

pub(crate) fn query_string(q: &[(String, String)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One CSV cell (RFC 4180 quoting).
pub(crate) fn csv_cell(v: &Value, delim: &str) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains(delim) || s.contains('"') || s.contains('\n') || s.contains('\r') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(crate) fn csv_line(cells: &[String], delim: &str) -> String {
    let mut l = cells.join(delim);
    l.push('\n');
    l
}
