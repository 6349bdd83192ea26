//! Shapes of every read family against iterable-api.md §7: field names,
//! timestamp formats, content types, envelopes and paging links.

mod common;

use common::*;
use iterable_sim::types::Scale;
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn campaigns_legacy_and_paged() {
    let w = world(Scale::Tiny);
    let all = get_json(&w, "/api/campaigns");
    let list = all["campaigns"].as_array().unwrap();
    assert_eq!(list.len(), 63);
    assert!(all.get("totalCampaignsCount").is_none() && all.get("nextPageUrl").is_none());
    let states: BTreeSet<&str> = list
        .iter()
        .map(|c| c["campaignState"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 9, "{states:?}");
    let types: BTreeSet<&str> = list.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, BTreeSet::from(["Blast", "Triggered"]));
    let media: BTreeSet<&str> = list
        .iter()
        .map(|c| c["messageMedium"].as_str().unwrap())
        .collect();
    assert!(media.contains("WebPush") && media.contains("Email") && media.contains("SMS"));
    for c in list {
        for k in [
            "id",
            "name",
            "type",
            "campaignState",
            "messageMedium",
            "createdAt",
            "updatedAt",
            "createdByUserId",
        ] {
            assert!(c.get(k).is_some(), "{k} missing in {c}");
        }
        assert!(is_epoch_ms(&c["createdAt"]) && is_epoch_ms(&c["updatedAt"]));
        if c["type"] == "Triggered" {
            assert!(c.get("listIds").is_none() && c.get("startAt").is_none());
        }
        if c["campaignState"] == "Finished" && c["type"] == "Blast" {
            assert!(is_epoch_ms(&c["startAt"]) && is_epoch_ms(&c["endedAt"]));
        }
    }

    let p1 = get_json(&w, "/api/campaigns?page=1&pageSize=25");
    assert_eq!(p1["totalCampaignsCount"], 63);
    assert_eq!(p1["campaigns"].as_array().unwrap().len(), 25);
    let next = p1["nextPageUrl"].as_str().unwrap();
    assert!(
        next.starts_with(BASE) && next.contains("page=2") && next.contains("pageSize=25"),
        "{next}"
    );
    assert!(p1.get("previousPageUrl").is_none());
    let p3 = get_json(&w, &next.replace(BASE, "").replace("page=2", "page=3"));
    assert_eq!(p3["campaigns"].as_array().unwrap().len(), 13);
    assert!(p3.get("nextPageUrl").is_none());
    assert!(p3["previousPageUrl"].as_str().unwrap().contains("page=2"));

    let f = get_json(
        &w,
        "/api/campaigns?campaignState=Running&campaignState=Draft&page=1&pageSize=100",
    );
    assert!(
        f["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["campaignState"] == "Running" || c["campaignState"] == "Draft")
    );
    assert_eq!(f["totalCampaignsCount"], 14);

    let s = get_json(&w, "/api/campaigns?sort=-updatedAt&page=1&pageSize=1000");
    let ups: Vec<i64> = s["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["updatedAt"].as_i64().unwrap())
        .collect();
    assert!(ups.windows(2).all(|p| p[0] >= p[1]));

    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(get_json(&w, &format!("/api/campaigns/{id}"))["id"], id);
    let (st, e) = status_json(call(&w, "GET", "/api/campaigns/1", None));
    assert_eq!((st, e["code"].as_str()), (404, Some("NotFound")));
}

#[test]
fn campaign_metrics_csv() {
    let w = world(Scale::Tiny);
    let all = get_json(&w, "/api/campaigns");
    let list = all["campaigns"].as_array().unwrap();
    let email = list
        .iter()
        .find(|c| c["messageMedium"] == "Email" && c["campaignState"] == "Finished")
        .unwrap();
    let push = list.iter().find(|c| c["messageMedium"] == "Push").unwrap();
    let (e, p) = (email["id"].as_i64().unwrap(), push["id"].as_i64().unwrap());
    let r = call(
        &w,
        "GET",
        &format!("/api/campaigns/metrics?campaignId={e}&campaignId={p}&startDateTime=2024-01-01"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/csv");
    let body = text(r);
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "id");
    assert!(header.contains(&"Total Email Sends") && header.contains(&"Total Pushes Sent"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let erow = rows.iter().find(|r| r[0] == e.to_string()).unwrap();
    assert!(!erow[col("Total Email Sends")].is_empty());
    assert_eq!(
        erow[col("Total Pushes Sent")],
        "",
        "push columns are blank for an email campaign"
    );
    assert_eq!(call(&w, "GET", "/api/campaigns/metrics", None).status, 400);
}

#[test]
fn channels_message_types_lists() {
    let w = world(Scale::Tiny);
    let ch = get_json(&w, "/api/channels");
    let ch = ch["channels"].as_array().unwrap();
    assert!(ch.iter().any(|c| c["messageMedium"] == "WebPush"));
    assert!(
        ch.iter()
            .all(|c| c["id"].is_i64() && c["channelType"].is_string() && c["name"].is_string())
    );
    let mt = get_json(&w, "/api/messageTypes");
    for m in mt["messageTypes"].as_array().unwrap() {
        assert!(is_epoch_ms(&m["createdAt"]) && is_epoch_ms(&m["updatedAt"]));
        assert!(m["subscriptionPolicy"] == "OptIn" || m["subscriptionPolicy"] == "OptOut");
    }
    let lists = get_json(&w, "/api/lists");
    let lists = lists["lists"].as_array().unwrap();
    let types: BTreeSet<&str> = lists
        .iter()
        .map(|l| l["listType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["Dynamic", "Standard", "Suppression"])
    );
    assert!(lists.iter().all(|l| is_epoch_ms(&l["createdAt"])));

    let id = lists[0]["id"].as_i64().unwrap();
    let r = call(&w, "GET", &format!("/api/lists/getUsers?listId={id}"), None);
    assert_eq!(r.content_type, "text/plain");
    let body = text(r);
    let emails: Vec<&str> = body.lines().collect();
    assert!(!emails.is_empty() && emails.iter().all(|e| e.contains('@')));
    let ids = text(call(
        &w,
        "GET",
        &format!("/api/lists/getUsers?listId={id}&preferUserId=true"),
        None,
    ));
    assert!(ids.lines().all(|l| l.starts_with("u-")));
    assert_eq!(ids.lines().count(), emails.len());
    let size = get_json(&w, &format!("/api/lists/{id}/size"));
    assert_eq!(size.as_u64().unwrap() as usize, emails.len());
    let preview = text(call(
        &w,
        "GET",
        &format!("/api/lists/previewUsers?listId={id}&size=2"),
        None,
    ));
    assert_eq!(preview.lines().count(), 2.min(emails.len()));
    assert_eq!(
        call(&w, "GET", "/api/lists/getUsers?listId=1", None).status,
        404
    );
}

#[test]
fn metadata_paging_by_marker() {
    let w = world(Scale::Tiny);
    let t = get_json(&w, "/api/metadata");
    let tables: Vec<&str> = t["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(tables.contains(&"storeconfig"));
    let mut keys = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &marker {
            Some(m) => format!("/api/metadata/storeconfig?nextMarker={m}"),
            None => "/api/metadata/storeconfig".into(),
        };
        let p = get_json(&w, &url);
        pages += 1;
        for r in p["results"].as_array().unwrap() {
            assert!(
                r["lastModified"].is_i64() && r["size"].is_u64() && r["table"] == "storeconfig"
            );
            keys.push(r["key"].as_str().unwrap().to_string());
        }
        match p.get("nextMarker") {
            Some(m) => marker = Some(m.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert!(pages >= 3);
    assert_eq!(keys.len(), 23);
    assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), 23);
    let v = get_json(&w, &format!("/api/metadata/storeconfig/{}", keys[0]));
    assert!(v["value"].is_object() && v["key"] == keys[0].as_str());
    assert_eq!(
        call(&w, "GET", "/api/metadata/storeconfig/nope", None).status,
        404
    );
}

#[test]
fn templates_every_type_and_medium() {
    let w = world(Scale::Tiny);
    let mut total = 0;
    for tt in ["Base", "Blast", "Triggered", "Workflow"] {
        for mm in ["Email", "Push", "InApp", "SMS"] {
            let v = get_json(
                &w,
                &format!("/api/templates?templateType={tt}&messageMedium={mm}"),
            );
            let l = v["templates"].as_array().unwrap();
            assert!(!l.is_empty(), "{tt} {mm}");
            total += l.len();
            for t in l {
                assert!(
                    is_epoch_ms(&t["createdAt"]) && is_epoch_ms(&t["updatedAt"]),
                    "{t}"
                );
                assert!(
                    t["templateId"].is_i64()
                        && t["name"].is_string()
                        && t["creatorUserId"].is_string()
                );
            }
        }
    }
    let all = get_json(&w, "/api/templates?page=1&pageSize=1000");
    assert_eq!(all["totalTemplatesCount"].as_u64().unwrap() as usize, total);
    let p = get_json(&w, "/api/templates?page=1&pageSize=5");
    assert!(p["nextPageUrl"].as_str().unwrap().starts_with(BASE));

    let email = get_json(&w, "/api/templates?templateType=Base&messageMedium=Email");
    let id = email["templates"][0]["templateId"].as_i64().unwrap();
    let full = get_json(&w, &format!("/api/templates/email/get?templateId={id}"));
    assert!(
        full["subject"].is_string() && full["html"].is_string() && full["fromEmail"].is_string()
    );
    assert_eq!(full["metadata"]["templateId"], id);
    assert!(is_epoch_ms(&full["metadata"]["createdAt"]));
    assert_eq!(
        call(
            &w,
            "GET",
            &format!("/api/templates/push/get?templateId={id}"),
            None
        )
        .status,
        404
    );
    let push = get_json(&w, "/api/templates?templateType=Base&messageMedium=Push");
    let pid = push["templates"][0]["templateId"].as_i64().unwrap();
    assert!(
        get_json(&w, &format!("/api/templates/push/get?templateId={pid}"))["message"].is_string()
    );

    let with_client = all["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t.get("clientTemplateId").is_some())
        .unwrap();
    let cid = with_client["clientTemplateId"].as_str().unwrap();
    let by = get_json(
        &w,
        &format!("/api/templates/getByClientTemplateId?clientTemplateId={cid}"),
    );
    assert_eq!(by["templates"][0]["templateId"], with_client["templateId"]);
}

#[test]
fn catalogs_envelopes_and_paging() {
    let w = world(Scale::Tiny);
    let c = get_json(&w, "/api/catalogs");
    assert_eq!(c["code"], "Success");
    assert_eq!(c["params"]["totalCatalogsCount"], 3);
    assert!(
        c["params"]["catalogNames"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["name"].is_string())
    );

    let mut seen = 0;
    let mut url = Some("/api/catalogs/restaurants/items".to_string());
    let mut pages = 0;
    while let Some(u) = url {
        let p = get_json(&w, &u);
        assert_eq!(p["code"], "Success");
        let params = &p["params"];
        assert_eq!(params["totalItemsCount"], 25);
        for it in params["catalogItemsWithProperties"].as_array().unwrap() {
            assert_eq!(it["catalogName"], "restaurants");
            assert!(
                is_epoch_ms(&it["lastModified"]) && it["size"].is_u64() && it["value"].is_object()
            );
            seen += 1;
        }
        pages += 1;
        url = params
            .get("nextPageUrl")
            .map(|n| n.as_str().unwrap().replace(BASE, ""));
    }
    assert_eq!((seen, pages), (25, 3));

    let item = get_json(&w, "/api/catalogs/restaurants/items/restaurant-100");
    assert_eq!(item["itemId"], "restaurant-100");
    assert!(item.get("code").is_none(), "single item is unwrapped");
    let (s, e) = status_json(call(
        &w,
        "GET",
        "/api/catalogs/restaurants/items/nope",
        None,
    ));
    assert_eq!((s, e["code"].as_str()), (404, Some("NotFound")));
    assert_eq!(
        call(&w, "GET", "/api/catalogs/nope/items", None).status,
        404
    );
    let fm = get_json(&w, "/api/catalogs/restaurants/fieldMappings");
    assert_eq!(fm["params"]["definedMappings"]["location"], "geo_location");
    assert!(
        fm["params"]["undefinedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "name")
    );
    let sorted = get_json(
        &w,
        "/api/catalogs/restaurants/items?orderBy=averagePrice&sortAscending=true&pageSize=25",
    );
    let prices: Vec<i64> = sorted["params"]["catalogItemsWithProperties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"]["averagePrice"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|p| p[0] <= p[1]));
}

/// Every journey of a listing, following `nextPageUrl` from `first`; also
/// returns how many pages that took and the `totalJourneysCount` of each page.
fn all_journey_pages(
    w: &iterable_sim::world::World,
    first: &str,
) -> (Vec<Value>, usize, Vec<Value>) {
    let (mut rows, mut pages, mut totals) = (Vec::new(), 0, Vec::new());
    let mut target = first.to_string();
    loop {
        let page = get_json(w, &target);
        pages += 1;
        rows.extend(page["journeys"].as_array().unwrap().iter().cloned());
        totals.push(page["totalJourneysCount"].clone());
        match page["nextPageUrl"].as_str() {
            Some(next) => target = next.strip_prefix(BASE).unwrap().to_string(),
            None => return (rows, pages, totals),
        }
        assert!(pages < 100, "nextPageUrl never ends");
    }
}

#[test]
fn journeys_without_state_leave_archived_out_and_page() {
    let w = world(Scale::Tiny);
    let seeded = w.read().journeys.clone();
    let archived = seeded.iter().filter(|j| j["isArchived"] == true).count();
    assert!(archived > 0, "the seeded world has archived journeys");
    assert!(seeded.iter().all(|j| j["isArchived"].is_boolean()));
    let (rows, pages, totals) = all_journey_pages(&w, "/api/journeys?pageSize=5");
    assert_eq!(rows.len(), seeded.len() - archived);
    assert_eq!(pages, rows.len().div_ceil(5));
    assert!(totals.iter().all(|t| *t == rows.len()), "{totals:?}");
    assert!(rows.iter().all(|j| j["isArchived"] == false));
    let ids: BTreeSet<i64> = rows.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "no journey twice across pages");
    // The default page size pages the same listing.
    let (default_rows, _, _) = all_journey_pages(&w, "/api/journeys");
    assert_eq!(default_rows, rows);
}

#[test]
fn journeys_with_state_archived_return_only_archived_and_page() {
    let w = world(Scale::Small);
    let seeded = w.read().journeys.clone();
    let archived: BTreeSet<i64> = seeded
        .iter()
        .filter(|j| j["isArchived"] == true)
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert!(
        archived.len() > 1,
        "several archived journeys to page through"
    );
    for state in ["Archived", "archived"] {
        let (rows, pages, totals) =
            all_journey_pages(&w, &format!("/api/journeys?state={state}&pageSize=1"));
        assert_eq!(pages, archived.len(), "{state}: one journey per page");
        assert!(totals.iter().all(|t| *t == archived.len()), "{totals:?}");
        assert!(rows.iter().all(|j| j["isArchived"] == true), "{state}");
        let ids: BTreeSet<i64> = rows.iter().map(|j| j["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, archived, "{state}");
        assert_eq!(rows.len(), archived.len(), "no journey twice across pages");
    }
    // The two listings split the journeys between them.
    let (live, _, _) = all_journey_pages(&w, "/api/journeys?pageSize=50");
    assert_eq!(live.len() + archived.len(), seeded.len());
}

#[test]
fn journeys_snippets_webhooks_experiments() {
    let w = world(Scale::Tiny);
    let j = get_json(&w, "/api/journeys");
    assert_eq!(j["journeys"].as_array().unwrap().len(), 10);
    assert_eq!(j["totalJourneysCount"], 12, "14 journeys, 2 archived");
    assert!(j["nextPageUrl"].as_str().unwrap().starts_with(BASE));
    assert!(
        j["journeys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["isArchived"] == false && is_epoch_ms(&x["createdAt"]))
    );
    let a = get_json(&w, "/api/journeys?state=Archived");
    assert!(
        a["journeys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["isArchived"] == true)
    );
    assert_eq!(
        call(&w, "GET", "/api/journeys?pageSize=51", None).status,
        400
    );
    let s = get_json(&w, "/api/snippets");
    assert!(
        s["snippets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["createdAt"].as_str().unwrap().contains('T'))
    );
    let wh = get_json(&w, "/api/webhooks");
    assert!(
        wh["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["endpoint"].is_string() && x["authType"].is_string())
    );
    let r = call(&w, "GET", "/api/experiments/metrics", None);
    assert_eq!(r.content_type, "text/csv");
    let csv = text(r);
    assert!(csv.starts_with("Campaign Id,Experiment Id,Template Id,"));
    assert!(csv.lines().count() > 3);
}

#[test]
fn users_profiles_fields_and_per_user_reads() {
    let w = world(Scale::Tiny);
    let send = ndjson(&w, "/api/export/data.json?dataTypeName=emailSend&range=All");
    let email = send[0]["email"].as_str().unwrap().to_string();
    let u = get_json(&w, &format!("/api/users/{email}"));
    let df = &u["user"]["dataFields"];
    assert_eq!(u["user"]["email"], email.as_str());
    assert!(
        is_export_ts(df["signupDate"].as_str().unwrap())
            && is_export_ts(df["profileUpdatedAt"].as_str().unwrap()),
        "{df}"
    );
    assert!(
        df["defaultAddress"]["city"].is_string(),
        "nested objects stay nested on profiles"
    );
    assert!(df["LTV"].is_f64());
    let uid = u["user"]["userId"].as_str().unwrap();
    assert_eq!(
        get_json(&w, &format!("/api/users/byUserId/{uid}"))["user"]["email"],
        email.as_str()
    );
    assert_eq!(
        get_json(&w, "/api/users/nobody@example.com"),
        serde_json::json!({})
    );
    assert_eq!(
        get_json(&w, "/api/users/byUserId/u-1"),
        serde_json::json!({})
    );
    let (s, e) = status_json(call(&w, "GET", "/api/users/000", None));
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("InvalidEmailAddressError"))
    );
    let f = get_json(&w, "/api/users/getFields");
    assert_eq!(f["fields"]["LTV"], "double");
    assert_eq!(f["fields"]["defaultAddress.city"], "string");

    let ev = get_json(&w, &format!("/api/events/{email}?limit=200"));
    let ev = ev["events"].as_array().unwrap();
    assert!(ev.iter().any(|e| e["messageId"] == send[0]["messageId"]));
    assert!(
        ev.iter()
            .all(|e| e["email"] == email.as_str() && e["eventType"].is_string())
    );
    let ev2 = get_json(&w, &format!("/api/events/byUserId/{uid}?limit=200"));
    assert_eq!(ev2["events"].as_array().unwrap().len(), ev.len());

    let sent = get_json(
        &w,
        &format!("/api/users/getSentMessages?email={email}&limit=1000&messageMedium=Email"),
    );
    let sent = sent["messages"].as_array().unwrap();
    assert!(sent.iter().any(|m| m["messageId"] == send[0]["messageId"]));
    for m in sent {
        assert!(
            m["campaignId"].is_i64()
                && m["templateId"].is_i64()
                && is_export_ts(m["createdAt"].as_str().unwrap())
        );
    }
    let ue = text(call(
        &w,
        "GET",
        &format!("/api/export/userEvents?email={email}"),
        None,
    ));
    assert!(
        ue.lines()
            .all(|l| serde_json::from_str::<Value>(l).unwrap()["_type"].is_string())
    );
    assert!(!ue.is_empty());
    let inapp = get_json(
        &w,
        &format!("/api/inApp/getMessages?email={email}&count=10"),
    );
    assert!(inapp["inAppMessages"].is_array());
}
