//! Export API: synchronous `data.json`/`data.csv`, per-user `userEvents`, and
//! async jobs (`export/start`, `export/{id}/files`, downloads under `/_files/`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{bad, csv_cell, csv_line, int_param, not_found, time_param};
use crate::types::{ApiRequest, ApiResponse};
use crate::world::events::{self, EventType};
use crate::world::overlay::profile_secs;
use crate::world::time::{DAY, day_floor, iso_ms};
use crate::world::{Gen, Job, World, users};

pub const NDJSON: &str = "application/x-json-stream";
const FAR_PAST: i64 = -62_000_000_000;
const FAR_FUTURE: i64 = 250_000_000_000;

#[derive(Debug, Clone, Copy)]
pub enum DataType {
    User,
    Event(&'static EventType),
}

impl DataType {
    pub fn parse(name: &str) -> Option<DataType> {
        if name.eq_ignore_ascii_case("user") {
            return Some(DataType::User);
        }
        events::find(name).map(DataType::Event)
    }

    pub fn name(&self) -> &'static str {
        match self {
            DataType::User => "user",
            DataType::Event(t) => t.name,
        }
    }
}

/// A resolved export: what rows, in which window, seen at which server time.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub data_type: DataType,
    /// Inclusive start, epoch seconds (on `createdAt`; users: `profileUpdatedAt`).
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
    pub campaign_id: Option<i64>,
    /// Late indexing: rows are visible only when `createdAt + late <= horizon`.
    pub horizon: Option<i64>,
}

/// Every row of an export, lazily, in time order: `(secs, JSON object)`.
/// Users come flattened to dotted keys; events keep nested objects.
pub fn export_rows(
    world: &World,
    er: &ExportRequest,
) -> Box<dyn Iterator<Item = (i64, Value)> + Send> {
    let model = world.model.clone();
    let st = world.read();
    let ov = &st.overlay;
    // Writes are few: snapshot the relevant part of the overlay into the stream.
    let deleted: BTreeSet<String> = ov
        .users
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(e, _)| e.clone())
        .collect();
    let (start, end) = (er.start, er.end);
    let base: Box<dyn Iterator<Item = (i64, Value)> + Send> = match er.data_type {
        DataType::User => {
            let touched: BTreeSet<String> = ov.users.keys().cloned().collect();
            let mut extra: Vec<(i64, Value)> = ov
                .users
                .values()
                .flatten()
                .map(|p| (profile_secs(p), Value::Object(users::flatten(p))))
                .filter(|(s, _)| *s >= start && *s < end)
                .collect();
            extra.sort_by_key(|(s, _)| *s);
            let (u0, u1) = (
                users::first_index_at(&model, start),
                users::first_index_at(&model, end),
            );
            let g = model.clone();
            let seeded = (u0..u1).filter_map(move |u| {
                let e = users::email(&g, u);
                if touched.contains(&e) {
                    return None;
                }
                Some((
                    users::profile_updated(&g, u),
                    Value::Object(users::flatten(&users::data_fields(&g, u))),
                ))
            });
            Box::new(merge(seeded, extra.into_iter()))
        }
        DataType::Event(t) => {
            let mut extra: Vec<(i64, Value)> = ov
                .events
                .iter()
                .filter(|e| e.type_name == t.name && e.secs >= start && e.secs < end)
                .map(|e| (e.secs, e.row.clone()))
                .collect();
            extra.sort_by_key(|(s, _)| *s);
            let seeded = events::rows(model.clone(), t, start, end);
            let seeded = seeded.filter(move |(_, r)| {
                deleted.is_empty()
                    || !deleted.contains(r.get("email").and_then(Value::as_str).unwrap_or(""))
            });
            Box::new(merge(seeded, extra.into_iter()))
        }
    };
    let mut it = base;
    if let Some(c) = er.campaign_id {
        it = Box::new(
            it.filter(move |(_, r)| r.get("campaignId").and_then(Value::as_i64) == Some(c)),
        );
    }
    if let Some(h) = er.horizon {
        let late = model.late_index_secs;
        if late > 0 {
            // Rows come in time order, so the first invisible row ends the stream.
            it = Box::new(it.take_while(move |(s, _)| s + late <= h));
        }
    }
    it
}

