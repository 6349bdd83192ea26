//! A scripted Iterable for core-level tests: plausible bodies for every read
//! endpoint, deterministic, with several pages/windows so every planning path
//! (paging, markers, batches, windows) runs. Not the simulator: no HTTP.

use connector_core::HttpRequest;
use serde_json::{Value, json};

use crate::driver::MockResponse;

pub fn query(req: &HttpRequest, key: &str) -> Vec<String> {
    let q = req.url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
        .collect()
}

pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn path(req: &HttpRequest) -> String {
    let rest = req
        .url
        .split_once("://")
        .map_or(req.url.as_str(), |(_, r)| r);
    let p = rest.find('/').map_or("/", |i| &rest[i..]);
    decode(p.split('?').next().unwrap_or(p))
}

fn json_body(v: Value) -> MockResponse {
    MockResponse::Ok(200, "application/json", v.to_string().into_bytes())
}

fn page_of(req: &HttpRequest) -> u32 {
    query(req, "page")
        .first()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

/// Rows of an export data type: one every 6 hours from 2024-02-01, 30 days.
pub fn export_rows(data_type: &str, start: &str, end: &str) -> String {
    let mut body = String::new();
    for i in 0..120 {
        let day = 1 + i / 4;
        let hour = (i % 4) * 6;
        let month_day = if day <= 29 {
            format!("2024-02-{day:02}")
        } else {
            format!("2024-03-{:02}", day - 29)
        };
        let ts = format!("{month_day} {hour:02}:00:00");
        if ts.as_str() >= start && ts.as_str() < end {
            if data_type == "user" {
                body.push_str(&format!(
                    "{{\"email\":\"u{i}@example.com\",\"userId\":\"u{i}\",\"profileUpdatedAt\":\"{ts} +00:00\",\"itblInternal.emailDomain\":\"example.com\"}}\n"
                ));
            } else {
                body.push_str(&format!(
                    "{{\"email\":\"u{}@example.com\",\"createdAt\":\"{ts} +00:00\",\"messageId\":\"{data_type}-{i}\",\"campaignId\":{}}}\n",
                    i % 7,
                    i % 3
                ));
            }
        }
    }
    body
}

/// Answers any read request the core plans.
pub fn answer(req: &HttpRequest) -> MockResponse {
    let p = path(req);
    let page = page_of(req);
    match p.as_str() {
        "/api/campaigns" => {
            let ids = if page == 1 { 1..=3 } else { 4..=5 };
            let campaigns: Vec<Value> = ids
                .map(|id| json!({"id": id, "name": format!("c{id}"), "type": "Blast",
                    "campaignState": if id == 2 {"Running"} else {"Finished"}, "messageMedium": "Email",
                    "createdAt": 1_700_000_000_000i64, "updatedAt": 1_700_000_000_000i64 + id * 1000,
                    "createdByUserId": "ops@example.com"}))
                .collect();
            let mut v = json!({"campaigns": campaigns, "totalCampaignsCount": 5});
            if page == 1 {
                v["nextPageUrl"] = json!("/api/campaigns?page=2&pageSize=1000");
            }
            json_body(v)
        }
        "/api/campaigns/metrics" | "/api/experiments/metrics" => {
            let mut csv = String::from("id,experimentId,templateId,Revenue\n");
            for id in query(req, "campaignId") {
                csv.push_str(&format!("{id},{id}0,{id}00,1.25\n"));
            }
            MockResponse::Ok(200, "text/csv", csv.into_bytes())
        }
        "/api/channels" => json_body(
            json!({"channels": [{"id": 1, "name": "m", "channelType": "Marketing", "messageMedium": "Email"}]}),
        ),
        "/api/lists" => json_body(
            json!({"lists": [{"id": 11, "name": "a", "createdAt": 1_700_000_000_000i64, "listType": "Standard"},
                              {"id": 12, "name": "b", "createdAt": 1_700_000_000_000i64, "listType": "Dynamic"}]}),
        ),
        "/api/lists/getUsers" => {
            let id = query(req, "listId").pop().unwrap_or_default();
            MockResponse::Ok(
                200,
                "text/plain",
                format!("a{id}@example.com\nb{id}@example.com\n").into_bytes(),
            )
        }
        "/api/messageTypes" => json_body(
            json!({"messageTypes": [{"id": 5, "name": "mt", "channelId": 1, "createdAt": 1_700_000_000_000i64, "updatedAt": 1_700_000_000_000i64, "subscriptionPolicy": "OptOut"}]}),
        ),
        "/api/metadata" => json_body(json!({"results": [{"name": "stores"}, {"name": "empty"}]})),
        "/api/metadata/stores" => {
            if query(req, "nextMarker").is_empty() {
                json_body(
                    json!({"results": [{"table": "stores", "key": "k1", "size": 3, "lastModified": 1_700_000_000_000i64}], "nextMarker": "k1"}),
                )
            } else {
                json_body(
                    json!({"results": [{"table": "stores", "key": "k 2", "size": 3, "lastModified": 1_700_000_100_000i64}]}),
                )
            }
        }
        "/api/metadata/empty" => json_body(json!({"results": []})),
        "/api/templates" => {
            let t = query(req, "templateType").pop().unwrap_or_default();
            let m = query(req, "messageMedium").pop().unwrap_or_default();
            let ti = ["Base", "Blast", "Triggered", "Workflow"].iter().position(|x| *x == t);
            let mi = ["Email", "Push", "InApp", "SMS"].iter().position(|x| *x == m);
            let id = 1000 + ti.unwrap_or(9) as i64 * 10 + mi.unwrap_or(9) as i64;
            json_body(
                json!({"templates": [{"templateId": id, "name": format!("{t}-{m}"), "createdAt": 1_700_000_000_000i64, "updatedAt": 1_700_000_000_000i64 + id, "creatorUserId": "ops@example.com", "messageTypeId": 5}], "totalTemplatesCount": 1}),
            )
        }
        // As the spec says: archived journeys only with `state=Archived`.
        "/api/journeys" if query(req, "state") == ["Archived"] => json_body(
            json!({"journeys": [{"id": 10, "name": "old", "enabled": false, "isArchived": true, "createdAt": 1_700_000_000_000i64, "updatedAt": 1_700_000_000_000i64}], "totalJourneysCount": 1}),
        ),
        "/api/journeys" => json_body(
            json!({"journeys": [{"id": 9, "name": "j", "enabled": true, "createdAt": 1_700_000_000_000i64, "updatedAt": 1_700_000_000_000i64}], "totalJourneysCount": 1}),
        ),
        "/api/snippets" => json_body(json!({"snippets": [{"id": 3, "name": "s"}]})),
        "/api/webhooks" => json_body(json!({"webhooks": [{"id": 4, "name": "w"}]})),
        "/api/catalogs" => json_body(
            json!({"msg": "", "code": "Success", "params": {"catalogNames": [{"name": "shop items"}], "totalCatalogsCount": 1}}),
        ),
        "/api/catalogs/shop items/items" => {
            let mut params = json!({"catalogItemsWithProperties": [
                {"catalogName": "shop items", "itemId": format!("i{page}"), "lastModified": 1_704_067_200_000i64 + page as i64, "size": 10, "value": {"p": page}}],
                "totalItemsCount": 2});
            if page == 1 {
                params["nextPageUrl"] = json!("/api/catalogs/shop%20items/items?page=2");
            }
            json_body(json!({"msg": "", "code": "Success", "params": params}))
        }
        "/api/export/data.json" => {
            let dt = query(req, "dataTypeName").pop().unwrap_or_default();
            let start = query(req, "startDateTime").pop().unwrap_or_default();
            let end = query(req, "endDateTime").pop().unwrap_or_default();
            MockResponse::Ok(
                200,
                "application/x-json-stream",
                export_rows(&dt, &start, &end).into_bytes(),
            )
        }
        "/api/export/userEvents" => MockResponse::Ok(
            200,
            "application/x-json-stream",
            b"{\"_type\":\"emailSend\",\"createdAt\":\"2024-02-01 00:00:00 +00:00\",\"email\":\"a+b@example.com\",\"messageId\":\"m\"}\n".to_vec(),
        ),
        "/api/inApp/getMessages" => json_body(
            json!({"inAppMessages": [{"messageId": "im1", "campaignId": 1, "createdAt": 1_709_251_200_000i64}]}),
        ),
        "/api/users/getSentMessages" => json_body(
            json!({"messages": [{"messageId": "sm1", "campaignId": 1, "templateId": 2, "createdAt": "2021-04-14 16:25:56 +00:00"}]}),
        ),
        _ if p.starts_with("/api/events/") => json_body(
            json!({"events": [{"eventType": "emailSend", "createdAt": "2024-02-01 00:00:00 +00:00", "email": "a+b@example.com"}]}),
        ),
        _ if p.starts_with("/api/users/") => json_body(
            json!({"user": {"email": "a+b@example.com", "userId": "u1", "dataFields": {"profileUpdatedAt": "2021-07-01 18:12:11 +00:00"}}}),
        ),
        _ if p.starts_with("/api/metadata/stores/") => {
            let key = p.rsplit('/').next().unwrap_or_default().to_string();
            json_body(
                json!({"table": "stores", "key": key, "size": 3, "lastModified": 1_700_000_000_000i64, "value": {"city": "SF"}}),
            )
        }
        _ => MockResponse::Ok(
            404,
            "application/json",
            br#"{"msg":"not found","code":"NotFound","params":null}"#.to_vec(),
        ),
    }
}
