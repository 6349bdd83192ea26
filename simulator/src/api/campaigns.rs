//! Campaigns: list/get, CSV metrics, experiments metrics, and campaign writes.

use serde_json::{Value, json};

use super::{
    bad, body, csv_cell, csv_line, not_found, ok_envelope, page_of, paging, time_param, with_links,
};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::rng::Rng;
use crate::world::{World, entities, int, text};

/// Sorts entity JSON by `sort` (`field`, `+field`, `-field`); `id_key` for the default.
pub(crate) fn sort_entities(
    items: &mut [Value],
    sort: Option<&str>,
    id_key: &str,
    allowed: &[&str],
) -> Result<(), ApiResponse> {
    let sort = sort.unwrap_or("id");
    let (desc, field) = match sort.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, sort.trim_start_matches('+').trim_start_matches(' ')),
    };
    let field = if field == "id" { id_key } else { field };
    if field != id_key && !allowed.contains(&field) {
        return Err(bad(format!("Invalid sort field: {field}")));
    }
    items.sort_by(|a, b| {
        let o = match (&a[field], &b[field]) {
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (x, y) => x
                .as_i64()
                .unwrap_or(i64::MIN)
                .cmp(&y.as_i64().unwrap_or(i64::MIN)),
        }
        .then_with(|| int(a, id_key).cmp(&int(b, id_key)));
        if desc { o.reverse() } else { o }
    });
    Ok(())
}

fn list_filtered(world: &World, req: &ApiRequest, pred: impl Fn(&Value) -> bool) -> ApiResponse {
    let states: Vec<String> = req
        .params("campaignState")
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .collect();
    let mut items: Vec<Value> = world
        .read()
        .campaigns
        .iter()
        .filter(|c| pred(c))
        .filter(|c| {
            states.is_empty()
                || states
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(text(c, "campaignState")))
        })
        .cloned()
        .collect();
    if let Err(e) = sort_entities(
        &mut items,
        req.param("sort"),
        "id",
        &["name", "createdAt", "updatedAt", "startAt"],
    ) {
        return e;
    }
    match paging(req, 20, 1000) {
        Err(e) => e,
        // Legacy mode: everything in one array, no count or links.
        Ok(None) => ApiResponse::json(200, json!({"campaigns": items})),
        Ok(Some((page, size))) => {
            let (slice, next, prev) = page_of(req, &items, page, size);
            ApiResponse::json(
                200,
                with_links(
                    json!({"campaigns": slice}),
                    "totalCampaignsCount",
                    items.len(),
                    next,
                    prev,
                ),
            )
        }
    }
}

/// `GET /api/campaigns`.
pub fn list(world: &World, req: &ApiRequest) -> ApiResponse {
    list_filtered(world, req, |_| true)
}

/// `GET /api/campaigns/recurring/{id}/childCampaigns`.
pub fn children(world: &World, req: &ApiRequest, id: &str) -> ApiResponse {
    let Ok(id) = id.parse::<i64>() else {
        return bad(format!("Invalid campaign id: {id}"));
    };
    if !world.read().campaigns.iter().any(|c| int(c, "id") == id) {
        return not_found(format!("Campaign {id} not found"));
    }
    list_filtered(world, req, |c| int(c, "recurringCampaignId") == id)
}

/// `GET /api/campaigns/{id}`.
pub fn get(world: &World, id: &str) -> ApiResponse {
    let Ok(id) = id.parse::<i64>() else {
        return bad(format!("Invalid campaign id: {id}"));
    };
    match world.read().campaigns.iter().find(|c| int(c, "id") == id) {
        Some(c) => ApiResponse::json(200, c.clone()),
        None => not_found(format!("Campaign {id} not found")),
    }
}

const COMMON: [&str; 10] = [
    "Average Custom Conversion Value",
    "Average Order Value",
    "Revenue",
    "Sum of Custom Conversions",
    "Total Custom Conversions",
    "Total Purchases",
    "Total Unsubscribes",
    "Unique Custom Conversions",
    "Unique Purchases",
    "Unique Unsubscribes",
];

