//! The decision of a two-way sync, as a pure function: from the last
//! synced state, the local rows and Iterable's rows, what each side must
//! change. Content is compared by hash, so a row both sides already agree
//! on is never written, and our own earlier writes coming back from
//! Iterable are not taken for remote changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Who wins when a row changed on both sides since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The local row is written to Iterable.
    LocalWins,
    /// Iterable's row is written to the local table.
    IterableWins,
    /// The side changed last wins (a side without a change time loses).
    NewestWins,
    /// Neither side changes; the conflict is listed in the summary.
    Report,
}

/// What the first sync (no state yet) does with rows only one side has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// Match rows by key and copy what each side lacks (no duplicates).
    MergeByKey,
    /// Copy Iterable's rows into the local table; Iterable is not written.
    IterableToLocal,
    /// Copy the local rows to Iterable; the local table is not written.
    LocalToIterable,
}

/// One side's row: its content and, when known, when it last changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SideRow {
    /// The row's fields (for catalog items: the item's value).
    pub(crate) content: Map<String, Value>,
    /// Epoch milliseconds of its last change, if known.
    pub(crate) changed_ms: Option<i64>,
}

/// The hashes both sides had for a key when they last agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Synced {
    pub(crate) local: String,
    pub(crate) remote: String,
}

/// A change to one side.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create or replace the row `key` with `content`.
    Upsert {
        /// The row's key.
        key: String,
        /// Its fields.
        content: Map<String, Value>,
    },
    /// Remove the row `key`.
    Delete {
        /// The row's key.
        key: String,
    },
}

impl Change {
    /// The row's key.
    pub fn key(&self) -> &str {
        match self {
            Change::Upsert { key, .. } | Change::Delete { key } => key,
        }
    }
}

/// A row changed on both sides that the policy left alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The row's key.
    pub key: String,
    /// The local row (`None`: deleted locally).
    pub local: Option<Map<String, Value>>,
    /// Iterable's row (`None`: deleted in Iterable).
    pub remote: Option<Map<String, Value>>,
}

/// What a sync must do, and the state once it is all done.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) to_local: Vec<Change>,
    pub(crate) to_remote: Vec<Change>,
    pub(crate) conflicts: Vec<Conflict>,
    /// Keys both sides agree on, with their hash.
    pub(crate) agreed: BTreeMap<String, String>,
    /// Keys left as they were (conflicts reported): their old state.
    pub(crate) kept: BTreeMap<String, Synced>,
}

