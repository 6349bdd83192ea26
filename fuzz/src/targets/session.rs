//! The read session driven by a hostile server on a simulated clock.
//!
//! The input is decoded with [`arbitrary::Unstructured`] into: the streams
//! read (one to three of the whole catalog), config knobs (sync or async
//! export, retries, concurrency, skips, history), a saved state, and then,
//! request after request, the server's answer: a status (any, weighted to
//! the ones Iterable uses), headers (`Retry-After` of every size and sign,
//! content types), a body (the canned one for the endpoint, the canned one
//! mutated, raw input bytes, or a gateway page that echoes the request's
//! headers, key included), split into chunks with the clock moving between
//! them, ended cleanly or by a transport error, and answered in any order
//! when several requests are in flight.
//!
//! When the input runs out the server does not turn friendly: it answers
//! by repeating the answers made so far, in a cycle (the endless
//! `nextPageUrl`, the job that never completes, the listing that ignores
//! `startAfter`, the 500 forever). The session must still end on its own.
//!
//! Checked on every run:
//! - no panic, and no `Internal` or misuse error (the driver is correct);
//! - the session ends (`Done` or an error) within [`MAX_REQUESTS`] requests
//!   and [`MAX_POLLS`] polls, having slept at most 20 minutes of simulated
//!   time per request (the server's own latency not counted);
//! - records emitted are bounded by the body bytes fed;
//! - every checkpoint's state parses back as that stream's state;
//! - the key never reaches a log, an error or a request that does not go to
//!   `base_url` (`needs_auth` only for `base_url`);
//! - memory (the runner bounds each input's allocation peak).

use arbitrary::Unstructured;
use connector_core::{
    Action, Config, ConnectorError, ErrorKind, Family, HttpRequest, LogMessage, ReadSession,
    SessionState, StreamSelection, StreamState, TransportErrorKind, all_streams,
};
use serde_json::json;

use crate::mutate::mutate;
use crate::rng::Rng;
use crate::targets::server;
use crate::targets::{API_KEY, NOW_MS, assert_no_key, assert_no_key_echo};

/// More requests than this is a loop that does not end. A read that
/// progresses may legitimately need many: three export streams over the
/// longest history chosen (90 days) in the smallest windows (1 hour, when
/// the server cuts every other body) take about 6,500.
pub const MAX_REQUESTS: u64 = 20_000;
/// More polls than this is a loop that does not end.
pub const MAX_POLLS: u64 = 200_000;
/// Simulated time a session may take per request sent (the longest
/// `Retry-After` honoured is 15 minutes).
const MS_PER_REQUEST: i64 = 20 * 60 * 1000;

const BASE_URL: &str = "https://api.iterable.com";

/// Where an answer's body comes from.
#[derive(Debug, Clone)]
enum Body {
    /// The canned body for the request.
    Canned,
    /// The canned body, mutated with this seed.
    Mutated(u64),
    /// These bytes.
    Raw(Vec<u8>),
    /// A gateway page repeating the request's headers, the key among them.
    Echo,
}

/// How an answer ends.
#[derive(Debug, Clone, Copy)]
enum End {
    Complete,
    /// A transport error after this many chunks.
    CutAfter(usize, TransportErrorKind),
    /// A transport error before any response head.
    NoResponse(TransportErrorKind),
}

/// One answer of the server, replayable for another request.
#[derive(Debug, Clone)]
struct Answer {
    /// `None`: the canned status.
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Body,
    /// Chunk sizes, cycled (0 = the rest at once).
    chunks: Vec<usize>,
    /// Clock step before the head and between chunks, ms.
    latency_ms: i64,
    end: End,
}

const STATUSES: &[u16] = &[
    200, 200, 200, 200, 200, 201, 204, 206, 301, 302, 400, 401, 403, 404, 408, 409, 413, 429, 429,
    500, 502, 503, 504, 520,
];

const RETRY_AFTER: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "30",
    "60",
    "899",
    "900",
    "901",
    "86400",
    " 5 ",
    "1.5",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "Wed, 21 Oct 2015 07:28:00 GMT",
];

const TRANSPORT: &[TransportErrorKind] = &[
    TransportErrorKind::Connect,
    TransportErrorKind::Timeout,
    TransportErrorKind::BodyCut,
    TransportErrorKind::Other,
];

fn transport(u: &mut Unstructured<'_>) -> arbitrary::Result<TransportErrorKind> {
    Ok(*u.choose(TRANSPORT)?)
}

