//! Iterable's documented per-endpoint rate limits (iterable-api.md §2.1).
//!
//! One sliding-window log per bucket; a bucket is normally one endpoint
//! (method + spec template), except the synchronous export endpoints, which
//! share one budget of 4/min across `data.json`, `data.csv` and every data
//! type, as Iterable's project-wide limit does. The limiter's clock can run
//! faster than real time (`time_scale`) so tests can exhaust and recover a
//! per-minute budget in about a second.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;

use crate::types::ApiResponse;

/// `count` requests per `window_secs` (simulated seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub count: u32,
    pub window_secs: f64,
}

const fn per_sec(count: u32) -> Limit {
    Limit {
        count,
        window_secs: 1.0,
    }
}

const fn per_min(count: u32) -> Limit {
    Limit {
        count,
        window_secs: 60.0,
    }
}

/// The documented limits: (method, template, bucket, limits). Anything not
/// listed gets [`DEFAULT_LIMIT`] in a bucket of its own.
const TABLE: &[(&str, &str, &str, &[Limit])] = &[
    ("GET", "/api/export/data.json", "export-sync", &[per_min(4)]),
    ("GET", "/api/export/data.csv", "export-sync", &[per_min(4)]),
    ("POST", "/api/export/start", "", &[per_sec(1)]),
    ("GET", "/api/export/{jobId}/files", "", &[per_sec(1)]),
    ("DELETE", "/api/export/{jobId}", "", &[per_sec(1)]),
    ("GET", "/api/campaigns/metrics", "", &[per_min(10)]),
    ("GET", "/api/lists/getUsers", "", &[per_min(5)]),
    ("GET", "/api/lists/previewUsers", "", &[per_min(5)]),
    ("GET", "/api/lists/{listId}/size", "", &[per_min(5)]),
    ("GET", "/api/users/getFields", "", &[per_sec(3)]),
    ("GET", "/api/users/getSentMessages", "", &[per_sec(3)]),
    ("GET", "/api/users/forgotten", "", &[per_sec(3)]),
    ("GET", "/api/users/forgottenUserIds", "", &[per_sec(3)]),
    (
        "POST",
        "/api/users/forget",
        "",
        &[
            per_sec(3),
            Limit {
                count: 1000,
                window_secs: 86_400.0,
            },
        ],
    ),
    (
        "POST",
        "/api/users/unforget",
        "",
        &[
            per_sec(3),
            Limit {
                count: 1000,
                window_secs: 86_400.0,
            },
        ],
    ),
    ("POST", "/api/users/bulkUpdate", "", &[per_sec(5)]),
    ("POST", "/api/events/trackBulk", "", &[per_sec(10)]),
    ("POST", "/api/events/track", "", &[per_sec(2000)]),
    ("POST", "/api/users/update", "", &[per_sec(500)]),
    (
        "POST",
        "/api/users/registerDeviceToken",
        "",
        &[per_sec(500)],
    ),
    ("POST", "/api/users/merge", "", &[per_sec(50)]),
    (
        "PUT",
        "/api/catalogs/{catalogName}/items/{itemId}",
        "",
        &[per_sec(1000)],
    ),
    ("POST", "/api/campaigns/archive", "", &[per_sec(5)]),
    ("POST", "/api/templates/email/proof", "", &[per_sec(20)]),
    ("POST", "/api/templates/push/proof", "", &[per_sec(20)]),
    ("POST", "/api/templates/sms/proof", "", &[per_sec(20)]),
    ("POST", "/api/templates/inapp/proof", "", &[per_sec(20)]),
    ("POST", "/api/templates/email/preview", "", &[per_sec(10)]),
    ("POST", "/api/templates/inapp/preview", "", &[per_sec(10)]),
];

/// The "100 requests / second" class, also assumed for undocumented ones.
pub const DEFAULT_LIMIT: Limit = per_sec(100);

/// The bucket name and limits of an endpoint.
pub fn limits_for(method: &str, template: &str) -> (String, &'static [Limit]) {
    match TABLE
        .iter()
        .find(|(m, t, _, _)| m.eq_ignore_ascii_case(method) && *t == template)
    {
        Some((_, _, bucket, limits)) if !bucket.is_empty() => (bucket.to_string(), limits),
        Some((m, t, _, limits)) => (format!("{m} {t}"), limits),
        None => (
            format!("{} {template}", method.to_ascii_uppercase()),
            std::slice::from_ref(&DEFAULT_LIMIT),
        ),
    }
}

