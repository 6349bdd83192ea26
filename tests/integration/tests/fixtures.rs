//! The core read path on the recorded fixtures of `tests/fixtures/`
//! (iterable-api.md §7): each stream is driven through the native driver,
//! the fixture answers the request it records (and must be asked for exactly
//! as recorded), anything else the stream asks gets an empty or terminal
//! answer, and the records that come out are checked value by value.

use connector_core::{
    Config, Family, HttpRequest, ReadSession, Record, SessionState, StreamSelection, all_streams,
};
use integration_tests::driver::{self, SyncOutput, VirtualClock};
use integration_tests::fixtures::{self, Answer, Fixture, Replay};
use integration_tests::mock_iterable::{path, query};
use serde_json::{Value, json};

const NOW: i64 = 1_710_000_000_000; // 2024-03-09T16:00:00Z

fn config(extra: Value) -> Config {
    let mut v = json!({"base_url": "https://api.iterable.com", "start_date": "2021-01-01"});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    Config::from_json(&v).unwrap()
}

fn unexpected(req: &HttpRequest) -> Answer {
    panic!(
        "no fixture or terminal answer for {} {}",
        req.method.as_str(),
        req.url
    )
}

struct Run {
    out: SyncOutput,
    sent: Vec<(HttpRequest, Option<String>)>,
}

impl Run {
    fn records(&self, stream: &str) -> &Vec<Record> {
        self.out
            .records
            .get(stream)
            .unwrap_or_else(|| panic!("no records for {stream}"))
    }
}

/// Runs `stream` against `fixtures` (+ `fallback`) and checks that every
/// fixture was asked for exactly once, i.e. the core planned the recorded
/// request: method, path, every query parameter and the JSON body.
fn run_with(
    cfg: Config,
    stream: &str,
    fixtures: &[Fixture],
    once: bool,
    fallback: impl FnMut(&HttpRequest) -> Answer,
) -> Run {
    let mut session = ReadSession::open(
        cfg,
        &[StreamSelection::incremental(stream)],
        &SessionState::new(),
    )
    .unwrap();
    let mut t = Replay::new(fixtures.to_vec(), fallback);
    t.once = once;
    let out = driver::run(&mut session, &mut t, &mut VirtualClock(NOW), None)
        .unwrap_or_else(|e| panic!("{stream}: {e}"));
    let served = t.served();
    for f in fixtures {
        let n = served.get(&f.name()).copied().unwrap_or(0);
        if n != 1 {
            let near: Vec<String> = t
                .sent
                .iter()
                .filter(|(r, _)| path(r) == f.path)
                .filter_map(|(r, _)| f.mismatch(r))
                .collect();
            panic!(
                "{stream}: fixture {} answered {n} requests (want 1); same-path requests differ: {near:?}",
                f.name()
            );
        }
    }
    Run { out, sent: t.sent }
}

fn run(stream: &str, cfg: Config, fixtures: &[Fixture]) -> Run {
    run_with(cfg, stream, fixtures, false, unexpected)
}

fn load(name: &str) -> Fixture {
    let (ep, case) = name.split_once('/').unwrap();
    fixtures::load(ep, case)
}

#[test]
fn every_fixture_is_well_formed() {
    let all = fixtures::all();
    assert!(all.len() >= 40, "{} fixtures", all.len());
    for (ep, case, f) in &all {
        let name = format!("{ep}/{case}");
        assert!(f.path.starts_with("/api/"), "{name}: {}", f.path);
        assert!(!f.path.contains('?'), "{name}: query belongs in \"query\"");
        assert!((200..300).contains(&f.status), "{name}: {}", f.status);
        let ctype = f
            .headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name}: no content-type"));
        match ctype {
            "application/json" => {
                f.json();
            }
            "application/x-json-stream" => {
                for l in f.lines() {
                    serde_json::from_str::<Value>(&l)
                        .unwrap_or_else(|e| panic!("{name}: bad NDJSON line: {e}"));
                }
            }
            "text/plain" | "text/csv" => assert!(!f.lines().is_empty(), "{name}"),
            other => panic!("{name}: unexpected content-type {other}"),
        }
        if ep.starts_with("write_") {
            assert_eq!(f.method, "POST", "{name}");
            assert!(f.request_body.is_some(), "{name}: writes record their body");
        } else {
            assert!(f.method == "GET" || ep == "export_start", "{name}");
        }
    }
    // Every export case names a data type the catalog reads.
    for (_, case, _) in all.iter().filter(|(ep, _, _)| ep == "export_data_json") {
        assert!(export_stream(case).is_some(), "no stream reads {case}");
    }
}

