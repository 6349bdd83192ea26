//! The core's read path on recorded bodies, one test per stream family,
//! driven through the native test driver with bodies fed in small chunks.

use connector_core::SessionState;
use connector_core::{
    Config, ErrorKind, HttpRequest, ReadSession, StreamSelection, TransportErrorKind,
};
use integration_tests::driver::{self, MockResponse, MockTransport, SyncOutput, VirtualClock};
use integration_tests::mock_iterable::{path, query};
use serde_json::{Value, json};

const NOW: i64 = 1_709_300_000_000; // 2024-03-01T13:33:20Z

fn config(extra: Value) -> Config {
    let mut v = json!({"base_url": "http://sim.test", "start_date": "2024-02-01"});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    Config::from_json(&v).unwrap()
}

fn json_body(v: Value) -> MockResponse {
    MockResponse::Ok(200, "application/json", v.to_string().into_bytes())
}

fn sync(
    cfg: Config,
    streams: &[&str],
    state: &SessionState,
    answer: impl FnMut(&HttpRequest) -> MockResponse,
) -> (
    Result<SyncOutput, connector_core::ConnectorError>,
    Vec<HttpRequest>,
) {
    let sel: Vec<StreamSelection> = streams
        .iter()
        .map(|s| StreamSelection::incremental(s))
        .collect();
    let mut session = ReadSession::open(cfg, &sel, state).unwrap();
    let mut t = MockTransport::new(answer);
    let out = driver::run(&mut session, &mut t, &mut VirtualClock(NOW), None);
    (out, t.sent)
}

#[test]
fn simple_stream_shapes_epoch_ms_timestamps() {
    let (out, sent) = sync(
        config(json!({})),
        &["message_types"],
        &SessionState::new(),
        |_| {
            json_body(json!({"messageTypes": [
            {"id": 47257, "createdAt": 1610048394730i64, "updatedAt": 1610048394730i64,
             "name": "Marketing Message", "channelId": 39581, "subscriptionPolicy": "OptOut"}]}))
        },
    );
    let out = out.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(path(&sent[0]), "/api/messageTypes");
    assert!(sent[0].needs_auth);
    let r = &out.records["message_types"][0];
    assert_eq!(r["createdAt"], "2021-01-07T19:39:54.730Z");
    assert_eq!(r["name"], "Marketing Message");
}

fn campaign(id: i64, updated: i64, state: &str) -> Value {
    json!({"id": id, "name": format!("c{id}"), "type": "Blast", "campaignState": state,
           "messageMedium": "Email", "createdAt": 1_600_000_000_000i64, "updatedAt": updated,
           "createdByUserId": "ops@example.com"})
}

#[test]
fn campaigns_page_and_resume_incrementally() {
    let pages = |req: &HttpRequest| {
        let page: u32 = query(req, "page")[0].parse().unwrap();
        assert_eq!(query(req, "pageSize"), vec!["1000"]);
        match page {
            1 => json_body(
                json!({"campaigns": [campaign(1, 1_700_000_000_000, "Finished"),
                                               campaign(2, 1_700_000_100_000, "Running")],
                                 "totalCampaignsCount": 3,
                                 "nextPageUrl": "http://sim.test/api/campaigns?page=2&pageSize=1000"}),
            ),
            _ => json_body(
                json!({"campaigns": [campaign(3, 1_700_000_200_000, "Draft")],
                                 "totalCampaignsCount": 3,
                                 "previousPageUrl": "http://sim.test/api/campaigns?page=1&pageSize=1000"}),
            ),
        }
    };
    let (out, sent) = sync(
        config(json!({})),
        &["campaigns"],
        &SessionState::new(),
        pages,
    );
    let out = out.unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(out.count("campaigns"), 3);
    let state = out.state["campaigns"].clone();
    assert_eq!(state["cursor"], "2023-11-14T22:16:40Z");
    // Second sync: nothing moved, but the Running campaign is re-read.
    let mut st = SessionState::new();
    st.insert("campaigns".into(), state);
    let (out2, _) = sync(config(json!({})), &["campaigns"], &st, pages);
    let ids: Vec<i64> = out2.unwrap().records["campaigns"]
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![2]);
}

