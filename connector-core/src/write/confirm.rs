//! Read-back confirmation (the `confirm` option): Iterable answers some
//! writes before it applies them (catalog item writes with 202, user
//! updates, tracked events), so "ok" means "accepted". With `confirm`, each
//! accepted row is read back until it shows, and only then reported `ok`; a
//! row still not visible at the deadline is reported `unknown`, with what
//! to check.
//!
//! Which read proves which write:
//!
//! | write | read | visible when |
//! |---|---|---|
//! | catalog item upsert / update | `GET /api/catalogs/{c}/items/{id}` | every written field has its value |
//! | catalog item delete | the same | 404 |
//! | user upsert | `GET /api/users/{email}` (or `byUserId`) | every written data field has its value |
//! | user delete | the same | 404 or `{}` |
//! | event insert | `GET /api/events/{email}` (or `byUserId`), newest 200 | an event with its name and time |

use serde_json::{Map, Value};

use crate::config::Config;
use crate::exchange::Planned;
use crate::exchange::endpoint as ep;
use crate::exchange::endpoint::Endpoint;
use crate::time;

use super::prepare::{Prepared, UserRef};
use super::target::Target;

/// Events read back per check (Iterable's maximum).
const EVENTS_LIMIT: &str = "200";
/// First wait between two reads of a row not yet visible; doubles up to
/// [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 500;
const MAX_BACKOFF_MS: i64 = 8_000;

/// Whether `confirm` can be asked of this write.
pub(crate) fn supported(target: Target) -> bool {
    matches!(
        target,
        Target::CatalogItemsUpsert
            | Target::CatalogItemsUpdate
            | Target::CatalogItemsDelete
            | Target::UsersUpsert
            | Target::UsersDelete
            | Target::EventsInsert
    )
}

/// What the read must show.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// The object at `pointer` holds every field of `fields` with its value.
    Fields {
        pointer: &'static str,
        fields: Map<String, Value>,
    },
    /// The entity is gone: 404, or an empty object.
    Gone,
    /// An event with this name (and time, in epoch seconds) is listed.
    Event { name: String, at_secs: Option<i64> },
}

/// One read that proves one row.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    endpoint: Endpoint,
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    expect: Expect,
}

/// The read that proves `p` was applied, where there is one.
pub(crate) fn probe(target: Target, p: &Prepared) -> Option<Probe> {
    let user = |by_email: Endpoint, by_id: Endpoint| match p.user.as_ref()? {
        UserRef::Email(e) => Some((by_email, e.clone())),
        UserRef::UserId(u) => Some((by_id, u.clone())),
    };
    let (endpoint, segments, query, expect) = match target {
        Target::CatalogItemsUpsert | Target::CatalogItemsUpdate => (
            ep::CATALOG_ITEM_GET,
            p.segments.clone(),
            vec![],
            Expect::Fields {
                pointer: "/value",
                fields: p.item.as_object()?.clone(),
            },
        ),
        Target::CatalogItemsDelete => (
            ep::CATALOG_ITEM_GET,
            p.segments.clone(),
            vec![],
            Expect::Gone,
        ),
        Target::UsersUpsert => {
            let (endpoint, who) = user(ep::USER_BY_EMAIL, ep::USER_BY_USER_ID)?;
            let fields = p
                .item
                .get("dataFields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let expect = Expect::Fields {
                pointer: "/user/dataFields",
                fields,
            };
            (endpoint, vec![who], vec![], expect)
        }
        Target::UsersDelete => {
            let (endpoint, who) = user(ep::USER_BY_EMAIL, ep::USER_BY_USER_ID)?;
            (endpoint, vec![who], vec![], Expect::Gone)
        }
        Target::EventsInsert => {
            let (endpoint, who) = user(ep::EVENTS_BY_EMAIL, ep::EVENTS_BY_USER_ID)?;
            let expect = Expect::Event {
                name: p.event_name.clone()?,
                // Prepared rows carry epoch seconds.
                at_secs: p.item.get("createdAt").and_then(Value::as_i64),
            };
            (
                endpoint,
                vec![who],
                vec![("limit", EVENTS_LIMIT.to_string())],
                expect,
            )
        }
        _ => return None,
    };
    Some(Probe {
        endpoint,
        segments,
        query,
        expect,
    })
}

impl Probe {
    /// The GET request of this probe.
    pub(crate) fn plan(&self, config: &Config) -> Planned {
        let segments: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        self.endpoint.plan(config, &segments, &self.query)
    }