/// Medium-specific metric columns, in header order.
fn medium_columns(medium: &str) -> &'static [&'static str] {
    match medium {
        "Email" => &[
            "Purchases / M (Email)",
            "Revenue / M (Email)",
            "Total Complaints",
            "Total Email Holdout",
            "Total Email Opens",
            "Total Email Opens (filtered)",
            "Total Email Send Skips",
            "Total Email Sends",
            "Total Emails Bounced",
            "Total Emails Clicked",
            "Total Emails Delivered",
            "Unique Email Clicks",
            "Unique Email Opens",
            "Unique Email Opens (filtered)",
            "Unique Email Opens Or Clicks",
            "Unique Email Sends",
            "Unique Emails Bounced",
            "Unique Emails Delivered",
        ],
        "Push" => &[
            "Purchases / M (Push)",
            "Revenue / M (Push)",
            "Total App Uninstalls",
            "Total Push Holdout",
            "Total Push Send Skips",
            "Total Pushes Bounced",
            "Total Pushes Delivered",
            "Total Pushes Opened",
            "Total Pushes Sent",
            "Unique Pushes Bounced",
            "Unique Pushes Delivered",
            "Unique Pushes Opened",
            "Unique Pushes Sent",
        ],
        "WebPush" => &[
            "Total Web Push Clicks",
            "Total Web Push Send Skips",
            "Total Web Pushes Sent",
            "Total WebPush Holdout",
            "Unique Web Push Clicks",
            "Unique Web Pushes Sent",
        ],
        "SMS" => &[
            "Total SMS Bounced",
            "Total SMS Clicks",
            "Total SMS Delivered",
            "Total SMS Holdout",
            "Total SMS Sent",
            "Unique SMS Clicks",
            "Unique SMS Sent",
        ],
        "InApp" => &[
            "Total In-app Clicks",
            "Total In-app Closes",
            "Total In-app Holdout",
            "Total In-app Opens",
            "Total In-app Sends",
            "Unique In-app Clicks",
            "Unique In-app Opens",
            "Unique In-app Sends",
        ],
        "Embedded" => &[
            "Total Embedded Clicks",
            "Total Embedded Impressions",
            "Total Embedded Sends",
            "Unique Embedded Clicks",
        ],
        "WhatsApp" => &[
            "Total WhatsApp Clicks",
            "Total WhatsApp Delivered",
            "Total WhatsApp Sent",
            "Unique WhatsApp Sent",
        ],
        _ => &[],
    }
}

/// Deterministic metric value; averages and money are decimals.
fn metric(seed: u64, campaign: i64, col: &str, active: bool) -> String {
    if !active {
        return "0".into();
    }
    let mut r = Rng::new(
        seed,
        "metric",
        &[campaign as u64, crate::world::rng::label(col)],
    );
    if col.starts_with("Average") || col.starts_with("Revenue") || col.starts_with("Purchases /") {
        format!("{:.2}", r.below(100_000) as f64 / 100.0)
    } else {
        r.below(5_000).to_string()
    }
}

/// `GET /api/campaigns/metrics`: CSV, header then one row per known campaign id.
pub fn metrics(world: &World, req: &ApiRequest) -> ApiResponse {
    let ids: Vec<i64> = match req
        .params("campaignId")
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => return bad("campaignId is required"),
        Err(_) => return bad("Invalid campaignId"),
    };
    for k in ["startDateTime", "endDateTime"] {
        if let Err(e) = time_param(req, k) {
            return e;
        }
    }
    let st = world.read();
    let found: Vec<(i64, String, bool)> = ids
        .iter()
        .filter_map(|id| st.campaigns.iter().find(|c| int(c, "id") == *id))
        .map(|c| {
            let active = !matches!(text(c, "campaignState"), "Draft" | "Ready" | "Scheduled");
            (int(c, "id"), text(c, "messageMedium").to_string(), active)
        })
        .collect();
    let mut header = vec!["id".to_string()];
    header.extend(COMMON.iter().map(|s| s.to_string()));
    for m in entities::CAMPAIGN_MEDIUMS {
        if found.iter().any(|(_, fm, _)| fm == m) {
            header.extend(medium_columns(m).iter().map(|s| s.to_string()));
        }
    }
    let mut out = csv_line(
        &header
            .iter()
            .map(|h| csv_cell(&json!(h), ","))
            .collect::<Vec<_>>(),
        ",",
    );
    for (id, medium, active) in &found {
        let own = medium_columns(medium);
        let cells: Vec<String> = header
            .iter()
            .map(|h| {
                if h == "id" {
                    id.to_string()
                } else if COMMON.contains(&h.as_str()) || own.contains(&h.as_str()) {
                    metric(world.model.seed, *id, h, *active)
                } else {
                    String::new()
                }
            })
            .collect();
        out.push_str(&csv_line(&cells, ","));
    }
    ApiResponse::text(200, "text/csv", out)
}