fn export_stream(data_type: &str) -> Option<&'static str> {
    all_streams()
        .find(|d| matches!(d.family, Family::Export { data_type: t, .. } if t == data_type))
        .map(|d| d.name)
}

#[test]
fn campaigns_page() {
    let r = run("campaigns", config(json!({})), &[load("campaigns/page")]);
    let recs = r.records("campaigns");
    assert_eq!(recs.len(), 2);
    let blast = &recs[0];
    assert_eq!(blast["id"], 2220229);
    assert_eq!(blast["name"], "Spring sale — blast");
    assert_eq!(blast["type"], "Blast");
    assert_eq!(blast["createdAt"], "2021-04-14T16:23:07.154Z");
    assert_eq!(blast["updatedAt"], "2021-04-14T16:25:53.314Z");
    assert_eq!(blast["startAt"], "2021-04-14T16:25:53.314Z");
    assert_eq!(blast["endedAt"], "2021-04-14T16:25:54.626Z");
    assert_eq!(blast["listIds"], json!([949814]));
    assert_eq!(blast["sendSize"], 2);
    let triggered = &recs[1];
    assert_eq!(triggered["id"], 2197857);
    assert_eq!(triggered["campaignState"], "Running");
    assert_eq!(triggered["updatedAt"], "2021-04-08T14:26:41Z");
    assert!(triggered.get("startAt").is_none());
    assert_eq!(triggered["workflowId"], 45678);
    // No nextPageUrl: one request; the cursor is the greatest updatedAt.
    assert_eq!(r.sent.len(), 1);
    assert_eq!(
        r.out.state["campaigns"]["cursor"],
        "2021-04-14T16:25:53.314Z"
    );
}

#[test]
fn campaigns_metrics_csv() {
    let metrics = load("campaigns_metrics/two_campaigns");
    let r = run(
        "campaigns_metrics",
        config(json!({})),
        &[load("campaigns/page"), metrics.clone()],
    );
    assert_eq!(r.sent.len(), 2);
    let recs = r.records("campaigns_metrics");
    assert_eq!(recs.len(), metrics.lines().len() - 1);
    let (a, b) = (&recs[0], &recs[1]);
    assert_eq!(a.len(), 17, "one field per CSV column");
    assert_eq!(a["id"], 2220229);
    assert_eq!(a["Average Order Value"], 0);
    assert_eq!(a["Total Email Sends"], 2);
    assert_eq!(a["Total Email Opens"], 10);
    assert_eq!(a["Total Emails Clicked"], 6);
    assert_eq!(a["Total Pushes Sent"], Value::Null);
    assert_eq!(a["Unique Pushes Sent"], Value::Null);
    assert_eq!(b["id"], 2197857);
    assert_eq!(b["Total Email Sends"], Value::Null);
    assert_eq!(b["Unique Emails Bounced"], Value::Null);
    assert_eq!(b["Total Unsubscribes"], 0);
    assert_eq!(b["Unique Pushes Sent"], 0);
}