fn decode_answer(u: &mut Unstructured<'_>) -> arbitrary::Result<Answer> {
    // Most answers are good ones (the canned answer, in chunks, a little
    // late), so sessions get deep enough for the hostile ones to matter.
    if u.ratio(3u8, 5)? {
        let size = *u.choose(&[0usize, 1, 7, 64, 1000])?;
        return Ok(Answer {
            status: None,
            headers: Vec::new(),
            body: Body::Canned,
            chunks: vec![size],
            latency_ms: u.int_in_range(0i64..=2_000)?,
            end: End::Complete,
        });
    }
    let status = match u.int_in_range(0u8..=9)? {
        0..=3 => None,
        4..=8 => Some(*u.choose(STATUSES)?),
        _ => Some(u.int_in_range(0u16..=999)?),
    };
    let mut headers = Vec::new();
    for _ in 0..u.int_in_range(0u8..=3)? {
        let h = match u.int_in_range(0u8..=4)? {
            0 | 1 => (
                "Retry-After".to_string(),
                u.choose(RETRY_AFTER)?.to_string(),
            ),
            2 => (
                "retry-after".to_string(),
                u.int_in_range(-10i64..=2000)?.to_string(),
            ),
            3 => (
                "Content-Type".to_string(),
                u.choose(&[
                    "text/html",
                    "application/json",
                    "text/csv",
                    "application/x-json-stream",
                ])?
                .to_string(),
            ),
            _ => {
                let k = u.int_in_range(0usize..=8)?;
                let name = String::from_utf8_lossy(u.bytes(k)?).into_owned();
                let n = u.int_in_range(0usize..=16)?;
                let value = String::from_utf8_lossy(u.bytes(n)?).into_owned();
                (name, value)
            }
        };
        headers.push(h);
    }
    let body = match u.int_in_range(0u8..=9)? {
        0..=3 => Body::Canned,
        4..=6 => Body::Mutated(u.arbitrary()?),
        7 | 8 => {
            let n = u.int_in_range(0usize..=512)?;
            Body::Raw(u.bytes(n.min(u.len()))?.to_vec())
        }
        _ => Body::Echo,
    };
    let mut chunks = Vec::new();
    for _ in 0..u.int_in_range(1u8..=4)? {
        chunks.push(*u.choose(&[0usize, 1, 2, 3, 7, 64, 1000])?);
    }
    let latency_ms = match u.int_in_range(0u8..=9)? {
        0..=6 => u.int_in_range(0i64..=2_000)?,
        7 | 8 => u.int_in_range(0i64..=120_000)?,
        _ => 3_600_000,
    };
    let end = match u.int_in_range(0u8..=9)? {
        0..=6 => End::Complete,
        7 | 8 => End::CutAfter(u.int_in_range(0usize..=4)?, transport(u)?),
        _ => End::NoResponse(transport(u)?),
    };
    Ok(Answer {
        status,
        headers,
        body,
        chunks,
        latency_ms,
        end,
    })
}

/// `FUZZ_TRACE=1` prints every action and answer (for `fuzz replay`).
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// The fuzz target: see the module docs.
pub fn read_session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut run) = Run::open(&mut u) else {
        return;
    };
    run.drive(&mut u);
}

struct Run {
    session: ReadSession,
    streams: Vec<String>,
    now: i64,
    /// Simulated time spent in `SleepUntil` (the server's own latency not counted).
    slept: i64,
    polls: u64,
    requests: u64,
    bytes_fed: u64,
    records: u64,
    inflight: Vec<HttpRequest>,
    history: Vec<Answer>,
    replayed: usize,
    rng: Rng,
}

