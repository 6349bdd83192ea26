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
