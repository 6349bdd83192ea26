//! `list_users`: the lists, then each list's members (text, one id per line).

use serde_json::{Value, json};

use crate::config::UserKey;
use crate::error::Result;
use crate::exchange::endpoint::Endpoint;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::paged::records_in;

enum ListPhase {
    Lists,
    Members(usize),
}

pub(crate) struct ListUsersReader {
    lists: Endpoint,
    members: Endpoint,
    phase: ListPhase,
    list_ids: Vec<i64>,
}

impl ListUsersReader {
    pub(crate) fn new(lists: Endpoint, members: Endpoint, configured: Option<Vec<i64>>) -> Self {
        let (phase, list_ids) = match configured {
            Some(ids) => (ListPhase::Members(0), ids),
            None => (ListPhase::Lists, Vec::new()),
        };
        ListUsersReader {
            lists,
            members,
            phase,
            list_ids,
        }
    }
}

impl Reader for ListUsersReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        match self.phase {
            ListPhase::Lists => Ok(Next::Send(self.lists.plan(ctx.config, &[], &[]))),
            ListPhase::Members(i) if i < self.list_ids.len() => {
                let mut q = vec![("listId", self.list_ids[i].to_string())];
                if ctx.config.user_key == UserKey::UserId {
                    q.push(("preferUserId", "true".into()));
                }
                Ok(Next::Send(self.members.plan(ctx.config, &[], &q)))
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
