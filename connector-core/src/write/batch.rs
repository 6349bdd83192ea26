//! Prepared rows into requests: bulk requests filled to the endpoint's row
//! and byte limits, one group (catalog, list) per request, and never two rows
//! with the same key in one request, so a bulk answer always maps back to
//! exactly one row.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::exchange::Planned;
use crate::exchange::endpoint::Endpoint;

use super::prepare::Prepared;
use super::target::{Mode, Target, TargetDef};

/// How far past the front of the queue a batch looks for rows of its group
/// (bounds the work per batch; rows beyond wait for the next one).
const LOOKAHEAD: usize = 4;

/// Rows that travel in one request.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) rows: Vec<Prepared>,
    /// `true` when `rows` go to the bulk endpoint.
    pub(crate) bulk: bool,
}

/// The request limits that apply to a write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The bulk endpoint, its rows and bytes per request; `None` = one row
    /// per request.
    pub(crate) bulk: Option<(Endpoint, usize, usize)>,
    /// The one-row endpoint (for bulk-only targets, the bulk one: unused).
    pub(crate) single: Endpoint,
}

impl Limits {
    pub(crate) fn new(def: &TargetDef, bulk_allowed: bool, batch_size: Option<usize>) -> Limits {
        match def.mode {
            Mode::Single(e) => Limits {
                bulk: None,
                single: e,
            },
            Mode::Bulk {
                endpoint,
                max_rows,
                max_bytes,
                single,
            } => {
                let rows = batch_size.map_or(max_rows, |b| b.min(max_rows));
                match single {
                    Some(single) if !bulk_allowed => Limits { bulk: None, single },
                    _ => Limits {
                        bulk: Some((endpoint, rows, max_bytes)),
                        single: single.unwrap_or(endpoint),
                    },
                }
            }
        }
    }

    /// Rows a full bulk request holds (1 when rows go one by one).
    pub(crate) fn rows_per_request(&self) -> usize {
        self.bulk.map_or(1, |(_, rows, _)| rows)
    }
}

/// Takes the next request's rows from the front of `queue`, or `None` when
/// the queue is empty. `more_coming`: input is still open, so a bulk batch
/// waits until it could be full.
pub(crate) fn next_batch(
    queue: &mut VecDeque<Prepared>,
    limits: &Limits,
    more_coming: bool,
    busy: impl Fn(&str) -> bool,
) -> Option<Batch> {
    let Some((_, max_rows, max_bytes)) = limits.bulk else {
        // One row per request: the first row whose entity is not on its way.
        let i = queue
            .iter()
            .take(LOOKAHEAD * 64)
            .position(|p| !busy(&p.key))?;
        let row = queue.remove(i)?;
        return Some(Batch {
            rows: vec![row],
            bulk: false,
        });
    };
    if more_coming && queue.len() < max_rows {
        return None;
    }
    let first = queue
        .iter()
        .take(max_rows.saturating_mul(LOOKAHEAD))
        .find(|p| !busy(&p.key))?;
    let group = first.group.clone();
    // Envelope and separators, roughly: stays well inside the byte limit.
    let mut bytes = 64 + group.len();
    let mut keys = BTreeSet::new();
    let mut rows = Vec::new();
    let mut i = 0;
    let window = max_rows.saturating_mul(LOOKAHEAD);
    while i < queue.len() && i < window && rows.len() < max_rows {
        let p = &queue[i];
        let size = p.bytes + p.key.len() + 8;
        let fits = rows.is_empty() || bytes + size <= max_bytes;
        if p.group == group && !keys.contains(&p.key) && !busy(&p.key) && fits {
            bytes += size;
            keys.insert(p.key.clone());
            if let Some(p) = queue.remove(i) {
                rows.push(p);
            }
            continue;
        }
        if !fits {
            break;
        }
        i += 1;
    }
    Some(Batch { rows, bulk: true })
}

/// The endpoint `batch` goes to.
pub(crate) fn endpoint_of(limits: &Limits, batch: &Batch) -> Endpoint {
    match (batch.bulk, limits.bulk, batch.rows.first()) {
        (true, Some((endpoint, _, _)), _) => endpoint,
        (_, _, Some(row)) => row.endpoint.unwrap_or(limits.single),
        _ => limits.single,
    }
}