#[test]
fn channels_message_types_lists() {
    let r = run("channels", config(json!({})), &[load("channels/all")]);
    let c = &r.records("channels")[0];
    assert_eq!(r.records("channels").len(), 1);
    assert_eq!(c["id"], 39581);
    assert_eq!(c["channelType"], "Marketing");
    assert_eq!(c["messageMedium"], "Email");

    let r = run(
        "message_types",
        config(json!({})),
        &[load("messageTypes/all")],
    );
    let m = &r.records("message_types")[0];
    assert_eq!(r.records("message_types").len(), 1);
    assert_eq!(m["id"], 47257);
    assert_eq!(m["createdAt"], "2021-01-07T19:39:54.730Z");
    assert_eq!(m["updatedAt"], "2021-01-07T19:39:54.730Z");
    assert_eq!(m["channelId"], 39581);
    assert_eq!(m["subscriptionPolicy"], "OptOut");

    let r = run("lists", config(json!({})), &[load("lists/all")]);
    let l = r.records("lists");
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["id"], 982885);
    assert_eq!(l[0]["createdAt"], "2021-05-04T21:58:23.370Z");
    assert_eq!(l[0]["listType"], "Dynamic");
    assert_eq!(l[1]["id"], 949814);
    assert_eq!(l[1]["createdAt"], "2021-04-08T14:25:08.857Z");
    assert_eq!(l[1]["description"], "weekly digest");
}

#[test]
fn list_users_text_body() {
    let r = run_with(
        config(json!({})),
        "list_users",
        &[load("lists/all"), load("lists_getUsers/three")],
        false,
        // The other list (982885) is empty.
        |req| {
            assert_eq!(path(req), "/api/lists/getUsers");
            assert_eq!(query(req, "listId"), ["982885"]);
            Answer::new(200, "text/plain", "")
        },
    );
    assert_eq!(r.sent.len(), 3);
    let recs = r.records("list_users");
    let got: Vec<(i64, &str)> = recs
        .iter()
        .map(|r| (r["listId"].as_i64().unwrap(), r["email"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (949814, "jane@example.com"),
            (949814, "john@example.com"),
            (949814, "y.k@example.org")
        ]
    );
}

#[test]
fn templates_one_pass_of_sixteen() {
    let r = run_with(
        config(json!({})),
        "templates",
        &[load("templates/blast_email")],
        false,
        |req| {
            assert_eq!(path(req), "/api/templates");
            Answer::json(json!({"templates": [], "totalTemplatesCount": 0}))
        },
    );
    assert_eq!(r.sent.len(), 16);
    let recs = r.records("templates");
    assert_eq!(recs.len(), 1);
    let t = &recs[0];
    assert_eq!(t["templateId"], 3043605);
    assert_eq!(t["templateType"], "Blast");
    assert_eq!(t["messageMedium"], "Email");
    assert_eq!(t["createdAt"], "2021-04-14T16:23:30.700Z");
    assert_eq!(t["updatedAt"], "2021-04-14T16:25:39.858Z");
    assert_eq!(t["clientTemplateId"], "spring-sale-v1");
    assert_eq!(t["campaignId"], 2220229);
}

#[test]
fn metadata_tables_keys_value() {
    let r = run_with(
        config(json!({})),
        "metadata",
        &[
            load("metadata/tables"),
            load("metadata_table/storeconfig"),
            load("metadata_table_key/storeconfig_sf-01"),
        ],
        false,
        // The keys page names a next marker: the next page is the last, empty.
        |req| {
            assert_eq!(path(req), "/api/metadata/storeconfig");
            assert_eq!(query(req, "nextMarker"), ["sf-01"]);
            Answer::json(json!({"results": []}))
        },
    );
    assert_eq!(r.sent.len(), 4);
    let recs = r.records("metadata");
    assert_eq!(recs.len(), 1);
    let m = &recs[0];
    assert_eq!(m["table"], "storeconfig");
    assert_eq!(m["key"], "sf-01");
    assert_eq!(m["size"], 112);
    assert_eq!(m["lastModified"], "2023-11-14T22:13:20Z");
    assert_eq!(m["value"], json!({"city": "San Francisco", "open": true}));
    assert_eq!(r.out.state["metadata"]["cursor"], "2023-11-14T22:13:20Z");
}

#[test]
fn users_get_fields_probe() {
    let f = load("users_getFields/all");
    let cfg = config(json!({}));
    let req = connector_core::user_fields_request(&cfg);
    assert_eq!(f.mismatch(&req), None);
    let fields = connector_core::user_fields_response(f.status, &f.body).unwrap();
    assert_eq!(fields["fields"]["LTV"], "double");
    let users = connector_core::discover(&cfg, Some(&fields))
        .into_iter()
        .find(|d| d.name == "users")
        .unwrap();
    let props = &users.json_schema["properties"];
    assert_eq!(props["LTV"]["type"], json!(["null", "number"]));
    assert_eq!(
        props["devices.endpointEnabled"]["type"],
        json!(["null", "boolean"])
    );
    assert_eq!(props["signupDate"]["format"], "date-time");
}

#[test]
fn user_profile_and_unknown_user() {
    let r = run(
        "user_profile",
        config(json!({"email": "jane@example.com"})),
        &[load("users_email/jane")],
    );
    let recs = r.records("user_profile");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["email"], "jane@example.com");
    assert_eq!(recs[0]["userId"], "u-1001");
    assert_eq!(recs[0]["dataFields"]["firstName"], "Jane");
    assert_eq!(recs[0]["dataFields"]["emailListIds"], json!([949814]));

    let r = run(
        "user_profile",
        config(json!({"email": "nobody@example.com"})),
        &[load("users_email/unknown")],
    );
    assert_eq!(r.out.count("user_profile"), 0);
}

