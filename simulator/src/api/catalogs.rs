//! Catalogs: names, items (paged, wrapped in the `{msg,code,params}` envelope),
//! field mappings, and item writes (single and bulk; async → 202: checked at
//! once, applied through [`World::apply_later`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{bad, body, not_found, page_of, paging, with_links};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::{CatalogEnt, CatalogItem, World};

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn wrapped(params: Value) -> ApiResponse {
    ApiResponse::success("", params)
}

fn accepted(msg: String) -> ApiResponse {
    ApiResponse {
        status: 202,
        ..ApiResponse::success(msg, Value::Null)
    }
}

fn item_json(c: &CatalogEnt, id: &str, it: &CatalogItem) -> Value {
    json!({"catalogName": c.name, "itemId": id, "lastModified": it.last_modified,
        "size": it.value.to_string().len(), "value": it.value})
}

/// `GET /api/catalogs`.
pub fn list(world: &World, req: &ApiRequest) -> ApiResponse {
    let names: Vec<Value> = world
        .read()
        .catalogs
        .values()
        .map(|c| json!({"name": c.name}))
        .collect();
    let (page, size) = match paging(req, 10, 1000) {
        Ok(p) => p.unwrap_or((1, 10)),
        Err(e) => return e,
    };
    let (slice, next, prev) = page_of(req, &names, page, size);
    wrapped(with_links(
        json!({"catalogNames": slice}),
        "totalCatalogsCount",
        names.len(),
        next,
        prev,
    ))
}

/// `POST /api/catalogs/{name}`.
pub fn create(world: &World, name: &str) -> ApiResponse {
    if !valid_name(name) {
        return bad(format!("Invalid catalog name: {name}"));
    }
    let mut st = world.write();
    let key = name.to_ascii_lowercase();
    if st.catalogs.contains_key(&key) {
        return bad(format!("Catalog {name} already exists"));
    }
    st.count_applied("catalog.create", &key);
    st.catalogs.insert(
        key,
        CatalogEnt {
            name: name.to_string(),
            items: BTreeMap::new(),
            mappings: BTreeMap::new(),
        },
    );
    ApiResponse {
        status: 201,
        ..ApiResponse::success(
            "",
            json!({"name": name, "url": format!("/api/catalogs/{name}")}),
        )
    }
}

/// `DELETE /api/catalogs/{name}`.
pub fn delete(world: &World, name: &str) -> ApiResponse {
    let key = name.to_ascii_lowercase();
    let mut st = world.write();
    match st.catalogs.remove(&key) {
        Some(_) => {
            st.count_applied("catalog.delete", key);
            ApiResponse::success(format!("Successfully deleted catalog {name}"), Value::Null)
        }
        None => not_found(format!("Catalog {name} not found")),
    }
}

/// `GET /api/catalogs/{name}/fieldMappings`.
pub fn field_mappings(world: &World, name: &str) -> ApiResponse {
    let st = world.read();
    let Some(c) = st.catalogs.get(&name.to_ascii_lowercase()) else {
        return not_found(format!("Catalog {name} not found"));
    };
    let mut undefined = BTreeSet::new();
    for it in c.items.values() {
        if let Value::Object(m) = &it.value {
            undefined.extend(m.keys().filter(|k| !c.mappings.contains_key(*k)).cloned());
        }
    }
    wrapped(json!({"definedMappings": c.mappings, "undefinedFields": undefined}))
}

