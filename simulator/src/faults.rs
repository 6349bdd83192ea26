//! Fault injection switches and the deterministic randomness behind them.
//!
//! Random faults draw from a splitmix64 stream keyed by (seed, request
//! sequence number, purpose), so the same seed and the same request order
//! give the same failures, without a dependency on a PRNG crate. Write
//! faults (`write_*`) count write requests only ([`is_write`]), so reads
//! in between do not move the pattern.

use serde_json::json;

use crate::types::ApiResponse;

/// All fault modes; the default is a well-behaved server.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultOptions {
    /// Probability (0..=1) that a request fails with 500 `GenericError`
    /// before reaching the handler.
    pub error_rate: f64,
    /// Probability (0..=1), per NDJSON line, of an extra malformed line
    /// inserted after it. Real lines are never altered or dropped.
    pub malformed_rate: f64,
    /// Cut any body longer than this many bytes: send exactly this many,
    /// then drop the connection without finishing the message.
    pub cut_after_bytes: Option<u64>,
    /// Stream bodies at about this many bytes per second.
    pub slow_body_bps: Option<u64>,
    /// Enforce the documented per-endpoint rate limits.
    pub rate_limits: bool,
    /// Rate-limiter clock speed: simulated seconds per real second.
    pub time_scale: f64,
    /// Send `Retry-After: <secs>` with 429s (Iterable does not by default).
    pub retry_after_secs: Option<u64>,
    /// Probability (0..=1) that a write request ([`is_write`]) fails with
    /// 500 `GenericError` before reaching the handler (nothing applied).
    pub write_error_rate: f64,
    /// Probability (0..=1) that a write request is refused with 429
    /// `RateLimitExceeded` (nothing applied), whatever the rate limits say.
    pub write_throttle_rate: f64,
    /// A 429 storm: write requests number `first .. first + count` are all
    /// refused with 429 `RateLimitExceeded` (nothing applied). Write
    /// requests are numbered from 0 in arrival order once their key and
    /// route are checked, retries included.
    pub write_throttle_storm: Option<(u64, u64)>,
    /// Probability (0..=1) that a write request is applied and then the
    /// connection is dropped without a single byte of answer: the client
    /// cannot tell whether it was applied.
    pub write_cut_rate: f64,
    /// Accepted-then-visible-later: writes Iterable applies asynchronously
    /// (catalog item writes answering 202, `events/track` and `trackBulk`,
    /// `users/update` and `bulkUpdate`) are answered at once but reach the
    /// data reads see only this many milliseconds later (simulated time).
    pub write_visible_after_ms: u64,
    /// The first this many downloads of async export files (pre-signed
    /// URLs) fail with 500: a worker that reads a file fails, is retried
    /// (by the connector or by a cluster's task retry) and must still end exact.
    pub fail_downloads: u64,
    /// Pre-signed download URLs expire this many seconds (simulated time)
    /// after the listing that issued them, instead of Iterable's 1800: a
    /// late download gets S3's 403 "Request has expired".
    pub url_ttl_secs: Option<u64>,
}

impl FaultOptions {
    /// Whether write request number `write_seq` falls in the 429 storm.
    pub fn in_throttle_storm(&self, write_seq: u64) -> bool {
        self.write_throttle_storm
            .is_some_and(|(first, count)| write_seq >= first && write_seq - first < count)
    }
}

/// Whether a request is a write, for the write faults: any method but GET
/// and HEAD on the API, except the export endpoints (which only read).
pub fn is_write(method: &str, path: &str) -> bool {
    !method.eq_ignore_ascii_case("GET")
        && !method.eq_ignore_ascii_case("HEAD")
        && path.starts_with("/api/")
        && !path.starts_with("/api/export/")
}

impl Default for FaultOptions {
    fn default() -> Self {
        FaultOptions {
            error_rate: 0.0,
            malformed_rate: 0.0,
            cut_after_bytes: None,
            slow_body_bps: None,
            rate_limits: false,
            time_scale: 1.0,
            retry_after_secs: None,
            write_error_rate: 0.0,
            write_throttle_rate: 0.0,
            write_throttle_storm: None,
            write_cut_rate: 0.0,
            write_visible_after_ms: 0,
            fail_downloads: 0,
            url_ttl_secs: None,
        }
    }
}

/// What a fault-injected random draw is for; keeps streams independent so
/// enabling one fault does not change the pattern of another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Error = 1,
    Malformed = 2,
    WriteError = 3,
    WriteThrottle = 4,
    WriteCut = 5,
}

/// splitmix64: tiny, fast, statistically fine for fault probabilities.
#[derive(Debug, Clone)]
pub struct FaultRng {
    state: u64,
}

impl FaultRng {
    pub fn new(seed: u64) -> FaultRng {
        FaultRng { state: seed }
    }

    /// The stream for one request and purpose.
    pub fn for_request(seed: u64, request_seq: u64, purpose: Purpose) -> FaultRng {
        let mut mix = FaultRng::new(seed ^ 0x5EED_F417_0000_0000);
        let a = mix.next_u64();
        let mut mix = FaultRng::new(a ^ request_seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let b = mix.next_u64();
        FaultRng::new(b ^ (purpose as u64))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `true` with probability `p` (exactly never at 0, always at 1).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// The transient 500 Iterable sends (no `params` key, as recorded).
pub fn generic_error() -> ApiResponse {
    ApiResponse::json(
        500,
        json!({
            "msg": "An error occurred. Please try again later. If problem persists, please contact your CSM",
            "code": "GenericError",
        }),
    )
}

/// The line inserted by `malformed_rate`: a record cut off mid-string.
pub const MALFORMED_LINE: &[u8] = b"{\"email\": \"trunc\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_the_storm_window() {
        for (m, p, w) in [
            ("POST", "/api/lists", true),
            ("DELETE", "/api/catalogs/c/items/i", true),
            ("PUT", "/api/catalogs/c/items/i", true),
            ("GET", "/api/lists", false),
            ("POST", "/api/export/start", false),
            ("DELETE", "/api/export/7", false),
            ("GET", "/_files/x", false),
            ("GET", "/_sim/applied", false),
        ] {
            assert_eq!(is_write(m, p), w, "{m} {p}");
        }
        let f = FaultOptions {
            write_throttle_storm: Some((3, 2)),
            ..FaultOptions::default()
        };
        let hit: Vec<u64> = (0..10).filter(|i| f.in_throttle_storm(*i)).collect();
        assert_eq!(hit, [3, 4]);
        assert!(!FaultOptions::default().in_throttle_storm(0));
    }

    #[test]
    fn deterministic_and_roughly_calibrated() {
        let draw = |seed| {
            (0..10_000u64)
                .filter(|i| FaultRng::for_request(seed, *i, Purpose::Error).chance(0.3))
                .count()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let n = draw(7);
        assert!((2700..3300).contains(&n), "{n}");
        let mut r = FaultRng::new(1);
        assert!((0..1000).all(|_| !r.chance(0.0) && r.chance(1.0)));
    }
}