/// [`export_rows`] without its first `skip` rows. File k of an async job starts
/// k × `file_rows` rows in: for a plain event export (no campaign filter, no
/// written events or deleted users in play) the row positions alone find the
/// second that row falls in, so the rows before it are never built. That keeps
/// a million-row job's downloads linear in its size instead of quadratic.
pub fn export_rows_from(
    world: &World,
    er: &ExportRequest,
    skip: u64,
) -> Box<dyn Iterator<Item = (i64, Value)> + Send> {
    if let Some(t) = plain_event_export(world, er).filter(|_| skip > 0) {
        let mut previous = None;
        let mut same_second = 0u64;
        let positions = events::Positions::new(world.model.clone(), t, er.start, er.end);
        for (index, (_, _, secs)) in positions.enumerate() {
            if previous == Some(secs) {
                same_second += 1;
            } else {
                (previous, same_second) = (Some(secs), 0);
            }
            if index as u64 == skip {
                // Generation is a pure function of time: the rows from `secs`
                // on are the same suffix whatever the window's start.
                let from = ExportRequest {
                    start: secs,
                    ..er.clone()
                };
                return Box::new(export_rows(world, &from).skip(same_second as usize));
            }
        }
        return Box::new(std::iter::empty());
    }
    Box::new(export_rows(world, er).skip(skip as usize))
}

/// The event type of an export whose rows are exactly the generated positions
/// (before the late-indexing horizon): no campaign filter and no writes in play.
fn plain_event_export(world: &World, er: &ExportRequest) -> Option<&'static EventType> {
    let DataType::Event(t) = er.data_type else {
        return None;
    };
    let st = world.read();
    let written = st.overlay.events.iter().any(|e| e.type_name == t.name)
        || st.overlay.users.values().any(Option::is_none);
    (er.campaign_id.is_none() && !written).then_some(t)
}

/// Number of rows [`export_rows`] would yield, without building rows when possible.
pub fn count_rows(world: &World, er: &ExportRequest) -> u64 {
    match (er.data_type, er.campaign_id) {
        (DataType::Event(t), None) => {
            let st = world.read();
            if st.overlay.users.values().any(Option::is_none) {
                drop(st);
                return export_rows(world, er).count() as u64;
            }
            let late = world.model.late_index_secs;
            let visible =
                |s: i64| er.horizon.is_none() || late <= 0 || s + late <= er.horizon.unwrap_or(0);
            let extra = st
                .overlay
                .events
                .iter()
                .filter(|e| {
                    e.type_name == t.name
                        && e.secs >= er.start
                        && e.secs < er.end
                        && visible(e.secs)
                })
                .count() as u64;
            drop(st);
            let seeded = events::Positions::new(world.model.clone(), t, er.start, er.end)
                .take_while(|(_, _, s)| visible(*s))
                .count() as u64;
            seeded + extra
        }
        _ => export_rows(world, er).count() as u64,
    }
}

/// Merges two time-ordered streams.
fn merge<A, B>(a: A, b: B) -> impl Iterator<Item = (i64, Value)> + Send
where
    A: Iterator<Item = (i64, Value)> + Send,
    B: Iterator<Item = (i64, Value)> + Send,
{
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) => {
            if x.0 <= y.0 {
                a.next()
            } else {
                b.next()
            }
        }
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// `onlyFields` / `omitFields`: repeated and/or comma-separated.
fn field_list(values: Vec<&str>) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub only: Option<Vec<String>>,
    pub omit: Vec<String>,
}

impl Projection {
    fn apply(&self, v: Value) -> Value {
        if self.only.is_none() && self.omit.is_empty() {
            // The usual export: every field, no map to rebuild.
            return v;
        }
        let Value::Object(m) = v else { return v };
        let mut out = Map::new();
        for (k, val) in m {
            let keep = match &self.only {
                Some(only) => only.contains(&k),
                None => true,
            };
            if keep && !self.omit.contains(&k) {
                out.insert(k, val);
            }
        }
        Value::Object(out)
    }
}

fn projection_from(only: Vec<String>, omit: Vec<String>) -> Projection {
    // `onlyFields=List.empty` asks for rows with no fields at all.
    let only = if only.len() == 1 && only[0] == "List.empty" {
        Some(Vec::new())
    } else if only.is_empty() {
        None
    } else {
        Some(only)
    };
    Projection { only, omit }
}

