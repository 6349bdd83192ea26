//! Users, per-user events, tracking writes, purchases and in-app messages.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::export::{resolve_user, user_rows};
use super::{bad, body, int_param, invalid_email, not_found, ok_envelope, time_param};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::overlay::OverlayEvent;
use crate::world::rng::Rng;
use crate::world::time::{DAY, export_ts, value_secs};
use crate::world::{Gen, State, World, int, users};

/// Per-row outcome of a bulk write, rendered as Iterable's partial-failure body.
#[derive(Debug, Default)]
pub struct Bulk {
    pub success: u64,
    /// Failures without a category list of their own (e.g. missing eventName).
    pub other_fail: u64,
    pub failed: BTreeMap<&'static str, Vec<String>>,
    pub created_fields: BTreeSet<String>,
}

const USER_FAIL_KEYS: [&str; 10] = [
    "invalidEmails",
    "invalidUserIds",
    "notFoundEmails",
    "notFoundUserIds",
    "forgottenEmails",
    "forgottenUserIds",
    "conflictEmails",
    "conflictUserIds",
    "invalidDataEmails",
    "invalidDataUserIds",
];

impl Bulk {
    pub fn fail(&mut self, key: &'static str, v: &str) {
        self.failed.entry(key).or_default().push(v.to_string());
    }

    fn fail_count(&self) -> u64 {
        self.failed.values().map(|v| v.len() as u64).sum::<u64>() + self.other_fail
    }

    /// `events` selects the trackBulk shape (six failure lists, `disallowedEventNames`).
    pub fn to_json(&self, events: bool) -> Value {
        let keys: &[&str] = if events {
            &USER_FAIL_KEYS[..6]
        } else {
            &USER_FAIL_KEYS
        };
        let mut failed = Map::new();
        for k in keys {
            failed.insert(
                k.to_string(),
                json!(self.failed.get(k).cloned().unwrap_or_default()),
            );
        }
        let mut v = json!({"successCount": self.success, "failCount": self.fail_count(),
            "invalidEmails": self.failed.get("invalidEmails").cloned().unwrap_or_default(),
            "invalidUserIds": self.failed.get("invalidUserIds").cloned().unwrap_or_default(),
            "failedUpdates": failed, "createdFields": self.created_fields, "filteredOutFields": []});
        if events {
            v["disallowedEventNames"] = json!([]);
        }
        v
    }
}