/// `yyyy-MM-dd HH:mm:ss +00:00` → RFC 3339 UTC, as the core normalises it.
fn rfc3339(wire: &str) -> String {
    assert!(wire.ends_with(" +00:00"), "{wire}");
    format!("{}Z", wire[..19].replacen(' ', "T", 1))
}

/// Runs the export stream of `export_data_json/<data_type>` over the
/// fixture's window and returns its one record.
fn export_record(data_type: &str) -> (Record, Value) {
    let f = fixtures::load("export_data_json", data_type);
    let stream = export_stream(data_type).unwrap();
    let window = |k: &str| {
        let v = &f.query.iter().find(|(q, _)| q == k).unwrap().1;
        v[..10].to_string()
    };
    let cfg =
        config(json!({"start_date": window("startDateTime"), "end_date": window("endDateTime")}));
    let line: Value = serde_json::from_str(&f.lines()[0]).unwrap();
    let r = run(stream, cfg, std::slice::from_ref(&f));
    assert_eq!(r.sent.len(), 1, "{stream}: one window");
    let recs = r.records(stream);
    assert_eq!(recs.len(), f.lines().len(), "{stream}");
    let rec = recs[0].clone();
    let cursor_field = if data_type == "user" {
        "profileUpdatedAt"
    } else {
        "createdAt"
    };
    let want = rfc3339(line[cursor_field].as_str().unwrap());
    assert_eq!(rec[cursor_field], want.as_str(), "{stream}");
    assert_eq!(r.out.state[stream]["cursor"], want.as_str(), "{stream}");
    assert_eq!(
        r.out.state[stream]["next_start"],
        format!("{}T00:00:00Z", window("endDateTime")),
        "{stream}"
    );
    (rec, line)
}

#[test]
fn export_email_events() {
    let types = [
        "emailSend",
        "emailOpen",
        "emailClick",
        "emailBounce",
        "emailComplaint",
        "emailSendSkip",
        "emailSubscribe",
        "emailUnSubscribe",
    ];
    let mut keys = Vec::new();
    for t in types {
        let (rec, line) = export_record(t);
        // Untouched fields come through as recorded.
        assert_eq!(rec["email"], line["email"], "{t}");
        let key = rec["_key"].as_str().unwrap().to_string();
        assert!(key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        keys.push(key);
        match t {
            "emailSend" => {
                assert_eq!(rec["campaignId"], 2220229);
                assert_eq!(
                    rec["itblInternal"]["documentCreatedAt"],
                    "2021-04-14T16:25:56Z"
                );
                assert_eq!(
                    rec["itblInternal"]["documentUpdatedAt"],
                    "2021-04-14T16:25:56Z"
                );
            }
            "emailOpen" => assert_eq!(rec["userAgentDevice"], "Other"),
            "emailClick" => {
                assert_eq!(rec["url"], "https://acme.example/sale");
                assert_eq!(rec["hrefIndex"], 1);
            }
            "emailBounce" => assert_eq!(rec["recipientState"], "HardBounce"),
            "emailComplaint" => assert_eq!(rec["createdAt"], "2021-04-15T09:00:02Z"),
            "emailSendSkip" => {
                assert_eq!(rec["messageId"], "9f1c…");
                assert_eq!(
                    rec["transactionalData"],
                    json!({"eventName": "cartAbandoned", "sku": "A-1", "price": 20})
                );
            }
            "emailSubscribe" => {
                assert_eq!(rec["profileUpdatedAt"], "2021-04-14T16:48:01Z");
                assert_eq!(rec["emailListIds"], json!([949814]));
            }
            "emailUnSubscribe" => assert_eq!(rec["unsubSource"], "Import"),
            _ => unreachable!(),
        }
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), types.len());
}