/// `PUT /api/catalogs/{name}/fieldMappings`: a defined type never changes.
pub fn put_field_mappings(world: &World, req: &ApiRequest, name: &str) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(updates) = b.get("mappingsUpdates").and_then(Value::as_array) else {
        return bad("mappingsUpdates is required");
    };
    let mut st = world.write();
    let Some(c) = st.catalogs.get_mut(&name.to_ascii_lowercase()) else {
        return not_found(format!("Catalog {name} not found"));
    };
    for u in updates {
        let (Some(f), Some(t)) = (u["fieldName"].as_str(), u["fieldType"].as_str()) else {
            return bad("fieldName and fieldType are required");
        };
        if ![
            "boolean",
            "date",
            "geo_location",
            "long",
            "double",
            "object",
            "string",
        ]
        .contains(&t)
        {
            return bad(format!("Invalid fieldType: {t}"));
        }
        if c.mappings.get(f).is_some_and(|old| old != t) {
            return bad(format!("Field {f} already has a different type"));
        }
        c.mappings.insert(f.to_string(), t.to_string());
    }
    accepted(format!(
        "Request to update field mappings for catalog {name} received"
    ))
}

/// `GET /api/catalogs/{name}/items`.
pub fn items(world: &World, req: &ApiRequest, name: &str) -> ApiResponse {
    let st = world.read();
    let Some(c) = st.catalogs.get(&name.to_ascii_lowercase()) else {
        return not_found(format!("Catalog {name} not found"));
    };
    let (page, size) = match paging(req, 10, 1000) {
        Ok(p) => p.unwrap_or((1, 10)),
        Err(e) => return e,
    };
    let mut all: Vec<Value> = c
        .items
        .iter()
        .map(|(id, it)| item_json(c, id, it))
        .collect();
    if let Some(field) = req.param("orderBy").filter(|f| !f.is_empty()) {
        // Sorting needs a defined field type, as in Iterable.
        if !c.mappings.contains_key(field) {
            return bad(format!("Cannot sort by {field}: field has no defined type"));
        }
        let asc = super::bool_param(req, "sortAscending");
        all.sort_by(|a, b| {
            let (x, y) = (&a["value"][field], &b["value"][field]);
            let o = match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.to_string().cmp(&y.to_string()),
            };
            if asc { o } else { o.reverse() }
        });
    }
    let (slice, next, prev) = page_of(req, &all, page, size);
    wrapped(with_links(
        json!({"catalogItemsWithProperties": slice}),
        "totalItemsCount",
        all.len(),
        next,
        prev,
    ))
}

/// `GET /api/catalogs/{name}/items/{itemId}`: unwrapped.
pub fn item(world: &World, name: &str, id: &str) -> ApiResponse {
    let st = world.read();
    let Some(c) = st.catalogs.get(&name.to_ascii_lowercase()) else {
        return not_found(format!("Catalog {name} not found"));
    };
    match c.items.get(id) {
        Some(it) => ApiResponse::json(200, item_json(c, id, it)),
        None => not_found(format!("Item {id} not found in catalog {name}")),
    }
}

fn upsert(c: &mut CatalogEnt, id: &str, value: &Value, merge: bool, now_ms: i64) {
    let entry = c.items.entry(id.to_string()).or_insert(CatalogItem {
        value: json!({}),
        last_modified: now_ms,
    });
    match (merge, &mut entry.value, value) {
        (true, Value::Object(old), Value::Object(new)) => {
            for (k, v) in new {
                old.insert(k.clone(), v.clone());
            }
        }
        _ => entry.value = value.clone(),
    }
    entry.last_modified = now_ms;
}

/// `PUT` (replace, body `{value}`) and `PATCH` (merge, body `{update}`) of one item.
pub fn put_item(world: &World, req: &ApiRequest, name: &str, id: &str, patch: bool) -> ApiResponse {
    if !valid_name(id) {
        return bad(format!("Invalid itemId: {id}"));
    }
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let key = if patch { "update" } else { "value" };
    let Some(value) = b.get(key).filter(|v| v.is_object()) else {
        return bad(format!("{key} is required"));
    };
    if value.to_string().len() > 30 * 1024 {
        return bad("Item exceeds 30 KB");
    }
    let key = name.to_ascii_lowercase();
    {
        let mut st = world.write();
        if !st.catalogs.contains_key(&key) {
            return not_found(format!("Catalog {name} not found"));
        }
        st.count_applied("catalog_item.upsert", format!("{key}/{id}"));
    }
    let now_ms = req.now.timestamp_millis();
    let (id_owned, value) = (id.to_string(), value.clone());
    world.apply_later(now_ms, move |st, _| {
        if let Some(c) = st.catalogs.get_mut(&key) {
            upsert(c, &id_owned, &value, patch, now_ms);
        }
    });
    let verb = if patch { "update" } else { "create or replace" };
    accepted(format!(
        "Request to {verb} item {id} in catalog {name} received. Use GET to verify."
    ))
}