fn export_line(ts: &str, email: &str, msg: &str) -> String {
    format!(
        "{{\"email\":\"{email}\",\"createdAt\":\"{ts} +00:00\",\"messageId\":\"{msg}\",\"campaignId\":1,\"transactionalData\":\"{{\\\"a\\\":1}}\"}}\n"
    )
}

#[test]
fn export_windows_commit_next_start_and_resume_without_reemitting() {
    let answer = |req: &HttpRequest| {
        assert_eq!(path(req), "/api/export/data.json");
        assert_eq!(query(req, "dataTypeName"), vec!["emailSend"]);
        let start = query(req, "startDateTime")[0].clone();
        let end = query(req, "endDateTime")[0].clone();
        let mut body = String::new();
        for (ts, msg) in [
            ("2024-02-01 00:00:00", "m0"),
            ("2024-02-10 12:00:00", "m1"),
            ("2024-02-29 23:59:59", "m2"),
        ] {
            if ts >= start.as_str() && ts < end.as_str() {
                body.push_str(&export_line(ts, "a@x.com", msg));
                body.push('\n'); // blank lines are tolerated
            }
        }
        MockResponse::Ok(200, "application/x-json-stream", body.into_bytes())
    };
    let cfg = config(json!({"window_days": 10, "end_date": "2024-03-01"}));
    let (out, sent) = sync(cfg.clone(), &["email_send"], &SessionState::new(), answer);
    let out = out.unwrap();
    assert_eq!(out.count("email_send"), 3);
    // 29 days in 10-day windows: 3 requests, start inclusive, end exclusive.
    let windows: Vec<(String, String)> = sent
        .iter()
        .map(|r| {
            (
                query(r, "startDateTime")[0].clone(),
                query(r, "endDateTime")[0].clone(),
            )
        })
        .collect();
    assert_eq!(
        windows[0],
        ("2024-02-01 00:00:00".into(), "2024-02-11 00:00:00".into())
    );
    assert_eq!(windows[2].1, "2024-03-01 00:00:00");
    let r = &out.records["email_send"][0];
    assert_eq!(r["createdAt"], "2024-02-01T00:00:00Z");
    assert_eq!(r["transactionalData"]["a"], 1);
    assert_eq!(r["_key"].as_str().unwrap().len(), 32);
    assert_eq!(
        out.state["email_send"],
        json!({"v": 1, "cursor": "2024-02-29T23:59:59Z", "next_start": "2024-03-01T00:00:00Z"})
    );
    // Resume: nothing left to read, nothing re-emitted.
    let mut st = SessionState::new();
    st.insert("email_send".into(), out.state["email_send"].clone());
    let (again, sent2) = sync(cfg, &["email_send"], &st, answer);
    assert_eq!(again.unwrap().count("email_send"), 0);
    assert!(sent2.is_empty());
}

#[test]
fn cut_export_halves_the_window_and_never_duplicates() {
    let answer = move |req: &HttpRequest| {
        let start = query(req, "startDateTime")[0].clone();
        let end = query(req, "endDateTime")[0].clone();
        let mut body = String::new();
        for day in 1..=20 {
            let ts = format!("2024-02-{day:02} 06:00:00");
            if ts >= start && ts < end {
                body.push_str(&export_line(&ts, "a@x.com", &format!("m{day}")));
            }
        }
        // Any window longer than 5 days is cut after 3 rows.
        let long = end[..10] > {
            let d: i64 = start[8..10].parse().unwrap();
            format!("2024-02-{:02}", d + 5)
        }[..];
        if long && start.starts_with("2024-02") && body.lines().count() > 3 {
            let cut_at = body.match_indices('\n').nth(2).unwrap().0 + 20;
            return MockResponse::Cut(body.into_bytes(), cut_at);
        }
        MockResponse::Ok(200, "application/x-json-stream", body.into_bytes())
    };
    let cfg = config(json!({"end_date": "2024-02-21"}));
    let (out, sent) = sync(cfg, &["email_send"], &SessionState::new(), answer);
    let out = out.unwrap();
    let mut ids: Vec<String> = out.records["email_send"]
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), 20, "{ids:?}");
    assert_eq!(unique.len(), 20);
    assert!(sent.len() > 2);
    assert!(out.logs.iter().any(|l| l.message.contains("cut off")));
}