/// Sliding-window limiter over all buckets.
pub struct RateLimiter {
    started: Instant,
    time_scale: f64,
    buckets: Mutex<BTreeMap<String, VecDeque<f64>>>,
}

impl RateLimiter {
    /// `time_scale` = how many simulated seconds pass per real second.
    pub fn new(time_scale: f64) -> RateLimiter {
        RateLimiter {
            started: Instant::now(),
            time_scale: if time_scale > 0.0 { time_scale } else { 1.0 },
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    /// Simulated seconds since the limiter was created.
    pub fn now_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.time_scale
    }

    /// Records the request and returns `true` when within budget; a refused
    /// request is not recorded (it does not extend the penalty).
    pub fn allow(&self, method: &str, template: &str) -> bool {
        self.allow_at(method, template, self.now_secs())
    }

    /// [`RateLimiter::allow`] at an explicit simulated time.
    pub fn allow_at(&self, method: &str, template: &str, now: f64) -> bool {
        let (bucket, limits) = limits_for(method, template);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let log = buckets.entry(bucket).or_default();
        let longest = limits.iter().map(|l| l.window_secs).fold(0.0, f64::max);
        while log.front().is_some_and(|t| *t <= now - longest) {
            log.pop_front();
        }
        let within = limits.iter().all(|l| {
            let in_window = log
                .iter()
                .rev()
                .take_while(|t| **t > now - l.window_secs)
                .count();
            in_window < l.count as usize
        });
        if within {
            log.push_back(now);
        }
        within
    }
}

/// Iterable's 429 body (text as recorded by Fivetran, trailing space kept).
pub fn too_many_requests(path: &str, retry_after: Option<u64>) -> ApiResponse {
    let mut resp = ApiResponse::json(
        429,
        json!({
            "msg": format!("Exceeded rate limit for endpoint: {path}, project: 8575 "),
            "code": "RateLimitExceeded",
            "params": {},
        }),
    );
    if let Some(secs) = retry_after {
        resp.headers.push(("Retry-After".into(), secs.to_string()));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_per_minute() {
        let rl = RateLimiter::new(1.0);
        let e = "/api/campaigns/metrics";
        for i in 0..10 {
            assert!(rl.allow_at("GET", e, i as f64), "request {i}");
        }
        assert!(!rl.allow_at("GET", e, 30.0));
        // The first request (t=0) leaves the window at t=60.
        assert!(!rl.allow_at("GET", e, 59.9));
        assert!(rl.allow_at("GET", e, 60.5));
        assert!(!rl.allow_at("GET", e, 60.6));
    }

    #[test]
    fn exports_share_one_bucket_and_others_are_separate() {
        let rl = RateLimiter::new(1.0);
        assert!(rl.allow_at("GET", "/api/export/data.json", 0.0));
        assert!(rl.allow_at("GET", "/api/export/data.csv", 0.0));
        assert!(rl.allow_at("GET", "/api/export/data.json", 0.0));
        assert!(rl.allow_at("GET", "/api/export/data.csv", 0.0));
        assert!(!rl.allow_at("GET", "/api/export/data.json", 1.0));
        assert!(!rl.allow_at("GET", "/api/export/data.csv", 1.0));
        // Different endpoints do not share.
        assert!(rl.allow_at("GET", "/api/lists/getUsers", 1.0));
        assert!(rl.allow_at("GET", "/api/campaigns", 1.0));
    }

    #[test]
    fn multiple_limits_all_apply() {
        let rl = RateLimiter::new(1.0);
        let mut t = 0.0;
        let mut allowed = 0;
        while t < 2000.0 {
            if rl.allow_at("POST", "/api/users/forget", t) {
                allowed += 1;
            }
            t += 0.25;
        }
        assert_eq!(allowed, 1000, "daily cap");
    }

    #[test]
    fn every_listed_endpoint_is_in_the_spec() {
        let ops = crate::spec::Spec::load().operations();
        for (m, t, _, _) in TABLE {
            assert!(
                ops.iter().any(|(om, ot)| om == m && ot == t),
                "{m} {t} is not a spec operation"
            );
        }
    }

    #[test]
    fn documented_numbers() {
        assert_eq!(limits_for("GET", "/api/users/getFields").1[0], per_sec(3));
        assert_eq!(
            limits_for("POST", "/api/events/trackBulk").1[0],
            per_sec(10)
        );
        assert_eq!(limits_for("GET", "/api/channels").1[0], DEFAULT_LIMIT);
        assert_eq!(
            limits_for("GET", "/api/lists/{listId}/size").1[0],
            per_min(5)
        );
    }
}