fn new_profile(email: &str, now: i64) -> Map<String, Value> {
    let domain = email.split('@').nth(1).unwrap_or("");
    let v = json!({"email": email, "signupDate": export_ts(now), "signupSource": "API",
        "profileUpdatedAt": export_ts(now), "emailListIds": [], "unsubscribedChannelIds": [],
        "unsubscribedMessageTypeIds": [], "subscribedMessageTypeIds": [],
        "itblInternal": {"emailDomain": domain, "documentCreatedAt": export_ts(now), "documentUpdatedAt": export_ts(now)}});
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Creates or edits a profile in the overlay and stamps `profileUpdatedAt`.
pub fn upsert_profile(
    st: &mut State,
    model: &Gen,
    email: &str,
    now: i64,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Map<String, Value> {
    let mut p = st
        .overlay
        .profile(model, email)
        .unwrap_or_else(|| new_profile(email, now));
    edit(&mut p);
    p.insert("email".into(), json!(email));
    p.insert("profileUpdatedAt".into(), json!(export_ts(now)));
    if let Some(Value::Object(i)) = p.get_mut("itblInternal") {
        i.insert("documentUpdatedAt".into(), json!(export_ts(now)));
    }
    st.overlay.users.insert(email.to_string(), Some(p.clone()));
    p
}

/// Merges `dataFields` into a profile (top-level; nested objects too when asked).
fn merge_fields(p: &mut Map<String, Value>, data: &Map<String, Value>, nested: bool) {
    for (k, v) in data {
        match (p.get_mut(k), v) {
            (Some(Value::Object(old)), Value::Object(new)) if nested => {
                for (a, b) in new {
                    old.insert(a.clone(), b.clone());
                }
            }
            _ => {
                p.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A field whose type is fixed and the incoming value has another type.
fn type_mismatch(data: &Map<String, Value>) -> Option<String> {
    let types = users::field_types();
    data.iter()
        .find(|(k, v)| {
            types["fields"]
                .get(k.as_str())
                .and_then(Value::as_str)
                .is_some_and(|ty| !fits(ty, v))
        })
        .map(|(k, _)| k.clone())
}

/// Whether `v` has the field's type. getFields names an array field by its
/// elements' type, so an array of such values fits too.
fn fits(ty: &str, v: &Value) -> bool {
    if let Value::Array(items) = v {
        return items.iter().all(|x| !x.is_array() && fits(ty, x));
    }
    match ty {
        "double" => v.is_number() || v.is_null(),
        "long" => v.is_i64() || v.is_u64() || v.is_null(),
        "boolean" => v.is_boolean() || v.is_null(),
        "object" | "nested" => v.is_object() || v.is_null(),
        _ => true,
    }
}

fn new_fields(data: &Map<String, Value>) -> Vec<String> {
    let types = users::field_types();
    data.keys()
        .filter(|k| types["fields"].get(k.as_str()).is_none())
        .cloned()
        .collect()
}

fn user_json(p: &Map<String, Value>) -> Value {
    let mut u = json!({"email": p.get("email").cloned().unwrap_or(Value::Null), "dataFields": p});
    if let Some(id) = p.get("userId") {
        u["userId"] = id.clone();
    }
    json!({"user": u})
}

/// The user a write is about, by email or userId, or Iterable's error:
/// an invalid email, an unknown userId, or neither given (`missing`).
fn recipient(
    world: &World,
    email: Option<&str>,
    user_id: Option<&str>,
    missing: &str,
) -> Result<String, ApiResponse> {
    match (email, user_id) {
        (Some(e), _) if !users::valid_email(e) => Err(invalid_email(e)),
        (Some(e), _) => Ok(e.to_string()),
        (None, Some(id)) => resolve_user(world, None, Some(id)).ok_or_else(|| {
            ApiResponse::error(
                400,
                "UnknownUserIdError",
                format!("No user with userId {id}"),
            )
        }),
        (None, None) => Err(bad(missing)),
    }
}

/// `GET /api/users/getFields`.
pub fn get_fields() -> ApiResponse {
    ApiResponse::json(200, users::field_types())
}

/// `GET /api/users/{email}`: unknown users are `200 {}`.
pub fn get_by_email(world: &World, email: &str) -> ApiResponse {
    if !users::valid_email(email) {
        return invalid_email(email);
    }
    match world.read().overlay.profile(&world.model, email) {
        Some(p) => ApiResponse::json(200, user_json(&p)),
        None => ApiResponse::json(200, json!({})),
    }
}

/// `GET /api/users/byUserId/{userId}`: unknown users are `200 {}`.
pub fn get_by_user_id(world: &World, id: &str) -> ApiResponse {
    match world.read().overlay.profile_by_user_id(&world.model, id) {
        Some(p) => ApiResponse::json(200, user_json(&p)),
        None => ApiResponse::json(200, json!({})),
    }
}

/// `DELETE /api/users/{email}`.
pub fn delete(world: &World, email: &str) -> ApiResponse {
    let mut st = world.write();
    if !st.overlay.exists(&world.model, email) {
        return ApiResponse::error(
            400,
            "UnknownEmailError",
            format!("User with email {email} does not exist"),
        );
    }
    st.overlay.users.insert(email.to_string(), None);
    st.count_applied("user.delete", email);
    ok_envelope("")
}

/// `DELETE /api/users/byUserId/{userId}`: every user sharing the id.
pub fn delete_by_user_id(world: &World, id: &str) -> ApiResponse {
    let mut st = world.write();
    let emails = st.overlay.emails_for_user_id(&world.model, id);
    if emails.is_empty() {
        return ApiResponse::error(
            400,
            "UnknownUserIdError",
            format!("User with userId {id} does not exist"),
        );
    }
    for e in emails {
        st.count_applied("user.delete", &e);
        st.overlay.users.insert(e, None);
    }
    ok_envelope("")
}

/// `POST /api/users/forget`.
pub fn forget(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let email = resolve_user(
        world,
        b.get("email").and_then(Value::as_str),
        b.get("userId").and_then(Value::as_str),
    );
    let Some(email) = email else {
        return bad("email or userId is required");
    };
    let mut st = world.write();
    st.overlay.users.insert(email.clone(), None);
    st.overlay.forgotten.insert(email);
    ok_envelope("")
}

enum Outcome {
    Ok(Vec<String>),
    Fail(&'static str, String),
}

/// One user upsert (shared by `update` and `bulkUpdate`): checked now,
/// applied when asynchronous writes land ([`World::apply_later`]).
fn update_one(world: &World, u: &Value, now_ms: i64) -> Outcome {
    let now = now_ms.div_euclid(1000);
    let data = u
        .get("dataFields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let nested = u
        .get("mergeNestedObjects")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let email = u.get("email").and_then(Value::as_str);
    let user_id = u.get("userId").and_then(Value::as_str);
    let email = match (email, user_id) {
        (Some(e), _) => {
            if !users::valid_email(e) {
                return Outcome::Fail("invalidEmails", e.to_string());
            }
            if world.read().overlay.forgotten.contains(e) {
                return Outcome::Fail("forgottenEmails", e.to_string());
            }
            if type_mismatch(&data).is_some() {
                return Outcome::Fail("invalidDataEmails", e.to_string());
            }
            e.to_string()
        }
        (None, Some(id)) => {
            if type_mismatch(&data).is_some() {
                return Outcome::Fail("invalidDataUserIds", id.to_string());
            }
            match resolve_user(world, None, Some(id)) {
                Some(e) => e,
                None if u.get("preferUserId").and_then(Value::as_bool) == Some(true) => {
                    format!("{id}@placeholder.email")
                }
                None => return Outcome::Fail("notFoundUserIds", id.to_string()),
            }
        }
        (None, None) => return Outcome::Fail("invalidEmails", String::new()),
    };
    let created = new_fields(&data);
    world.write().count_applied("user.update", &email);
    let user_id = user_id.map(String::from);
    world.apply_later(now_ms, move |st, model| {
        upsert_profile(st, model, &email, now, |p| {
            merge_fields(p, &data, nested);
            if let Some(id) = user_id {
                p.insert("userId".into(), json!(id));
            }
        });
    });
    Outcome::Ok(created)
}

/// `POST /api/users/update`.
pub fn update(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    if let Some(Value::Object(d)) = b.get("dataFields")
        && let Some(f) = type_mismatch(d)
    {
        return ApiResponse::error(
            400,
            "RequestFieldsTypesMismatched",
            format!(
                "Project 10216 has validation errors. Field {f} has a different type than expected"
            ),
        );
    }
    match update_one(world, &b, req.now.timestamp_millis()) {
        Outcome::Ok(_) => ok_envelope(""),
        Outcome::Fail("invalidEmails", e) if !e.is_empty() => invalid_email(&e),
        Outcome::Fail("forgottenEmails", e) => ApiResponse::error(
            409,
            "ForgottenUserError",
            format!("User {e} has been forgotten"),
        ),
        Outcome::Fail("notFoundUserIds", id) => ApiResponse::error(
            400,
            "UnknownUserIdError",
            format!("No user exists with userId {id}"),
        ),
        Outcome::Fail(_, _) => bad("email or userId is required"),
    }
}

/// `POST /api/users/bulkUpdate`: bad rows are reported, good rows applied.
pub fn bulk_update(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(list) = b.get("users").and_then(Value::as_array) else {
        return bad("users is required");
    };
    if req.body.len() > 4 * 1024 * 1024 {
        return ApiResponse::error(413, "BatchTooLarge", "Request body exceeds 4 MB");
    }
    let mut out = Bulk::default();
    for u in list {
        match update_one(world, u, req.now.timestamp_millis()) {
            Outcome::Ok(created) => {
                out.success += 1;
                out.created_fields.extend(created);
            }
            Outcome::Fail(k, v) => out.fail(k, &v),
        }
    }
    ApiResponse::json(200, out.to_json(false))
}

/// `GET /api/events/{email}` and `/api/events/byUserId/{userId}`: newest first.
pub fn events(
    world: &World,
    req: &ApiRequest,
    email: Option<&str>,
    user_id: Option<&str>,
) -> ApiResponse {
    let limit = match int_param(req, "limit") {
        Ok(l) => l.unwrap_or(30),
        Err(e) => return e,
    };
    if !(1..=200).contains(&limit) {
        return bad("limit must be between 1 and 200");
    }
    let Some(email) = resolve_user(world, email, user_id) else {
        return ApiResponse::json(200, json!({"events": []}));
    };
    let mut rows = user_rows(world, &email, |_| true);
    rows.reverse();
    let events: Vec<Value> = rows
        .into_iter()
        .take(limit as usize)
        .map(|(_, ty, mut r)| {
            r["eventType"] = json!(ty);
            r
        })
        .collect();
    ApiResponse::json(200, json!({"events": events}))
}

/// `createdAt` of a write: epoch seconds or ms (both seen in clients); default now.
fn write_time(v: Option<&Value>, now: i64) -> i64 {
    v.and_then(value_secs).unwrap_or(now)
}

fn gen_id(world: &World, st: &mut State) -> String {
    let n = st.overlay.next_seq();
    Rng::new(world.model.seed, "writeId", &[n]).hex32()
}

/// Validates and records one tracked event; `Err((failure list, value))` on
/// bad rows. Checked now, applied when asynchronous writes land; an event
/// with the id of an earlier one replaces it, as in Iterable.
fn track_one(world: &World, e: &Value, now_ms: i64) -> Result<String, (&'static str, String)> {
    let now = now_ms.div_euclid(1000);
    let name = e
        .get("eventName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or(("", String::new()))?;
    let email = match (
        e.get("email").and_then(Value::as_str),
        e.get("userId").and_then(Value::as_str),
    ) {
        (Some(m), _) if !users::valid_email(m) => return Err(("invalidEmails", m.to_string())),
        (Some(m), _) => m.to_string(),
        (None, Some(id)) => {
            resolve_user(world, None, Some(id)).ok_or(("notFoundUserIds", id.to_string()))?
        }
        (None, None) => return Err(("invalidEmails", String::new())),
    };
    let secs = write_time(e.get("createdAt"), now);
    let id = {
        let mut st = world.write();
        if st.overlay.forgotten.contains(&email) {
            return Err(("forgottenEmails", email));
        }
        let id = match e.get("id").and_then(Value::as_str) {
            Some(i) => i.to_string(),
            None => gen_id(world, &mut st),
        };
        st.count_applied("event", &id);
        id
    };
    let ts = export_ts(secs);
    let mut row = json!({"email": email, "eventName": name, "createdAt": ts, "eventUpdatedAt": export_ts(now),
        "itblInternal": {"documentCreatedAt": export_ts(now), "documentUpdatedAt": export_ts(now)}});
    if let Some(Value::Object(d)) = e.get("dataFields") {
        for (k, v) in d {
            row[k.as_str()] = v.clone();
        }
    }
    for k in ["campaignId", "templateId"] {
        if let Some(v) = e.get(k) {
            row[k] = v.clone();
        }
    }
    let event_id = id.clone();
    world.apply_later(now_ms, move |st, model| {
        if let Some(uid) = st
            .overlay
            .profile(model, &email)
            .and_then(|p| p.get("userId").cloned())
        {
            row["userId"] = uid;
        }
        // The same id updates the earlier event instead of adding one.
        st.overlay.upsert_event(OverlayEvent {
            type_name: "customEvent",
            secs,
            email,
            row,
            id: Some(event_id),
        });
    });
    Ok(id)
}

/// `POST /api/events/track`.
pub fn track(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    match track_one(world, &b, req.now.timestamp_millis()) {
        Ok(id) => ApiResponse::success(format!("Event with id: {id} tracked."), json!({"id": id})),
        Err(("invalidEmails", e)) if !e.is_empty() => invalid_email(&e),
        Err(("notFoundUserIds", id)) => ApiResponse::error(
            400,
            "UnknownUserIdError",
            format!("No user with userId {id}"),
        ),
        Err(("forgottenEmails", e)) => ApiResponse::error(
            409,
            "ForgottenUserError",
            format!("User {e} has been forgotten"),
        ),
        Err(("", _)) => bad("eventName is required"),
        Err(_) => bad("email or userId is required"),
    }
}

/// `POST /api/events/trackBulk`.
pub fn track_bulk(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(list) = b.get("events").and_then(Value::as_array) else {
        return bad("events is required");
    };
    let mut out = Bulk::default();
    for e in list {
        match track_one(world, e, req.now.timestamp_millis()) {
            Ok(_) => {
                out.success += 1;
                if let Some(Value::Object(d)) = e.get("dataFields") {
                    out.created_fields.extend(
                        d.keys()
                            .filter(|k| {
                                !["sku", "price", "categories", "platform"].contains(&k.as_str())
                            })
                            .cloned(),
                    );
                }
            }
            Err(("", _)) => out.other_fail += 1,
            Err((k, v)) => out.fail(k, &v),
        }
    }
    ApiResponse::json(200, out.to_json(true))
}

/// `POST /api/commerce/trackPurchase`.
pub fn track_purchase(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(user) = b.get("user") else {
        return bad("user is required");
    };
    let Some(items) = b.get("items").and_then(Value::as_array) else {
        return bad("items is required");
    };
    let Some(total) = b.get("total").and_then(Value::as_f64) else {
        return bad("total is required");
    };
    let email = match recipient(
        world,
        user.get("email").and_then(Value::as_str),
        user.get("userId").and_then(Value::as_str),
        "user.email or user.userId is required",
    ) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let now = req.now.timestamp();
    let secs = write_time(b.get("createdAt"), now);
    let mut st = world.write();
    let id = match b.get("id").and_then(Value::as_str) {
        Some(i) => i.to_string(),
        None => gen_id(world, &mut st),
    };
    let mut row = json!({"email": email, "id": id, "createdAt": export_ts(secs), "total": total,
        "shoppingCartItems": items, "itblInternal": {"documentCreatedAt": export_ts(now), "documentUpdatedAt": export_ts(now)}});
    if let Some(uid) = st
        .overlay
        .profile(&world.model, &email)
        .and_then(|p| p.get("userId").cloned())
    {
        row["userId"] = uid;
    }
    for k in ["campaignId", "templateId"] {
        if let Some(v) = b.get(k) {
            row[k] = v.clone();
        }
    }
    if let Some(Value::Object(d)) = b.get("dataFields") {
        for (k, v) in d {
            row[k.as_str()] = v.clone();
        }
    }
    st.count_applied("purchase", &id);
    st.overlay.upsert_event(OverlayEvent {
        type_name: "purchase",
        secs,
        email,
        row,
        id: Some(id.clone()),
    });
    ApiResponse::success(
        format!("Purchase with id: {id} tracked."),
        json!({"id": id}),
    )
}

/// Send media a `messageMedium` filter selects.
fn send_types(medium: Option<&str>) -> Vec<&'static str> {
    match medium {
        Some(m) if m.eq_ignore_ascii_case("Email") => vec!["emailSend"],
        Some(m) if m.eq_ignore_ascii_case("Push") => vec!["pushSend"],
        Some(m) if m.eq_ignore_ascii_case("InApp") => vec!["inAppSend"],
        Some(m) if m.eq_ignore_ascii_case("SMS") => vec!["smsSend"],
        _ => vec![
            "emailSend",
            "pushSend",
            "inAppSend",
            "smsSend",
            "webPushSend",
            "whatsAppSend",
            "embeddedSend",
        ],
    }
}

/// `GET /api/users/getSentMessages`: newest first.
pub fn sent_messages(world: &World, req: &ApiRequest) -> ApiResponse {
    let limit = match int_param(req, "limit") {
        Ok(l) => l.unwrap_or(10),
        Err(e) => return e,
    };
    if !(1..=1000).contains(&limit) {
        return bad("limit must be between 1 and 1000");
    }
    let (start, end) = match (
        time_param(req, "startDateTime"),
        time_param(req, "endDateTime"),
    ) {
        (Ok(s), Ok(e)) => (s.unwrap_or(i64::MIN), e.unwrap_or(i64::MAX)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let campaign_ids: Vec<i64> = req
        .params("campaignIds")
        .iter()
        .flat_map(|s| s.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let exclude_blast = super::bool_param(req, "excludeBlastCampaigns");
    if req.param("email").is_none() && req.param("userId").is_none() {
        return bad("email or userId is required");
    }
    let Some(email) = resolve_user(world, req.param("email"), req.param("userId")) else {
        return ApiResponse::json(200, json!({"messages": []}));
    };
    let types = send_types(req.param("messageMedium"));
    let blast: BTreeSet<i64> = world
        .read()
        .campaigns
        .iter()
        .filter(|c| c["type"] == "Blast")
        .map(|c| int(c, "id"))
        .collect();
    let mut rows = user_rows(world, &email, |t| types.contains(&t));
    rows.reverse();
    let messages: Vec<Value> = rows
        .into_iter()
        .filter(|(s, _, _)| *s >= start && *s < end)
        .filter(|(_, _, r)| campaign_ids.is_empty() || campaign_ids.contains(&int(r, "campaignId")))
        .filter(|(_, _, r)| !exclude_blast || !blast.contains(&int(r, "campaignId")))
        .take(limit as usize)
        .map(|(_, _, r)| {
            json!({"messageId": r["messageId"], "campaignId": r["campaignId"],
            "templateId": r["templateId"], "createdAt": r["createdAt"]})
        })
        .collect();
    ApiResponse::json(200, json!({"messages": messages}))
}

fn inapp_message(message_id: &str, campaign_id: &Value, created_secs: i64, title: &str) -> Value {
    json!({"messageId": message_id, "campaignId": campaign_id, "createdAt": created_secs * 1000,
        "expiresAt": (created_secs + 30 * DAY) * 1000, "trigger": {"type": "immediate"}, "saveToInbox": true,
        "inboxMetadata": {"title": title, "subtitle": "Tap to read", "icon": ""},
        "content": {"html": format!("<html><body>{title}</body></html>"),
            "inAppDisplaySettings": {"top": {"percentage": 0}, "right": {"percentage": 0},
                "bottom": {"percentage": 0}, "left": {"percentage": 0}, "shouldAnimate": false},
            "webInAppDisplaySettings": {"position": "Center"}},
        "customPayload": {}, "read": false, "priorityLevel": 300.5})
}

/// `GET /api/inApp/getMessages`: the user's unexpired in-app sends, newest first.
pub fn inapp_messages(world: &World, req: &ApiRequest) -> ApiResponse {
    let count = match int_param(req, "count") {
        Ok(Some(c)) if c >= 0 => c as usize,
        Ok(_) => return bad("count is required"),
        Err(e) => return e,
    };
    let Some(email) = resolve_user(world, req.param("email"), req.param("userId")) else {
        return ApiResponse::json(200, json!({"inAppMessages": []}));
    };
    let now = req.now.timestamp();
    // Messages sent through `inApp/target` are in the overlay with their
    // content; their send events (also in the user's rows) must not show twice.
    let targeted: BTreeSet<String> = world
        .read()
        .overlay
        .inapp
        .iter()
        .filter(|(e, _)| *e == email)
        .filter_map(|(_, m)| m["messageId"].as_str().map(String::from))
        .collect();
    let mut msgs: Vec<(i64, Value)> = user_rows(world, &email, |t| t == "inAppSend")
        .into_iter()
        .filter(|(s, _, r)| {
            s + 30 * DAY > now && r.get("messageId").is_some() && r.get("campaignId").is_some()
        })
        .filter(|(_, _, r)| {
            !r["messageId"]
                .as_str()
                .is_some_and(|m| targeted.contains(m))
        })
        .map(|(s, _, r)| {
            (
                s,
                inapp_message(
                    r["messageId"].as_str().unwrap_or(""),
                    &r["campaignId"],
                    s,
                    "Hello",
                ),
            )
        })
        .collect();
    msgs.extend(
        world
            .read()
            .overlay
            .inapp
            .iter()
            .filter(|(e, _)| *e == email)
            .map(|(_, m)| (int(m, "createdAt") / 1000, m.clone())),
    );
    msgs.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
    let out: Vec<Value> = msgs.into_iter().take(count).map(|(_, m)| m).collect();
    ApiResponse::json(200, json!({"inAppMessages": out}))
}

/// `POST /api/inApp/target`: records an in-app send and the message.
pub fn inapp_target(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(cid) = b.get("campaignId").and_then(Value::as_i64) else {
        return bad("campaignId is required");
    };
    let Some(camp) = world
        .read()
        .campaigns
        .iter()
        .find(|c| int(c, "id") == cid)
        .cloned()
    else {
        return not_found(format!("Campaign {cid} not found"));
    };
    let email = match recipient(
        world,
        b.get("recipientEmail").and_then(Value::as_str),
        b.get("recipientUserId").and_then(Value::as_str),
        "recipientEmail or recipientUserId is required",
    ) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let now = req.now.timestamp();
    let secs = b
        .get("sendAt")
        .and_then(Value::as_str)
        .and_then(crate::world::time::parse)
        .filter(|s| *s > now)
        .unwrap_or(now);
    let mut st = world.write();
    let mid = gen_id(world, &mut st);
    let title = camp["name"].as_str().unwrap_or("").to_string();
    let msg = inapp_message(&mid, &camp["id"], secs, &title);
    let row = json!({"email": email, "createdAt": export_ts(secs), "campaignId": cid, "templateId": camp["templateId"],
        "messageId": mid, "messageContext": {"saveToInbox": true, "silentInbox": false, "location": "in-app"},
        "itblInternal": {"documentCreatedAt": export_ts(now), "documentUpdatedAt": export_ts(now)}});
    st.count_applied("inapp.target", format!("{cid}/{email}"));
    st.overlay.inapp.push((email.clone(), msg));
    st.overlay.events.push(OverlayEvent {
        type_name: "inAppSend",
        secs,
        email,
        row,
        id: Some(mid),
    });
    ok_envelope("")
}

/// `POST /api/users/updateEmail`: moves the profile (and the events written
/// through the API) from the current email to `newEmail`. `currentEmail`
/// wins over `currentUserId`; a taken or forgotten new email is a 409.
pub fn update_email(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(new_email) = b
        .get("newEmail")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return bad("newEmail is required");
    };
    if !users::valid_email(new_email) {
        return invalid_email(new_email);
    }
    let current = match (
        b.get("currentEmail").and_then(Value::as_str),
        b.get("currentUserId").and_then(Value::as_str),
    ) {
        (Some(e), _) if !users::valid_email(e) => return invalid_email(e),
        (Some(e), _) => e.to_string(),
        (None, Some(id)) => match resolve_user(world, None, Some(id)) {
            Some(e) => e,
            None => {
                return ApiResponse::error(
                    400,
                    "UnknownUserIdError",
                    format!("No user exists with userId {id}"),
                );
            }
        },
        (None, None) => return bad("currentEmail or currentUserId is required"),
    };
    let now = req.now.timestamp();
    let model = &world.model;
    let mut st = world.write();
    let Some(profile) = st.overlay.profile(model, &current) else {
        return ApiResponse::error(
            400,
            "UnknownEmailError",
            format!("User with email {current} does not exist"),
        );
    };
    if st.overlay.forgotten.contains(new_email) {
        return ApiResponse::error(
            409,
            "ForgottenUserError",
            format!("User {new_email} has been forgotten"),
        );
    }
    if new_email != current && st.overlay.exists(model, new_email) {
        return ApiResponse::error(
            409,
            "EmailAlreadyExists",
            format!("A user with email {new_email} already exists"),
        );
    }
    st.count_applied("user.updateEmail", &current);
    if new_email == current {
        return ok_envelope("");
    }
    st.overlay.users.insert(current.clone(), None);
    st.overlay
        .users
        .insert(new_email.to_string(), Some(profile));
    upsert_profile(&mut st, model, new_email, now, |p| {
        if let Some(Value::Object(i)) = p.get_mut("itblInternal") {
            let domain = new_email.split('@').nth(1).unwrap_or("");
            i.insert("emailDomain".into(), json!(domain));
        }
    });
    for ev in st.overlay.events.iter_mut().filter(|e| e.email == current) {
        ev.email = new_email.to_string();
        ev.row["email"] = json!(new_email);
    }
    for l in st.lists.iter_mut() {
        if l.added.remove(&current) {
            l.added.insert(new_email.to_string());
        }
    }
    ok_envelope("")
}

/// The subscription arrays `updateSubscriptions` overwrites when present.
const SUBSCRIPTION_ARRAYS: [&str; 4] = [
    "emailListIds",
    "unsubscribedChannelIds",
    "unsubscribedMessageTypeIds",
    "subscribedMessageTypeIds",
];

/// `POST /api/users/updateSubscriptions`: overwrites each non-null array
/// (no merge); list memberships follow `emailListIds`.
pub fn update_subscriptions(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let email = match recipient(
        world,
        b.get("email").and_then(Value::as_str),
        b.get("userId").and_then(Value::as_str),
        "email or userId is required",
    ) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut arrays: Vec<(&str, Vec<i64>)> = Vec::new();
    for k in SUBSCRIPTION_ARRAYS {
        match b.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                let Some(ids) = a.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>() else {
                    return bad(format!("{k} must be an array of integers"));
                };
                arrays.push((k, ids));
            }
            Some(_) => return bad(format!("{k} must be an array of integers")),
        }
    }
    let now = req.now.timestamp();
    let model = &world.model;
    let mut st = world.write();
    if st.overlay.forgotten.contains(&email) {
        return ApiResponse::error(
            409,
            "ForgottenUserError",
            format!("User {email} has been forgotten"),
        );
    }
    let old_lists: BTreeSet<i64> = st
        .overlay
        .profile(model, &email)
        .and_then(|p| p.get("emailListIds").cloned())
        .and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
        })
        .unwrap_or_default();
    if let Some((_, new)) = arrays.iter().find(|(k, _)| *k == "emailListIds") {
        let new: BTreeSet<i64> = new.iter().copied().collect();
        for l in st.lists.iter_mut() {
            if new.contains(&l.id) && !old_lists.contains(&l.id) {
                l.removed.remove(&email);
                l.added.insert(email.clone());
            } else if !new.contains(&l.id) && old_lists.contains(&l.id) {
                l.added.remove(&email);
                l.removed.insert(email.clone());
            }
        }
    }
    upsert_profile(&mut st, model, &email, now, |p| {
        for (k, ids) in &arrays {
            p.insert(k.to_string(), json!(ids));
        }
    });
    st.count_applied("user.subscriptions", &email);
    ok_envelope("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_fit_the_type_of_their_elements() {
        assert!(fits("object", &json!([{"platform": "iOS"}])));
        assert!(fits("string", &json!(["a", "b"])));
        assert!(fits("long", &json!([1, 2])));
        assert!(!fits("long", &json!(["x"])));
        assert!(!fits("object", &json!("text")));
        assert!(!fits("object", &json!([[{}]])));
        let data = json!({"devices": [{"token": "t"}], "loyaltyPoints": "many"});
        assert_eq!(
            type_mismatch(data.as_object().unwrap()).as_deref(),
            Some("loyaltyPoints")
        );
    }
}
