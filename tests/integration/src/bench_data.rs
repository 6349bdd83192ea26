//! The workload every read benchmark uses, native or through the component,
//! so their figures can be compared: realistic `emailSend` export rows.

/// `rows` `emailSend` rows of export NDJSON (about 500 bytes each), with the
/// field set, value shapes and timestamp format Iterable's exports use.
pub fn email_send_ndjson(rows: usize) -> Vec<u8> {
    let mut s = String::with_capacity(rows * 520);
    for i in 0..rows {
        let sec = i % 60;
        let min = (i / 60) % 60;
        let hour = (i / 3600) % 24;
        s.push_str(&format!(
            "{{\"email\":\"user{}@example.com\",\"messageTypeId\":47258,\"catalogLookupCount\":0,\"templateId\":3043605,\
\"messageBusId\":\"0100017a9c2e11f0-5d3e1a77-2b41-4c0e-9f1d-3e8a7c0b5d21-{i:06}\",\"messageId\":\"5d0c9e1f2a3b4c5d8e7f6a1b{i:08x}\",\
\"createdAt\":\"2024-02-01 {hour:02}:{min:02}:{sec:02} +00:00\",\"catalogCollectionCount\":0,\"campaignId\":2220229,\"channelId\":39582,\
\"productRecommendationCount\":0,\"contentId\":12029221,\"itblInternal\":{{\"documentCreatedAt\":\"2024-02-01 {hour:02}:{min:02}:{sec:02} +00:00\",\
\"documentUpdatedAt\":\"2024-02-01 {hour:02}:{min:02}:{sec:02} +00:00\"}}}}\n",
            i % 5000
        ));
    }
    s.into_bytes()
}

/// The config of the benchmark reads: one export window holding every row.
pub const BENCH_CONFIG: &str = r#"{"base_url": "http://bench.test", "start_date": "2024-02-01", "end_date": "2024-02-02", "window_days": 1}"#;

/// Any instant after the bench window: a session reads it at once.
pub const BENCH_NOW: i64 = 1_706_900_000_000;

/// One native read of `body` (one export response, fed in `chunk`-byte
/// pieces) as a host drives it, keeping nothing: returns the rows and the
/// NDJSON bytes the session handed out.
pub fn read_natively(body: &[u8], chunk: usize) -> (usize, usize) {
    let (mut rows, mut bytes) = (0, 0);
    read_natively_with(body, chunk, |n, ndjson| {
        rows += n;
        bytes += ndjson.len();
    });
    (rows, bytes)
}

/// [`read_natively`], handing each batch (its rows and NDJSON) to
/// `on_batch`.
pub fn read_natively_with(body: &[u8], chunk: usize, mut on_batch: impl FnMut(usize, &str)) {
    use connector_core::{Action, Config, ReadSession, SessionState, StreamSelection};
    let config = Config::from_json(&serde_json::from_str(BENCH_CONFIG).expect("json"))
        .expect("bench config");
    let mut s = ReadSession::open(
        config,
        &[StreamSelection::incremental("email_send")],
        &SessionState::new(),
    )
    .expect("open");
    let head = [(
        "content-type".to_string(),
        "application/x-json-stream".to_string(),
    )];
    loop {
        match s.poll(BENCH_NOW).expect("poll") {
            Action::Fetch(req) => {
                s.on_response_head(BENCH_NOW, req.id, 200, &head)
                    .expect("head");
                for c in body.chunks(chunk) {
                    s.on_response_body(BENCH_NOW, req.id, c).expect("body");
                }
                s.on_response_end(BENCH_NOW, req.id).expect("end");
            }
            Action::Emit(b) => {
                let rows = b.len();
                on_batch(rows, &b.into_ndjson());
            }
            Action::Done(_) => return,
            Action::Commit(_) | Action::Log(_) | Action::SleepUntil(_) => {}
            Action::AwaitResponse => panic!("nothing in flight"),
        }
    }
}