const EXPERIMENT_COLUMNS: [&str; 24] = [
    "Campaign Id",
    "Experiment Id",
    "Template Id",
    "Name",
    "Type",
    "Created By",
    "Creation Date",
    "Last Modified",
    "Subject",
    "Improvement",
    "Confidence",
    "Total Email Sends",
    "Unique Email Sends",
    "Email Delivery Rate",
    "Total Emails Delivered",
    "Unique Emails Delivered",
    "Total Email Opens",
    "Unique Email Opens",
    "Email Open Rate",
    "Total Emails Clicked",
    "Unique Email Clicks",
    "Email Click Rate",
    "Revenue",
    "Total Purchases",
];

/// `GET /api/experiments/metrics`: CSV, one row per (experiment, variant template).
pub fn experiments(world: &World, req: &ApiRequest) -> ApiResponse {
    let parse = |name: &str| -> Result<Vec<i64>, ApiResponse> {
        req.params(name)
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| bad(format!("Invalid {name}: {s}")))
            })
            .collect()
    };
    let (exp_ids, camp_ids) = match (parse("experimentId"), parse("campaignId")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    for k in ["startDateTime", "endDateTime"] {
        if let Err(e) = time_param(req, k) {
            return e;
        }
    }
    let st = world.read();
    let mut out = csv_line(
        &EXPERIMENT_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ",",
    );
    for e in &st.experiments {
        if (!exp_ids.is_empty() && !exp_ids.contains(&e.id))
            || (!camp_ids.is_empty() && !camp_ids.contains(&e.campaign_id))
        {
            continue;
        }
        let name = st
            .campaigns
            .iter()
            .find(|c| int(c, "id") == e.campaign_id)
            .map(|c| text(c, "name"))
            .unwrap_or("");
        for (tid, ty, subject) in &e.variants {
            let mut r = Rng::new(
                world.model.seed,
                "experimentRow",
                &[e.id as u64, *tid as u64],
            );
            let sends = 1_000 + r.below(20_000);
            let delivered = sends - r.below(sends / 20 + 1);
            let opens = r.below(delivered + 1);
            let clicks = r.below(opens + 1);
            let created = crate::world::time::export_ts(e.created_ms / 1000);
            let cells: Vec<String> = vec![
                e.campaign_id.to_string(),
                e.id.to_string(),
                tid.to_string(),
                csv_cell(&json!(name), ","),
                ty.clone(),
                "ops@example.com".into(),
                created.clone(),
                created,
                csv_cell(&json!(subject), ","),
                if ty == "Control" {
                    String::new()
                } else {
                    format!("{:.2}", r.below(4000) as f64 / 100.0)
                },
                if ty == "Control" {
                    String::new()
                } else {
                    format!("{:.2}", 50.0 + r.below(5000) as f64 / 100.0)
                },
                sends.to_string(),
                sends.to_string(),
                format!("{:.4}", delivered as f64 / sends as f64),
                delivered.to_string(),
                delivered.to_string(),
                (opens * 2).to_string(),
                opens.to_string(),
                format!("{:.4}", opens as f64 / delivered.max(1) as f64),
                (clicks * 2).to_string(),
                clicks.to_string(),
                format!("{:.4}", clicks as f64 / delivered.max(1) as f64),
                format!("{:.2}", r.below(1_000_000) as f64 / 100.0),
                r.below(200).to_string(),
            ];
            out.push_str(&csv_line(&cells, ","));
        }
    }
    ApiResponse::text(200, "text/csv", out)
}

fn campaign_id(b: &Value) -> Result<i64, ApiResponse> {
    b.get("campaignId")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("campaignId is required"))
}