#[test]
fn retries_500_and_429_then_succeeds_and_gives_up_with_a_typed_error() {
    let mut calls = 0;
    let (out, sent) = sync(
        config(json!({})),
        &["channels"],
        &SessionState::new(),
        |_| {
            calls += 1;
            match calls {
                1 => MockResponse::Ok(
                    500,
                    "application/json",
                    br#"{"msg":"An error occurred.","code":"GenericError"}"#.to_vec(),
                ),
                2 => MockResponse::Ok(
                    429,
                    "application/json",
                    br#"{"msg":"Exceeded rate limit.","code":"RateLimitExceeded","params":{}}"#
                        .to_vec(),
                ),
                3 => MockResponse::Transport(TransportErrorKind::Timeout),
                _ => json_body(
                    json!({"channels": [{"id": 1, "name": "Marketing", "channelType": "Marketing", "messageMedium": "Email"}]}),
                ),
            }
        },
    );
    let out = out.unwrap();
    assert_eq!(sent.len(), 4);
    assert_eq!(out.count("channels"), 1);
    assert_eq!(out.summary.unwrap().streams[0].retries, 3);

    let (err, sent) = sync(
        config(json!({"max_retries": 2})),
        &["lists"],
        &SessionState::new(),
        |_| {
            MockResponse::Ok(
                500,
                "application/json",
                br#"{"msg":"boom","code":"GenericError"}"#.to_vec(),
            )
        },
    );
    let err = err.unwrap_err();
    assert_eq!(sent.len(), 3);
    assert_eq!(err.kind, ErrorKind::Upstream);
    assert_eq!(err.status, Some(500));
    assert_eq!(err.code.as_deref(), Some("GenericError"));
    assert_eq!(err.stream.as_deref(), Some("lists"));
}

#[test]
fn unauthorized_is_fatal_and_typed() {
    let (err, sent) = sync(
        config(json!({"api_key": "sekrit-key"})),
        &["lists"],
        &SessionState::new(),
        |_| {
            MockResponse::Ok(401, "application/json", br#"{"msg":"Invalid API key","code":"BadApiKey","params":{"endpoint":"/api/lists"}}"#.to_vec())
        },
    );
    let err = err.unwrap_err();
    assert_eq!(sent.len(), 1);
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.to_string().contains("region"));
    assert!(!err.to_string().contains("sekrit"));
    assert!(!format!("{err:?}").contains("sekrit"));
}

