//! The driving loops: poll the component's read or write session, run the
//! requests it plans (up to `max-in-flight` at once), stream their bodies
//! back, and hand batches, row results, checkpoints and logs to an
//! [`Output`] or a [`WriteIo`] in the order the component produced them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::Error;
use crate::http::{self, Event};
use crate::runtime::{
    Action, Checkpoint, ConnectorError, ErrorKind, HttpRequest, Instance, LogMessage, RecordBatch,
    RowResult, Session, StreamSelection, Summary, WriteAction, WriteCheckpoint, WriteSummary,
    now_ms,
};

/// Where a sync's output goes. Called in the component's order: a `commit`
/// follows every batch it covers.
pub trait Output {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), Error>;
    fn commit(&mut self, checkpoint: Checkpoint) -> Result<(), Error>;
    fn log(&mut self, message: LogMessage) -> Result<(), Error>;
    /// A request is about to be sent (progress displays).
    fn request(&mut self, _request: &HttpRequest) {}
    /// Pushes buffered output out (called after a read, even a failed one).
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// Events taken from finished or streaming requests before each poll, at
/// most; bounds the work between two polls so batches leave promptly.
const DRAIN: usize = 32;
/// Body frames buffered between the HTTP tasks and the component.
const CHANNEL: usize = 64;

/// What to read and with which key.
pub struct ReadJob<'a> {
    /// Config JSON for the component (without `api_key`: the host adds it).
    pub config: &'a str,
    pub streams: &'a [StreamSelection],
    /// `{"streams": {...}}`, or `None` for a fresh sync.
    pub state: Option<&'a str>,
    pub api_key: Option<Arc<str>>,
}

/// Runs one sync to completion.
pub async fn read(
    inst: &mut Instance,
    job: &ReadJob<'_>,
    out: &mut dyn Output,
) -> Result<Summary, Error> {
    let session = inst.open(job.config, job.streams, job.state).await?;
    let result = drive(inst, &session, job.api_key.clone(), out).await;
    let closed = inst.close(session).await;
    let summary = result?;
    closed?;
    Ok(summary)
}

/// Plans a read as data: runs the component's coordinator session (export
/// jobs started, polled and listed; nothing downloaded) and returns the work
/// units (JSON text each) and the state to commit once all of them were read.
pub async fn plan(
    inst: &mut Instance,
    job: &ReadJob<'_>,
    out: &mut dyn Output,
) -> Result<(Vec<String>, String), Error> {
    let session = inst.plan(job.config, job.streams, job.state).await?;
    let result = drive(inst, &session, job.api_key.clone(), out).await;
    let planned = match result {
        Ok(_) => {
            let units = inst.take_units(&session).await;
            let state = inst.planned_state(&session).await;
            units.and_then(|u| state.map(|s| (u, s)))
        }
        Err(e) => Err(e),
    };
    let closed = inst.close(session).await;
    let planned = planned?;
    closed?;
    Ok(planned)
}

/// Reads one work unit from [`plan`] (an export file needs no key).
pub async fn read_unit(
    inst: &mut Instance,
    config: &str,
    unit: &str,
    api_key: Option<Arc<str>>,
    out: &mut dyn Output,
) -> Result<Summary, Error> {
    let session = inst.open_unit(config, unit).await?;
    let result = drive(inst, &session, api_key, out).await;
    let closed = inst.close(session).await;
    let summary = result?;
    closed?;
    Ok(summary)
}

/// What to query, and with which key.
pub struct QueryJob<'a> {
    /// Config JSON for the component (without `api_key`).
    pub config: &'a str,
    pub sql: &'a str,
    /// `{"name": value}` for `:name` placeholders.
    pub params: Option<&'a str>,
    pub api_key: Option<Arc<str>>,
}

/// Runs a SELECT: its rows reach `out` as batches, like a read's.
pub async fn query(
    inst: &mut Instance,
    job: &QueryJob<'_>,
    out: &mut dyn Output,
) -> Result<Summary, Error> {
    let session = inst
        .open_query(job.config, job.sql, job.params, None)
        .await?;
    let result = drive(inst, &session, job.api_key.clone(), out).await;
    let closed = inst.close(session).await;
    let summary = result?;
    closed?;
    Ok(summary)
}

