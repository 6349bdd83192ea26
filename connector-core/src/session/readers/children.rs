//! Streams driven by a parent listing: list members per list, catalog items
//! per catalog, metrics per batch of campaign ids, metadata values per key.

use serde_json::{Value, json};

use crate::config::UserKey;
use crate::error::{ConnectorError, Result};
use crate::http::{encode_component, path_with_query};
use crate::pacing::Bucket;
use crate::parse::{BodyFormat, ParseOptions};
use crate::record::{shape_csv_row, shape_object};
use crate::session::reader::{Ctx, Next, Planned, Reader, Sink};
use crate::session::readers::cursor::ClientCursor;
use crate::session::readers::simple::{Pager, as_record, records_in};

// ---------------------------------------------------------------- list_users

enum ListPhase {
    Lists,
    Members(usize),
}

pub struct ListUsersReader {
    phase: ListPhase,
    list_ids: Vec<i64>,
}

impl ListUsersReader {
    pub fn new(configured: Option<Vec<i64>>) -> Self {
        match configured {
            Some(ids) => ListUsersReader {
                phase: ListPhase::Members(0),
                list_ids: ids,
            },
            None => ListUsersReader {
                phase: ListPhase::Lists,
                list_ids: Vec::new(),
            },
        }
    }
}

impl Reader for ListUsersReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        match self.phase {
            ListPhase::Lists => Ok(Next::Send(Planned::get(
                ctx.config,
                "/api/lists".into(),
                BodyFormat::Json,
                Bucket::General,
            ))),
            ListPhase::Members(i) if i < self.list_ids.len() => {
                let mut q = vec![("listId", self.list_ids[i].to_string())];
                if ctx.config.user_key == UserKey::UserId {
                    q.push(("preferUserId", "true".into()));
                }
                Ok(Next::Send(Planned::get(
                    ctx.config,
                    path_with_query("/api/lists/getUsers", &q),
                    BodyFormat::TextLines,
                    Bucket::ListUsers,
                )))
            }
            ListPhase::Members(_) => Ok(Next::Done),
        }
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            ListPhase::Lists => {
                let (lists, _) = records_in(&item, "lists", false)?;
                self.list_ids = lists
                    .iter()
                    .filter_map(|l| l.get("id").and_then(Value::as_i64))
                    .collect();
            }
            ListPhase::Members(i) => {
                let id = item.as_str().unwrap_or_default();
                let mut rec = serde_json::Map::new();
                rec.insert("listId".into(), json!(self.list_ids[i]));
                rec.insert(ctx.config.user_key.field().into(), json!(id));
                sink.records.push(rec);
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        self.phase = match self.phase {
            ListPhase::Lists => ListPhase::Members(0),
            ListPhase::Members(i) => ListPhase::Members(i + 1),
        };
        Ok(())
    }

    fn on_not_found(&mut self, _sink: &mut Sink) -> bool {
        // A list deleted between listing and reading it has no members to read.
        if let ListPhase::Members(i) = self.phase {
            self.phase = ListPhase::Members(i + 1);
            return true;
        }
        false
    }
}

// ------------------------------------------------------------- catalog_items

enum CatalogPhase {
    Catalogs,
    Items(usize),
}

pub struct CatalogItemsReader {
    phase: CatalogPhase,
    names: Vec<String>,
    catalogs: Pager,
    items: Option<Pager>,
    cursor: ClientCursor,
}

impl CatalogItemsReader {
    pub fn new(configured: Option<Vec<String>>, cursor: ClientCursor) -> Self {
        let (phase, names) = match configured {
            Some(n) => (CatalogPhase::Items(0), n),
            None => (CatalogPhase::Catalogs, Vec::new()),
        };
        CatalogItemsReader {
            phase,
            names,
            catalogs: Pager::new("/api/catalogs", "catalogNames", 100, true),
            items: None,
            cursor,
        }
    }

    fn items_pager(name: &str) -> Pager {
        let path = format!("/api/catalogs/{}/items", encode_component(name));
        Pager::new(path, "catalogItemsWithProperties", 1000, true)
    }
}

impl Reader for CatalogItemsReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        loop {
            match self.phase {
                CatalogPhase::Catalogs => {
                    if self.catalogs.finished() {
                        self.phase = CatalogPhase::Items(0);
                        continue;
                    }
                    return Ok(Next::Send(self.catalogs.request(ctx.config)));
                }
                CatalogPhase::Items(i) => {
                    if i >= self.names.len() {
                        return Ok(Next::Done);
                    }
                    let pager = self
                        .items
                        .get_or_insert_with(|| Self::items_pager(&self.names[i]));
                    if pager.finished() {
                        self.items = None;
                        self.phase = CatalogPhase::Items(i + 1);
                        continue;
                    }
                    return Ok(Next::Send(pager.request(ctx.config)));
                }
            }
        }
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            CatalogPhase::Catalogs => {
                for rec in self.catalogs.page_records(&item)? {
                    if let Some(name) = rec.get("name").and_then(Value::as_str) {
                        self.names.push(name.to_string());
                    }
                }
            }
            CatalogPhase::Items(i) => {
                let pager = self.items.as_mut().ok_or_else(|| {
                    ConnectorError::new(crate::error::ErrorKind::Internal, "no items pager")
                })?;
                for mut rec in pager.page_records(&item)? {
                    rec.entry("catalogName")
                        .or_insert_with(|| json!(self.names[i]));
                    let rec = shape_object(rec);
                    if self.cursor.admit(&rec) {
                        sink.records.push(rec);
                    }
                }
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            CatalogPhase::Catalogs => self.catalogs.advance(),
            CatalogPhase::Items(i) => {
                if let Some(p) = self.items.as_mut() {
                    p.advance();
                    if p.finished() && i + 1 == self.names.len() {
                        sink.commit = Some(self.cursor.state());
                    }
                }
            }
        }
        Ok(())
    }

    fn on_not_found(&mut self, _sink: &mut Sink) -> bool {
        // A catalog deleted between listing and paging it: nothing to read.
        if let (CatalogPhase::Items(_), Some(p)) = (&self.phase, self.items.as_mut()) {
            p.stop();
            return true;
        }
        false
    }
}

