//! Properties of the whole session on a scripted Iterable:
//! - stopping after ANY commit and resuming from the saved state yields exactly
//!   the records of one uninterrupted run (none missing, none duplicated),
//!   with and without cut-off export bodies;
//! - planned requests never exceed a documented rate limit over any window.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use connector_core::SessionState;
use connector_core::all_streams;
use connector_core::{Config, ReadSession, StreamSelection};
use integration_tests::driver::{
    self, Clock, MockResponse, MockTransport, SyncOutput, VirtualClock,
};
use integration_tests::mock_iterable;
use serde_json::{Value, json};

const NOW: i64 = 1_709_300_000_000;
const STREAMS: &[&str] = &[
    "campaigns",
    "templates",
    "metadata",
    "catalog_items",
    "journeys",
    "users",
    "email_send",
    "email_open",
    "purchase",
];

/// Fixed 3-day windows without cuts; adaptive windows (halved by cuts) with them.
fn config(cut: bool) -> Config {
    let mut c = json!({"base_url": "http://sim.test", "start_date": "2024-02-01",
        "end_date": "2024-03-02", "max_concurrency": 3});
    if !cut {
        c["window_days"] = json!(3);
    }
    Config::from_json(&c).unwrap()
}

/// Campaigns whose state changes without `updatedAt` moving are re-read on
/// every sync by design; a resumed run hands them out again.
fn reread_by_design(r: &serde_json::Map<String, Value>) -> bool {
    matches!(
        r.get("campaignState").and_then(Value::as_str),
        Some("Running" | "Scheduled" | "Recurring" | "Starting")
    )
}

fn key(stream: &str, r: &serde_json::Map<String, Value>) -> String {
    let pk = ["_key", "id", "templateId", "key", "itemId", "email"]
        .iter()
        .find_map(|f| r.get(*f))
        .cloned()
        .unwrap_or(Value::Null);
    format!(
        "{stream}|{pk}|{}",
        r.get("table")
            .or(r.get("catalogName"))
            .cloned()
            .unwrap_or(Value::Null)
    )
}

fn run(state: &SessionState, stop_after: Option<usize>, cut: bool) -> SyncOutput {
    let sel: Vec<StreamSelection> = STREAMS
        .iter()
        .map(|s| StreamSelection::incremental(s))
        .collect();
    let mut session = ReadSession::open(config(cut), &sel, state).unwrap();
    let cut_seen = RefCell::new(std::collections::BTreeSet::new());
    let mut t = MockTransport::new(|req| {
        let resp = mock_iterable::answer(req);
        let first = mock_iterable::path(req) == "/api/export/data.json"
            && cut_seen.borrow_mut().insert(req.stream.clone());
        match resp {
            MockResponse::Ok(200, _, body) if cut && first && body.len() > 10 => {
                let n = body.len() * 2 / 3;
                MockResponse::Cut(body, n)
            }
            other => other,
        }
    });
    t.chunk = 100;
    driver::run(&mut session, &mut t, &mut VirtualClock(NOW), stop_after).unwrap()
}

/// Records a destination keeps: per stream, those its latest commit covers.
fn kept(out: &SyncOutput) -> Vec<String> {
    let mut keys = Vec::new();
    for (stream, recs) in &out.records {
        let n = if out.stopped_early {
            out.committed.get(stream).copied().unwrap_or(0)
        } else {
            recs.len()
        };
        keys.extend(recs[..n].iter().map(|r| key(stream, r)));
    }
    keys
}

fn check_resume_everywhere(cut: bool) {
    let full = run(&SessionState::new(), None, cut);
    let mut expected = kept(&full);
    expected.sort();
    let unique = {
        let mut u = expected.clone();
        u.dedup();
        u
    };
    assert_eq!(
        unique.len(),
        expected.len(),
        "the uninterrupted run duplicates"
    );
    // With cuts, no commit is made while a cut span is re-read: fewer commits.
    assert!(
        full.commits > if cut { 8 } else { 30 },
        "only {} commits",
        full.commits
    );
    let reread: Vec<String> = full
        .records
        .iter()
        .flat_map(|(s, recs)| {
            recs.iter()
                .filter(|r| reread_by_design(r))
                .map(move |r| key(s, r))
        })
        .collect();
    for n in 1..=full.commits {
        let first = run(&SessionState::new(), Some(n), cut);
        assert!(first.stopped_early);
        let state: SessionState = first.state.clone().into_iter().collect();
        let second = run(&state, None, cut);
        let mut got = kept(&first);
        got.extend(kept(&second));
        got.sort();
        got.dedup_by(|a, b| a == b && reread.contains(a));
        let missing: Vec<_> = expected
            .iter()
            .filter(|k| !got.contains(k))
            .take(3)
            .collect();
        let extra = got.len() as i64 - expected.len() as i64;
        assert!(
            missing.is_empty() && extra == 0,
            "stop after commit {n} of {}: missing {missing:?}, {extra} extra",
            full.commits
        );
    }
}

#[test]
fn resume_after_any_commit_is_exact() {
    check_resume_everywhere(false);
}

#[test]
fn resume_after_any_commit_is_exact_with_cut_bodies() {
    check_resume_everywhere(true);
}

/// A clock shared with the transport, so the test knows when each request left.
struct SharedClock(Rc<Cell<i64>>);

impl Clock for SharedClock {
    fn now_ms(&mut self) -> i64 {
        self.0.get()
    }
    fn sleep_until(&mut self, t: i64) {
        self.0.set(self.0.get().max(t));
    }
}

#[test]
fn planned_requests_never_exceed_documented_limits() {
    let cfg = Config::from_json(&json!({"base_url": "http://sim.test", "start_date": "2024-02-01",
        "end_date": "2024-03-02", "window_days": 7, "max_concurrency": 8, "email": "a@example.com"})).unwrap();
    let sel: Vec<StreamSelection> = all_streams()
        .map(|d| StreamSelection::incremental(d.name))
        .collect();
    let mut session = ReadSession::open(cfg, &sel, &SessionState::new()).unwrap();
    let now = Rc::new(Cell::new(NOW));
    let sends: RefCell<BTreeMap<&'static str, Vec<i64>>> = RefCell::default();
    let clock_for_transport = now.clone();
    let mut t = MockTransport::new(|req| {
        let p = mock_iterable::path(req);
        let class = match p.as_str() {
            "/api/export/data.json" => "export",
            "/api/campaigns/metrics" => "metrics",
            "/api/lists/getUsers" => "getUsers",
            "/api/users/getSentMessages" | "/api/users/getFields" => "users3",
            _ => "general",
        };
        sends
            .borrow_mut()
            .entry(class)
            .or_default()
            .push(clock_for_transport.get());
        mock_iterable::answer(req)
    });
    t.chunk = 4096;
    driver::run(&mut session, &mut t, &mut SharedClock(now), None).unwrap();
    let sends = sends.into_inner();
    let limits = [
        ("export", 4, 60_000),
        ("metrics", 10, 60_000),
        ("getUsers", 5, 60_000),
        ("users3", 3, 1_000),
        ("general", 100, 1_000),
    ];
    for (class, limit, window) in limits {
        let times = sends.get(class).cloned().unwrap_or_default();
        for (i, t0) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|t| **t < t0 + window).count();
            assert!(
                in_window <= limit,
                "{class}: {in_window} requests within {window} ms from {t0}"
            );
        }
    }
    // 53 export streams × 5 weekly windows at 4/min: at least an hour of virtual time.
    assert!(sends["export"].len() >= 53 * 5);
}