/// CSV header: every field of this type (flattened), then the projection.
fn csv_header(model: &Gen, dt: DataType, p: &Projection) -> Vec<String> {
    if let Some(only) = &p.only {
        return only
            .iter()
            .filter(|f| !p.omit.contains(f))
            .cloned()
            .collect();
    }
    let sample: Map<String, Value> = match dt {
        DataType::User => users::flatten(&users::data_fields(model, 0)),
        DataType::Event(t) => {
            let day = (0..model.days())
                .find(|d| events::rows_on_day(model, t, *d) > 0)
                .unwrap_or(0);
            let (_, row) = events::build_row(model, t, day, 0);
            match row {
                Value::Object(m) => users::flatten(&m),
                _ => Map::new(),
            }
        }
    };
    sample
        .keys()
        .filter(|k| !p.omit.contains(k))
        .cloned()
        .collect()
}

/// Formats rows as NDJSON or CSV chunks (one chunk per line).
fn render(
    rows: Box<dyn Iterator<Item = (i64, Value)> + Send>,
    csv: Option<(Vec<String>, String)>,
    p: Projection,
) -> Box<dyn Iterator<Item = Vec<u8>> + Send> {
    match csv {
        None => Box::new(rows.map(move |(_, v)| {
            let mut line = Vec::with_capacity(1024);
            serde_json::to_writer(&mut line, &p.apply(v)).expect("a JSON value serialises");
            line.push(b'\n');
            line
        })),
        Some((header, delim)) => {
            let head = csv_line(
                &header
                    .iter()
                    .map(|h| csv_cell(&json!(h), &delim))
                    .collect::<Vec<_>>(),
                &delim,
            );
            let body = rows.map(move |(_, v)| {
                let flat = match v {
                    Value::Object(m) => users::flatten(&m),
                    _ => Map::new(),
                };
                let cells: Vec<String> = header
                    .iter()
                    .map(|h| flat.get(h).map(|x| csv_cell(x, &delim)).unwrap_or_default())
                    .collect();
                csv_line(&cells, &delim).into_bytes()
            });
            Box::new(std::iter::once(head.into_bytes()).chain(body))
        }
    }
}

/// The export window from `range` / `startDateTime` / `endDateTime` (UTC).
fn window(req: &ApiRequest) -> Result<(i64, i64), ApiResponse> {
    let now = req.now.timestamp();
    let today = day_floor(now);
    let start = time_param(req, "startDateTime")?;
    let end = time_param(req, "endDateTime")?;
    if start.is_some() || end.is_some() {
        return Ok((start.unwrap_or(FAR_PAST), end.unwrap_or(now)));
    }
    match req.param("range").unwrap_or("Today") {
        r if r.eq_ignore_ascii_case("Today") => Ok((today, today + DAY)),
        r if r.eq_ignore_ascii_case("Yesterday") => Ok((today - DAY, today)),
        r if r.eq_ignore_ascii_case("BeforeToday") => Ok((FAR_PAST, today)),
        r if r.eq_ignore_ascii_case("All") => Ok((FAR_PAST, FAR_FUTURE)),
        r => Err(bad(format!("Invalid range: {r}"))),
    }
}

fn data_type_param(name: Option<&str>) -> Result<DataType, ApiResponse> {
    let name = name.ok_or_else(|| bad("dataTypeName is required"))?;
    DataType::parse(name).ok_or_else(|| bad(format!("Invalid dataTypeName: {name}")))
}

/// `GET /api/export/data.json` and `/api/export/data.csv`.
pub fn sync(world: &World, req: &ApiRequest, csv: bool) -> ApiResponse {
    let dt = match data_type_param(req.param("dataTypeName")) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let (start, end) = match window(req) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let campaign_id = match int_param(req, "campaignId") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let p = projection_from(
        field_list(req.params("onlyFields")),
        field_list(req.params("omitFields")),
    );
    let er = ExportRequest {
        data_type: dt,
        start,
        end,
        campaign_id,
        horizon: Some(req.now.timestamp()),
    };
    let rows = export_rows(world, &er);
    if csv {
        let delim = req
            .param("delimiter")
            .filter(|d| !d.is_empty())
            .unwrap_or(",")
            .to_string();
        let header = csv_header(&world.model, dt, &p);
        ApiResponse::stream("text/csv", render(rows, Some((header, delim)), p))
    } else {
        ApiResponse::stream(NDJSON, render(rows, None, p))
    }
}