#[test]
fn export_push_in_app_sms_whatsapp_custom_purchase() {
    let (rec, _) = export_record("pushSend");
    assert_eq!(
        rec["itblInternal"]["documentUpdatedAt"],
        "2024-03-01T10:00:00Z"
    );
    assert_eq!(rec["notificationsEnabled"], true);
    let (rec, _) = export_record("inAppClick");
    assert_eq!(rec["sentAt"], "2024-03-01T11:00:00Z");
    assert_eq!(rec["expiresAt"], "2024-04-01T11:00:00Z");
    assert_eq!(rec["deviceInfo"]["platform"], "iOS");
    assert_eq!(rec["messageContext"]["saveToInbox"], true);
    let (rec, _) = export_record("smsClick");
    assert_eq!(rec["clickedUrl"], "https://acme.example/promo");
    assert_eq!(rec["isBot"], false);
    let (rec, _) = export_record("smsSend");
    assert_eq!(rec["toPhoneNumber"], "+15555550123");
    assert_eq!(rec["smsSendCount"], 1);
    let (rec, _) = export_record("smsReceived");
    assert_eq!(rec["smsMessage"], "STOP");
    let (rec, _) = export_record("whatsAppSend");
    assert_eq!(rec["renderedWhatsAppMessage"], "Your order shipped");
    let (rec, _) = export_record("customEvent");
    assert_eq!(rec["eventName"], "productViewed");
    assert_eq!(rec["eventUpdatedAt"], "2024-03-05T14:22:01Z");
    assert_eq!(rec["categories"], json!(["shoes"]));
    let (rec, _) = export_record("purchase");
    assert_eq!(rec["id"], "order-7781");
    assert_eq!(rec["total"], 45.5);
    assert_eq!(rec["shoppingCartItems"][0]["quantity"], 2);
    assert_eq!(rec["shoppingCartItems"][0]["price"], 20.0);
}

#[test]
fn export_users() {
    let (rec, _) = export_record("user");
    assert_eq!(rec["email"], "jane@example.com");
    assert_eq!(rec["itblUserId"], "a1b2c3d4e5");
    assert_eq!(rec["signupDate"], "2021-04-14T16:46:01Z");
    assert_eq!(rec["itblInternal.emailDomain"], "example.com");
    // Custom fields pass through untouched; users rows carry no synthetic key.
    assert_eq!(rec["someDate"], "2015-11-13");
    assert_eq!(rec["isFoobar"], false);
    assert!(rec.get("_key").is_none());
}

#[test]
fn async_export_job() {
    let start = load("export_start/user");
    let files = load("export_files/running");
    let rows = load("export_data_json/user");
    let url = files.json()["files"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let mut completed = files.json();
    completed["jobState"] = json!("completed");
    let (mut polls, mut downloads) = (0, 0);
    let r = run_with(
        config(
            json!({"export_mode": "async", "start_date": "2021-04-14", "end_date": "2021-04-15"}),
        ),
        "users",
        &[start, files],
        true,
        |req| {
            if req.url == url {
                // The pre-signed URL is fetched without the key.
                assert!(!req.needs_auth);
                downloads += 1;
                return Answer::new(200, "application/x-json-stream", rows.body.clone());
            }
            assert_eq!(path(req), "/api/export/3562/files");
            polls += 1;
            Answer::json(completed.clone())
        },
    );
    // running (the fixture) → completed → one file.
    assert_eq!((polls, downloads), (1, 1));
    assert_eq!(r.sent.len(), 4);
    let recs = r.records("users");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["profileUpdatedAt"], "2021-04-14T16:45:13Z");
    assert_eq!(r.out.state["users"]["cursor"], "2021-04-14T16:45:13Z");
}