/// `DELETE /api/catalogs/{name}/items/{itemId}`.
pub fn delete_item(world: &World, req: &ApiRequest, name: &str, id: &str) -> ApiResponse {
    let key = name.to_ascii_lowercase();
    {
        let mut st = world.write();
        let Some(c) = st.catalogs.get(&key) else {
            return not_found(format!("Catalog {name} not found"));
        };
        if !c.items.contains_key(id) {
            return not_found(format!("Item {id} not found in catalog {name}"));
        }
        st.count_applied("catalog_item.delete", format!("{key}/{id}"));
    }
    let id_owned = id.to_string();
    world.apply_later(req.now.timestamp_millis(), move |st, _| {
        if let Some(c) = st.catalogs.get_mut(&key) {
            c.items.remove(&id_owned);
        }
    });
    accepted(format!(
        "Request to delete item {id} in catalog {name} received"
    ))
}

/// `POST /api/catalogs/{name}/items`: bulk upsert of ≤1000 documents.
pub fn bulk_upsert(world: &World, req: &ApiRequest, name: &str) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(docs) = b.get("documents").and_then(Value::as_object) else {
        return bad("documents is required");
    };
    let Some(partial) = b.get("replaceUploadedFieldsOnly").and_then(Value::as_bool) else {
        return bad("replaceUploadedFieldsOnly is required");
    };
    if docs.len() > 1000 {
        return bad("At most 1000 documents per request");
    }
    if let Some(bad_id) = docs.keys().find(|k| !valid_name(k)) {
        return bad(format!("Invalid itemId: {bad_id}"));
    }
    let key = name.to_ascii_lowercase();
    {
        let mut st = world.write();
        if !st.catalogs.contains_key(&key) {
            return not_found(format!("Catalog {name} not found"));
        }
        for id in docs.keys() {
            st.count_applied("catalog_item.upsert", format!("{key}/{id}"));
        }
    }
    let now_ms = req.now.timestamp_millis();
    let docs_owned = docs.clone();
    world.apply_later(now_ms, move |st, _| {
        if let Some(c) = st.catalogs.get_mut(&key) {
            for (id, v) in &docs_owned {
                upsert(c, id, v, partial, now_ms);
            }
        }
    });
    accepted(format!(
        "Request to bulk upload {} items to catalog {name} received",
        docs.len()
    ))
}

/// `DELETE /api/catalogs/{name}/items` with `{itemIds}`.
pub fn bulk_delete(world: &World, req: &ApiRequest, name: &str) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(ids) = b.get("itemIds").and_then(Value::as_array) else {
        return bad("itemIds is required");
    };
    let key = name.to_ascii_lowercase();
    let ids_owned: Vec<String> = ids
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    {
        let mut st = world.write();
        let Some(c) = st.catalogs.get(&key) else {
            return not_found(format!("Catalog {name} not found"));
        };
        let present: Vec<String> = ids_owned
            .iter()
            .filter(|id| c.items.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in present {
            st.count_applied("catalog_item.delete", format!("{key}/{id}"));
        }
    }
    world.apply_later(req.now.timestamp_millis(), move |st, _| {
        if let Some(c) = st.catalogs.get_mut(&key) {
            for id in &ids_owned {
                c.items.remove(id);
            }
        }
    });
    accepted(format!(
        "Request to bulk delete {} items from catalog {name} received",
        ids.len()
    ))
}