/// Every event of one user, across types, in time order: `(secs, type, row)`.
pub fn user_event_rows(
    world: &World,
    email: &str,
    include_custom: bool,
) -> Vec<(i64, &'static str, Value)> {
    user_rows(world, email, |name| include_custom || name != "customEvent")
}

/// Events of one user whose type passes `want`, in time order. Scans the seeded
/// rows' user index only (cheap) and builds the matching rows.
pub fn user_rows(
    world: &World,
    email: &str,
    want: impl Fn(&str) -> bool,
) -> Vec<(i64, &'static str, Value)> {
    let model = &world.model;
    let mut out = Vec::new();
    if let Some(u) = users::index_of_email(model, email) {
        for t in events::TYPES.iter() {
            if !want(t.name) {
                continue;
            }
            for day in 0..model.days() {
                let n = events::rows_on_day(model, t, day);
                for i in 0..n {
                    if events::user_of(model, t, day, i) == u {
                        let (s, row) = events::build_row(model, t, day, i);
                        out.push((s, t.name, row));
                    }
                }
            }
        }
    }
    let st = world.read();
    if matches!(st.overlay.users.get(email), Some(None)) {
        return Vec::new();
    }
    for e in &st.overlay.events {
        if e.email == email && want(e.type_name) {
            out.push((e.secs, e.type_name, e.row.clone()));
        }
    }
    out.sort_by_key(|(s, _, _)| *s);
    out
}

/// Resolves `email` or `userId` query parameters to an email.
pub fn resolve_user(world: &World, email: Option<&str>, user_id: Option<&str>) -> Option<String> {
    if let Some(e) = email.filter(|e| !e.is_empty()) {
        return Some(e.to_string());
    }
    let id = user_id.filter(|i| !i.is_empty())?;
    let st = world.read();
    st.overlay
        .profile_by_user_id(&world.model, id)
        .and_then(|p| p.get("email").and_then(Value::as_str).map(String::from))
}

/// `GET /api/export/userEvents`: NDJSON with `_type` on every line.
pub fn user_events(world: &World, req: &ApiRequest) -> ApiResponse {
    if req.param("email").is_none() && req.param("userId").is_none() {
        return bad("email or userId is required");
    }
    let include_custom = super::bool_param(req, "includeCustomEvents");
    let rows = match resolve_user(world, req.param("email"), req.param("userId")) {
        Some(e) => user_event_rows(world, &e, include_custom),
        None => Vec::new(),
    };
    let chunks = rows.into_iter().map(|(_, ty, mut row)| {
        row["_type"] = json!(ty);
        let mut l = row.to_string().into_bytes();
        l.push(b'\n');
        l
    });
    ApiResponse::stream(NDJSON, Box::new(chunks.collect::<Vec<_>>().into_iter()))
}

// ---- async jobs -----------------------------------------------------------

fn job_request(job: &Job) -> Option<ExportRequest> {
    Some(ExportRequest {
        data_type: DataType::parse(&job.data_type)?,
        start: job.start,
        end: job.end,
        campaign_id: job.campaign_id,
        horizon: Some(job.created),
    })
}

fn job_state(job: &Job, now: i64) -> &'static str {
    if job.cancelled {
        return "cancelled";
    }
    let elapsed = now - job.created;
    if job.polls >= 3 || elapsed >= 10 {
        "completed"
    } else if job.polls >= 2 || elapsed >= 2 {
        "running"
    } else {
        "enqueued"
    }
}

