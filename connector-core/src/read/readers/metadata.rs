//! `metadata`: the tables, each table's keys (nextMarker paging), then one
//! GET per changed key's value.

use serde_json::{Value, json};

use crate::error::Result;
use crate::exchange::endpoint::Endpoint;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::cursor::ClientCursor;
use crate::read::readers::paged::{as_record, records_in};

enum MetadataPhase {
    Tables,
    Keys,
    Value,
}

/// Tables → keys (nextMarker paging) → one GET per changed key's value.
pub(crate) struct MetadataReader {
    endpoints: [Endpoint; 3],
    phase: MetadataPhase,
    tables: Vec<String>,
    table: usize,
    marker: Option<String>,
    keys_done: bool,
    /// Keys of the current page still to fetch.
    pending_keys: std::collections::VecDeque<String>,
    cursor: ClientCursor,
}

impl MetadataReader {
    /// `endpoints`: tables, keys of a table, value of a key.
    pub(crate) fn new(endpoints: [Endpoint; 3], cursor: ClientCursor) -> Self {
        MetadataReader {
            endpoints,
            phase: MetadataPhase::Tables,
            tables: Vec::new(),
            table: 0,
            marker: None,
            keys_done: false,
            pending_keys: Default::default(),
            cursor,
        }
    }
}

impl Reader for MetadataReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        loop {
            match self.phase {
                MetadataPhase::Tables => {
                    return Ok(Next::Send(self.endpoints[0].plan(ctx.config, &[], &[])));
                }
                MetadataPhase::Value => {
                    if let Some(key) = self.pending_keys.front() {
                        let segments = [self.tables[self.table].as_str(), key.as_str()];
                        return Ok(Next::Send(self.endpoints[2].plan(
                            ctx.config,
                            &segments,
                            &[],
                        )));
                    }
                    // Page of values done: next page of keys, or next table.
                    if self.keys_done {
                        self.table += 1;
                        self.marker = None;
                        self.keys_done = false;
                    }
                    self.phase = MetadataPhase::Keys;
                }
                MetadataPhase::Keys => {
                    if self.table >= self.tables.len() {
                        return Ok(Next::Done);
                    }
                    let q: Vec<(&str, String)> = self
                        .marker
                        .iter()
                        .map(|m| ("nextMarker", m.clone()))
                        .collect();
                    let table = [self.tables[self.table].as_str()];
                    return Ok(Next::Send(self.endpoints[1].plan(ctx.config, &table, &q)));
                }
            }
        }
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            MetadataPhase::Tables => {
                let (tables, _) = records_in(&item, "results", false)?;
                self.tables = tables
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
            }
            MetadataPhase::Keys => {
                let (keys, _) = records_in(&item, "results", false)?;
                for k in keys {
                    let rec = ctx.shaper.object(as_record(k)?);
                    // Only changed keys need their value fetched.
                    if self.cursor.admit(&rec)
                        && let Some(key) = rec.get("key").and_then(Value::as_str)
                    {
                        self.pending_keys.push_back(key.to_string());
                    }
                }
                self.marker = item
                    .get("nextMarker")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string);
                self.keys_done = self.marker.is_none();
            }
            MetadataPhase::Value => {
                let mut rec = ctx.shaper.object(as_record(item)?);
                rec.entry("table")
                    .or_insert_with(|| json!(self.tables[self.table]));
                sink.records.push(rec);
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            MetadataPhase::Tables => self.phase = MetadataPhase::Keys,
            MetadataPhase::Keys => self.phase = MetadataPhase::Value,
            MetadataPhase::Value => {
                self.pending_keys.pop_front();
            }
        }
        let all_done = self.table + 1 >= self.tables.len()
            && self.keys_done
            && self.pending_keys.is_empty()
            && !matches!(self.phase, MetadataPhase::Tables);
        if all_done || (self.tables.is_empty() && matches!(self.phase, MetadataPhase::Keys)) {
            sink.commit = Some(self.cursor.state());
        }
        Ok(())
    }

    fn on_not_found(&mut self, _sink: &mut Sink) -> bool {
        // A key deleted between listing and reading it.
        if matches!(self.phase, MetadataPhase::Value) {
            self.pending_keys.pop_front();
            return true;
        }
        false
    }
}
