//! Client-side incremental filtering for endpoints that cannot filter on the
//! cursor field: read everything, hand out what moved past the saved cursor.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::record::timestamp_ms;
use crate::session::types::Record;
use crate::state::StreamState;
use crate::time;

pub struct ClientCursor {
    field: &'static str,
    /// Saved cursor in epoch ms (`None` = first sync or full refresh).
    saved: Option<i64>,
    max_seen: Option<i64>,
    /// Records that must be re-read whatever their cursor (e.g. campaigns whose
    /// state changes without `updatedAt` moving).
    always: fn(&Record) -> bool,
}

fn never(_: &Record) -> bool {
    false
}

impl ClientCursor {
    pub fn new(field: &'static str, state: &StreamState, incremental: bool) -> Self {
        let saved = state
            .cursor
            .filter(|_| incremental)
            .map(|c| time::to_epoch_ms(&c));
        ClientCursor {
            field,
            saved,
            max_seen: saved,
            always: never,
        }
    }

    pub fn with_always(mut self, always: fn(&Record) -> bool) -> Self {
        self.always = always;
        self
    }

    /// Whether to hand the record out; tracks the greatest cursor seen.
    pub fn admit(&mut self, record: &Record) -> bool {
        let ts = timestamp_ms(record, self.field);
        if let Some(t) = ts {
            self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
        }
        match (self.saved, ts) {
            (None, _) => true,
            (Some(saved), Some(t)) if t > saved => true,
            _ => (self.always)(record),
        }
    }

    /// The state covering every record seen so far.
    pub fn state(&self) -> Value {
        StreamState {
            cursor: self.max_seen.and_then(time::from_epoch_ms),
            next_start: None,
            job: None,
        }
        .to_json()
    }

    pub fn saved_time(&self) -> Option<DateTime<Utc>> {
        self.saved.and_then(time::from_epoch_ms)
    }
}
