//! Proactive pacing from Iterable's documented rate limits (iterable-api.md §2).
//!
//! Each request belongs to a [`Bucket`]. A bucket allows `limit` requests in any
//! sliding window of `window_ms`; the pacer answers "send now" or "not before
//! T". Limits are per project, so every stream of a session shares them.

/// Rate-limit class of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    /// `export/data.json` / `data.csv`: 4 per minute, shared by every data type.
    Export,
    /// `export/start`: 1 per second.
    ExportStart,
    /// `export/{jobId}/files`: 1 per second.
    ExportFiles,
    /// `campaigns/metrics`: 10 per minute.
    CampaignMetrics,
    /// `lists/getUsers`: 5 per minute.
    ListUsers,
    /// `users/getFields`, `users/getSentMessages`: 3 per second.
    UserLookup3,
    /// `users/update`: 500 per second.
    UsersUpdate,
    /// `users/bulkUpdate`: 5 per second.
    UsersBulkUpdate,
    /// `events/track`: 2000 per second.
    EventsTrack,
    /// `events/trackBulk`: 10 per second.
    EventsTrackBulk,
    /// Single catalog item writes (`PUT`/`PATCH`/`DELETE …/items/{id}`): 1000 per second.
    CatalogItem,
    /// Everything else documented in the 100/s class (and the undocumented ones).
    General,
    /// Pre-signed download URLs: not Iterable's API, no limit.
    Unlimited,
}

impl Bucket {
    /// (requests, window in ms) as documented.
    pub fn limit(self) -> Option<(u32, i64)> {
        match self {
            Bucket::Export => Some((4, 60_000)),
            Bucket::ExportStart | Bucket::ExportFiles => Some((1, 1_000)),
            Bucket::CampaignMetrics => Some((10, 60_000)),
            Bucket::ListUsers => Some((5, 60_000)),
            Bucket::UserLookup3 => Some((3, 1_000)),
            Bucket::UsersUpdate => Some((500, 1_000)),
            Bucket::UsersBulkUpdate => Some((5, 1_000)),
            Bucket::EventsTrack => Some((2_000, 1_000)),
            Bucket::EventsTrackBulk => Some((10, 1_000)),
            Bucket::CatalogItem => Some((1_000, 1_000)),
            Bucket::General => Some((100, 1_000)),
            Bucket::Unlimited => None,
        }
    }

    /// The wait before retrying after a 429 without `Retry-After`: one full
    /// window for the slow classes (the budget is gone for that long), else 1 s.
    pub fn rate_limited_backoff_ms(self) -> i64 {
        match self.limit() {
            Some((_, window)) if window >= 60_000 => window / 4,
            _ => 1_000,
        }
    }
}

/// Slack between a request leaving here and Iterable counting it.
const ARRIVAL_MARGIN_MS: i64 = 250;

/// Per-bucket send history. Pure: times are handed in.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// How many times faster the server's clock runs (simulators); windows shrink by it.
    time_scale: f64,
    /// Sends per bucket, oldest first, only those still inside the window.
    history: Vec<(Bucket, std::collections::VecDeque<i64>)>,
    /// A bucket may be frozen after a 429 until this time.
    frozen_until: Vec<(Bucket, i64)>,
    /// This session is one of this many sharing the project's budgets.
    split: u32,
}

impl Pacer {
    pub(crate) fn new(time_scale: f64) -> Self {
        Pacer {
            time_scale,
            history: Vec::new(),
            frozen_until: Vec::new(),
            split: 1,
        }
    }

    /// This session is one of `split` running at once against the project:
    /// it keeps to its share of every bucket, `limit / split` requests per
    /// window — or, for limits below `split`, one request per
    /// `ceil(split / limit)` windows — so that together they never exceed it.
    pub(crate) fn with_split(mut self, split: u32) -> Self {
        self.split = split.max(1);
        self
    }

    /// A bucket's (requests, window ms) for this session's share.
    fn share(&self, limit: u32, window: i64) -> (u32, i64) {
        if limit >= self.split {
            (limit / self.split, window)
        } else {
            (1, window * i64::from(self.split.div_ceil(limit.max(1))))
        }
    }

