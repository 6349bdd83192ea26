//! Client-side incremental filtering for endpoints that cannot filter on the
//! cursor field: read everything, hand out what moved past the saved cursor.

use serde_json::Value;

use crate::exchange::Record;
use crate::record::timestamp_ms;
use crate::state::StreamState;
use crate::time;

pub(crate) struct ClientCursor {
    field: &'static str,
    /// Saved cursor in epoch ms (`None` = first sync or full refresh).
    saved: Option<i64>,
    max_seen: Option<i64>,
}

impl ClientCursor {
    pub(crate) fn new(field: &'static str, state: &StreamState, incremental: bool) -> Self {
        let saved = state
            .cursor
            .filter(|_| incremental)
            .map(|c| time::to_epoch_ms(&c));
        ClientCursor {
            field,
            saved,
            max_seen: saved,
        }
    }

    /// Whether to hand the record out; tracks the greatest cursor seen.
    pub(crate) fn admit(&mut self, record: &Record) -> bool {
        let ts = timestamp_ms(record, self.field);
        if let Some(t) = ts {
            self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
        }
        match (self.saved, ts) {
            (None, _) => true,
            (Some(saved), Some(t)) => t > saved,
            (Some(_), None) => false,
        }
    }

    /// The state covering every record seen so far.
    pub(crate) fn state(&self) -> Value {
        StreamState {
            cursor: self.max_seen.and_then(time::from_epoch_ms),
            next_start: None,
            job: None,
        }
        .to_json()
    }
}
