//! One-GET streams and paged streams (`page`/`pageSize` + `nextPageUrl`).

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::error::{ConnectorError, Result};
use crate::http::path_with_query;
use crate::pacing::Bucket;
use crate::parse::BodyFormat;
use crate::record::shape_object;
use crate::session::reader::{Ctx, Next, Planned, Reader, Sink};
use crate::session::readers::cursor::ClientCursor;
use crate::session::types::Record;

/// The array of records under `field` (optionally inside the envelope's `params`).
pub fn records_in(doc: &Value, field: &str, in_envelope: bool) -> Result<(Vec<Value>, bool)> {
    let body = if in_envelope { &doc["params"] } else { doc };
    let items = match body.get(field) {
        Some(Value::Array(items)) => items.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(ConnectorError::malformed(format!(
                "expected an array under \"{field}\""
            )));
        }
    };
    let more = body
        .get("nextPageUrl")
        .and_then(Value::as_str)
        .is_some_and(|u| !u.is_empty());
    Ok((items, more))
}

/// Objects stay objects; a bare string (catalog names in some API versions)
/// becomes `{"name": s}`.
pub fn as_record(item: Value) -> Result<Record> {
    match item {
        Value::Object(o) => Ok(o),
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("name".into(), json!(s));
            Ok(m)
        }
        other => Err(ConnectorError::malformed(format!(
            "expected an object, got {}",
            type_name(&other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub struct SimpleReader {
    path: &'static str,
    field: &'static str,
    done: bool,
}

impl SimpleReader {
    pub fn new(path: &'static str, field: &'static str) -> Self {
        SimpleReader {
            path,
            field,
            done: false,
        }
    }
}

impl Reader for SimpleReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        if self.done {
            return Ok(Next::Done);
        }
        Ok(Next::Send(Planned::get(
            ctx.config,
            self.path.to_string(),
            BodyFormat::Json,
            Bucket::General,
        )))
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let (items, _) = records_in(&item, self.field, false)?;
        for it in items {
            sink.records.push(shape_object(as_record(it)?));
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        self.done = true;
        Ok(())
    }
}

/// Walks `page=1..` while the response names a next page.
pub struct Pager {
    pub path: String,
    pub field: &'static str,
    pub page_size: u32,
    pub in_envelope: bool,
    pub extra_query: Vec<(&'static str, String)>,
    page: u32,
    more: bool,
}

impl Pager {
    pub fn new(
        path: impl Into<String>,
        field: &'static str,
        page_size: u32,
        in_envelope: bool,
    ) -> Self {
        Pager {
            path: path.into(),
            field,
            page_size,
            in_envelope,
            extra_query: Vec::new(),
            page: 1,
            more: true,
        }
    }

    pub fn finished(&self) -> bool {
        !self.more
    }

    pub fn request(&self, config: &Config) -> Planned {
        let mut q = self.extra_query.clone();
        q.push(("page", self.page.to_string()));
        q.push(("pageSize", self.page_size.to_string()));
        Planned::get(
            config,
            path_with_query(&self.path, &q),
            BodyFormat::Json,
            Bucket::General,
        )
    }

    /// Records of a page; remembers whether another page follows.
    pub fn page_records(&mut self, doc: &Value) -> Result<Vec<Record>> {
        let (items, more) = records_in(doc, self.field, self.in_envelope)?;
        // A next link with an empty page would loop forever: stop there.
        self.more = more && !items.is_empty();
        items.into_iter().map(as_record).collect()
    }

    pub fn advance(&mut self) {
        self.page += 1;
    }

    pub fn stop(&mut self) {
        self.more = false;
    }
}

pub struct PagedReader {
    pager: Pager,
    cursor: Option<ClientCursor>,
}

impl PagedReader {
    pub fn new(pager: Pager, cursor: Option<ClientCursor>) -> Self {
        PagedReader { pager, cursor }
    }
}

impl Reader for PagedReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        if self.pager.finished() {
            return Ok(Next::Done);
        }
        Ok(Next::Send(self.pager.request(ctx.config)))
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        for rec in self.pager.page_records(&item)? {
            let rec = shape_object(rec);
            if self.cursor.as_mut().is_none_or(|c| c.admit(&rec)) {
                sink.records.push(rec);
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        self.pager.advance();
        if self.pager.finished()
            && let Some(c) = &self.cursor
        {
            sink.commit = Some(c.state());
        }
        Ok(())
    }
}

/// Campaigns whose state changes without `updatedAt` moving (EST #5259): always re-read.
pub fn campaign_in_flight(rec: &Record) -> bool {
    matches!(
        rec.get("campaignState").and_then(Value::as_str),
        Some("Scheduled" | "Running" | "Recurring" | "Starting")
    )
}

const TEMPLATE_TYPES: [&str; 4] = ["Base", "Blast", "Triggered", "Workflow"];
const TEMPLATE_MEDIUMS: [&str; 4] = ["Email", "Push", "InApp", "SMS"];

/// All 16 templateType × messageMedium combinations, each paged: without a
/// type filter Iterable leaves some templates out.
pub struct TemplatesReader {
    combo: usize,
    pager: Pager,
    cursor: ClientCursor,
}

impl TemplatesReader {
    pub fn new(cursor: ClientCursor) -> Self {
        TemplatesReader {
            combo: 0,
            pager: Self::pager_for(0),
            cursor,
        }
    }

    fn combo(i: usize) -> (&'static str, &'static str) {
        (TEMPLATE_TYPES[i / 4], TEMPLATE_MEDIUMS[i % 4])
    }

    fn pager_for(i: usize) -> Pager {
        let (t, m) = Self::combo(i);
        let mut p = Pager::new("/api/templates", "templates", 1000, false);
        p.extra_query = vec![
            ("templateType", t.to_string()),
            ("messageMedium", m.to_string()),
        ];
        p
    }
}

impl Reader for TemplatesReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        while self.pager.finished() {
            self.combo += 1;
            if self.combo >= 16 {
                return Ok(Next::Done);
            }
            self.pager = Self::pager_for(self.combo);
        }
        Ok(Next::Send(self.pager.request(ctx.config)))
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let (t, m) = Self::combo(self.combo);
        for mut rec in self.pager.page_records(&item)? {
            rec.insert("templateType".into(), json!(t));
            rec.insert("messageMedium".into(), json!(m));
            let rec = shape_object(rec);
            if self.cursor.admit(&rec) {
                sink.records.push(rec);
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        self.pager.advance();
        if self.pager.finished() && self.combo == 15 {
            sink.commit = Some(self.cursor.state());
        }
        Ok(())
    }
}