    /// Whether a 2xx answer (`body`) or a failed status shows the write.
    pub(crate) fn shows(&self, status: u16, body: Option<&Value>) -> bool {
        match &self.expect {
            Expect::Gone => {
                status == 404
                    || body.is_some_and(|b| b.as_object().is_some_and(Map::is_empty))
                    || body.is_some_and(|b| b.get("user").is_some_and(Value::is_null))
            }
            Expect::Fields { pointer, fields } => {
                let Some(found) = body.and_then(|b| b.pointer(pointer)) else {
                    return false;
                };
                fields
                    .iter()
                    .all(|(k, v)| found.get(k).is_some_and(|f| same(f, v)))
            }
            Expect::Event { name, at_secs } => body
                .and_then(|b| b.get("events"))
                .and_then(Value::as_array)
                .is_some_and(|events| {
                    events.iter().any(|e| {
                        e.get("eventName").and_then(Value::as_str) == Some(name.as_str())
                            && (at_secs.is_none()
                                || e.get("createdAt").and_then(epoch_secs) == *at_secs)
                    })
                }),
        }
    }

    /// What a user should look at when the row never showed.
    pub(crate) fn what_to_check(&self) -> String {
        let path = self
            .endpoint
            .fill(&self.segments.iter().map(String::as_str).collect::<Vec<_>>());
        match &self.expect {
            Expect::Gone => format!("GET {path} should answer 404"),
            Expect::Fields { .. } => format!("GET {path} should show the written fields"),
            Expect::Event { name, .. } => format!("GET {path} should list the {name} event"),
        }
    }
}

/// The wait before reading a row again after `tries` reads.
pub(crate) fn backoff(tries: u32) -> i64 {
    FIRST_BACKOFF_MS
        .saturating_mul(1i64 << tries.min(10))
        .min(MAX_BACKOFF_MS)
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

/// A listed event's time (epoch ms or text, as Iterable's JSON APIs give
/// it) in whole epoch seconds.
fn epoch_secs(v: &Value) -> Option<i64> {
    time::parse_wire_timestamp(v).map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prepared(target: Target, row: Value) -> Prepared {
        let options = super::super::WriteOptions::from_json(&json!({"catalog": "shoes"})).unwrap();
        super::super::prepare::prepare(target, 0, row, &options).expect("valid row")
    }

    #[test]
    fn catalog_items_show_when_every_written_field_has_its_value() {
        let p = prepared(
            Target::CatalogItemsUpdate,
            json!({"itemId": "sku-1", "value": {"price": 7, "tags": ["a"]}}),
        );
        let probe = probe(Target::CatalogItemsUpdate, &p).expect("a probe");
        let config = Config::from_json(&json!({"base_url": "http://h"})).unwrap();
        assert_eq!(
            probe.plan(&config).url,
            "http://h/api/catalogs/shoes/items/sku-1"
        );
        let old = json!({"value": {"price": 5, "tags": ["a"], "name": "x"}});
        let new = json!({"value": {"price": 7.0, "tags": ["a"], "name": "x"}});
        assert!(!probe.shows(200, Some(&old)));
        assert!(probe.shows(200, Some(&new)));
        assert!(!probe.shows(404, None));
    }

    #[test]
    fn deletes_show_when_gone_and_events_when_listed() {
        let p = prepared(Target::UsersDelete, json!({"email": "a@x.io"}));
        let gone = probe(Target::UsersDelete, &p).unwrap();
        assert!(gone.shows(200, Some(&json!({}))));
        assert!(gone.shows(404, None));
        assert!(!gone.shows(200, Some(&json!({"user": {"email": "a@x.io"}}))));

        let p = prepared(
            Target::EventsInsert,
            json!({"eventName": "viewed", "email": "a@x.io", "createdAt": 1_700_000_000}),
        );
        let ev = probe(Target::EventsInsert, &p).unwrap();
        let listed =
            json!({"events": [{"eventName": "viewed", "createdAt": "2023-11-14 22:13:20 +00:00"}]});
        let other_time =
            json!({"events": [{"eventName": "viewed", "createdAt": 1_600_000_000_000_i64}]});
        assert!(ev.shows(200, Some(&listed)));
        assert!(!ev.shows(200, Some(&other_time)));
        assert!(
            ev.what_to_check().contains("/api/events/a"),
            "{}",
            ev.what_to_check()
        );
        assert!(!supported(Target::ListsInsert));
        assert_eq!(backoff(0), 500);
        assert_eq!(backoff(20), 8_000);
    }
}