async fn drive(
    inst: &mut Instance,
    session: &Session,
    api_key: Option<Arc<str>>,
    out: &mut dyn Output,
) -> Result<Summary, Error> {
    let mut net = InFlight::new(api_key);
    loop {
        net.drain(inst, session).await?;
        let now = now_ms();
        match inst.poll(session, now).await? {
            Action::Fetch(req) => {
                out.request(&req);
                net.send(req);
            }
            Action::Emit(batch) => out.emit(batch)?,
            Action::Commit(cp) => out.commit(cp)?,
            Action::Log(l) => out.log(l)?,
            Action::SleepUntil(t) => net.sleep_until(inst, session, now, t).await?,
            Action::AwaitResponse => net.await_one(inst, session).await?,
            Action::Done(summary) => return Ok(summary),
        }
    }
}

/// Requests in flight for one session: sends them on tasks and feeds their
/// replies back to the session (reads and writes alike).
struct InFlight {
    tx: mpsc::Sender<(u64, Event)>,
    rx: mpsc::Receiver<(u64, Event)>,
    ids: BTreeSet<u64>,
    api_key: Option<Arc<str>>,
}

impl InFlight {
    fn new(api_key: Option<Arc<str>>) -> InFlight {
        let (tx, rx) = mpsc::channel::<(u64, Event)>(CHANNEL);
        InFlight {
            tx,
            rx,
            ids: BTreeSet::new(),
            api_key,
        }
    }

    fn send(&mut self, req: HttpRequest) {
        self.ids.insert(req.id);
        tokio::spawn(http::send(req, self.api_key.clone(), self.tx.clone()));
    }