fn id_list(v: Option<&Value>) -> Vec<i64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// `POST /api/campaigns/create` → `{"campaignId"}`; the campaign gets a copy of the template.
pub fn create(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(name) = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return bad("name is required");
    };
    let Some(template_id) = b.get("templateId").and_then(Value::as_i64) else {
        return bad("templateId is required");
    };
    let list_ids = id_list(b.get("listIds"));
    let suppression = id_list(b.get("suppressionListIds"));
    let now_ms = req.now.timestamp_millis();
    let mut st = world.write();
    let Some(tmpl) = st
        .templates
        .iter()
        .find(|t| int(&t.json, "templateId") == template_id)
        .cloned()
    else {
        return bad(format!("Template {template_id} does not exist"));
    };
    if let Some(missing) = list_ids
        .iter()
        .chain(&suppression)
        .find(|l| !st.lists.iter().any(|x| x.id == **l))
    {
        return bad(format!("List {missing} does not exist"));
    }
    let blast = !list_ids.is_empty();
    let state = if b.get("scheduleSend") == Some(&Value::Bool(false)) {
        "Ready"
    } else if b.get("sendAt").and_then(Value::as_str).is_some() {
        "Scheduled"
    } else if blast {
        "Starting"
    } else {
        "Ready"
    };
    let id = st.alloc_id();
    let copy_id = st.alloc_id();
    let ty = if blast { "Blast" } else { "Triggered" };
    let mut copy = tmpl.clone();
    copy.json["templateId"] = json!(copy_id);
    copy.json["campaignId"] = json!(id);
    copy.json["createdAt"] = json!(now_ms);
    copy.json["updatedAt"] = json!(now_ms);
    copy.template_type = ty.to_string();
    let medium = match tmpl.medium.as_str() {
        "Email" => "Email",
        "Push" => "Push",
        "InApp" => "InApp",
        _ => "SMS",
    };
    let mut c = json!({"id": id, "createdAt": now_ms, "updatedAt": now_ms, "name": name, "templateId": copy_id,
        "messageMedium": medium, "createdByUserId": "api@example.com", "updatedByUserId": "api@example.com",
        "campaignState": state, "type": ty, "labels": []});
    if blast {
        c["listIds"] = json!(list_ids);
        c["suppressionListIds"] = json!(suppression);
    }
    st.templates.push(copy);
    st.campaigns.push(c);
    st.count_applied("campaign.create", name);
    ApiResponse::json(200, json!({"campaignId": id}))
}

fn transition(world: &World, req: &ApiRequest, from: &[&str], to: &str, verb: &str) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let id = match campaign_id(&b) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut st = world.write();
    let Some(c) = st.campaigns.iter_mut().find(|c| int(c, "id") == id) else {
        return not_found(format!("Campaign {id} not found"));
    };
    let state = text(c, "campaignState").to_string();
    if !from.contains(&state.as_str()) {
        return bad(format!("Campaign {id} cannot be {verb} in state {state}"));
    }
    let now_ms = req.now.timestamp_millis();
    c["campaignState"] = json!(to);
    c["updatedAt"] = json!(now_ms);
    if to == "Aborted" || (to == "Finished" && state == "Recurring") {
        c["endedAt"] = json!(now_ms);
    }
    let (word, kind) = if verb == "aborted" {
        ("Aborted", "campaign.abort")
    } else {
        ("Canceled", "campaign.cancel")
    };
    st.count_applied(kind, id.to_string());
    ok_envelope(format!("{word} campaign. Id: {id}"))
}

/// `POST /api/campaigns/abort`: running campaigns only.
pub fn abort(world: &World, req: &ApiRequest) -> ApiResponse {
    transition(world, req, &["Running", "Starting"], "Aborted", "aborted")
}

/// `POST /api/campaigns/cancel`: scheduled or recurring campaigns.
pub fn cancel(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = body(req).ok();
    let recurring = b
        .as_ref()
        .and_then(|b| b.get("campaignId").and_then(Value::as_i64))
        .and_then(|id| {
            world
                .read()
                .campaigns
                .iter()
                .find(|c| int(c, "id") == id)
                .map(|c| text(c, "campaignState") == "Recurring")
        })
        .unwrap_or(false);
    let to = if recurring { "Finished" } else { "Ready" };
    transition(world, req, &["Scheduled", "Recurring"], to, "canceled")
}

/// `POST /api/campaigns/trigger`: triggered campaigns only, non-empty `listIds`.
pub fn trigger(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let id = match campaign_id(&b) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let lists = id_list(b.get("listIds"));
    if lists.is_empty() {
        return bad("listIds must not be empty");
    }
    let mut st = world.write();
    if let Some(missing) = lists.iter().find(|l| !st.lists.iter().any(|x| x.id == **l)) {
        return bad(format!("List {missing} does not exist"));
    }
    let Some(c) = st.campaigns.iter_mut().find(|c| int(c, "id") == id) else {
        return not_found(format!("Campaign {id} not found"));
    };
    if text(c, "type") != "Triggered" {
        return bad("Campaign is not a triggered campaign");
    }
    c["updatedAt"] = json!(req.now.timestamp_millis());
    if text(c, "campaignState") == "Ready" {
        c["campaignState"] = json!("Running");
    }
    st.count_applied("campaign.trigger", id.to_string());
    ok_envelope(format!("Triggered campaign. Id: {id}"))
}
