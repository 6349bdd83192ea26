//! Two-way sync of a catalog's items, or of one medium's templates, with a
//! local table, sans-IO: the core
//! reads Iterable's side, the host hands in the local side, the core
//! decides ([`decide`]) and hands out the local changes to apply and makes
//! the writes to Iterable itself (through the write session).
//!
//! ```text
//! host                                   core (SyncSession)
//!  |  open(config, object, options, state)
//!  |  poll                    <--  Fetch …          (Iterable's rows)
//!  |  poll                    <--  NeedLocal
//!  |  push_local(rows) … finish_local()
//!  |  poll                    <--  ApplyLocal(changes)  apply them, then poll
//!  |  poll                    <--  Fetch …          (writes to Iterable, read back until visible)
//!  |  poll                    <--  Commit(state)    persist it
//!  |  poll                    <--  Done(summary)
//! ```
//!
//! Templates are keyed by `clientTemplateId` (caller-chosen, and the key of
//! Iterable's upsert, so a repeat is safe); their content is the template
//! model (`template_contents`) restricted to the fields the table holds.
//! Templates without a `clientTemplateId` are left alone (and counted).
//!
//! The state keeps, per key, the content hash both sides had when they
//! last agreed, so a change is attributed to the side that made it and our
//! own writes coming back are not mistaken for Iterable's. A sync stopped
//! anywhere converges when run again: rows already equal on both sides are
//! recognised by content, not by state.

mod decide;

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::{Action, HttpRequest, LogLevel, LogMessage, TransportErrorKind};
use crate::read::{ReadSession, StreamSelection};
use crate::state::SessionState;
use crate::time;
use crate::write::{RowStatus, WriteAction, WriteOptions, WriteSession};

pub use decide::{Change, Conflict, Initial, Policy};

use decide::SideRow;

use decide::{Plan, Synced, content_hash};

/// Version of the sync state.
const SYNC_STATE_VERSION: u64 = 1;
/// Default wait for a write to show in Iterable before it is left for the
/// next sync.
const DEFAULT_CONFIRM_TIMEOUT_MS: u64 = 60_000;

/// How a sync runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOptions {
    /// The catalog whose items are synced (catalog items).
    pub catalog: String,
    /// The medium whose templates are synced (templates; default `Email`).
    pub medium: String,
    /// The content fields the local table holds (templates: required; the
    /// template's other fields are not synced).
    pub fields: Option<Vec<String>>,
    /// What the first sync does with rows only one side has.
    pub initial: Initial,
    /// Who wins a row changed on both sides.
    pub policy: Policy,
    /// Decide and report, change nothing.
    pub dry_run: bool,
    /// How long a write may take to show in Iterable.
    pub confirm_timeout_ms: u64,
}

