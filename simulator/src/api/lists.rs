//! Lists: metadata, members as text lines, sizes, and subscription writes.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::users::{Bulk, upsert_profile};
use super::{bad, body, invalid_email, not_found, ok_envelope};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::overlay::OverlayEvent;
use crate::world::time::export_ts;
use crate::world::{Gen, ListEnt, World, users};

/// `GET /api/lists`.
pub fn list(world: &World) -> ApiResponse {
    let lists: Vec<Value> = world.read().lists.iter().map(|l| l.json.clone()).collect();
    ApiResponse::json(200, json!({"lists": lists}))
}

fn parse_list_id(s: &str) -> Result<i64, ApiResponse> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| bad(format!("Invalid listId: {s}")))
}

/// Members of a list, lazily: `(email, userId)` pairs in a stable order
/// (seeded users by index, then users added through the API).
pub fn members(
    model: std::sync::Arc<Gen>,
    list: ListEnt,
    deleted: BTreeSet<String>,
    extra: Vec<(String, Option<String>)>,
) -> impl Iterator<Item = (String, Option<String>)> + Send {
    let l2 = list.clone();
    let g = model.clone();
    let seeded = (0..model.cfg.users).filter_map(move |u| {
        let hashed = users::is_member(g.seed, l2.id, l2.member_mod, u);
        if !hashed && l2.added.is_empty() {
            return None;
        }
        let e = users::email(&g, u);
        let m =
            (hashed || l2.added.contains(&e)) && !l2.removed.contains(&e) && !deleted.contains(&e);
        m.then(|| (e, Some(users::user_id(u))))
    });
    let added = extra
        .into_iter()
        .filter(move |(e, _)| list.added.contains(e) && !list.removed.contains(e));
    seeded.chain(added)
}

/// Snapshot of what [`members`] needs from the locked state.
pub(crate) fn member_stream(
    world: &World,
    list_id: i64,
) -> Option<Box<dyn Iterator<Item = (String, Option<String>)> + Send>> {
    let st = world.read();
    let list = st.lists.iter().find(|l| l.id == list_id)?.clone();
    let deleted: BTreeSet<String> = st
        .overlay
        .users
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(e, _)| e.clone())
        .collect();
    // Users created through the API (not seeded) that were added to this list.
    let extra: Vec<(String, Option<String>)> = list
        .added
        .iter()
        .filter(|e| users::index_of_email(&world.model, e).is_none())
        .filter_map(|e| {
            let p = st.overlay.users.get(e)?.as_ref()?;
            Some((
                e.clone(),
                p.get("userId").and_then(Value::as_str).map(String::from),
            ))
        })
        .collect();
    Some(Box::new(members(world.model.clone(), list, deleted, extra)))
}

/// `GET /api/lists/getUsers` and `/api/lists/previewUsers`: text/plain, one id per line.
pub fn get_users(world: &World, req: &ApiRequest, limit: Option<usize>) -> ApiResponse {
    let Some(id) = req.param("listId") else {
        return bad("listId is required");
    };
    let id = match parse_list_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let prefer_user_id = super::bool_param(req, "preferUserId");
    let Some(stream) = member_stream(world, id) else {
        return not_found(format!("List {id} not found"));
    };
    let lines = stream.map(move |(e, uid)| {
        let mut s = if prefer_user_id { uid.unwrap_or(e) } else { e };
        s.push('\n');
        s.into_bytes()
    });
    let lines: Box<dyn Iterator<Item = Vec<u8>> + Send> = match limit {
        Some(n) => Box::new(lines.take(n)),
        None => Box::new(lines),
    };
    let mut resp = ApiResponse::stream("text/plain", lines);
    resp.status = 200;
    resp
}

/// `GET /api/lists/{listId}/size`: a bare number.
pub fn size(world: &World, id: &str) -> ApiResponse {
    let id = match parse_list_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match member_stream(world, id) {
        Some(s) => ApiResponse::json(200, json!(s.count())),
        None => not_found(format!("List {id} not found")),
    }
}

/// `POST /api/lists` → `{"listId"}` (a static, Standard list).
pub fn create(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(name) = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return bad("name is required");
    };
    let mut st = world.write();
    let id = st.alloc_id();
    let mut j = json!({"id": id, "name": name, "createdAt": req.now.timestamp_millis(), "listType": "Standard"});
    if let Some(d) = b.get("description").and_then(Value::as_str) {
        j["description"] = json!(d);
    }
    st.count_applied("list.create", name);
    st.lists.push(ListEnt {
        json: j,
        id,
        member_mod: 0,
        added: BTreeSet::new(),
        removed: BTreeSet::new(),
    });
    ApiResponse::json(200, json!({"listId": id}))
}

