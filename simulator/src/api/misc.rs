//! Small read-only families: channels, message types, journeys, snippets,
//! webhooks and metadata tables.

use serde_json::{Value, json};

use super::campaigns::sort_entities;
use super::{bad, not_found, page_of, paging, with_links};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::{World, int};

pub fn channels(world: &World) -> ApiResponse {
    ApiResponse::json(200, json!({"channels": world.read().channels}))
}

pub fn message_types(world: &World) -> ApiResponse {
    ApiResponse::json(200, json!({"messageTypes": world.read().message_types}))
}

/// `GET /api/journeys`: paged (default 10, max 50); archived journeys only with `state=Archived`.
pub fn journeys(world: &World, req: &ApiRequest) -> ApiResponse {
    let states: Vec<String> = req
        .params("state")
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut items: Vec<Value> = world
        .read()
        .journeys
        .iter()
        .filter(|j| {
            let archived = j["isArchived"] == true;
            if states.is_empty() {
                return !archived;
            }
            states.iter().any(|s| match s.as_str() {
                "archived" => archived,
                "draft" => !archived && j["journeyType"] == "Draft",
                "published" => !archived && j["journeyType"] == "Published",
                "enabled" | "active" => !archived && j["enabled"] == true,
                "disabled" => !archived && j["enabled"] == false,
                _ => false,
            })
        })
        .cloned()
        .collect();
    if let Err(e) = sort_entities(
        &mut items,
        req.param("sort"),
        "id",
        &["name", "createdAt", "updatedAt"],
    ) {
        return e;
    }
    let (page, size) = match paging(req, 10, 50) {
        Ok(p) => p.unwrap_or((1, 10)),
        Err(e) => return e,
    };
    let (slice, next, prev) = page_of(req, &items, page, size);
    ApiResponse::json(
        200,
        with_links(
            json!({"journeys": slice}),
            "totalJourneysCount",
            items.len(),
            next,
            prev,
        ),
    )
}

pub fn snippets(world: &World) -> ApiResponse {
    ApiResponse::json(200, json!({"snippets": world.read().snippets}))
}

/// `GET /api/snippets/{id or name}`.
pub fn snippet(world: &World, ident: &str) -> ApiResponse {
    let st = world.read();
    let found = st
        .snippets
        .iter()
        .find(|s| s["name"] == ident || int(s, "id").to_string() == ident);
    match found {
        Some(s) => ApiResponse::json(200, json!({"snippet": s})),
        None => not_found(format!("Snippet {ident} not found")),
    }
}

pub fn webhooks(world: &World) -> ApiResponse {
    ApiResponse::json(200, json!({"webhooks": world.read().webhooks}))
}

/// `GET /api/metadata`.
pub fn metadata_tables(world: &World) -> ApiResponse {
    let names: Vec<Value> = world
        .read()
        .metadata
        .keys()
        .map(|n| json!({"name": n}))
        .collect();
    ApiResponse::json(200, json!({"results": names}))
}

/// `GET /api/metadata/{table}[?nextMarker=]`: keys after the marker, one page at a time.
pub fn metadata_keys(world: &World, req: &ApiRequest, table: &str) -> ApiResponse {
    let st = world.read();
    let Some(keys) = st.metadata.get(table) else {
        return not_found(format!("Table {table} not found"));
    };
    let per = world.model.cfg.metadata_page;
    let after = req
        .param("nextMarker")
        .filter(|m| !m.is_empty() && *m != "None");
    let page: Vec<(&String, &Value)> = keys
        .iter()
        .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
        .take(per + 1)
        .collect();
    let more = page.len() > per;
    let results: Vec<Value> = page
        .iter()
        .take(per)
        .map(|(_, v)| json!({"table": v["table"], "key": v["key"], "size": v["size"], "lastModified": v["lastModified"]}))
        .collect();
    let mut out = json!({"results": results});
    if more && let Some(last) = results.last() {
        out["nextMarker"] = last["key"].clone();
    }
    ApiResponse::json(200, out)
}

/// `GET /api/metadata/{table}/{key}`.
pub fn metadata_value(world: &World, table: &str, key: &str) -> ApiResponse {
    match world.read().metadata.get(table).and_then(|t| t.get(key)) {
        Some(v) => ApiResponse::json(200, v.clone()),
        None if key.is_empty() => bad("key is required"),
        None => not_found(format!("Key {key} not found in table {table}")),
    }
}