#[test]
fn list_users_text_bodies_per_list() {
    let (out, sent) = sync(
        config(json!({})),
        &["list_users"],
        &SessionState::new(),
        |req| match path(req).as_str() {
            "/api/lists" => {
                json_body(json!({"lists": [{"id": 7, "name": "a"}, {"id": 8, "name": "b"}]}))
            }
            "/api/lists/getUsers" => {
                let id = query(req, "listId")[0].clone();
                let body = if id == "7" {
                    "jane@example.com\r\njohn@example.com\n\n"
                } else {
                    "y.k@example.org"
                };
                MockResponse::Ok(200, "text/plain", body.as_bytes().to_vec())
            }
            p => panic!("unexpected {p}"),
        },
    );
    let out = out.unwrap();
    assert_eq!(sent.len(), 3);
    let recs = &out.records["list_users"];
    assert_eq!(recs.len(), 3);
    assert_eq!(
        recs[0],
        json!({"listId": 7, "email": "jane@example.com"})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(recs[2]["listId"], 8);
}

#[test]
fn campaign_metrics_batch_ids_and_type_csv() {
    let (out, sent) = sync(
        config(json!({})),
        &["campaigns_metrics"],
        &SessionState::new(),
        |req| match path(req).as_str() {
            "/api/campaigns" => json_body(
                json!({"campaigns": (1..=150).map(|i| campaign(i, 1, "Finished")).collect::<Vec<_>>()}),
            ),
            "/api/campaigns/metrics" => {
                let ids = query(req, "campaignId");
                assert!(ids.len() <= 100);
                let mut csv = String::from("id,Revenue,\"Total Email Sends\"\r\n");
                for id in ids {
                    csv.push_str(&format!("{id},1.5,\r\n"));
                }
                MockResponse::Ok(200, "text/csv", csv.into_bytes())
            }
            p => panic!("unexpected {p}"),
        },
    );
    let out = out.unwrap();
    assert_eq!(sent.len(), 3);
    let recs = &out.records["campaigns_metrics"];
    assert_eq!(recs.len(), 150);
    assert_eq!(recs[0]["id"], 1);
    assert_eq!(recs[0]["Revenue"], 1.5);
    assert_eq!(recs[0]["Total Email Sends"], Value::Null);
}

#[test]
fn metadata_walks_tables_keys_values() {
    let (out, sent) = sync(
        config(json!({})),
        &["metadata"],
        &SessionState::new(),
        |req| {
            let p = path(req);
            match p.as_str() {
                "/api/metadata" => json_body(json!({"results": [{"name": "stores"}]})),
                "/api/metadata/stores" => {
                    if query(req, "nextMarker").is_empty() {
                        json_body(
                            json!({"results": [{"table": "stores", "key": "a", "size": 1, "lastModified": 1_700_000_000_000i64}], "nextMarker": "a"}),
                        )
                    } else {
                        json_body(
                            json!({"results": [{"table": "stores", "key": "b", "size": 1, "lastModified": 1_700_000_001_000i64}]}),
                        )
                    }
                }
                _ => {
                    let key = p.rsplit('/').next().unwrap().to_string();
                    json_body(
                        json!({"table": "stores", "key": key, "size": 1, "lastModified": 1_700_000_000_000i64, "value": {"k": key}}),
                    )
                }
            }
        },
    );
    let out = out.unwrap();
    assert_eq!(sent.len(), 5);
    assert_eq!(out.count("metadata"), 2);
    assert_eq!(out.records["metadata"][1]["value"]["k"], "b");
    assert_eq!(out.state["metadata"]["cursor"], "2023-11-14T22:13:21Z");
}

#[test]
fn by_key_streams_need_a_filter_and_unknown_users_are_empty() {
    let sel = [StreamSelection::incremental("user_profile")];
    let err = ReadSession::open(config(json!({})), &sel, &SessionState::new())
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::InvalidConfig);
    assert!(err.message.contains("email"));
    let (out, sent) = sync(
        config(json!({"email": "who+x@example.com"})),
        &["user_profile"],
        &SessionState::new(),
        |_| json_body(json!({})),
    );
    assert_eq!(out.unwrap().count("user_profile"), 0);
    assert!(
        sent[0].url.ends_with("/api/users/who%2Bx%40example.com"),
        "{}",
        sent[0].url
    );
}

#[test]
fn malformed_ndjson_is_a_typed_error_or_counted_when_allowed() {
    let body = b"{\"email\":\"a@x.com\",\"createdAt\":\"2024-02-02 00:00:00 +00:00\"}\n{\"email\": \"trunc\n".to_vec();
    let b2 = body.clone();
    let (err, _) = sync(
        config(json!({"end_date": "2024-02-03"})),
        &["email_open"],
        &SessionState::new(),
        move |_| MockResponse::Ok(200, "application/x-json-stream", b2.clone()),
    );
    let err = err.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MalformedResponse);
    assert!(err.message.contains("offset"), "{}", err.message);
    let (out, _) = sync(
        config(json!({"end_date": "2024-02-03", "skip_malformed_lines": true})),
        &["email_open"],
        &SessionState::new(),
        move |_| MockResponse::Ok(200, "application/x-json-stream", body.clone()),
    );
    let out = out.unwrap();
    assert_eq!(out.count("email_open"), 1);
    assert_eq!(out.summary.unwrap().streams[0].skipped_lines, 1);
}

