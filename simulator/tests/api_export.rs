//! Export API: record shapes, window semantics, ranges, projections, CSV,
//! determinism, late indexing, async jobs (incl. expired URLs) and lazy streaming.

mod common;

use chrono::DateTime;
use common::*;
use iterable_sim::types::{ApiBody, Scale, WorldOptions};
use iterable_sim::world::World;
use serde_json::Value;

fn created(v: &Value) -> String {
    v["createdAt"].as_str().unwrap().to_string()
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20")
        .replace('+', "%2B")
        .replace(':', "%3A")
}

#[test]
fn event_rows_have_the_wire_shape() {
    let w = world(Scale::Tiny);
    let rows = ndjson(&w, "/api/export/data.json?dataTypeName=emailSend&range=All");
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(is_export_ts(r["createdAt"].as_str().unwrap()));
        assert!(is_export_ts(
            r["itblInternal"]["documentCreatedAt"].as_str().unwrap()
        ));
        assert_eq!(r["messageId"].as_str().unwrap().len(), 32);
        assert!(r["campaignId"].is_i64() && r["templateId"].is_i64() && r["email"].is_string());
        let td: Value = serde_json::from_str(r["transactionalData"].as_str().unwrap()).unwrap();
        assert!(td.is_object());
    }
    let times: Vec<String> = rows.iter().map(created).collect();
    assert!(
        times.windows(2).all(|p| p[0] < p[1]),
        "rows stream in createdAt order"
    );

    // Opens and clicks point at real sends.
    let all_sends: Vec<Value> = rows;
    for t in ["emailOpen", "emailClick", "emailBounce"] {
        for r in ndjson(
            &w,
            &format!("/api/export/data.json?dataTypeName={t}&range=All"),
        ) {
            let send = all_sends.iter().find(|s| s["messageId"] == r["messageId"]);
            if let Some(s) = send {
                assert_eq!(
                    (s["campaignId"].clone(), s["email"].clone()),
                    (r["campaignId"].clone(), r["email"].clone())
                );
            }
        }
    }

    let users = ndjson(&w, "/api/export/data.json?dataTypeName=user&range=All");
    assert_eq!(users.len(), 40);
    for u in &users {
        assert!(
            u["defaultAddress.city"].is_string() && u["itblInternal.emailDomain"].is_string(),
            "{u}"
        );
        assert!(u.get("defaultAddress").is_none());
        assert!(is_export_ts(u["profileUpdatedAt"].as_str().unwrap()));
    }
    // Every type has rows somewhere in tiny history.
    for t in [
        "purchase",
        "customEvent",
        "smsReceived",
        "inboxSession",
        "journeyExit",
        "whatsAppUsageInfo",
        "rcsSendSkip",
    ] {
        assert!(
            !ndjson(
                &w,
                &format!("/api/export/data.json?dataTypeName={t}&range=All")
            )
            .is_empty(),
            "{t}"
        );
    }
}

#[test]
fn window_is_start_inclusive_end_exclusive() {
    let w = world(Scale::Small);
    let rows = ndjson(&w, "/api/export/data.json?dataTypeName=emailSend&range=All");
    let pick = &rows[rows.len() / 2];
    let t = &created(pick)[..19];
    let secs = iterable_sim::world::time::parse(t).unwrap();
    let next = iterable_sim::world::time::export_ts(secs + 1)[..19].to_string();
    let hit = ndjson(
        &w,
        &format!(
            "/api/export/data.json?dataTypeName=emailSend&startDateTime={}&endDateTime={}",
            enc(t),
            enc(&next)
        ),
    );
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0], *pick);
    let before = ndjson(
        &w,
        &format!(
            "/api/export/data.json?dataTypeName=emailSend&startDateTime=2000-01-01%2000%3A00%3A00&endDateTime={}",
            enc(t)
        ),
    );
    let after = ndjson(
        &w,
        &format!(
            "/api/export/data.json?dataTypeName=emailSend&startDateTime={}&endDateTime=2100-01-01%2000%3A00%3A00",
            enc(t)
        ),
    );
    assert!(before.iter().all(|r| created(r) < created(pick)));
    assert_eq!(after[0], *pick);
    assert_eq!(before.len() + after.len(), rows.len());
    // Zone suffixes and ISO forms mean the same instant.
    let z = ndjson(
        &w,
        &format!(
            "/api/export/data.json?dataTypeName=emailSend&startDateTime={}%20%2B00%3A00&endDateTime={}Z",
            enc(t),
            enc(&next.replace(' ', "T"))
        ),
    );
    assert_eq!(z.len(), 1);
}

