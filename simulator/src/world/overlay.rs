//! Writes on top of the seeded data: user upserts and deletions, tracked events,
//! purchases and targeted in-app messages.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::Gen;
use super::time::value_secs;
use super::users;

/// A row written through the API, visible in exports and per-user event reads.
#[derive(Debug, Clone)]
pub struct OverlayEvent {
    /// Canonical camelCase export data type (`customEvent`, `purchase`, `inAppSend`…).
    pub type_name: &'static str,
    pub secs: i64,
    pub email: String,
    pub row: Value,
    /// Client-supplied or generated event id: tracking the same id again replaces the event.
    pub id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Overlay {
    /// email -> current profile `dataFields`, or `None` when deleted/forgotten.
    /// Seeded users appear here only once written.
    pub users: BTreeMap<String, Option<Map<String, Value>>>,
    pub forgotten: BTreeSet<String>,
    pub events: Vec<OverlayEvent>,
    /// `(type, id)` of every event in `events` written by [`Overlay::upsert_event`].
    pub event_ids: BTreeSet<(&'static str, String)>,
    /// (email, in-app message) pairs from `inApp/target`.
    pub inapp: Vec<(String, Value)>,
    pub seq: u64,
}

impl Overlay {
    /// Current profile for an email: overlay first, then the seeded user.
    pub fn profile(&self, model: &Gen, email: &str) -> Option<Map<String, Value>> {
        match self.users.get(email) {
            Some(p) => p.clone(),
            None => users::index_of_email(model, email).map(|u| users::data_fields(model, u)),
        }
    }

    pub fn profile_by_user_id(&self, model: &Gen, id: &str) -> Option<Map<String, Value>> {
        for p in self.users.values().flatten() {
            if p.get("userId").and_then(Value::as_str) == Some(id) {
                return Some(p.clone());
            }
        }
        let u = users::index_of_user_id(model, id)?;
        let e = users::email(model, u);
        self.profile(model, &e)
    }

    /// All emails with this userId (overlay and seeded), for deletes by userId.
    pub fn emails_for_user_id(&self, model: &Gen, id: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .users
            .iter()
            .filter(|(_, p)| {
                p.as_ref()
                    .and_then(|p| p.get("userId"))
                    .and_then(Value::as_str)
                    == Some(id)
            })
            .map(|(e, _)| e.clone())
            .collect();
        if let Some(u) = users::index_of_user_id(model, id) {
            let e = users::email(model, u);
            if !out.contains(&e) && !matches!(self.users.get(&e), Some(None)) {
                out.push(e);
            }
        }
        out
    }

    /// Is this email a live user (seeded or written, not deleted)?
    pub fn exists(&self, model: &Gen, email: &str) -> bool {
        match self.users.get(email) {
            Some(p) => p.is_some(),
            None => users::index_of_email(model, email).is_some(),
        }
    }

    /// Adds an event with an id; one of the same type and id is replaced
    /// (Iterable's dedup by event id). Linear only when replacing.
    pub fn upsert_event(&mut self, ev: OverlayEvent) {
        if let Some(id) = &ev.id
            && !self.event_ids.insert((ev.type_name, id.clone()))
        {
            let ty = ev.type_name;
            self.events
                .retain(|x| !(x.type_name == ty && x.id.as_deref() == Some(id.as_str())));
        }
        self.events.push(ev);
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// `profileUpdatedAt` of a profile in epoch seconds.
pub fn profile_secs(p: &Map<String, Value>) -> i64 {
    p.get("profileUpdatedAt").and_then(value_secs).unwrap_or(0)
}
