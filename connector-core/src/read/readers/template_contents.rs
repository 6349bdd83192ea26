//! `template_contents`: each template's full model (subject, HTML, message
//! …), the list walked as `templates` (every type × medium, or the ones
//! pushed down), then `GET /api/templates/{medium}/get?templateId=` for
//! each template the cursor admits: an incremental read fetches only the
//! templates whose `updatedAt` moved.

use std::collections::VecDeque;

use serde_json::{Value, json};

use crate::catalog::Pass;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::Record;
use crate::exchange::endpoint::{Endpoint, TEMPLATE_GET, template_medium_path};
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::cursor::ClientCursor;
use crate::read::readers::paged::{PagedSpec, Pager, select_passes};

/// One template listed, waiting for its content.
struct Listed {
    record: Record,
    medium: &'static str,
}

pub(crate) struct TemplateContentsReader {
    /// The templates list, walked once per active pass.
    spec: PagedSpec,
    /// Indexes of the passes walked.
    active: Vec<usize>,
    extra: Vec<(&'static str, String)>,
    /// Position in `active`; `active.len()` once the list is done.
    pass: usize,
    pager: Option<Pager>,
    queue: VecDeque<Listed>,
    /// The template whose content is in flight.
    current: Option<Listed>,
    cursor: ClientCursor,
    /// Filters were pushed down: no cursor to save.
    partial: bool,
}

impl TemplateContentsReader {
    pub(crate) fn new(
        list: Endpoint,
        passes: &'static [Pass],
        pushed: &[(&'static str, String)],
        cursor: ClientCursor,
    ) -> Self {
        let (active, extra) = select_passes(passes, pushed);
        TemplateContentsReader {
            spec: PagedSpec {
                endpoint: list,
                field: "templates",
                page_size: 1000,
                in_envelope: false,
                passes,
            },
            active,
            extra,
            pass: 0,
            pager: None,
            queue: VecDeque::new(),
            current: None,
            cursor,
            partial: !pushed.is_empty(),
        }
    }

    fn listing(&self) -> bool {
        self.pass < self.active.len()
    }

    fn pass_def(&self) -> &'static Pass {
        let passes: &'static [Pass] = self.spec.passes;
        &passes[self.active[self.pass]]
    }

    fn pass_value(pass: &'static Pass, name: &str) -> Option<&'static str> {
        pass.query.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl Reader for TemplateContentsReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        while self.listing() {
            if self.pager.is_none() {
                self.pager = Some(self.spec.pager(self.active[self.pass], &self.extra));
            }
            let pager = self.pager.as_ref().expect("set above");
            if !pager.finished() {
                return Ok(Next::Send(pager.request(ctx.config)));
            }
            self.pager = None;
            self.pass += 1;
        }
        let Some(next) = self.queue.pop_front() else {
            return Ok(Next::Done);
        };
        let id = next
            .record
            .get("templateId")
            .map(|v| v.to_string())
            .unwrap_or_default();
        let kind = template_medium_path(next.medium).unwrap_or("email");
        let planned = TEMPLATE_GET.plan(ctx.config, &[kind], &[("templateId", id)]);
        self.current = Some(next);
        Ok(Next::Send(planned))
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        if self.listing() {
            let pass = self.pass_def();
            let medium = Self::pass_value(pass, "messageMedium").unwrap_or("Email");
            let pager = self
                .pager
                .as_mut()
                .ok_or_else(|| ConnectorError::new(ErrorKind::Internal, "no templates pager"))?;
            for mut rec in pager.page_records(&item)? {
                for (field, value) in pass.set {
                    rec.insert((*field).into(), value.to_json());
                }
                let rec = ctx.shaper.object(rec);
                if self.cursor.admit(&rec) {
                    self.queue.push_back(Listed {
                        record: rec,
                        medium,
                    });
                }
            }
            return Ok(());
        }
        let listed = self
            .current
            .as_ref()
            .ok_or_else(|| ConnectorError::new(ErrorKind::Internal, "no template in flight"))?;
        let Value::Object(detail) = item else {
            return Err(ConnectorError::malformed(
                "a template's content is not a JSON object",
            ));
        };
        // The list's fields (type, medium, times) and the content; the
        // content's `metadata` only repeats the list's fields.
        let mut rec = listed.record.clone();
        for (k, v) in detail {
            if k != "metadata" && !rec.contains_key(&k) {
                rec.insert(k, v);
            }
        }
        rec.entry("messageMedium")
            .or_insert_with(|| json!(listed.medium));
        sink.records.push(ctx.shaper.object(rec));
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        if self.listing() {
            if let Some(p) = self.pager.as_mut() {
                p.advance();
            }
        } else {
            self.current = None;
        }
        let list_done = !self.listing()
            || (self.pass + 1 == self.active.len()
                && self.pager.as_ref().is_some_and(Pager::finished));
        if list_done && self.queue.is_empty() && self.current.is_none() && !self.partial {
            sink.commit = Some(self.cursor.state());
        }
        Ok(())
    }

    fn on_not_found(&mut self, _sink: &mut Sink) -> bool {
        // A template deleted between listing and reading it: no record.
        if !self.listing() && self.current.is_some() {
            self.current = None;
            return true;
        }
        false
    }
}
