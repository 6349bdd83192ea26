//! Streams of one user's data (Skyvia's model): events, profile, in-app
//! messages, sent messages, and the per-user event export. The stream's row
//! says which endpoint, where the user goes and where the records are.

use serde_json::Value;

use crate::catalog::{ByKeyBody, ByKeyRead, KeyIn, user_param};
use crate::error::{ConnectorError, Result};
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::paged::{as_record, records_in};

pub(crate) struct ByKeyReader {
    stream: &'static str,
    read: ByKeyRead,
    done: bool,
}

impl ByKeyReader {
    pub(crate) fn new(stream: &'static str, read: ByKeyRead) -> Self {
        ByKeyReader {
            stream,
            read,
            done: false,
        }
    }
}

impl Reader for ByKeyReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        if self.done {
            return Ok(Next::Done);
        }
        let (param, id) = user_param(ctx.config).ok_or_else(|| {
            ConnectorError::config("email", "set \"email\" or \"user_id\" to read this stream")
                .with_stream(self.stream)
        })?;
        let endpoint = if param == "email" {
            self.read.by_email
        } else {
            self.read.by_user_id
        };
        let mut query: Vec<(&str, String)> = Vec::new();
        let segments: &[&str] = match self.read.key_in {
            KeyIn::Path => &[id],
            KeyIn::Query => {
                query.push((param, id.to_string()));
                &[]
            }
        };
        query.extend(self.read.query.iter().map(|(k, v)| (*k, (*v).to_string())));
        Ok(Next::Send(endpoint.plan(ctx.config, segments, &query)))
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.read.body {
            ByKeyBody::Single { field } => {
                // Unknown user: 200 with `{}`. That is "no record", not an error.
                if let Some(user) = item.get(field) {
                    sink.records
                        .push(ctx.shaper.object(as_record(user.clone())?));
                }
            }
            ByKeyBody::Lines { rows } => {
                sink.records.push(ctx.shaper.shape(rows, as_record(item)?));
            }
            ByKeyBody::Array { field, rows } => {
                let (items, _) = records_in(&item, field, false)?;
                for it in items {
                    sink.records.push(ctx.shaper.shape(rows, as_record(it)?));
                }
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        self.done = true;
        Ok(())
    }
}