impl Run {
    fn open(u: &mut Unstructured<'_>) -> Result<Run, ()> {
        // Half the picks from the streams that are not exports (53 of the
        // catalog's streams are), so every family gets its share.
        let all: Vec<&'static str> = all_streams().map(|d| d.name).collect();
        let other: Vec<&'static str> = all_streams()
            .filter(|d| !matches!(d.family, Family::Export { .. }))
            .map(|d| d.name)
            .collect();
        let mut streams: Vec<String> = Vec::new();
        let n = u.int_in_range(1u8..=3).map_err(|_| ())?;
        for _ in 0..n {
            let from = if u.arbitrary::<bool>().unwrap_or(false) {
                &other
            } else {
                &all
            };
            let name = u.choose(from).map_err(|_| ())?.to_string();
            if !streams.contains(&name) {
                streams.push(name);
            }
        }
        let bit = |u: &mut Unstructured<'_>| u.arbitrary::<bool>().unwrap_or(false);
        let history_start = *u
            .choose(&[
                None,
                Some("2026-11-29T00:00:00Z"),
                Some("2026-11-30T11:00:00Z"),
                Some("2026-09-01T00:00:00Z"),
            ])
            .unwrap_or(&None);
        let mut config = json!({
            "base_url": BASE_URL,
            "api_key": API_KEY,
            "email": "a+b@example.com",
            "export_mode": if bit(u) { "async" } else { "sync" },
            "skip_malformed_lines": bit(u),
            "skip_persistent_errors": bit(u),
            "max_retries": u.int_in_range(0u32..=4).unwrap_or(0),
            "max_concurrency": u.int_in_range(1u32..=4).unwrap_or(1),
        });
        if let Some(start) = history_start {
            config["start_date"] = json!(start);
        }
        if bit(u) {
            config["window_days"] = json!(u.int_in_range(1u32..=3).unwrap_or(1));
        }
        let config = Config::from_json(&config).expect("a valid config");
        let mut state = SessionState::new();
        let saved = match u.int_in_range(0u8..=2).unwrap_or(0) {
            0 => None,
            1 => Some(
                json!({"v": 1, "cursor": "2026-11-29T06:00:00Z", "next_start": "2026-11-29T06:00:00Z"}),
            ),
            _ => Some(json!({"v": 1, "next_start": "2026-11-29T00:00:00Z",
                "job": {"id": 3562, "end": "2026-11-30T00:00:00Z", "after": "f0.json"}})),
        };
        if let Some(saved) = saved {
            for s in &streams {
                state.insert(s.clone(), saved.clone());
            }
        }
        let selection: Vec<StreamSelection> = streams
            .iter()
            .map(|s| StreamSelection {
                name: s.clone(),
                incremental: bit(u),
            })
            .collect();
        let session = match ReadSession::open(config, &selection, &state) {
            Ok(s) => s,
            Err(e) => {
                check_error(&e);
                return Err(());
            }
        };
        Ok(Run {
            session,
            streams,
            now: NOW_MS,
            slept: 0,
            polls: 0,
            requests: 0,
            bytes_fed: 0,
            records: 0,
            inflight: Vec::new(),
            history: Vec::new(),
            replayed: 0,
            rng: Rng::new(crate::rng::fnv1a(u.peek_bytes(u.len()).unwrap_or_default())),
        })
    }

    fn drive(&mut self, u: &mut Unstructured<'_>) {
        loop {
            self.polls += 1;
            assert!(
                self.polls <= MAX_POLLS,
                "no end after {MAX_POLLS} polls ({} requests, {} ms simulated)",
                self.requests,
                self.now - NOW_MS
            );
            assert!(
                self.slept <= (self.requests as i64 + 2) * MS_PER_REQUEST,
                "slept {} s of simulated time for {} requests",
                self.slept / 1000,
                self.requests
            );
            let action = match self.session.poll(self.now) {
                Ok(a) => {
                    if tracing() {
                        let text = format!("{a:?}");
                        eprintln!("[{}] {}", self.now - NOW_MS, &text[..text.len().min(300)]);
                    }
                    a
                }
                Err(e) => {
                    if tracing() {
                        eprintln!("[{}] error: {e}", self.now - NOW_MS);
                    }
                    check_error(&e);
                    return;
                }
            };
            match action {
                Action::Fetch(req) => {
                    self.requests += 1;
                    assert!(
                        self.requests <= MAX_REQUESTS,
                        "no end after {MAX_REQUESTS} requests (last: {})",
                        req.url
                    );
                    check_request(&req);
                    self.inflight.push(req);
                    let full = self.inflight.len() >= self.session.max_in_flight();
                    if (full || u.arbitrary::<bool>().unwrap_or(true)) && !self.answer_one(u) {
                        return;
                    }
                }
                Action::AwaitResponse => {
                    assert!(
                        !self.inflight.is_empty(),
                        "AwaitResponse with nothing in flight"
                    );
                    if !self.answer_one(u) {
                        return;
                    }
                }
                Action::SleepUntil(t) => {
                    if !self.inflight.is_empty() && u.arbitrary::<bool>().unwrap_or(false) {
                        if !self.answer_one(u) {
                            return;
                        }
                    } else {
                        assert!(
                            t > self.now || !self.inflight.is_empty(),
                            "SleepUntil({t}) not after now {} with nothing in flight",
                            self.now
                        );
                        self.slept += t.saturating_sub(self.now).max(0);
                        self.now = self.now.max(t);
                    }
                }
                Action::Emit(batch) => {
                    assert!(
                        self.streams.contains(&batch.stream),
                        "records of an unselected stream {}",
                        batch.stream
                    );
                    self.records += batch.len() as u64;
                    assert!(
                        self.records <= self.bytes_fed,
                        "{} records from {} body bytes",
                        self.records,
                        self.bytes_fed
                    );
                }
                Action::Commit(c) => {
                    if let Err(e) = StreamState::from_json(&c.stream, &c.state) {
                        panic!(
                            "a checkpoint of {} does not parse back: {e} ({})",
                            c.stream, c.state
                        );
                    }
                }
                Action::Log(log) => check_log(&log),
                Action::Done(summary) => {
                    let total: u64 = summary.streams.iter().map(|s| s.records).sum();
                    assert_eq!(total, self.records, "the summary counts other records");
                    return;
                }
            }
        }
    }