#[test]
fn ranges_and_case_insensitive_types() {
    let w = world(Scale::Tiny);
    let all = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=emailUnSubscribe&range=All",
    );
    assert!(!all.is_empty());
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=emailUnsubscribe&range=All"
        ),
        all
    );
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=EMAILUNSUBSCRIBE&range=All"
        ),
        all
    );
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=emailUnsubscribe&range=BeforeToday"
        ),
        all
    );
    assert!(
        ndjson(&w, "/api/export/data.json?dataTypeName=emailUnsubscribe").is_empty(),
        "default range is Today"
    );
    let y = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=emailSend&range=Yesterday",
    );
    assert!(y.iter().all(|r| created(r).starts_with("2024-02-29")));
    let (s, e) = status_json(call(
        &w,
        "GET",
        "/api/export/data.json?dataTypeName=nope&range=All",
        None,
    ));
    assert_eq!((s, e["code"].as_str()), (400, Some("BadParams")));
}

#[test]
fn projections_campaign_filter_and_csv() {
    let w = world(Scale::Tiny);
    let rows = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=emailOpen&range=All&onlyFields=email&onlyFields=createdAt,messageId",
    );
    assert!(
        rows.iter()
            .all(|r| r.as_object().unwrap().len() == 3 && r["messageId"].is_string())
    );
    let om = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=emailOpen&range=All&omitFields=itblInternal,userAgent",
    );
    assert!(om.iter().all(|r| r.get("itblInternal").is_none()
        && r.get("userAgent").is_none()
        && r.get("email").is_some()));
    let empty = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=emailOpen&range=All&onlyFields=List.empty",
    );
    assert!(empty.iter().all(|r| r.as_object().unwrap().is_empty()));
    assert_eq!(empty.len(), rows.len());

    let sends = ndjson(&w, "/api/export/data.json?dataTypeName=emailSend&range=All");
    let cid = sends[0]["campaignId"].as_i64().unwrap();
    let f = ndjson(
        &w,
        &format!("/api/export/data.json?dataTypeName=emailSend&range=All&campaignId={cid}"),
    );
    assert_eq!(
        f.len(),
        sends.iter().filter(|r| r["campaignId"] == cid).count()
    );

    let r = call(
        &w,
        "GET",
        "/api/export/data.csv?dataTypeName=emailSend&range=All",
        None,
    );
    assert_eq!(r.content_type, "text/csv");
    let csv = text(r);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(header.contains(&"createdAt") && header.contains(&"itblInternal.documentCreatedAt"));
    assert_eq!(lines.count(), sends.len());
    let only = text(call(
        &w,
        "GET",
        "/api/export/data.csv?dataTypeName=user&range=All&onlyFields=email,defaultAddress.city",
        None,
    ));
    assert!(only.starts_with("email,defaultAddress.city\n"));
    assert_eq!(only.lines().count(), 41);
}

#[test]
fn same_seed_same_bytes_different_seed_different() {
    let a = World::new(opts(11, Scale::Tiny));
    let b = World::new(opts(11, Scale::Tiny));
    let c = World::new(opts(12, Scale::Tiny));
    for path in [
        "/api/export/data.json?dataTypeName=emailSend&range=All",
        "/api/export/data.json?dataTypeName=user&range=All",
        "/api/campaigns",
        "/api/catalogs/products/items?pageSize=100",
    ] {
        let (x, y, z) = (
            bytes(call(&a, "GET", path, None)),
            bytes(call(&b, "GET", path, None)),
            bytes(call(&c, "GET", path, None)),
        );
        assert_eq!(x, y, "{path}");
        assert_ne!(x, z, "{path}");
    }
}

#[test]
fn late_indexing_hides_recent_rows() {
    let late = World::new(WorldOptions {
        late_index_secs: 12 * 3600,
        ..opts(7, Scale::Small)
    });
    let on_time = world(Scale::Small);
    let q = "/api/export/data.json?dataTypeName=emailSend&range=All";
    let all = ndjson(&on_time, q);
    let seen = ndjson(&late, q);
    // now = 2024-03-01 10:00; rows after 2024-02-29 22:00 are not indexed yet.
    assert!(seen.len() < all.len());
    assert!(
        seen.iter()
            .all(|r| created(r).as_str() <= "2024-02-29 22:00:00 +00:00")
    );
    assert_eq!(
        seen.len(),
        all.iter()
            .filter(|r| created(r).as_str() <= "2024-02-29 22:00:00 +00:00")
            .count()
    );
    let later = DateTime::from_timestamp(1_709_287_200 + 86_400, 0).unwrap();
    let r = call_at(&late, "GET", q, None, later);
    assert_eq!(text(r).lines().count(), all.len());
}