fn file_names(job: &Job, files: u64) -> Vec<String> {
    let ext = if job.csv { "csv" } else { "json" };
    // Epoch-ms style names of equal width sort by name in creation order.
    (0..files)
        .map(|k| format!("file-{}.{ext}", job.created * 1000 + k as i64))
        .collect()
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => field_list(vec![s.as_str()]),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// `POST /api/export/start`.
pub fn start(world: &World, req: &ApiRequest) -> ApiResponse {
    let b = match super::body(req) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let dt = match data_type_param(b.get("dataTypeName").and_then(Value::as_str)) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let csv = match b.get("outputFormat").and_then(Value::as_str) {
        Some("text/csv") => true,
        Some("application/x-json-stream") => false,
        other => {
            return bad(format!(
                "Invalid outputFormat: {}",
                other.unwrap_or("(missing)")
            ));
        }
    };
    let parse_t = |k: &str| -> Result<Option<i64>, ApiResponse> {
        match b.get(k).and_then(Value::as_str) {
            None | Some("") => Ok(None),
            Some(s) => crate::world::time::parse(s)
                .map(Some)
                .ok_or_else(|| bad(format!("Invalid {k}: {s}"))),
        }
    };
    let (start, end) = match (parse_t("startDateTime"), parse_t("endDateTime")) {
        (Ok(s), Ok(e)) => (s.unwrap_or(FAR_PAST), e.unwrap_or(req.now.timestamp())),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let mut st = world.write();
    let id = st.alloc_id();
    st.jobs.insert(
        id,
        Job {
            id,
            data_type: dt.name().to_string(),
            csv,
            start,
            end,
            campaign_id: b.get("campaignId").and_then(Value::as_i64),
            only_fields: b.get("onlyFields").map(string_list).unwrap_or_default(),
            omit_fields: b.get("omitFields").map(string_list).unwrap_or_default(),
            delimiter: b
                .get("delimiter")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .unwrap_or(",")
                .to_string(),
            created: req.now.timestamp(),
            polls: 0,
            cancelled: false,
            rows: None,
            truncated: false,
        },
    );
    ApiResponse::json(200, json!({"jobId": id}))
}

fn parse_job_id(id: &str) -> Result<i64, ApiResponse> {
    id.parse::<i64>()
        .map_err(|_| bad(format!("Invalid jobId: {id}")))
}

/// Runs the job's count once it has started (rows are served lazily later).
fn ensure_counted(world: &World, id: i64) {
    let job = match world.read().jobs.get(&id) {
        Some(j) if j.rows.is_none() => j.clone(),
        _ => return,
    };
    let Some(er) = job_request(&job) else { return };
    let total = count_rows(world, &er);
    let cap = world.model.cfg.max_async_rows;
    if let Some(j) = world.write().jobs.get_mut(&id) {
        j.rows = Some(total.min(cap));
        j.truncated = total > cap;
    }
}

/// `GET /api/export/{jobId}/files[?startAfter=]`: the status call, advancing the job.
pub fn files(world: &World, req: &ApiRequest, id: &str) -> ApiResponse {
    let id = match parse_job_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let now = req.now.timestamp();
    let state = {
        let mut st = world.write();
        let Some(job) = st.jobs.get_mut(&id) else {
            return not_found(format!("Export job {id} not found"));
        };
        job.polls += 1;
        job_state(job, now)
    };
    if state == "running" || state == "completed" {
        ensure_counted(world, id);
    }
    let st = world.read();
    let Some(job) = st.jobs.get(&id) else {
        return not_found(format!("Export job {id} not found"));
    };
    let per = world.model.cfg.file_rows.max(1);
    let total_files = job.rows.map(|r| r.div_ceil(per)).unwrap_or(0);
    let visible = match state {
        "completed" => total_files,
        // Files appear while the job runs.
        "running" => total_files / 2,
        _ => 0,
    };
    let after = req.param("startAfter").unwrap_or("");
    let expires = now + 1800;
    let files: Vec<Value> = file_names(job, visible)
        .into_iter()
        .filter(|f| after.is_empty() || f.as_str() > after)
        .take(10)
        .map(|f| {
            let url = format!(
                "{}{}{}/{}?expires={}",
                req.base_url,
                crate::types::DOWNLOAD_PREFIX,
                id,
                f,
                expires
            );
            json!({"file": f, "url": url})
        })
        .collect();
    ApiResponse::json(
        200,
        json!({"jobId": id, "jobState": state,
        "exportTruncated": job.truncated && state == "completed", "files": files}),
    )
}

/// `GET /api/export/jobs[?jobState=]`.
pub fn jobs(world: &World, req: &ApiRequest) -> ApiResponse {
    let now = req.now.timestamp();
    let filter = req.param("jobState").map(str::to_ascii_lowercase);
    let st = world.read();
    let jobs: Vec<Value> = st
        .jobs
        .values()
        .rev()
        .filter_map(|j| {
            let state = job_state(j, now);
            if filter.as_deref().is_some_and(|f| f != state) {
                return None;
            }
            let mut v = json!({"id": j.id, "dataTypeName": j.data_type, "jobState": state,
                "scheduledStartTime": iso_ms(j.created * 1000)});
            if state == "completed" {
                v["endTime"] = json!(iso_ms(j.created * 1000 + 1500));
                v["bytesExported"] = json!(j.rows.unwrap_or(0) * 420);
            }
            Some(v)
        })
        .collect();
    ApiResponse::json(200, json!({"jobs": jobs}))
}

/// `DELETE /api/export/{jobId}`.
pub fn cancel(world: &World, id: &str) -> ApiResponse {
    let id = match parse_job_id(id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut st = world.write();
    match st.jobs.get_mut(&id) {
        Some(j) => {
            j.cancelled = true;
            super::ok_envelope(format!("Export job {id} cancelled"))
        }
        None => not_found(format!("Export job {id} not found")),
    }
}

fn expired() -> ApiResponse {
    ApiResponse::text(
        403,
        "application/xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
        <Message>Request has expired</Message><X-Amz-Expires>1800</X-Amz-Expires></Error>"
            .to_string(),
    )
}

/// `GET /_files/{jobId}/{file}?expires=`: the pre-signed download (no API key).
pub fn download(world: &World, req: &ApiRequest, rest: &str) -> ApiResponse {
    let no_such = || {
        ApiResponse::text(404, "application/xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>".to_string())
    };
    let Some(exp) = req.param("expires").and_then(|e| e.parse::<i64>().ok()) else {
        return expired();
    };
    if req.now.timestamp() > exp {
        return expired();
    }
    let mut parts = rest.splitn(2, '/');
    let (Some(id), Some(file)) = (parts.next(), parts.next()) else {
        return no_such();
    };
    let Ok(id) = id.parse::<i64>() else {
        return no_such();
    };
    let job = match world.read().jobs.get(&id) {
        Some(j) if !j.cancelled && j.rows.is_some() => j.clone(),
        _ => return no_such(),
    };
    let per = world.model.cfg.file_rows.max(1);
    let total = job.rows.unwrap_or(0);
    let Some(k) = file_names(&job, total.div_ceil(per))
        .iter()
        .position(|f| f == file)
    else {
        return no_such();
    };
    let Some(er) = job_request(&job) else {
        return no_such();
    };
    let p = projection_from(job.only_fields.clone(), job.omit_fields.clone());
    let remaining = total.saturating_sub(k as u64 * per).min(per);
    let rows: Box<dyn Iterator<Item = (i64, Value)> + Send> =
        Box::new(export_rows_from(world, &er, k as u64 * per).take(remaining as usize));
    if job.csv {
        let header = csv_header(&world.model, er.data_type, &p);
        ApiResponse::stream(
            "text/csv",
            render(rows, Some((header, job.delimiter.clone())), p),
        )
    } else {
        ApiResponse::stream(NDJSON, render(rows, None, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Scale, WorldOptions};

    fn world() -> World {
        World::new(WorldOptions {
            seed: 7,
            scale: Scale::Small,
            now: chrono::DateTime::from_timestamp(1_709_287_200, 0).unwrap(),
            late_index_secs: 0,
        })
    }

    /// The positional shortcut must yield exactly the rows a plain skip would,
    /// also when the cut falls among rows sharing a second (custom-event twins).
    #[test]
    fn skipping_by_positions_yields_the_same_rows_as_skipping_built_rows() {
        let w = world();
        for name in ["emailSend", "customEvent"] {
            let t = events::find(name).unwrap();
            let er = ExportRequest {
                data_type: DataType::Event(t),
                start: w.model.history_start,
                end: w.model.history_end,
                campaign_id: None,
                horizon: None,
            };
            let all: Vec<(i64, Value)> = export_rows(&w, &er).collect();
            assert!(all.len() > 50, "{name}: {} rows", all.len());
            let mut cuts: Vec<u64> = (1..all.len() as u64).step_by(all.len() / 7).collect();
            // A cut right after a row whose successor shares its second.
            if let Some(i) = (1..all.len()).find(|&i| all[i].0 == all[i - 1].0) {
                cuts.push(i as u64);
            }
            cuts.push(all.len() as u64);
            for cut in cuts {
                let fast: Vec<(i64, Value)> = export_rows_from(&w, &er, cut).take(40).collect();
                let slow: Vec<(i64, Value)> =
                    all.iter().skip(cut as usize).take(40).cloned().collect();
                assert_eq!(fast, slow, "{name} from row {cut}");
            }
        }
    }
}
