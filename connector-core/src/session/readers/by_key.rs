//! Streams of one user's data (Skyvia's model): events, profile, in-app
//! messages, sent messages, and the per-user event export.

use serde_json::Value;

use crate::catalog::{ByKey, user_param};
use crate::error::{ConnectorError, Result};
use crate::http::{encode_component, path_with_query};
use crate::pacing::Bucket;
use crate::parse::BodyFormat;
use crate::record::{shape_event, shape_object};
use crate::session::reader::{Ctx, Next, Planned, Reader, Sink};
use crate::session::readers::simple::{as_record, records_in};

pub struct ByKeyReader {
    stream: &'static str,
    kind: ByKey,
    done: bool,
}

impl ByKeyReader {
    pub fn new(stream: &'static str, kind: ByKey) -> Self {
        ByKeyReader {
            stream,
            kind,
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
        let by_email = param == "email";
        let seg = encode_component(id);
        let (path_q, format, bucket) = match self.kind {
            ByKey::Events => {
                let path = if by_email {
                    format!("/api/events/{seg}")
                } else {
                    format!("/api/events/byUserId/{seg}")
                };
                (
                    path_with_query(&path, &[("limit", "200".into())]),
                    BodyFormat::Json,
                    Bucket::General,
                )
            }
            ByKey::UserProfile => {
                let path = if by_email {
                    format!("/api/users/{seg}")
                } else {
                    format!("/api/users/byUserId/{seg}")
                };
                (path, BodyFormat::Json, Bucket::General)
            }
            ByKey::InAppMessages => (
                path_with_query(
                    "/api/inApp/getMessages",
                    &[(param, id.to_string()), ("count", "100".into())],
                ),
                BodyFormat::Json,
                Bucket::General,
            ),
            ByKey::SentMessages => (
                path_with_query(
                    "/api/users/getSentMessages",
                    &[(param, id.to_string()), ("limit", "1000".into())],
                ),
                BodyFormat::Json,
                Bucket::UserLookup3,
            ),
            ByKey::UserEvents => (
                path_with_query(
                    "/api/export/userEvents",
                    &[
                        (param, id.to_string()),
                        ("includeCustomEvents", "true".into()),
                    ],
                ),
                BodyFormat::Ndjson,
                Bucket::General,
            ),
        };
        Ok(Next::Send(Planned::get(ctx.config, path_q, format, bucket)))
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let field = match self.kind {
            ByKey::Events => "events",
            ByKey::InAppMessages => "inAppMessages",
            ByKey::SentMessages => "messages",
            ByKey::UserProfile => {
                // Unknown user: 200 with `{}`. That is "no record", not an error.
                if let Some(user) = item.get("user") {
                    sink.records.push(shape_object(as_record(user.clone())?));
                }
                return Ok(());
            }
            ByKey::UserEvents => {
                sink.records
                    .push(shape_event(self.stream, as_record(item)?));
                return Ok(());
            }
        };
        let (items, _) = records_in(&item, field, false)?;
        for it in items {
            let rec = as_record(it)?;
            sink.records.push(match self.kind {
                ByKey::Events => shape_event(self.stream, rec),
                _ => shape_object(rec),
            });
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        self.done = true;
        Ok(())
    }
}
