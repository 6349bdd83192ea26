//! One-GET streams and paged streams (`page`/`pageSize` + `nextPageUrl`),
//! walked once per pass of the stream's row (templates: every type × medium;
//! journeys: live and archived).

use serde_json::{Map, Value, json};

use crate::catalog::{Pass, Reread};
use crate::config::Config;
use crate::error::{ConnectorError, Result};
use crate::exchange::endpoint::Endpoint;
use crate::exchange::{Planned, Record};
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::cursor::ClientCursor;

/// The array of records under `field` (optionally inside the envelope's `params`).
pub(crate) fn records_in(
    doc: &Value,
    field: &str,
    in_envelope: bool,
) -> Result<(Vec<Value>, bool)> {
    // A body that is not an object (an array, a bare string) is the wrong
    // document, not an empty one: reading it as "no records" would end the
    // stream as a success with nothing in it.
    let not_an_object = |what: &Value| {
        ConnectorError::malformed(format!(
            "expected a JSON object with \"{field}\", got {}",
            type_name(what)
        ))
    };
    if !doc.is_object() {
        return Err(not_an_object(doc));
    }
    let body = if in_envelope { &doc["params"] } else { doc };
    if !(body.is_object() || body.is_null()) {
        return Err(not_an_object(body));
    }
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

/// Pages a paged walk takes at most (the largest Iterable project has a few
/// thousand pages of anything paged).
const MAX_PAGES: u32 = 100_000;

/// A page's identity: SHA-256 of its items' JSON (first 16 bytes).
fn page_fingerprint(items: &[Value]) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for item in items {
        h.update(item.to_string().as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Objects stay objects; a bare string (catalog names in some API versions)
/// becomes `{"name": s}`.
pub(crate) fn as_record(item: Value) -> Result<Record> {
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

/// The JSON type of `v`, for error messages (never its content).
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

pub(crate) struct SimpleReader {
    endpoint: Endpoint,
    field: &'static str,
    done: bool,
}

impl SimpleReader {
    pub(crate) fn new(endpoint: Endpoint, field: &'static str) -> Self {
        SimpleReader {
            endpoint,
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
        Ok(Next::Send(self.endpoint.plan(ctx.config, &[], &[])))
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let (items, _) = records_in(&item, self.field, false)?;
        for it in items {
            sink.records.push(ctx.shaper.object(as_record(it)?));
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        self.done = true;
        Ok(())
    }
}

/// Walks `page=1..` while the response names a next page.
pub(crate) struct Pager {
    endpoint: Endpoint,
    segments: Vec<String>,
    field: &'static str,
    page_size: u32,
    in_envelope: bool,
    extra_query: Vec<(&'static str, String)>,
    page: u32,
    more: bool,
    /// The previous page's fingerprint (a repeated page is an error).
    last_page: Option<[u8; 16]>,
}

impl Pager {
    pub(crate) fn new(
        endpoint: Endpoint,
        field: &'static str,
        page_size: u32,
        in_envelope: bool,
    ) -> Self {
        Pager {
            endpoint,
            segments: Vec::new(),
            field,
            page_size,
            in_envelope,
            extra_query: Vec::new(),
            page: 1,
            more: true,
            last_page: None,
        }
    }

    /// Fills the endpoint's path placeholders (a catalog's name).
    pub(crate) fn with_segments(mut self, segments: Vec<String>) -> Self {
        self.segments = segments;
        self
    }

    /// Adds fixed query parameters (a pass's filter).
    pub(crate) fn with_query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.extra_query = query;
        self
    }

    pub(crate) fn finished(&self) -> bool {
        !self.more
    }

    pub(crate) fn request(&self, config: &Config) -> Planned {
        let mut q = self.extra_query.clone();
        q.push(("page", self.page.to_string()));
        q.push(("pageSize", self.page_size.to_string()));
        let segments: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        self.endpoint.plan(config, &segments, &q)
    }

    /// Records of a page; remembers whether another page follows.
    pub(crate) fn page_records(&mut self, doc: &Value) -> Result<Vec<Record>> {
        let (items, more) = records_in(doc, self.field, self.in_envelope)?;
        // A server that ignores `page` would send the same page forever:
        // stop before handing its records out a second time.
        let fingerprint = page_fingerprint(&items);
        if !items.is_empty() && self.last_page.as_ref() == Some(&fingerprint) {
            return Err(ConnectorError::malformed(format!(
                "page {} of {} repeats page {} (the server ignores paging); stopped before emitting it again",
                self.page,
                self.endpoint.path,
                self.page - 1
            )));
        }
        if self.page >= MAX_PAGES && more {
            return Err(ConnectorError::malformed(format!(
                "{} still has a next page after {MAX_PAGES} pages; stopped",
                self.endpoint.path
            )));
        }
        self.last_page = Some(fingerprint);
        // A next link with an empty page would loop forever: stop there.
        self.more = more && !items.is_empty();
        items.into_iter().map(as_record).collect()
    }

    pub(crate) fn advance(&mut self) {
        self.page += 1;
    }

    pub(crate) fn stop(&mut self) {
        self.more = false;
    }
}

/// What a paged stream's row says about how to page it.
#[derive(Clone, Copy)]
pub(crate) struct PagedSpec {
    pub(crate) endpoint: Endpoint,
    pub(crate) field: &'static str,
    pub(crate) page_size: u32,
    pub(crate) in_envelope: bool,
    pub(crate) passes: &'static [Pass],
}

impl PagedSpec {
    /// The walk of pass `pass`, with the pushed-down parameters its pass
    /// does not set itself.
    pub(crate) fn pager(&self, pass: usize, extra: &[(&'static str, String)]) -> Pager {
        let mut query: Vec<(&'static str, String)> = self.passes[pass]
            .query
            .iter()
            .map(|(k, v)| (*k, (*v).to_string()))
            .collect();
        query.extend(extra.iter().cloned());
        Pager::new(self.endpoint, self.field, self.page_size, self.in_envelope).with_query(query)
    }
}

/// The passes worth walking under pushed-down parameters: a pass that sets
/// a pushed parameter itself is walked only when its value is one pushed
/// (templateType = 'Blast' walks the four Blast passes); the other pushed
/// parameters are added to every walk. Returns (passes, added parameters).
pub(crate) fn select_passes(
    passes: &[Pass],
    pushed: &[(&'static str, String)],
) -> (Vec<usize>, Vec<(&'static str, String)>) {
    let set_by_pass = |name: &str| {
        passes
            .iter()
            .any(|p| p.query.iter().any(|(k, _)| *k == name))
    };
    let active = (0..passes.len())
        .filter(|&i| {
            passes[i].query.iter().all(|(k, v)| {
                let wanted: Vec<&str> = pushed
                    .iter()
                    .filter(|(pk, _)| pk == k)
                    .map(|(_, pv)| pv.as_str())
                    .collect();
                wanted.is_empty() || wanted.contains(v)
            })
        })
        .collect();
    let extra = pushed
        .iter()
        .filter(|(k, _)| !set_by_pass(k))
        .cloned()
        .collect();
    (active, extra)
}

/// A paged stream, walked once per pass; the cursor state is committed
/// after the last page of the last pass.
pub(crate) struct PagedReader {
    spec: PagedSpec,
    /// Indexes into `spec.passes` of the passes walked, in order.
    active: Vec<usize>,
    /// Pushed-down parameters added to every walk.
    extra: Vec<(&'static str, String)>,
    /// Position in `active`.
    pass: usize,
    pager: Pager,
    cursor: Option<ClientCursor>,
    reread: Option<Reread>,
    /// Filters were pushed down: the read covers part of the stream, so its
    /// cursor must not be saved as if it covered all.
    partial: bool,
}

impl PagedReader {
    pub(crate) fn new(
        spec: PagedSpec,
        pushed: &[(&'static str, String)],
        cursor: Option<ClientCursor>,
        reread: Option<Reread>,
    ) -> Self {
        let (active, extra) = select_passes(spec.passes, pushed);
        let mut pager = spec.pager(active.first().copied().unwrap_or(0), &extra);
        if active.is_empty() {
            // No pass can hold a matching record: read nothing.
            pager.stop();
        }
        PagedReader {
            pager,
            spec,
            active,
            extra,
            pass: 0,
            cursor,
            reread,
            partial: !pushed.is_empty(),
        }
    }

    fn last_pass(&self) -> bool {
        self.pass + 1 >= self.active.len()
    }

    fn current_pass(&self) -> &'static Pass {
        let passes: &'static [Pass] = self.spec.passes;
        &passes[self.active.get(self.pass).copied().unwrap_or(0)]
    }
}

impl Reader for PagedReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        while self.pager.finished() {
            if self.last_pass() {
                return Ok(Next::Done);
            }
            self.pass += 1;
            self.pager = self.spec.pager(self.active[self.pass], &self.extra);
        }
        Ok(Next::Send(self.pager.request(ctx.config)))
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let set = self.current_pass().set;
        for mut rec in self.pager.page_records(&item)? {
            for (field, value) in set {
                rec.insert((*field).into(), value.to_json());
            }
            let rec = ctx.shaper.object(rec);
            let reread = self.reread.is_some_and(|r| r.matches(&rec));
            if self.cursor.as_mut().is_none_or(|c| c.admit(&rec) || reread) {
                sink.records.push(rec);
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        self.pager.advance();
        if self.pager.finished()
            && self.last_pass()
            && !self.partial
            && let Some(c) = &self.cursor
        {
            sink.commit = Some(c.state());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Literal;

    /// The wrong document is an error, not an empty page (the fault
    /// matrix's wrong-shape server: a 200 with an array read as "0 records").
    #[test]
    fn a_body_that_is_not_an_object_is_malformed_not_empty() {
        for doc in [
            json!([1, 2, {"unexpected": true}]),
            json!("lists"),
            json!(7),
        ] {
            let e = records_in(&doc, "lists", false).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::MalformedResponse);
            assert!(e.message.contains("expected a JSON object"), "{e}");
        }
        let e = records_in(&json!({"params": [1]}), "items", true).unwrap_err();
        assert!(e.message.contains("got an array"), "{e}");
        // An object without the field, or an envelope without params, is empty.
        assert!(records_in(&json!({}), "lists", false).unwrap().0.is_empty());
        assert!(
            records_in(&json!({"msg": "ok"}), "items", true)
                .unwrap()
                .0
                .is_empty()
        );
    }

    const PASSES: &[Pass] = &[
        Pass {
            query: &[("templateType", "Base"), ("messageMedium", "Email")],
            set: &[("templateType", Literal::Str("Base"))],
        },
        Pass {
            query: &[("templateType", "Blast"), ("messageMedium", "Email")],
            set: &[],
        },
        Pass {
            query: &[("templateType", "Blast"), ("messageMedium", "SMS")],
            set: &[],
        },
    ];

    fn pushed(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn pushed_parameters_pick_the_passes_that_can_match() {
        let (active, extra) = select_passes(PASSES, &pushed(&[("templateType", "Blast")]));
        assert_eq!((active, extra), (vec![1, 2], vec![]));
        let (active, _) = select_passes(
            PASSES,
            &pushed(&[("messageMedium", "SMS"), ("messageMedium", "Email")]),
        );
        assert_eq!(active, vec![0, 1, 2]);
        // Parameters no pass sets are added to every walk.
        let (active, extra) = select_passes(
            PASSES,
            &pushed(&[
                ("templateType", "Base"),
                ("startDateTime", "2026-01-01 00:00:00"),
            ]),
        );
        assert_eq!(active, vec![0]);
        assert_eq!(extra, pushed(&[("startDateTime", "2026-01-01 00:00:00")]));
        // A value no pass has: nothing to walk.
        let (active, _) = select_passes(PASSES, &pushed(&[("templateType", "base")]));
        assert!(active.is_empty());
        assert_eq!(select_passes(PASSES, &[]).0, vec![0, 1, 2]);
    }
}