#[test]
fn user_events_export() {
    let r = run(
        "user_events",
        config(json!({"email": "jane@example.com"})),
        &[load("export_userEvents/jane")],
    );
    let recs = r.records("user_events");
    assert_eq!(recs.len(), 1);
    let e = &recs[0];
    assert_eq!(e["_type"], "emailSubscribe");
    assert_eq!(e["createdAt"], "2021-04-14T16:49:04Z");
    assert_eq!(
        e["itblInternal"]["documentCreatedAt"],
        "2021-04-14T16:49:24Z"
    );
    assert_eq!(e["userId"], "1234");
    assert_eq!(e["_key"].as_str().unwrap().len(), 32);
}

#[test]
fn catalog_items_pages() {
    let r = run_with(
        config(json!({"catalog_names": ["restaurants"]})),
        "catalog_items",
        &[load("catalogs_items/restaurants_page1")],
        false,
        // The recorded page names a next page: it is the last, empty.
        |req| {
            assert_eq!(path(req), "/api/catalogs/restaurants/items");
            assert_eq!(query(req, "page"), ["2"]);
            Answer::json(json!({"msg": "", "code": "Success", "params": {
                "catalogItemsWithProperties": [], "totalItemsCount": 5}}))
        },
    );
    assert_eq!(r.sent.len(), 2);
    let recs = r.records("catalog_items");
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["catalogName"], "restaurants");
    assert_eq!(recs[0]["itemId"], "restaurant-123");
    assert_eq!(recs[0]["lastModified"], "2024-01-01T00:00:00Z");
    assert_eq!(recs[0]["value"]["location"]["lat"], 37.78);
    assert_eq!(recs[1]["itemId"], "restaurant-124");
    assert_eq!(recs[1]["lastModified"], "2024-01-01T00:01:00Z");
    assert_eq!(
        r.out.state["catalog_items"]["cursor"],
        "2024-01-01T00:01:00Z"
    );
}

#[test]
fn journeys_live_and_archived_passes() {
    let r = run_with(
        config(json!({})),
        "journeys",
        &[load("journeys/welcome")],
        false,
        |req| {
            assert_eq!(query(req, "state"), ["Archived"]);
            Answer::json(json!({"journeys": [], "totalJourneysCount": 0}))
        },
    );
    assert_eq!(r.sent.len(), 2);
    let recs = r.records("journeys");
    assert_eq!(recs.len(), 1);
    let j = &recs[0];
    assert_eq!(j["id"], 45678);
    assert_eq!(j["isArchived"], false);
    assert_eq!(j["createdAt"], "2023-11-14T22:13:20Z");
    assert_eq!(j["updatedAt"], "2023-11-20T17:06:40Z");
    assert_eq!(j["triggerEventNames"], json!(["signup"]));
}

#[test]
fn in_app_and_sent_messages() {
    let cfg = || config(json!({"email": "jane@example.com"}));
    let r = run("in_app_messages", cfg(), &[load("inApp_getMessages/jane")]);
    let recs = r.records("in_app_messages");
    assert_eq!(recs.len(), 1);
    let m = &recs[0];
    assert_eq!(m["messageId"], "message1");
    assert_eq!(m["createdAt"], "2024-03-01T00:00:00Z");
    assert_eq!(m["expiresAt"], "2024-04-01T00:00:00Z");
    assert_eq!(m["priorityLevel"], 300.5);
    assert_eq!(
        m["content"]["webInAppDisplaySettings"]["position"],
        "Center"
    );

    let r = run(
        "sent_messages",
        cfg(),
        &[load("users_getSentMessages/jane")],
    );
    let recs = r.records("sent_messages");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["messageId"], "5d0c9e1f2a3b4c5d8e7f6a1b2c3d4e5f");
    assert_eq!(recs[0]["createdAt"], "2021-04-14T16:25:56Z");
}