    /// Feeds what has arrived (at most [`DRAIN`] events) without waiting.
    async fn drain(&mut self, inst: &mut Instance, session: &Session) -> Result<(), Error> {
        for _ in 0..DRAIN {
            match self.rx.try_recv() {
                Ok((id, ev)) => self.feed(inst, session, id, ev).await?,
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Waits until `until` (epoch ms) or the next reply, whichever is first.
    async fn sleep_until(
        &mut self,
        inst: &mut Instance,
        session: &Session,
        now: i64,
        until: i64,
    ) -> Result<(), Error> {
        let wait = Duration::from_millis(until.saturating_sub(now).clamp(0, 3_600_000) as u64);
        if self.ids.is_empty() {
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            ev = self.rx.recv() => match ev {
                Some((id, ev)) => self.feed(inst, session, id, ev).await,
                None => Ok(()),
            },
        }
    }

    /// Waits for the next reply event.
    async fn await_one(&mut self, inst: &mut Instance, session: &Session) -> Result<(), Error> {
        if self.ids.is_empty() {
            return Err(Error::Connector(misuse(
                "await-response with no request in flight",
            )));
        }
        match self.rx.recv().await {
            Some((id, ev)) => self.feed(inst, session, id, ev).await,
            None => Ok(()),
        }
    }

    async fn feed(
        &mut self,
        inst: &mut Instance,
        session: &Session,
        id: u64,
        ev: Event,
    ) -> Result<(), Error> {
        match ev {
            Event::Head(status, headers) => {
                inst.on_response_head(session, id, status, &headers).await
            }
            Event::Body(chunk) => inst.on_response_body(session, id, &chunk).await,
            Event::End => {
                self.ids.remove(&id);
                inst.on_response_end(session, id).await
            }
            Event::Failed(kind) => {
                self.ids.remove(&id);
                inst.on_transport_error(session, id, kind).await
            }
        }
    }
}

/// Where a write's rows come from and its outcomes go. Called in the
/// component's order: a `commit` follows the results it covers.
pub trait WriteIo {
    /// Up to `max` more rows as JSON lines; `None` when the input is over.
    fn next_rows(&mut self, max: usize) -> Result<Option<Vec<u8>>, Error>;
    fn results(&mut self, rows: Vec<RowResult>) -> Result<(), Error>;
    fn commit(&mut self, checkpoint: WriteCheckpoint) -> Result<(), Error>;
    fn log(&mut self, message: LogMessage) -> Result<(), Error>;
    /// A request is about to be sent (progress displays).
    fn request(&mut self, _request: &HttpRequest) {}
}

/// What to write, where, and with which key.
pub struct WriteJob<'a> {
    /// Config JSON for the component (without `api_key`: the host adds it).
    pub config: &'a str,
    pub object: &'a str,
    pub op: &'a str,
    /// Write options as a JSON object (`None`: defaults).
    pub options: Option<&'a str>,
    /// A write checkpoint's state, to resume.
    pub state: Option<&'a str>,
    pub api_key: Option<Arc<str>>,
}

/// Rows pushed at once at least, so one-row-per-request writes do not cost
/// a component call per row.
const MIN_PUSH: usize = 64;

/// Runs one write to completion: every row pushed gets its result.
pub async fn write(
    inst: &mut Instance,
    job: &WriteJob<'_>,
    io: &mut dyn WriteIo,
) -> Result<WriteSummary, Error> {
    let session = inst
        .open_write(job.config, job.object, job.op, job.options, job.state)
        .await?;
    let result = drive_write(inst, &session, job.api_key.clone(), io).await;
    let closed = inst.close(session).await;
    let summary = result?;
    closed?;
    Ok(summary)
}

/// Runs a SQL UPDATE or DELETE: the rows its read finds are written by key;
/// each gets its result as for [`write`] (`io` is never asked for rows).
pub async fn modify(
    inst: &mut Instance,
    job: &QueryJob<'_>,
    io: &mut dyn WriteIo,
) -> Result<WriteSummary, Error> {
    let session = inst.open_write_sql(job.config, job.sql, job.params).await?;
    let result = drive_write(inst, &session, job.api_key.clone(), io).await;
    let closed = inst.close(session).await;
    let summary = result?;
    closed?;
    Ok(summary)
}

async fn drive_write(
    inst: &mut Instance,
    session: &Session,
    api_key: Option<Arc<str>>,
    io: &mut dyn WriteIo,
) -> Result<WriteSummary, Error> {
    let push = (inst.rows_per_request(session).await? as usize).max(MIN_PUSH);
    let mut net = InFlight::new(api_key);
    loop {
        net.drain(inst, session).await?;
        let now = now_ms();
        match inst.poll_write(session, now).await? {
            WriteAction::Fetch(req) => {
                io.request(&req);
                net.send(req);
            }
            WriteAction::NeedRows => match io.next_rows(push)? {
                Some(rows) => {
                    inst.push_rows(session, &rows).await?;
                }
                None => inst.finish_input(session).await?,
            },
            WriteAction::Results(rows) => io.results(rows)?,
            WriteAction::Commit(cp) => io.commit(cp)?,
            WriteAction::Log(l) => io.log(l)?,
            WriteAction::SleepUntil(t) => net.sleep_until(inst, session, now, t).await?,
            WriteAction::AwaitResponse => net.await_one(inst, session).await?,
            WriteAction::Done(summary) => return Ok(summary),
        }
    }
}

fn misuse(message: &str) -> ConnectorError {
    ConnectorError {
        kind: ErrorKind::ProtocolMisuse,
        message: message.to_string(),
        field: None,
        stream: None,
        status: None,
        code: None,
        retryable: false,
        retry_after_ms: None,
    }
}

/// Checks the key: one request planned and judged by the component.
pub async fn check(
    inst: &mut Instance,
    config: &str,
    api_key: Option<Arc<str>>,
) -> Result<(), Error> {
    let req = inst.check_request(config).await?;
    let (status, body) = http::fetch_all(req, api_key, 1 << 20).await.map_err(|k| {
        let mut e = misuse(&format!(
            "could not reach Iterable ({k:?}): check base_url/region and the network"
        ));
        e.kind = ErrorKind::Upstream;
        e.retryable = true;
        Error::Connector(e)
    })?;
    inst.check_response(status, &body).await
}

/// Fetches the project's user fields for `discover`; `None` (with a reason)
/// when that fails, so the catalog can still be built.
pub async fn user_fields(
    inst: &mut Instance,
    config: &str,
    api_key: Option<Arc<str>>,
) -> Result<String, String> {
    let req = inst
        .user_fields_request(config)
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = http::fetch_all(req, api_key, 16 << 20)
        .await
        .map_err(|k| format!("users/getFields failed: {k:?}"))?;
    inst.user_fields_response(status, &body)
        .await
        .map_err(|e| e.to_string())
}
