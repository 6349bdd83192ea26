//! Templates: paged list with type/medium/creation-time filters, per-medium
//! gets, and upsert/update writes.

use serde_json::{Value, json};

use super::campaigns::sort_entities;
use super::{bad, body, int_param, not_found, page_of, paging, time_param, with_links};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::{TemplateEnt, World, entities, int};

fn medium_of(kind: &str) -> Option<&'static str> {
    match kind {
        "email" => Some("Email"),
        "push" => Some("Push"),
        "sms" => Some("SMS"),
        "inapp" => Some("InApp"),
        _ => None,
    }
}

/// `GET /api/templates`.
pub fn list(world: &World, req: &ApiRequest) -> ApiResponse {
    let tt = req.param("templateType");
    let mm = req.param("messageMedium");
    if let Some(t) = tt.filter(|t| !entities::TEMPLATE_TYPES.contains(t)) {
        return bad(format!("Invalid templateType: {t}"));
    }
    if let Some(m) = mm.filter(|m| !entities::TEMPLATE_MEDIUMS.contains(m)) {
        return bad(format!("Invalid messageMedium: {m}"));
    }
    let (start, end) = match (
        time_param(req, "startDateTime"),
        time_param(req, "endDateTime"),
    ) {
        (Ok(s), Ok(e)) => (
            s.map(|x| x * 1000).unwrap_or(i64::MIN),
            e.map(|x| x * 1000).unwrap_or(i64::MAX),
        ),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut items: Vec<Value> = world
        .read()
        .templates
        .iter()
        .filter(|t| tt.is_none_or(|x| x == t.template_type) && mm.is_none_or(|x| x == t.medium))
        // The date filter applies to creation time, not updates.
        .filter(|t| {
            let c = int(&t.json, "createdAt");
            c >= start && c < end
        })
        .map(|t| t.json.clone())
        .collect();
    if let Err(e) = sort_entities(
        &mut items,
        req.param("sort"),
        "templateId",
        &["name", "createdAt", "updatedAt"],
    ) {
        return e;
    }
    match paging(req, 20, 1000) {
        Err(e) => e,
        Ok(None) => ApiResponse::json(200, json!({"templates": items})),
        Ok(Some((page, size))) => {
            let (slice, next, prev) = page_of(req, &items, page, size);
            ApiResponse::json(
                200,
                with_links(
                    json!({"templates": slice}),
                    "totalTemplatesCount",
                    items.len(),
                    next,
                    prev,
                ),
            )
        }
    }
}

fn full(t: &TemplateEnt) -> Value {
    let mut v = t.json.clone();
    for (k, x) in &t.detail {
        v[k.as_str()] = x.clone();
    }
    v["metadata"] = json!({"templateId": t.json["templateId"], "createdAt": t.json["createdAt"],
        "updatedAt": t.json["updatedAt"], "name": t.json["name"], "creatorUserId": t.json["creatorUserId"],
        "messageTypeId": t.json["messageTypeId"]});
    v
}

/// `GET /api/templates/{email|push|sms|inapp}/get?templateId=`.
pub fn get(world: &World, req: &ApiRequest, kind: &str) -> ApiResponse {
    let Some(medium) = medium_of(kind) else {
        return not_found(format!("No {kind} templates in this project"));
    };
    let id = match int_param(req, "templateId") {
        Ok(Some(i)) => i,
        Ok(None) => return bad("templateId is required"),
        Err(e) => return e,
    };
    if req
        .param("locale")
        .is_some_and(|l| !l.eq_ignore_ascii_case("en"))
    {
        return not_found(format!("Template {id} has no content for this locale"));
    }
    match world
        .read()
        .templates
        .iter()
        .find(|t| int(&t.json, "templateId") == id && t.medium == medium)
    {
        Some(t) => ApiResponse::json(200, full(t)),
        None => not_found(format!("{medium} template {id} not found")),
    }
}

/// `GET /api/templates/getByClientTemplateId?clientTemplateId=`.
pub fn by_client_id(world: &World, req: &ApiRequest) -> ApiResponse {
    let Some(cid) = req.param("clientTemplateId") else {
        return bad("clientTemplateId is required");
    };
    let found: Vec<Value> = world
        .read()
        .templates
        .iter()
        .filter(|t| t.json["clientTemplateId"].as_str() == Some(cid))
        .map(|t| {
            let mut v = json!({"templateId": t.json["templateId"], "locales": ["en"]});
            if let Some(c) = t.json.get("campaignId") {
                v["campaignId"] = c.clone();
            }
            v
        })
        .collect();
    ApiResponse::json(200, json!({"templates": found}))
}

/// Applies body fields: list-item fields to the summary, the rest to the detail.
fn apply(t: &mut TemplateEnt, b: &Value, now_ms: i64) {
    if let Value::Object(m) = b {
        for (k, v) in m {
            match k.as_str() {
                "templateId" => {}
                "name" | "messageTypeId" | "creatorUserId" | "clientTemplateId" => {
                    t.json[k.as_str()] = v.clone()
                }
                _ => {
                    t.detail.insert(k.clone(), v.clone());
                }
            }
        }
    }
    t.json["updatedAt"] = json!(now_ms);
}

/// `POST /api/templates/{kind}/upsert`: keyed by `clientTemplateId`.
pub fn upsert(world: &World, req: &ApiRequest, kind: &str) -> ApiResponse {
    let Some(medium) = medium_of(kind) else {
        return not_found(format!("No {kind} templates in this project"));
    };
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(cid) = b
        .get("clientTemplateId")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    else {
        return bad("clientTemplateId is required");
    };
    let now_ms = req.now.timestamp_millis();
    let mut st = world.write();
    let mut ids = Vec::new();
    for t in st
        .templates
        .iter_mut()
        .filter(|t| t.medium == medium && t.json["clientTemplateId"].as_str() == Some(cid))
    {
        apply(t, &b, now_ms);
        ids.push(int(&t.json, "templateId"));
    }
    if ids.is_empty() {
        let id = st.alloc_id();
        let mt = st
            .message_types
            .first()
            .map(|m| int(m, "id"))
            .unwrap_or_default();
        let name = b
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(cid)
            .to_string();
        let mut t = entities::template(
            world.model.seed,
            id,
            "Base",
            medium,
            None,
            &name,
            now_ms,
            now_ms,
            mt,
        );
        t.json["clientTemplateId"] = json!(cid);
        t.json["creatorUserId"] = json!("api@example.com");
        apply(&mut t, &b, now_ms);
        st.templates.push(t);
        ids.push(id);
    }
    st.count_applied("template.upsert", cid);
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    ApiResponse::success(
        format!("Upserted {} templates with IDs: {list}", ids.len()),
        json!({"templateIds": ids}),
    )
}

/// `POST /api/templates/{kind}/update`: only the fields present change.
pub fn update(world: &World, req: &ApiRequest, kind: &str) -> ApiResponse {
    let Some(medium) = medium_of(kind) else {
        return not_found(format!("No {kind} templates in this project"));
    };
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(id) = b.get("templateId").and_then(Value::as_i64) else {
        return bad("templateId is required");
    };
    let mut st = world.write();
    match st
        .templates
        .iter_mut()
        .find(|t| int(&t.json, "templateId") == id && t.medium == medium)
    {
        Some(t) => {
            apply(t, &b, req.now.timestamp_millis());
            st.count_applied("template.update", id.to_string());
            ApiResponse::success(format!("Updated template {id}"), Value::Null)
        }
        None => not_found(format!("{medium} template {id} not found")),
    }
}

/// `POST /api/templates/bulkDelete` `{"ids": [..]}`: templates of a
/// campaign stay (Iterable: "Templates which are associated with a campaign
/// will not be deleted") and are listed as failed, as are unknown ids.
pub fn bulk_delete(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(ids) = b.get("ids").and_then(Value::as_array) else {
        return bad("ids is required: an array of template ids");
    };
    let Some(ids) = ids.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>() else {
        return bad("ids must be template ids (integers)");
    };
    let mut st = world.write();
    let (mut success, mut failed) = (Vec::new(), Vec::new());
    let mut in_campaign = false;
    for id in ids {
        match st
            .templates
            .iter()
            .position(|t| int(&t.json, "templateId") == id)
        {
            Some(i) if st.templates[i].json.get("campaignId").is_some() => {
                in_campaign = true;
                failed.push(id);
            }
            Some(i) => {
                st.templates.remove(i);
                st.count_applied("template.delete", id.to_string());
                success.push(id);
            }
            None => failed.push(id),
        }
    }
    let mut out = json!({"success": success, "failed": failed});
    if in_campaign {
        out["failureReason"] =
            json!("Templates which are associated with a campaign will not be deleted");
    } else if !out["failed"].as_array().is_some_and(Vec::is_empty) {
        out["failureReason"] = json!("Template not found");
    }
    ApiResponse::json(200, out)
}