// ------------------------------------------------- campaign/experiment metrics

/// Campaign ids per metrics request: keeps the URL well under common limits.
pub const METRICS_BATCH: usize = 100;

enum MetricsPhase {
    Campaigns,
    Metrics(usize),
}

pub struct MetricsReader {
    path: &'static str,
    phase: MetricsPhase,
    campaigns: Pager,
    ids: Vec<i64>,
}

impl MetricsReader {
    pub fn new(path: &'static str) -> Self {
        MetricsReader {
            path,
            phase: MetricsPhase::Campaigns,
            campaigns: Pager::new("/api/campaigns", "campaigns", 1000, false),
            ids: Vec::new(),
        }
    }

    fn bucket(&self) -> Bucket {
        if self.path == "/api/campaigns/metrics" {
            Bucket::CampaignMetrics
        } else {
            Bucket::General
        }
    }
}

impl Reader for MetricsReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        match self.phase {
            MetricsPhase::Campaigns if !self.campaigns.finished() => {
                Ok(Next::Send(self.campaigns.request(ctx.config)))
            }
            MetricsPhase::Campaigns => {
                self.phase = MetricsPhase::Metrics(0);
                self.next(ctx)
            }
            MetricsPhase::Metrics(batch) => {
                let start = batch * METRICS_BATCH;
                if start >= self.ids.len() {
                    return Ok(Next::Done);
                }
                let end = (start + METRICS_BATCH).min(self.ids.len());
                let mut q: Vec<(&str, String)> = self.ids[start..end]
                    .iter()
                    .map(|id| ("campaignId", id.to_string()))
                    .collect();
                // Lifetime aggregates: metrics are totals, not rows to window.
                q.push(("startDateTime", "1970-01-01".into()));
                Ok(Next::Send(Planned::get(
                    ctx.config,
                    path_with_query(self.path, &q),
                    BodyFormat::Csv { delimiter: b',' },
                    self.bucket(),
                )))
            }
        }
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            MetricsPhase::Campaigns => {
                for rec in self.campaigns.page_records(&item)? {
                    if let Some(id) = rec.get("id").and_then(Value::as_i64) {
                        self.ids.push(id);
                    }
                }
            }
            MetricsPhase::Metrics(_) => sink.records.push(shape_csv_row(as_record(item)?)),
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        match self.phase {
            MetricsPhase::Campaigns => self.campaigns.advance(),
            MetricsPhase::Metrics(b) => self.phase = MetricsPhase::Metrics(b + 1),
        }
        Ok(())
    }
}

// ----------------------------------------------------------------- metadata

enum MetadataPhase {
    Tables,
    Keys,
    Value,
}

/// Tables → keys (nextMarker paging) → one GET per changed key's value.
pub struct MetadataReader {
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
    pub fn new(cursor: ClientCursor) -> Self {
        MetadataReader {
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
                    return Ok(Next::Send(Planned::get(
                        ctx.config,
                        "/api/metadata".into(),
                        BodyFormat::Json,
                        Bucket::General,
                    )));
                }
                MetadataPhase::Value => {
                    if let Some(key) = self.pending_keys.front() {
                        let path = format!(
                            "/api/metadata/{}/{}",
                            encode_component(&self.tables[self.table]),
                            encode_component(key)
                        );
                        return Ok(Next::Send(Planned::get(
                            ctx.config,
                            path,
                            BodyFormat::Json,
                            Bucket::General,
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
                    let path = format!(
                        "/api/metadata/{}",
                        encode_component(&self.tables[self.table])
                    );
                    let q: Vec<(&str, String)> = self
                        .marker
                        .iter()
                        .map(|m| ("nextMarker", m.clone()))
                        .collect();
                    return Ok(Next::Send(Planned::get(
                        ctx.config,
                        path_with_query(&path, &q),
                        BodyFormat::Json,
                        Bucket::General,
                    )));
                }
            }
        }
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
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
                    let rec = shape_object(as_record(k)?);
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
                let mut rec = shape_object(as_record(item)?);
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

/// Parse options for a request format.
pub fn parse_options(skip_malformed: bool) -> ParseOptions {
    ParseOptions {
        skip_malformed,
        ..ParseOptions::default()
    }
}