    /// Answers one request in flight. `false`: the session failed.
    fn answer_one(&mut self, u: &mut Unstructured<'_>) -> bool {
        let i = if self.inflight.len() > 1 {
            u.choose_index(self.inflight.len()).unwrap_or(0)
        } else {
            0
        };
        let req = self.inflight.swap_remove(i);
        let answer = if u.is_empty() {
            match self.history.len() {
                0 => Answer {
                    status: None,
                    headers: Vec::new(),
                    body: Body::Canned,
                    chunks: vec![0],
                    latency_ms: 10,
                    end: End::Complete,
                },
                n => {
                    self.replayed += 1;
                    self.history[self.replayed % n].clone()
                }
            }
        } else {
            match decode_answer(u) {
                Ok(a) => {
                    self.history.push(a.clone());
                    a
                }
                Err(_) => Answer {
                    status: None,
                    headers: Vec::new(),
                    body: Body::Canned,
                    chunks: vec![0],
                    latency_ms: 10,
                    end: End::Complete,
                },
            }
        };
        if tracing() {
            let text = format!("{answer:?}");
            eprintln!("  answer {}: {}", req.id, &text[..text.len().min(300)]);
        }
        match self.feed(&req, &answer) {
            Ok(()) => true,
            Err(e) => {
                check_error(&e);
                false
            }
        }
    }

    fn feed(&mut self, req: &HttpRequest, a: &Answer) -> Result<(), ConnectorError> {
        let (canned_status, canned) = server::answer(req, BASE_URL);
        let body = match &a.body {
            Body::Canned => canned,
            Body::Mutated(seed) => {
                let mut rng = Rng::new(*seed);
                mutate(&[canned], &[], 64 * 1024, &mut rng)
            }
            Body::Raw(b) => b.clone(),
            Body::Echo => format!(
                "<html><body><h1>400 Bad Request</h1><pre>{} {}\nHost: api.iterable.com\nApi-Key: {API_KEY}\nAccept: */*\n</pre></body></html>",
                req.method.as_str(),
                req.url
            )
            .into_bytes(),
        };
        let status = a.status.unwrap_or(canned_status);
        self.now += a.latency_ms;
        let id = req.id;
        if let End::NoResponse(kind) = a.end {
            return self.session.on_transport_error(self.now, id, kind);
        }
        self.session
            .on_response_head(self.now, id, status, &a.headers)?;
        let mut rest = body.as_slice();
        let mut sent = 0;
        let mut sizes = a.chunks.iter().cycle();
        while !rest.is_empty() {
            if let End::CutAfter(n, kind) = a.end
                && sent >= n
            {
                return self.session.on_transport_error(self.now, id, kind);
            }
            let size = match sizes.next().copied().unwrap_or(0) {
                0 => rest.len(),
                s => s.min(rest.len()),
            };
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            self.bytes_fed += chunk.len() as u64;
            self.session.on_response_body(self.now, id, chunk)?;
            sent += 1;
            if self.rng.one_in(8) {
                self.now += a.latency_ms;
            }
        }
        if let End::CutAfter(_, kind) = a.end {
            return self.session.on_transport_error(self.now, id, kind);
        }
        self.session.on_response_end(self.now, id)
    }
}

fn check_request(req: &HttpRequest) {
    let to_base = req.url.starts_with(&format!("{BASE_URL}/"));
    assert!(
        to_base || !req.needs_auth,
        "the key would go to {} (needs_auth outside base_url)",
        req.url
    );
    assert_no_key(&req.url, API_KEY);
    for (k, v) in &req.headers {
        assert_no_key(&format!("{k}: {v}"), API_KEY);
    }
}

fn check_log(log: &LogMessage) {
    assert_no_key_echo(&log.message, API_KEY);
}

fn check_error(e: &ConnectorError) {
    assert_no_key_echo(&e.to_string(), API_KEY);
    assert!(
        !matches!(e.kind, ErrorKind::Internal | ErrorKind::ProtocolMisuse),
        "{:?} error from a correct driver: {e}",
        e.kind
    );
}