#[test]
fn persistent_errors_fail_or_are_skipped_and_reported_when_opted_in() {
    let answer = |req: &HttpRequest| match path(req).as_str() {
        "/api/lists" => {
            json_body(json!({"lists": [{"id": 7, "name": "a"}, {"id": 8, "name": "b"}]}))
        }
        _ if query(req, "listId") == ["7"] => MockResponse::Ok(
            500,
            "application/json",
            br#"{"msg":"An error occurred.","code":"GenericError"}"#.to_vec(),
        ),
        _ => MockResponse::Ok(200, "text/plain", b"ok@example.com\n".to_vec()),
    };
    let (err, _) = sync(
        config(json!({"max_retries": 1})),
        &["list_users"],
        &SessionState::new(),
        answer,
    );
    assert_eq!(err.unwrap_err().kind, ErrorKind::Upstream);
    let (out, _) = sync(
        config(json!({"max_retries": 1, "skip_persistent_errors": true})),
        &["list_users"],
        &SessionState::new(),
        answer,
    );
    let out = out.unwrap();
    assert_eq!(out.count("list_users"), 1);
    assert_eq!(out.records["list_users"][0]["listId"], 8);
    assert_eq!(out.summary.unwrap().streams[0].skipped_units, 1);
    assert!(
        out.logs
            .iter()
            .any(|l| l.message.contains("skipped /api/lists/getUsers"))
    );
}

fn window_days(req: &HttpRequest) -> i64 {
    let parse =
        |k| chrono::NaiveDateTime::parse_from_str(&query(req, k)[0], "%Y-%m-%d %H:%M:%S").unwrap();
    (parse("endDateTime") - parse("startDateTime")).num_days()
}

/// A clock that a transport can move forward (a slow server).
struct SlowClock(std::rc::Rc<std::cell::Cell<i64>>);

impl driver::Clock for SlowClock {
    fn now_ms(&mut self) -> i64 {
        self.0.get()
    }
    fn sleep_until(&mut self, t: i64) {
        self.0.set(self.0.get().max(t));
    }
}

#[test]
fn adaptive_windows_grow_while_fast_and_stay_while_slow() {
    let cfg = config(json!({"start_date": "2023-01-01", "end_date": "2024-03-01"}));
    let empty = |_: &HttpRequest| MockResponse::Ok(200, "application/x-json-stream", Vec::new());
    let (out, sent) = sync(cfg.clone(), &["email_send"], &SessionState::new(), empty);
    out.unwrap();
    let days: Vec<i64> = sent.iter().map(window_days).collect();
    assert_eq!(&days[..4], &[30, 60, 120, 180], "{days:?}");

    // Every response takes two minutes: no growth.
    let now = std::rc::Rc::new(std::cell::Cell::new(NOW));
    let clock_in_transport = now.clone();
    let mut session = ReadSession::open(
        cfg,
        &[StreamSelection::incremental("email_send")],
        &SessionState::new(),
    )
    .unwrap();
    let mut t = MockTransport::new(move |_: &HttpRequest| {
        clock_in_transport.set(clock_in_transport.get() + 120_000);
        MockResponse::Ok(200, "application/x-json-stream", Vec::new())
    });
    driver::run(&mut session, &mut t, &mut SlowClock(now), None).unwrap();
    let days: Vec<i64> = t.sent.iter().map(window_days).collect();
    assert!(
        days.iter().take(days.len() - 1).all(|d| *d == 30),
        "{days:?}"
    );
}

/// A server that ignores `page` (the same full page and a next link,
/// forever): the read stops with a typed error after the second request and
/// hands the repeated records out only once.
#[test]
fn a_repeated_page_stops_the_walk_without_reemitting() {
    let (out, sent) = sync(
        config(json!({})),
        &["campaigns"],
        &SessionState::new(),
        |_| {
            json_body(
                json!({"campaigns": [campaign(1, 1_700_000_000_000, "Finished")],
            "nextPageUrl": "http://sim.test/api/campaigns?page=2&pageSize=1000"}),
            )
        },
    );
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::MalformedResponse);
    assert!(e.message.contains("repeats page 1"), "{e}");
    assert_eq!(sent.len(), 2, "bounded");
}