#[test]
fn async_export_job_walk() {
    let w = world(Scale::Tiny);
    let sync = ndjson(&w, "/api/export/data.json?dataTypeName=user&range=All");
    assert_eq!(
        sync.len(),
        40,
        "tiny files hold 2 rows: 20 files, two pages"
    );
    let body = serde_json::json!({"dataTypeName": "user", "outputFormat": "application/x-json-stream",
        "startDateTime": "2024-01-01T00:00:00.000Z", "endDateTime": "2024-03-01 00:00:00"});
    let (s, j) = status_json(call(&w, "POST", "/api/export/start", Some(body)));
    assert_eq!(s, 200);
    let id = j["jobId"].as_i64().unwrap();
    let files_url = format!("/api/export/{id}/files");
    let st1 = get_json(&w, &files_url);
    assert_eq!(st1["jobState"], "enqueued");
    assert_eq!(st1["files"].as_array().unwrap().len(), 0);
    let st2 = get_json(&w, &files_url);
    assert_eq!(st2["jobState"], "running");
    let mut names = Vec::new();
    let mut urls = Vec::new();
    let mut after = String::new();
    loop {
        let p = get_json(&w, &format!("{files_url}?startAfter={after}"));
        assert_eq!(p["jobState"], "completed");
        assert_eq!(p["exportTruncated"], false);
        let fs = p["files"].as_array().unwrap();
        assert!(fs.len() <= 10);
        for f in fs {
            names.push(f["file"].as_str().unwrap().to_string());
            urls.push(f["url"].as_str().unwrap().to_string());
        }
        if fs.len() < 10 {
            break;
        }
        after = names.last().unwrap().clone();
    }
    assert_eq!(names.len(), sync.len().div_ceil(2));
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, names);
    let mut rows = Vec::new();
    for u in &urls {
        assert!(
            u.starts_with(&format!("{BASE}/_files/{id}/")) && u.contains("?expires="),
            "{u}"
        );
        let r = call(&w, "GET", &u.replace(BASE, ""), None);
        assert_eq!(r.status, 200);
        rows.extend(
            text(r)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    assert_eq!(rows, sync);
    // The pre-signed URL expires after 30 minutes.
    let late = DateTime::from_timestamp(1_709_287_200 + 3600, 0).unwrap();
    let r = call_at(&w, "GET", &urls[0].replace(BASE, ""), None, late);
    assert_eq!(r.status, 403);
    assert!(text(r).contains("Request has expired"));

    let jobs = get_json(&w, "/api/export/jobs");
    assert_eq!(jobs["jobs"][0]["id"], id);
    assert_eq!(jobs["jobs"][0]["jobState"], "completed");
    assert!(
        jobs["jobs"][0]["scheduledStartTime"]
            .as_str()
            .unwrap()
            .contains('T')
    );
    assert_eq!(
        call(&w, "DELETE", &format!("/api/export/{id}"), None).status,
        200
    );
    assert_eq!(get_json(&w, &files_url)["jobState"], "cancelled");
    assert_eq!(call(&w, "GET", "/api/export/999/files", None).status, 404);
    let (s, _) = status_json(call(
        &w,
        "POST",
        "/api/export/start",
        Some(serde_json::json!({"dataTypeName": "emailSend", "outputFormat": "text/xml"})),
    ));
    assert_eq!(s, 400);
}

#[test]
fn large_scale_streams_one_day_lazily() {
    let w = World::new(opts(3, Scale::Large));
    let r = call(
        &w,
        "GET",
        "/api/export/data.json?dataTypeName=emailSend&startDateTime=2024-02-20%2000%3A00%3A00&endDateTime=2024-02-21%2000%3A00%3A00",
        None,
    );
    let ApiBody::Stream(chunks) = r.body else {
        panic!("exports must stream")
    };
    // Count lines chunk by chunk; nothing is collected.
    let mut lines = 0u64;
    let mut first = None;
    for c in chunks {
        if first.is_none() {
            first = Some(String::from_utf8(c.clone()).unwrap());
        }
        lines += c.iter().filter(|b| **b == b'\n').count() as u64;
    }
    assert!(lines >= 11_200, "{lines}");
    assert!(first.unwrap().contains("2024-02-20 00:"));
    let truth = iterable_sim::truth::ground_truth(
        &opts(3, Scale::Large),
        "email_send",
        Some(DateTime::from_timestamp(1_708_387_200, 0).unwrap()),
        Some(DateTime::from_timestamp(1_708_473_600, 0).unwrap()),
    )
    .unwrap();
    assert_eq!(truth.count, lines);
}