/// `DELETE /api/lists/{listId}`: 409 while a live campaign sends to it.
pub fn delete(world: &World, id: &str) -> ApiResponse {
    let id = match parse_list_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut st = world.write();
    if !st.lists.iter().any(|l| l.id == id) {
        return not_found(format!("List {id} not found"));
    }
    let in_use = st.campaigns.iter().any(|c| {
        matches!(
            c["campaignState"].as_str(),
            Some("Scheduled" | "Running" | "Starting" | "Recurring")
        ) && c["listIds"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x.as_i64() == Some(id)))
    });
    if in_use {
        return ApiResponse::error(
            409,
            "BadParams",
            format!("List {id} is in use by a campaign"),
        );
    }
    st.lists.retain(|l| l.id != id);
    st.count_applied("list.delete", id.to_string());
    ok_envelope(format!(
        "List {id} in Project 10216 was successfully deleted."
    ))
}

/// Adds or removes one user (by email) from a list, updating the profile and
/// recording the subscribe/unsubscribe event.
fn apply_membership(
    world: &World,
    req: &ApiRequest,
    list_id: i64,
    email: &str,
    subscribe: bool,
    data: Option<&Value>,
) {
    let now = req.now.timestamp();
    let model = &world.model;
    let mut st = world.write();
    if let Some(l) = st.lists.iter_mut().find(|l| l.id == list_id) {
        if subscribe {
            l.removed.remove(email);
            l.added.insert(email.to_string());
        } else {
            l.added.remove(email);
            l.removed.insert(email.to_string());
        }
    }
    let profile = upsert_profile(&mut st, model, email, now, |p| {
        if let Some(Value::Object(d)) = data {
            for (k, v) in d {
                p.insert(k.clone(), v.clone());
            }
        }
        let mut ids: Vec<i64> = p
            .get("emailListIds")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        ids.retain(|x| *x != list_id);
        if subscribe {
            ids.push(list_id);
        }
        p.insert("emailListIds".into(), json!(ids));
    });
    let mut row = json!({"email": email, "createdAt": export_ts(now), "emailListIds": [list_id], "emailListId": list_id,
        "channelIds": [], "itblInternal": {"documentCreatedAt": export_ts(now), "documentUpdatedAt": export_ts(now)}});
    if let Some(uid) = profile.get("userId") {
        row["userId"] = uid.clone();
    }
    if subscribe {
        row["signupSource"] = json!("ListAPI");
        row["profileUpdatedAt"] = json!(export_ts(now));
    } else {
        row["unsubSource"] = json!("ListAPI");
    }
    let ty = if subscribe {
        "emailSubscribe"
    } else {
        "emailUnSubscribe"
    };
    st.overlay.events.push(OverlayEvent {
        type_name: ty,
        secs: now,
        email: email.to_string(),
        row,
        id: None,
    });
}

/// `POST /api/lists/subscribe` and `/api/lists/unsubscribe`: per-row failures, never a failed batch.
pub fn subscribe(world: &World, req: &ApiRequest, subscribe: bool) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(list_id) = b.get("listId").and_then(Value::as_i64) else {
        return bad("listId is required");
    };
    let Some(subs) = b.get("subscribers").and_then(Value::as_array) else {
        return bad("subscribers is required");
    };
    if !world.read().lists.iter().any(|l| l.id == list_id) {
        return not_found(format!("List {list_id} not found"));
    }
    let existing_only = b
        .get("updateExistingUsersOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut out = Bulk::default();
    for s in subs {
        let email = match resolve_subscriber(world, s, &mut out, subscribe && !existing_only) {
            Some(e) => e,
            None => continue,
        };
        if existing_only && !world.read().overlay.exists(&world.model, &email) {
            out.fail("notFoundEmails", &email);
            continue;
        }
        apply_membership(world, req, list_id, &email, subscribe, s.get("dataFields"));
        let kind = if subscribe {
            "list.subscribe"
        } else {
            "list.unsubscribe"
        };
        world
            .write()
            .count_applied(kind, format!("{list_id}/{email}"));
        out.success += 1;
    }
    ApiResponse::json(200, out.to_json(false))
}