/// An async export job that never completes is given up after a bounded
/// number of status checks, with a typed error.
#[test]
fn an_export_job_that_never_completes_is_given_up() {
    let cfg = config(json!({"export_mode": "async"}));
    let (out, sent) = sync(cfg, &["email_send"], &SessionState::new(), |req| {
        if path(req) == "/api/export/start" {
            json_body(json!({"jobId": 7}))
        } else {
            json_body(json!({"jobId": 7, "jobState": "running", "files": []}))
        }
    });
    let e = out.unwrap_err();
    assert!(e.message.contains("status checks"), "{e}");
    assert!(sent.len() < 700, "bounded: {} requests", sent.len());
}

/// Against a simulator whose clock runs `time_scale` times faster, the
/// waits between status checks shrink alike and the job is given up after
/// ten hours of the server's time: seconds, not hours (the fault matrix's
/// never-completing job; before, 600 checks at least a second apart).
#[test]
fn a_never_completing_job_is_given_up_in_server_time() {
    let cfg = config(json!({"export_mode": "async", "time_scale": 10_000}));
    let mut clock = VirtualClock(NOW);
    let sel = [StreamSelection::incremental("email_send")];
    let mut session = ReadSession::open(cfg, &sel, &SessionState::new()).unwrap();
    let mut t = MockTransport::new(|req: &HttpRequest| {
        if path(req) == "/api/export/start" {
            json_body(json!({"jobId": 7}))
        } else {
            json_body(json!({"jobId": 7, "jobState": "running", "files": []}))
        }
    });
    let e = driver::run(&mut session, &mut t, &mut clock, None).unwrap_err();
    assert!(e.message.contains("status checks"), "{e}");
    let elapsed_ms = clock.0 - NOW;
    // Ten hours at 10,000x is 3.6 s; pacing may add a check's spacing.
    assert!(elapsed_ms < 10_000, "polled for {elapsed_ms} ms");
}

/// Resumed mid-job (the state names the job and its last file), a listing
/// that says the job is still running is a status check like any other: the
/// read waits between checks and gives up after the same bound, instead of
/// listing again at once, forever (found by the fuzzer: `fuzz/regressions/
/// read_session/`).
#[test]
fn a_resumed_job_still_running_is_polled_with_waits_and_given_up() {
    let cfg = config(json!({"export_mode": "async"}));
    let state: SessionState = [(
        "email_send".to_string(),
        json!({"v": 1, "next_start": "2024-02-01T00:00:00Z",
            "job": {"id": 7, "end": "2024-02-02T00:00:00Z", "after": "f0.json"}}),
    )]
    .into_iter()
    .collect();
    let mut listings = 0;
    let (out, sent) = sync(cfg, &["email_send"], &state, |req| {
        listings += 1;
        if listings > 2_000 {
            // Only so that a broken core ends this test instead of hanging it.
            return json_body(json!({"jobId": 7, "jobState": "completed", "files": []}));
        }
        assert!(
            req.url.contains("/api/export/7/files?startAfter=f0.json"),
            "{}",
            req.url
        );
        json_body(json!({"jobId": 7, "jobState": "running", "files": []}))
    });
    assert!(sent.len() < 700, "bounded: {} requests", sent.len());
    let e = out.unwrap_err();
    assert!(e.message.contains("status checks"), "{e}");
}