    fn window_ms(&self, window: i64) -> i64 {
        // A safety margin (5% plus a quarter second) absorbs the gap between
        // our send time and the server's arrival time, so normal pacing never
        // meets a 429 even on a loaded machine. The absolute part matters with
        // simulators whose clock runs fast (a 1 s window becomes 8 ms at 120x).
        let scaled = window as f64 / self.time_scale;
        (scaled * 1.05).ceil() as i64 + ARRIVAL_MARGIN_MS
    }

    /// Scales a real-API duration to the server's clock.
    pub(crate) fn scale(&self, ms: i64) -> i64 {
        ((ms as f64) / self.time_scale).ceil() as i64
    }

    fn sends(&mut self, bucket: Bucket) -> &mut std::collections::VecDeque<i64> {
        if let Some(i) = self.history.iter().position(|(b, _)| *b == bucket) {
            return &mut self.history[i].1;
        }
        self.history.push((bucket, Default::default()));
        &mut self.history.last_mut().expect("just pushed").1
    }

    /// `None` if a request in `bucket` may be sent at `now`, else the earliest time.
    pub(crate) fn ready_at(&mut self, bucket: Bucket, now: i64) -> Option<i64> {
        let frozen = self
            .frozen_until
            .iter()
            .find(|(b, _)| *b == bucket)
            .map(|(_, t)| *t)
            .filter(|t| *t > now);
        let (limit, window) = bucket.limit()?;
        let (limit, window) = self.share(limit, window);
        let window = self.window_ms(window);
        let sends = self.sends(bucket);
        while sends.front().is_some_and(|t| *t + window <= now) {
            sends.pop_front();
        }
        let budget_at = if sends.len() < limit as usize {
            None
        } else {
            sends.front().map(|oldest| oldest + window)
        };
        match (frozen, budget_at) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(i64::MIN).max(b.unwrap_or(i64::MIN))),
        }
    }

    /// Records a send at `now`.
    pub(crate) fn record(&mut self, bucket: Bucket, now: i64) {
        if bucket.limit().is_some() {
            self.sends(bucket).push_back(now);
        }
    }

    /// After a 429: no request of this bucket before `until`.
    pub(crate) fn freeze(&mut self, bucket: Bucket, until: i64) {
        match self.frozen_until.iter_mut().find(|(b, _)| *b == bucket) {
            Some((_, t)) => *t = (*t).max(until),
            None => self.frozen_until.push((bucket, until)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_allows_four_per_minute() {
        let mut p = Pacer::new(1.0);
        for i in 0..4 {
            assert_eq!(p.ready_at(Bucket::Export, i), None);
            p.record(Bucket::Export, i);
        }
        let next = p.ready_at(Bucket::Export, 10).unwrap();
        assert!(next >= 60_000, "{next}");
        assert_eq!(p.ready_at(Bucket::Export, next), None);
    }

    #[test]
    fn a_split_budget_keeps_every_share_within_the_limit() {
        // 3 sessions on users/bulkUpdate (5/s): 1 each per second, 3 in all.
        let p = Pacer::new(1.0).with_split(3);
        assert_eq!(p.share(5, 1_000), (1, 1_000));
        // 2 sessions on export/start (1/s): one each per 2 s.
        let mut p = Pacer::new(1.0).with_split(2);
        assert_eq!(p.share(1, 1_000), (1, 2_000));
        assert_eq!(p.ready_at(Bucket::ExportStart, 0), None);
        p.record(Bucket::ExportStart, 0);
        let next = p.ready_at(Bucket::ExportStart, 1).expect("paced");
        assert!(next >= 2_000, "{next}");
        // Without a split, the whole budget.
        assert_eq!(Pacer::new(1.0).share(500, 1_000), (500, 1_000));
        assert_eq!(
            Pacer::new(1.0).with_split(4).share(500, 1_000),
            (125, 1_000)
        );
    }

    #[test]
    fn time_scale_shrinks_windows() {
        let mut p = Pacer::new(60.0);
        for _ in 0..4 {
            p.record(Bucket::Export, 0);
        }
        let next = p.ready_at(Bucket::Export, 0).unwrap();
        assert!((1_000..=1_350).contains(&next), "{next}");
    }

    #[test]
    fn freeze_blocks_until() {
        let mut p = Pacer::new(1.0);
        p.freeze(Bucket::General, 5_000);
        assert_eq!(p.ready_at(Bucket::General, 0), Some(5_000));
        assert_eq!(p.ready_at(Bucket::General, 5_000), None);
        assert_eq!(p.ready_at(Bucket::Unlimited, 0), None);
    }
}