impl SyncOptions {
    /// Options from JSON: `catalog` (catalog items), `medium` and `fields`
    /// (templates), `initial`
    /// (`merge_by_key`, `iterable_to_local`, `local_to_iterable`), `policy`
    /// (`local_wins`, `iterable_wins`, `newest_wins`, `report`), `dry_run`,
    /// `confirm_timeout_ms`.
    pub fn from_json(v: &Value) -> Result<SyncOptions> {
        let obj = v
            .as_object()
            .ok_or_else(|| ConnectorError::input("options", "must be a JSON object"))?;
        let mut o = SyncOptions {
            catalog: String::new(),
            medium: "Email".into(),
            fields: None,
            initial: Initial::MergeByKey,
            policy: Policy::Report,
            dry_run: false,
            confirm_timeout_ms: DEFAULT_CONFIRM_TIMEOUT_MS,
        };
        for (k, v) in obj {
            let text = v.as_str().unwrap_or_default();
            match k.as_str() {
                "catalog" => o.catalog = text.to_string(),
                "medium" => {
                    o.medium = ["Email", "Push", "SMS", "InApp"]
                        .into_iter()
                        .find(|m| m.eq_ignore_ascii_case(text))
                        .ok_or_else(|| {
                            ConnectorError::input(
                                "medium",
                                format!(
                                    "{v} is not a template medium; use Email, Push, SMS or InApp"
                                ),
                            )
                        })?
                        .to_string()
                }
                "fields" => {
                    let names: Option<Vec<String>> = v
                        .as_array()
                        .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect());
                    o.fields = Some(names.ok_or_else(|| {
                        ConnectorError::input("fields", "must be a list of field names")
                    })?);
                }
                "initial" => {
                    o.initial = match text {
                        "merge_by_key" => Initial::MergeByKey,
                        "iterable_to_local" => Initial::IterableToLocal,
                        "local_to_iterable" => Initial::LocalToIterable,
                        _ => {
                            return Err(ConnectorError::input(
                                "initial",
                                format!(
                                    "{v} is not a first-run mode; use merge_by_key, iterable_to_local or local_to_iterable"
                                ),
                            ));
                        }
                    }
                }
                "policy" => {
                    o.policy = match text {
                        "local_wins" => Policy::LocalWins,
                        "iterable_wins" => Policy::IterableWins,
                        "newest_wins" => Policy::NewestWins,
                        "report" => Policy::Report,
                        _ => {
                            return Err(ConnectorError::input(
                                "policy",
                                format!(
                                    "{v} is not a conflict policy; use local_wins, iterable_wins, newest_wins or report"
                                ),
                            ));
                        }
                    }
                }
                "dry_run" => {
                    o.dry_run = v
                        .as_bool()
                        .ok_or_else(|| ConnectorError::input("dry_run", "must be true or false"))?
                }
                "confirm_timeout_ms" => {
                    o.confirm_timeout_ms = v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                        ConnectorError::input("confirm_timeout_ms", "must be a positive number")
                    })?
                }
                other => {
                    return Err(ConnectorError::input(
                        other,
                        "unknown sync option; known: catalog, medium, fields, initial, policy, dry_run, confirm_timeout_ms",
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// One row of the local table.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRow {
    /// The key (a catalog item's `itemId`).
    pub key: String,
    /// The row's fields (the item's value).
    pub content: Map<String, Value>,
    /// Epoch milliseconds of its last change, if the table records it.
    pub changed_ms: Option<i64>,
}

/// What a sync did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    /// Rows created or replaced in the local table.
    pub local_upserts: u64,
    /// Rows removed from the local table.
    pub local_deletes: u64,
    /// Items written to Iterable (and seen there).
    pub remote_upserts: u64,
    /// Items deleted in Iterable.
    pub remote_deletes: u64,
    /// Keys already equal on both sides.
    pub unchanged: u64,
    /// Rows changed on both sides that the `report` policy left alone.
    pub conflicts: Vec<Conflict>,
    /// Writes to Iterable that did not end `ok`, by key (left for the next sync).
    pub failures: Vec<(String, ConnectorError)>,
    /// The changes were planned, not made.
    pub dry_run: bool,
    /// The local changes decided (made, unless a dry run).
    pub planned_local: Vec<Change>,
    /// The changes to Iterable decided (made, unless a dry run).
    pub planned_remote: Vec<Change>,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncAction {
    /// Send this request; feed the reply back with its id.
    Fetch(HttpRequest),
    /// Push every row of the local table ([`SyncSession::push_local`]),
    /// then call [`SyncSession::finish_local`].
    NeedLocal,
    /// Apply these changes to the local table before polling again.
    ApplyLocal(Vec<Change>),
    /// Nothing may be sent before this time (epoch ms).
    SleepUntil(i64),
    /// Requests are in flight; feed an answer.
    AwaitResponse,
    /// Pass this message to the host's log.
    Log(LogMessage),
    /// Persist this state (pass it to the next sync's `open`).
    Commit(Value),
    /// The sync is over; further polls return `Done` again.
    Done(SyncSummary),
}

enum Phase {
    ReadRemote(Box<ReadSession>),
    ReadLocal,
    Write {
        session: Box<WriteSession>,
        /// The change each input row carries.
        changes: Vec<Change>,
    },
    Finished,
}

/// What is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncObject {
    CatalogItems,
    Templates,
}

impl SyncObject {
    fn parse(name: &str) -> Result<SyncObject> {
        let n: String = name
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        match n.as_str() {
            "catalogitems" => Ok(SyncObject::CatalogItems),
            "templates" => Ok(SyncObject::Templates),
            _ => Err(ConnectorError::input(
                "object",
                format!("two-way sync covers catalog_items and templates, not \"{name}\""),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            SyncObject::CatalogItems => "catalog_items",
            SyncObject::Templates => "templates",
        }
    }
}

/// Template fields that identify or stamp a template rather than hold its
/// content: not syncable as columns.
const TEMPLATE_RESERVED: &[&str] = &[
    "templateId",
    "clientTemplateId",
    "templateType",
    "messageMedium",
    "createdAt",
    "updatedAt",
    "metadata",
];

/// The sans-IO sync session: see the module docs.
pub struct SyncSession {
    config: Config,
    object: SyncObject,
    options: SyncOptions,
    /// Templates: each key's `templateId` in Iterable (for deletes).
    template_ids: BTreeMap<String, i64>,
    /// Templates read that have no `clientTemplateId` (left alone).
    unkeyed: u64,
    /// Keys Iterable holds twice (templates sharing a `clientTemplateId`).
    repeated: Vec<String>,
    prior: Option<BTreeMap<String, Synced>>,
    phase: Phase,
    remote: BTreeMap<String, SideRow>,
    local: BTreeMap<String, SideRow>,
    local_done: bool,
    /// Remote writes still to run, deletes after upserts.
    pending_writes: VecDeque<(&'static str, Vec<Change>)>,
    next_state: BTreeMap<String, Synced>,
    out: VecDeque<SyncAction>,
    summary: SyncSummary,
}

impl SyncSession {
    /// Starts a sync of `object` (`catalog_items` or `templates`); `state`
    /// is the last sync's committed state (`None` for the first run).
    pub fn open(
        config: Config,
        object: &str,
        options: SyncOptions,
        state: Option<&Value>,
    ) -> Result<SyncSession> {
        let object = SyncObject::parse(object)?;
        check_options(object, &options)?;
        let prior = state.map(|s| read_state(s, object, &options)).transpose()?;
        let mut read_config = config.clone();
        let stream = match object {
            SyncObject::CatalogItems => {
                read_config.catalog_names = Some(vec![options.catalog.clone()]);
                "catalog_items"
            }
            SyncObject::Templates => {
                // Only this medium's four type walks.
                read_config.pushed_query = vec![("messageMedium", options.medium.clone())];
                "template_contents"
            }
        };
        let read = ReadSession::open(
            read_config,
            &[StreamSelection {
                name: stream.into(),
                incremental: false,
            }],
            &SessionState::new(),
        )?;
        Ok(SyncSession {
            config,
            object,
            options,
            template_ids: BTreeMap::new(),
            unkeyed: 0,
            repeated: Vec::new(),
            prior,
            phase: Phase::ReadRemote(Box::new(read)),
            remote: BTreeMap::new(),
            local: BTreeMap::new(),
            local_done: false,
            pending_writes: VecDeque::new(),
            next_state: BTreeMap::new(),
            out: VecDeque::new(),
            summary: SyncSummary::default(),
        })
    }

    /// How many requests may be in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.config.max_concurrency as usize
    }

    /// Adds local rows (all of them, over one or more calls). A key given
    /// twice is an error before anything is written.
    pub fn push_local(&mut self, rows: Vec<LocalRow>) -> Result<()> {
        if self.local_done {
            return Err(ConnectorError::misuse("push_local after finish_local"));
        }
        for r in rows {
            if r.key.trim().is_empty() {
                return Err(ConnectorError::input("key", "a local row has an empty key"));
            }
            if self.local.contains_key(&r.key) {
                return Err(ConnectorError::input(
                    "key",
                    format!(
                        "\"{}\" is the key of two local rows; keys must be unique",
                        r.key
                    ),
                ));
            }
            self.local.insert(
                r.key,
                SideRow {
                    content: r.content,
                    changed_ms: r.changed_ms,
                },
            );
        }
        Ok(())
    }

    /// Every local row was pushed.
    pub fn finish_local(&mut self) {
        self.local_done = true;
    }

    /// The next action.
    pub fn poll(&mut self, now: i64) -> Result<SyncAction> {
        loop {
            if let Some(a) = self.out.pop_front() {
                return Ok(a);
            }
            match &mut self.phase {
                Phase::ReadRemote(read) => match read.poll(now)? {
                    Action::Fetch(r) => return Ok(SyncAction::Fetch(r)),
                    Action::Emit(batch) => {
                        for rec in batch.records() {
                            match self.object {
                                SyncObject::CatalogItems => add_remote(&mut self.remote, rec),
                                SyncObject::Templates => self.add_remote_template(rec),
                            }
                        }
                    }
                    Action::Commit(_) => {}
                    Action::SleepUntil(t) => return Ok(SyncAction::SleepUntil(t)),
                    Action::AwaitResponse => return Ok(SyncAction::AwaitResponse),
                    Action::Log(l) => return Ok(SyncAction::Log(l)),
                    Action::Done(_) => self.phase = Phase::ReadLocal,
                },
                Phase::ReadLocal => {
                    if !self.local_done {
                        return Ok(SyncAction::NeedLocal);
                    }
                    self.plan()?;
                }
                Phase::Write { session, changes } => match session.poll(now)? {
                    WriteAction::Fetch(r) => return Ok(SyncAction::Fetch(r)),
                    WriteAction::NeedRows => session.finish_input(),
                    WriteAction::Results(results) => {
                        for r in results {
                            let Some(change) =
                                usize::try_from(r.row).ok().and_then(|i| changes.get(i))
                            else {
                                continue;
                            };
                            let key = change.key().to_string();
                            if r.status == RowStatus::Ok {
                                match change {
                                    Change::Upsert { content, .. } => {
                                        self.summary.remote_upserts += 1;
                                        let h = content_hash(content);
                                        self.next_state.insert(
                                            key,
                                            Synced {
                                                local: h.clone(),
                                                remote: h,
                                            },
                                        );
                                    }
                                    Change::Delete { .. } => self.summary.remote_deletes += 1,
                                }
                            } else {
                                if let Some(s) = self.prior.as_ref().and_then(|p| p.get(&key)) {
                                    self.next_state.insert(key.clone(), s.clone());
                                }
                                let e = r.error.unwrap_or_else(|| {
                                    ConnectorError::new(
                                        ErrorKind::Upstream,
                                        "the write did not end ok",
                                    )
                                });
                                self.summary.failures.push((key, e));
                            }
                        }
                    }
                    WriteAction::Commit(_) => {}
                    WriteAction::SleepUntil(t) => return Ok(SyncAction::SleepUntil(t)),
                    WriteAction::AwaitResponse => return Ok(SyncAction::AwaitResponse),
                    WriteAction::Log(l) => return Ok(SyncAction::Log(l)),
                    WriteAction::Done(_) => self.start_next_write()?,
                },
                Phase::Finished => return Ok(SyncAction::Done(self.summary.clone())),
            }
        }
    }
}

/// Keeps a catalog item read from Iterable.
fn add_remote(remote: &mut BTreeMap<String, SideRow>, rec: Map<String, Value>) {
    {
        let Some(key) = rec.get("itemId").and_then(Value::as_str) else {
            return;
        };
        let content = rec
            .get("value")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let changed_ms = rec
            .get("lastModified")
            .and_then(time::parse_wire_timestamp)
            .map(|t| time::to_epoch_ms(&t));
        remote.insert(
            key.to_string(),
            SideRow {
                content,
                changed_ms,
            },
        );
    }
}

/// What the session needs of its options for `object`, checked before
/// anything is read or written.
fn check_options(object: SyncObject, options: &SyncOptions) -> Result<()> {
    match object {
        SyncObject::CatalogItems => {
            if options.catalog.trim().is_empty() {
                return Err(ConnectorError::input(
                    "catalog",
                    "is required: the catalog whose items are synced",
                ));
            }
        }
        SyncObject::Templates => {
            let fields = options.fields.as_deref().unwrap_or_default();
            if fields.is_empty() {
                return Err(ConnectorError::input(
                    "fields",
                    "is required for templates: the template fields the table holds (e.g. name, subject, html)",
                ));
            }
            if let Some(f) = fields
                .iter()
                .find(|f| TEMPLATE_RESERVED.contains(&f.as_str()))
            {
                return Err(ConnectorError::input(
                    "fields",
                    format!(
                        "{f} identifies or stamps a template and cannot be synced as content; the key is clientTemplateId (the table's key column)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl SyncSession {
    /// Keeps a template read from Iterable: its content is the fields the
    /// table holds.
    fn add_remote_template(&mut self, rec: Map<String, Value>) {
        let Some(key) = rec
            .get("clientTemplateId")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        else {
            self.unkeyed += 1;
            return;
        };
        if self.remote.contains_key(key) {
            // Iterable's upsert updates every template with this id: one row.
            self.repeated.push(key.to_string());
            return;
        }
        let fields = self.options.fields.as_deref().unwrap_or_default();
        let content: Map<String, Value> = fields
            .iter()
            .filter_map(|f| {
                rec.get(f)
                    .filter(|v| !v.is_null())
                    .map(|v| (f.clone(), v.clone()))
            })
            .collect();
        let changed_ms = rec
            .get("updatedAt")
            .and_then(time::parse_wire_timestamp)
            .map(|t| time::to_epoch_ms(&t));
        if let Some(id) = rec.get("templateId").and_then(Value::as_i64) {
            self.template_ids.insert(key.to_string(), id);
        }
        self.remote.insert(
            key.to_string(),
            SideRow {
                content,
                changed_ms,
            },
        );
    }

    /// What is synced, in words.
    fn scope(&self) -> String {
        match self.object {
            SyncObject::CatalogItems => format!("catalog {}", self.options.catalog),
            SyncObject::Templates => format!("{} templates", self.options.medium),
        }
    }

    /// Decides, hands out the local changes and queues the remote writes.
    fn plan(&mut self) -> Result<()> {
        let Plan {
            to_local,
            to_remote,
            conflicts,
            agreed,
            kept,
        } = decide::decide(
            self.prior.as_ref(),
            &self.local,
            &self.remote,
            self.options.initial,
            self.options.policy,
        );
        self.summary.unchanged = agreed.len() as u64;
        self.summary.conflicts = conflicts;
        self.summary.planned_local = to_local.clone();
        self.summary.planned_remote = to_remote.clone();
        if self.unkeyed > 0 {
            self.out.push_back(SyncAction::Log(LogMessage {
                level: LogLevel::Info,
                message: format!(
                    "{}: {} templates without a clientTemplateId are left alone (give them one to sync them)",
                    self.scope(),
                    self.unkeyed
                ),
                stream: None,
            }));
        }
        if !self.repeated.is_empty() {
            self.out.push_back(SyncAction::Log(LogMessage {
                level: LogLevel::Warn,
                message: format!(
                    "{}: clientTemplateId {} is shared by several templates; the first is compared, and a write updates them all",
                    self.scope(),
                    self.repeated.join(", ")
                ),
                stream: None,
            }));
        }
        self.out.push_back(SyncAction::Log(LogMessage {
            level: LogLevel::Info,
            message: format!(
                "{}: {} to change locally, {} in Iterable, {} unchanged, {} conflicts",
                self.scope(),
                to_local.len(),
                to_remote.len(),
                agreed.len(),
                self.summary.conflicts.len()
            ),
            stream: None,
        }));
        if self.options.dry_run {
            self.summary.dry_run = true;
            self.phase = Phase::Finished;
            return Ok(());
        }
        for (k, h) in agreed {
            self.next_state.insert(
                k,
                Synced {
                    local: h.clone(),
                    remote: h,
                },
            );
        }
        self.next_state.extend(kept);
        for c in &to_local {
            match c {
                Change::Upsert { key, content } => {
                    self.summary.local_upserts += 1;
                    let h = content_hash(content);
                    self.next_state.insert(
                        key.clone(),
                        Synced {
                            local: h.clone(),
                            remote: h,
                        },
                    );
                }
                Change::Delete { .. } => self.summary.local_deletes += 1,
            }
        }
        if !to_local.is_empty() {
            self.out.push_back(SyncAction::ApplyLocal(to_local));
        }
        let (upserts, deletes): (Vec<Change>, Vec<Change>) = to_remote
            .into_iter()
            .partition(|c| matches!(c, Change::Upsert { .. }));
        if !upserts.is_empty() {
            self.pending_writes.push_back(("upsert", upserts));
        }
        if !deletes.is_empty() {
            self.pending_writes.push_back(("delete", deletes));
        }
        self.start_next_write()
    }

    fn start_next_write(&mut self) -> Result<()> {
        let Some((op, changes)) = self.pending_writes.pop_front() else {
            self.out.push_back(SyncAction::Commit(self.state()));
            self.phase = Phase::Finished;
            return Ok(());
        };
        let (object, op, options) = match self.object {
            SyncObject::CatalogItems => (
                "catalog_items",
                op,
                WriteOptions {
                    catalog: Some(self.options.catalog.clone()),
                    confirm: true,
                    confirm_timeout_ms: self.options.confirm_timeout_ms,
                    ..WriteOptions::default()
                },
            ),
            // Templates: the upsert (keyed by clientTemplateId) and the bulk
            // delete answer when done; nothing to read back.
            SyncObject::Templates => (
                "templates",
                if op == "upsert" { "insert" } else { op },
                WriteOptions {
                    medium: Some(self.options.medium.clone()),
                    ..WriteOptions::default()
                },
            ),
        };
        let mut rows = Vec::new();
        let mut sent = Vec::new();
        for c in changes {
            let row = match (&c, self.object) {
                (Change::Upsert { key, content }, SyncObject::CatalogItems) => {
                    json!({"itemId": key, "value": content})
                }
                (Change::Delete { key }, SyncObject::CatalogItems) => json!({"itemId": key}),
                (Change::Upsert { key, content }, SyncObject::Templates) => {
                    let mut row = content.clone();
                    row.insert("clientTemplateId".into(), json!(key));
                    Value::Object(row)
                }
                (Change::Delete { key }, SyncObject::Templates) => {
                    match self.template_ids.get(key) {
                        Some(id) => json!({"templateId": id}),
                        None => {
                            self.keep_prior(key);
                            self.summary.failures.push((
                                key.clone(),
                                ConnectorError::new(
                                    ErrorKind::Upstream,
                                    "the template to delete was not in Iterable's listing",
                                ),
                            ));
                            continue;
                        }
                    }
                }
            };
            rows.push(row);
            sent.push(c);
        }
        if rows.is_empty() {
            return self.start_next_write();
        }
        let mut session = WriteSession::open(self.config.clone(), object, op, &options, None)?;
        session.push_rows(rows)?;
        session.finish_input();
        self.phase = Phase::Write {
            session: Box::new(session),
            changes: sent,
        };
        Ok(())
    }

    /// A key whose change did not happen keeps the state it had.
    fn keep_prior(&mut self, key: &str) {
        if let Some(s) = self.prior.as_ref().and_then(|p| p.get(key)) {
            self.next_state.insert(key.to_string(), s.clone());
        }
    }

    fn state(&self) -> Value {
        let keys: Map<String, Value> = self
            .next_state
            .iter()
            .map(|(k, s)| (k.clone(), json!([s.local, s.remote])))
            .collect();
        let mut state =
            json!({"v": SYNC_STATE_VERSION, "object": self.object.name(), "keys": keys});
        match self.object {
            SyncObject::CatalogItems => state["catalog"] = json!(self.options.catalog),
            SyncObject::Templates => state["medium"] = json!(self.options.medium),
        }
        state
    }

    fn responder(&mut self) -> Result<&mut dyn Respond> {
        match &mut self.phase {
            Phase::ReadRemote(r) => Ok(r.as_mut()),
            Phase::Write { session, .. } => Ok(session.as_mut()),
            _ => Err(ConnectorError::misuse(
                "a response with no request in flight",
            )),
        }
    }

    /// The status line and headers of a response.
    pub fn on_response_head(
        &mut self,
        now: i64,
        id: u64,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        self.responder()?.head(now, id, status, headers)
    }

    /// A chunk of a response body.
    pub fn on_response_body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<()> {
        self.responder()?.body(now, id, chunk)
    }

    /// The response is complete.
    pub fn on_response_end(&mut self, now: i64, id: u64) -> Result<()> {
        self.responder()?.end(now, id)
    }

    /// The request failed before a complete response.
    pub fn on_transport_error(
        &mut self,
        now: i64,
        id: u64,
        kind: TransportErrorKind,
    ) -> Result<()> {
        self.responder()?.error(now, id, kind)
    }
}

/// The response-feeding half of the inner sessions.
trait Respond {
    fn head(&mut self, now: i64, id: u64, status: u16, headers: &[(String, String)]) -> Result<()>;
    fn body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<()>;
    fn end(&mut self, now: i64, id: u64) -> Result<()>;
    fn error(&mut self, now: i64, id: u64, kind: TransportErrorKind) -> Result<()>;
}

macro_rules! respond {
    ($t:ty) => {
        impl Respond for $t {
            fn head(
                &mut self,
                now: i64,
                id: u64,
                status: u16,
                headers: &[(String, String)],
            ) -> Result<()> {
                self.on_response_head(now, id, status, headers)
            }
            fn body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<()> {
                self.on_response_body(now, id, chunk)
            }
            fn end(&mut self, now: i64, id: u64) -> Result<()> {
                self.on_response_end(now, id)
            }
            fn error(&mut self, now: i64, id: u64, kind: TransportErrorKind) -> Result<()> {
                self.on_transport_error(now, id, kind)
            }
        }
    };
}
respond!(ReadSession);
respond!(WriteSession);

fn read_state(
    state: &Value,
    object: SyncObject,
    options: &SyncOptions,
) -> Result<BTreeMap<String, Synced>> {
    let bad = |why: &str| {
        ConnectorError::config(
            "state",
            format!("{why}; pass the state the last sync of the same data committed, unchanged"),
        )
    };
    if state.get("v").and_then(Value::as_u64) != Some(SYNC_STATE_VERSION) {
        return Err(bad("is not a version-1 sync state"));
    }
    let saved_object = state
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or("catalog_items");
    if saved_object != object.name() {
        return Err(bad(&format!(
            "is the state of a {saved_object} sync, not {}",
            object.name()
        )));
    }
    let (field, expected) = match object {
        SyncObject::CatalogItems => ("catalog", options.catalog.as_str()),
        SyncObject::Templates => ("medium", options.medium.as_str()),
    };
    if state.get(field).and_then(Value::as_str) != Some(expected) {
        return Err(bad(&format!("belongs to another {field}, not {expected}")));
    }
    let keys = state
        .get("keys")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("has no keys"))?;
    keys.iter()
        .map(|(k, v)| {
            let pair = v.as_array().filter(|a| a.len() == 2);
            let text = |i: usize| pair.and_then(|a| a[i].as_str()).map(str::to_string);
            match (text(0), text(1)) {
                (Some(local), Some(remote)) => Ok((k.clone(), Synced { local, remote })),
                _ => Err(bad(&format!("has a bad entry for {k}"))),
            }
        })
        .collect()
}