/// Drives `session` with `answer` (status, body) for at most `max_polls`
/// polls, on a clock that jumps to every `SleepUntil`: the outcome (or
/// `None` when the read did not end) and the requests sent.
fn bounded_read(
    session: &mut ReadSession,
    max_polls: usize,
    mut answer: impl FnMut(&HttpRequest) -> (u16, Value),
) -> (
    Option<Result<(), connector_core::ConnectorError>>,
    Vec<String>,
) {
    let mut now = NOW;
    let mut sent = Vec::new();
    for _ in 0..max_polls {
        let step = match session.poll(now) {
            Ok(connector_core::Action::Fetch(req)) => {
                sent.push(req.url.clone());
                let (status, body) = answer(&req);
                session
                    .on_response_head(now, req.id, status, &[])
                    .and_then(|()| {
                        session.on_response_body(now, req.id, body.to_string().as_bytes())
                    })
                    .and_then(|()| session.on_response_end(now, req.id))
            }
            Ok(connector_core::Action::SleepUntil(t)) => {
                now = now.max(t);
                Ok(())
            }
            Ok(connector_core::Action::Done(_)) => return (Some(Ok(())), sent),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = step {
            return (Some(Err(e)), sent);
        }
    }
    (None, sent)
}

/// An export job whose file listing is gone (404) is started again — but
/// not forever, and each vanished job gives its slot back: before, four
/// vanished jobs used up Iterable's four job slots and the read slept in
/// one-second steps forever without sending anything (found by the fuzzer:
/// `fuzz/regressions/read_session/`).
#[test]
fn vanishing_export_jobs_end_the_read_with_an_error() {
    let cfg = config(json!({"export_mode": "async"}));
    let sel = [StreamSelection::incremental("email_send")];
    let mut session = ReadSession::open(cfg, &sel, &SessionState::new()).unwrap();
    let (out, sent) = bounded_read(&mut session, 10_000, |req| {
        if path(req) == "/api/export/start" {
            (200, json!({"jobId": 7}))
        } else {
            (404, json!({"msg": "job not found", "code": "NotFound"}))
        }
    });
    let out = out.expect("the read ends");
    let e = out.unwrap_err();
    assert_eq!(e.status, Some(404), "{e}");
    let starts = sent
        .iter()
        .filter(|u| u.ends_with("/api/export/start"))
        .count();
    assert!((2..=5).contains(&starts), "{starts} jobs started: {sent:?}");
}

/// An export job truncated again and again is re-planned with half the
/// window each time — down to the smallest window, where it used to start
/// the same job forever; it now ends the read with a typed error (found by
/// the fuzzer: `fuzz/regressions/read_session/`).
#[test]
fn an_export_truncated_at_the_smallest_window_ends_the_read() {
    let cfg = config(json!({"export_mode": "async"}));
    let sel = [StreamSelection::incremental("email_send")];
    let mut session = ReadSession::open(cfg, &sel, &SessionState::new()).unwrap();
    let (out, sent) = bounded_read(&mut session, 10_000, |req| {
        if path(req) == "/api/export/start" {
            (200, json!({"jobId": 7}))
        } else {
            (
                200,
                json!({"jobId": 7, "jobState": "completed", "exportTruncated": true, "files": []}),
            )
        }
    });
    let e = out.expect("the read ends").unwrap_err();
    assert!(e.message.contains("truncated"), "{e}");
    assert!(sent.len() < 100, "{} requests", sent.len());
}

/// A file listing that ignores `startAfter` repeats files: each file is
/// read once, then the read stops with a typed error instead of looping.
#[test]
fn a_file_listing_that_ignores_start_after_reads_each_file_once() {
    let cfg = config(json!({"export_mode": "async"}));
    let files: Vec<Value> = (0..10)
        .map(|i| json!({"file": format!("f{i:02}.json"), "url": format!("http://dl.test/f{i:02}")}))
        .collect();
    let mut downloads: std::collections::BTreeMap<String, u32> = Default::default();
    let (out, _) = sync(cfg, &["email_send"], &SessionState::new(), |req| {
        if path(req) == "/api/export/start" {
            return json_body(json!({"jobId": 8}));
        }
        if req.url.starts_with("http://dl.test/") {
            *downloads.entry(req.url.clone()).or_default() += 1;
            let line = format!(
                "{{\"email\":\"a@x.io\",\"createdAt\":\"2024-02-10 10:00:00 +00:00\",\"messageId\":\"{}\"}}\n",
                req.url
            );
            return MockResponse::Ok(200, "application/x-json-stream", line.into_bytes());
        }
        json_body(json!({"jobId": 8, "jobState": "completed", "files": files.clone()}))
    });
    let e = out.unwrap_err();
    assert!(e.message.contains("startAfter"), "{e}");
    assert_eq!(downloads.len(), 10);
    assert!(downloads.values().all(|n| *n == 1), "{downloads:?}");
}