/// The email a subscriber row refers to, or records why it failed.
fn resolve_subscriber(
    world: &World,
    s: &Value,
    out: &mut Bulk,
    may_create: bool,
) -> Option<String> {
    let st = world.read();
    if let Some(e) = s.get("email").and_then(Value::as_str) {
        if !users::valid_email(e) {
            out.fail("invalidEmails", e);
            return None;
        }
        if st.overlay.forgotten.contains(e) {
            out.fail("forgottenEmails", e);
            return None;
        }
        if !may_create && !st.overlay.exists(&world.model, e) {
            out.fail("notFoundEmails", e);
            return None;
        }
        return Some(e.to_string());
    }
    if let Some(id) = s.get("userId").and_then(Value::as_str) {
        return match st.overlay.profile_by_user_id(&world.model, id) {
            Some(p) => p.get("email").and_then(Value::as_str).map(String::from),
            None => {
                out.fail("notFoundUserIds", id);
                None
            }
        };
    }
    out.fail("invalidEmails", "");
    None
}

/// Applies a subscription-group action for one user.
fn group_action(
    world: &World,
    req: &ApiRequest,
    group: &str,
    gid: i64,
    email: &str,
    subscribe: bool,
) -> Result<(), ApiResponse> {
    match group.to_ascii_lowercase().as_str() {
        "emaillist" => {
            apply_membership(world, req, gid, email, subscribe, None);
            Ok(())
        }
        g @ ("messagetype" | "messagechannel") => {
            let (add_key, remove_key) = match (g, subscribe) {
                ("messagetype", true) => (
                    Some("subscribedMessageTypeIds"),
                    "unsubscribedMessageTypeIds",
                ),
                ("messagetype", false) => (
                    Some("unsubscribedMessageTypeIds"),
                    "subscribedMessageTypeIds",
                ),
                (_, true) => (None, "unsubscribedChannelIds"),
                (_, false) => (Some("unsubscribedChannelIds"), ""),
            };
            let mut st = world.write();
            upsert_profile(&mut st, &world.model, email, req.now.timestamp(), |p| {
                let mut edit = |k: &str, add: bool| {
                    let mut ids: Vec<i64> = p
                        .get(k)
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_i64).collect())
                        .unwrap_or_default();
                    ids.retain(|x| *x != gid);
                    if add {
                        ids.push(gid);
                    }
                    p.insert(k.to_string(), json!(ids));
                };
                if let Some(k) = add_key {
                    edit(k, true);
                }
                if !remove_key.is_empty() {
                    edit(remove_key, false);
                }
            });
            Ok(())
        }
        _ => Err(bad(format!("Invalid subscription group: {group}"))),
    }
}

fn group_exists(world: &World, group: &str, gid: i64) -> bool {
    let st = world.read();
    match group.to_ascii_lowercase().as_str() {
        "emaillist" => st.lists.iter().any(|l| l.id == gid),
        "messagetype" => st
            .message_types
            .iter()
            .any(|m| m["id"].as_i64() == Some(gid)),
        "messagechannel" => st.channels.iter().any(|c| c["id"].as_i64() == Some(gid)),
        _ => true,
    }
}

/// `PUT /api/subscriptions/{group}/{id}?action=subscribe|unsubscribe` (bulk, 202).
pub fn subscription_bulk(world: &World, req: &ApiRequest, group: &str, id: &str) -> ApiResponse {
    let gid = match parse_list_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let subscribe = match req.param("action").unwrap_or("subscribe") {
        a if a.eq_ignore_ascii_case("subscribe") => true,
        a if a.eq_ignore_ascii_case("unsubscribe") => false,
        a => return bad(format!("Invalid action: {a}")),
    };
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    if !group_exists(world, group, gid) {
        return not_found(format!("Subscription group {group} {gid} not found"));
    }
    let mut emails: Vec<String> = b["users"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    for uid in b["usersByUserId"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(e) = super::export::resolve_user(world, None, Some(uid)) {
            emails.push(e);
        }
    }
    for e in emails.iter().filter(|e| users::valid_email(e)) {
        if let Err(r) = group_action(world, req, group, gid, e, subscribe) {
            return r;
        }
    }
    ApiResponse {
        status: 202,
        ..ok_envelope("")
    }
}

/// `PATCH|DELETE /api/subscriptions/{group}/{id}/user/{email}` (and `/byUserId/{userId}`).
pub fn subscription_one(
    world: &World,
    req: &ApiRequest,
    group: &str,
    id: &str,
    email: Option<&str>,
    user_id: Option<&str>,
    subscribe: bool,
) -> ApiResponse {
    let gid = match parse_list_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if !group_exists(world, group, gid) {
        return not_found(format!("Subscription group {group} {gid} not found"));
    }
    let Some(e) = super::export::resolve_user(world, email, user_id) else {
        return ApiResponse::error(400, "UnknownUserIdError", "No user exists with this userId");
    };
    if !users::valid_email(&e) {
        return invalid_email(&e);
    }
    match group_action(world, req, group, gid, &e, subscribe) {
        Ok(()) => ApiResponse {
            status: 202,
            ..ok_envelope("")
        },
        Err(r) => r,
    }
}