/// The request for `batch`.
pub(crate) fn plan(def: &TargetDef, limits: &Limits, batch: &Batch, config: &Config) -> Planned {
    if let (true, Some((endpoint, _, _))) = (batch.bulk, limits.bulk) {
        let group = batch.rows.first().map_or("", |r| r.group.as_str());
        let segments: Vec<&str> = match def.target {
            Target::CatalogItemsUpsert
            | Target::CatalogItemsUpdate
            | Target::CatalogItemsDelete => {
                vec![group]
            }
            _ => Vec::new(),
        };
        return endpoint
            .plan(config, &segments, &[])
            .with_json_body(&bulk_body(def.target, group, &batch.rows));
    }
    let endpoint = endpoint_of(limits, batch);
    let Some(row) = batch.rows.first() else {
        return endpoint.plan(config, &[], &[]);
    };
    let segments: Vec<&str> = row.segments.iter().map(String::as_str).collect();
    let planned = endpoint.plan(config, &segments, &[]);
    match single_body(def.target, row) {
        Some(body) => planned.with_json_body(&body),
        None => planned,
    }
}

fn bulk_body(target: Target, group: &str, rows: &[Prepared]) -> Value {
    let items = || rows.iter().map(|r| r.item.clone()).collect::<Vec<_>>();
    match target {
        Target::CatalogItemsUpsert | Target::CatalogItemsUpdate => {
            let documents: Map<String, Value> = rows
                .iter()
                .map(|r| (r.key.clone(), r.item.clone()))
                .collect();
            json!({
                "documents": documents,
                // false = each document replaces the item; true = merges into it.
                "replaceUploadedFieldsOnly": target == Target::CatalogItemsUpdate,
            })
        }
        Target::CatalogItemsDelete => {
            json!({"itemIds": rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>()})
        }
        Target::ListUsersInsert | Target::ListUsersDelete => {
            let list_id: i64 = group.parse().unwrap_or_default();
            json!({"listId": list_id, "subscribers": items()})
        }
        Target::TemplatesDelete => {
            let ids: Vec<i64> = rows.iter().filter_map(|r| r.key.parse().ok()).collect();
            json!({"ids": ids})
        }
        Target::EventsInsert => json!({"events": items()}),
        Target::UsersUpsert => json!({"users": items()}),
        // Not bulk targets: the table never gives them a bulk endpoint.
        _ => Value::Array(items()),
    }
}

fn single_body(target: Target, row: &Prepared) -> Option<Value> {
    match target {
        Target::CatalogItemsUpsert => Some(json!({"value": row.item})),
        Target::CatalogItemsUpdate => Some(json!({"update": row.item})),
        _ if row.item.is_null() => None,
        _ => Some(row.item.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::target::resolve;

    fn row(n: u64, group: &str, key: &str, bytes: usize) -> Prepared {
        let mut p = crate::write::prepare::tests::blank(n);
        p.group = group.into();
        p.key = key.into();
        p.bytes = bytes;
        p
    }

    fn limits(rows: usize, bytes: usize) -> Limits {
        let def = resolve("users", "upsert").unwrap();
        let mut l = Limits::new(def, true, Some(rows));
        if let Some(b) = l.bulk.as_mut() {
            b.2 = bytes;
        }
        l
    }

    #[test]
    fn same_key_never_shares_a_request() {
        let mut q: VecDeque<Prepared> = [
            row(0, "", "a", 10),
            row(1, "", "a", 10),
            row(2, "", "b", 10),
        ]
        .into();
        let b = next_batch(&mut q, &limits(10, 1_000), false, |_| false).unwrap();
        assert_eq!(b.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [0, 2]);
        let b = next_batch(&mut q, &limits(10, 1_000), false, |_| false).unwrap();
        assert_eq!(b.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [1]);
        assert!(next_batch(&mut q, &limits(10, 1_000), false, |_| false).is_none());
    }

    #[test]
    fn groups_counts_and_bytes_bound_a_request() {
        let mut q: VecDeque<Prepared> = (0..7)
            .map(|i| {
                row(
                    i,
                    if i == 1 { "other" } else { "main" },
                    &i.to_string(),
                    100,
                )
            })
            .collect();
        let l = limits(3, 10_000);
        // Input still open and fewer than a full request: wait for more.
        let mut short: VecDeque<Prepared> = [row(0, "", "x", 1)].into();
        assert!(next_batch(&mut short, &l, true, |_| false).is_none());
        let b = next_batch(&mut q, &l, false, |_| false).unwrap();
        assert_eq!(b.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [0, 2, 3]);
        let l = limits(100, 64 + 4 + 2 * 109);
        let b = next_batch(&mut q, &l, false, |_| false).unwrap();
        assert_eq!(b.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [1]);
        let b = next_batch(&mut q, &l, false, |_| false).unwrap();
        assert_eq!(b.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [4, 5]);
    }
}