/// The content's hash: SHA-256 of its canonical JSON (keys sorted), hex,
/// 128 bits. Numbers compare by their JSON text.
pub(crate) fn content_hash(content: &Map<String, Value>) -> String {
    // serde_json's Map is ordered by key here, so the text is canonical.
    let text = Value::Object(content.clone()).to_string();
    let digest = Sha256::digest(text.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Decides the sync of every key either side or the state knows.
pub(crate) fn decide(
    state: Option<&BTreeMap<String, Synced>>,
    local: &BTreeMap<String, SideRow>,
    remote: &BTreeMap<String, SideRow>,
    initial: Initial,
    policy: Policy,
) -> Plan {
    let empty = BTreeMap::new();
    let first_run = state.is_none();
    let state = state.unwrap_or(&empty);
    let keys: BTreeSet<&String> = local
        .keys()
        .chain(remote.keys())
        .chain(state.keys())
        .collect();
    let mut plan = Plan::default();
    for key in keys {
        let (l, r) = (local.get(key), remote.get(key));
        let lh = l.map(|x| content_hash(&x.content));
        let rh = r.map(|x| content_hash(&x.content));
        if lh == rh {
            if let Some(h) = lh {
                plan.agreed.insert(key.clone(), h);
            }
            continue;
        }
        let local_wins = |plan: &mut Plan| match l {
            Some(x) => plan.to_remote.push(Change::Upsert {
                key: key.clone(),
                content: x.content.clone(),
            }),
            None => plan.to_remote.push(Change::Delete { key: key.clone() }),
        };
        let iterable_wins = |plan: &mut Plan| match r {
            Some(x) => plan.to_local.push(Change::Upsert {
                key: key.clone(),
                content: x.content.clone(),
            }),
            None => plan.to_local.push(Change::Delete { key: key.clone() }),
        };
        let (local_changed, remote_changed) = match state.get(key) {
            Some(s) => (
                lh.as_ref() != Some(&s.local),
                rh.as_ref() != Some(&s.remote),
            ),
            // Never synced: a side that has the row "changed" it.
            None => (l.is_some(), r.is_some()),
        };
        if first_run {
            match (initial, l.is_some(), r.is_some()) {
                (Initial::IterableToLocal, _, true) => iterable_wins(&mut plan),
                (Initial::IterableToLocal, _, false) => {}
                (Initial::LocalToIterable, true, _) => local_wins(&mut plan),
                (Initial::LocalToIterable, false, _) => {}
                (Initial::MergeByKey, true, false) => local_wins(&mut plan),
                (Initial::MergeByKey, false, true) => iterable_wins(&mut plan),
                (Initial::MergeByKey, _, _) => resolve(
                    &mut plan,
                    key,
                    l,
                    r,
                    policy,
                    state,
                    local_wins,
                    iterable_wins,
                ),
            }
            continue;
        }
        match (local_changed, remote_changed) {
            (true, false) => local_wins(&mut plan),
            (false, true) => iterable_wins(&mut plan),
            _ => resolve(
                &mut plan,
                key,
                l,
                r,
                policy,
                state,
                local_wins,
                iterable_wins,
            ),
        }
    }
    plan
}

#[allow(clippy::too_many_arguments)]
fn resolve(
    plan: &mut Plan,
    key: &str,
    l: Option<&SideRow>,
    r: Option<&SideRow>,
    policy: Policy,
    state: &BTreeMap<String, Synced>,
    local_wins: impl FnOnce(&mut Plan),
    iterable_wins: impl FnOnce(&mut Plan),
) {
    let newest_is_local = || {
        let lt = l.and_then(|x| x.changed_ms);
        let rt = r.and_then(|x| x.changed_ms);
        match (lt, rt) {
            (Some(a), Some(b)) => a > b,
            (Some(_), None) => true,
            _ => false,
        }
    };
    match policy {
        Policy::LocalWins => local_wins(plan),
        Policy::IterableWins => iterable_wins(plan),
        Policy::NewestWins if newest_is_local() => local_wins(plan),
        Policy::NewestWins => iterable_wins(plan),
        Policy::Report => {
            plan.conflicts.push(Conflict {
                key: key.to_string(),
                local: l.map(|x| x.content.clone()),
                remote: r.map(|x| x.content.clone()),
            });
            if let Some(s) = state.get(key) {
                plan.kept.insert(key.to_string(), s.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value, t: Option<i64>) -> SideRow {
        SideRow {
            content: v.as_object().cloned().unwrap(),
            changed_ms: t,
        }
    }

    fn side(rows: &[(&str, Value)]) -> BTreeMap<String, SideRow> {
        rows.iter()
            .map(|(k, v)| (k.to_string(), row(v.clone(), None)))
            .collect()
    }

    fn synced(rows: &[(&str, Value)]) -> BTreeMap<String, Synced> {
        rows.iter()
            .map(|(k, v)| {
                let h = content_hash(v.as_object().unwrap());
                (
                    k.to_string(),
                    Synced {
                        local: h.clone(),
                        remote: h,
                    },
                )
            })
            .collect()
    }

    fn keys(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Upsert { key, .. } => format!("+{key}"),
                Change::Delete { key } => format!("-{key}"),
            })
            .collect()
    }

    #[test]
    fn the_first_run_merges_by_key_without_duplicates() {
        let local = side(&[("a", json!({"p": 1})), ("b", json!({"p": 2}))]);
        let remote = side(&[("b", json!({"p": 2})), ("c", json!({"p": 3}))]);
        let p = decide(None, &local, &remote, Initial::MergeByKey, Policy::Report);
        assert_eq!(keys(&p.to_remote), ["+a"]);
        assert_eq!(keys(&p.to_local), ["+c"]);
        assert_eq!(p.agreed.len(), 1, "b is the same on both sides");
        let p = decide(
            None,
            &local,
            &remote,
            Initial::IterableToLocal,
            Policy::Report,
        );
        assert_eq!(
            (keys(&p.to_local), keys(&p.to_remote)),
            (vec!["+c".to_string()], vec![])
        );
        let p = decide(
            None,
            &local,
            &remote,
            Initial::LocalToIterable,
            Policy::Report,
        );
        assert_eq!(
            (keys(&p.to_local), keys(&p.to_remote)),
            (vec![], vec!["+a".to_string()])
        );
    }

    #[test]
    fn changes_and_deletes_flow_to_the_side_that_did_not_make_them() {
        let before = synced(&[
            ("a", json!({"p": 1})),
            ("b", json!({"p": 2})),
            ("c", json!({"p": 3})),
            ("d", json!({"p": 4})),
        ]);
        // a changed locally, b changed in Iterable, c deleted locally,
        // d deleted in Iterable.
        let local = side(&[
            ("a", json!({"p": 10})),
            ("b", json!({"p": 2})),
            ("d", json!({"p": 4})),
        ]);
        let remote = side(&[
            ("a", json!({"p": 1})),
            ("b", json!({"p": 20})),
            ("c", json!({"p": 3})),
        ]);
        let p = decide(
            Some(&before),
            &local,
            &remote,
            Initial::MergeByKey,
            Policy::Report,
        );
        assert_eq!(keys(&p.to_remote), ["+a", "-c"]);
        assert_eq!(keys(&p.to_local), ["+b", "-d"]);
        assert!(p.conflicts.is_empty());
        // Nothing changed: nothing to do.
        let same = side(&[("a", json!({"p": 1}))]);
        let p = decide(
            Some(&synced(&[("a", json!({"p": 1}))])),
            &same,
            &same,
            Initial::MergeByKey,
            Policy::Report,
        );
        assert!(p.to_local.is_empty() && p.to_remote.is_empty());
    }

    #[test]
    fn conflicts_follow_the_policy() {
        let before = synced(&[("a", json!({"p": 1}))]);
        let mut local = side(&[("a", json!({"p": 2}))]);
        let mut remote = side(&[("a", json!({"p": 3}))]);
        let run = |l: &BTreeMap<String, SideRow>, r: &BTreeMap<String, SideRow>, policy| {
            let p = decide(Some(&before), l, r, Initial::MergeByKey, policy);
            (
                keys(&p.to_local),
                keys(&p.to_remote),
                p.conflicts.len(),
                p.kept.len(),
            )
        };
        assert_eq!(
            run(&local, &remote, Policy::LocalWins),
            (vec![], vec!["+a".into()], 0, 0)
        );
        assert_eq!(
            run(&local, &remote, Policy::IterableWins),
            (vec!["+a".into()], vec![], 0, 0)
        );
        assert_eq!(run(&local, &remote, Policy::Report), (vec![], vec![], 1, 1));
        local.get_mut("a").unwrap().changed_ms = Some(2_000);
        remote.get_mut("a").unwrap().changed_ms = Some(1_000);
        assert_eq!(
            run(&local, &remote, Policy::NewestWins),
            (vec![], vec!["+a".into()], 0, 0)
        );
        remote.get_mut("a").unwrap().changed_ms = Some(3_000);
        assert_eq!(
            run(&local, &remote, Policy::NewestWins),
            (vec!["+a".into()], vec![], 0, 0)
        );
    }

    #[test]
    fn hashes_ignore_key_order_and_see_values() {
        let a = json!({"x": 1, "y": [1, 2]});
        let b = json!({"y": [1, 2], "x": 1});
        assert_eq!(
            content_hash(a.as_object().unwrap()),
            content_hash(b.as_object().unwrap())
        );
        assert_ne!(
            content_hash(a.as_object().unwrap()),
            content_hash(json!({"x": 2, "y": [1, 2]}).as_object().unwrap())
        );
    }
}
