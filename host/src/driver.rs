//! The driving loop: polls the component's read session, runs the requests
//! it plans (up to `max-in-flight` at once), streams their bodies back, and
//! hands batches, checkpoints and logs to an [`Output`] in the order the
//! component produced them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::Error;
use crate::http::{self, Event};
use crate::runtime::{
    Action, Checkpoint, ConnectorError, ErrorKind, HttpRequest, Instance, LogMessage, RecordBatch,
    Session, StreamSelection, Summary, now_ms,
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

async fn drive(
    inst: &mut Instance,
    session: &Session,
    api_key: Option<Arc<str>>,
    out: &mut dyn Output,
) -> Result<Summary, Error> {
    let (tx, mut rx) = mpsc::channel::<(u64, Event)>(CHANNEL);
    let mut in_flight: BTreeSet<u64> = BTreeSet::new();
    loop {
        for _ in 0..DRAIN {
            match rx.try_recv() {
                Ok((id, ev)) => feed(inst, session, id, ev, &mut in_flight).await?,
                Err(_) => break,
            }
        }
        let now = now_ms();
        match inst.poll(session, now).await? {
            Action::Fetch(req) => {
                in_flight.insert(req.id);
                out.request(&req);
                tokio::spawn(http::send(req, api_key.clone(), tx.clone()));
            }
            Action::Emit(batch) => out.emit(batch)?,
            Action::Commit(cp) => out.commit(cp)?,
            Action::Log(l) => out.log(l)?,
            Action::SleepUntil(t) => {
                let wait = Duration::from_millis(t.saturating_sub(now).clamp(0, 3_600_000) as u64);
                if in_flight.is_empty() {
                    tokio::time::sleep(wait).await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        ev = rx.recv() => {
                            if let Some((id, ev)) = ev {
                                feed(inst, session, id, ev, &mut in_flight).await?;
                            }
                        }
                    }
                }
            }
            Action::AwaitResponse => {
                if in_flight.is_empty() {
                    return Err(Error::Connector(misuse(
                        "await-response with no request in flight",
                    )));
                }
                if let Some((id, ev)) = rx.recv().await {
                    feed(inst, session, id, ev, &mut in_flight).await?;
                }
            }
            Action::Done(summary) => return Ok(summary),
        }
    }
}

async fn feed(
    inst: &mut Instance,
    session: &Session,
    id: u64,
    ev: Event,
    in_flight: &mut BTreeSet<u64>,
) -> Result<(), Error> {
    match ev {
        Event::Head(status, headers) => inst.on_response_head(session, id, status, &headers).await,
        Event::Body(chunk) => inst.on_response_body(session, id, &chunk).await,
        Event::End => {
            in_flight.remove(&id);
            inst.on_response_end(session, id).await
        }
        Event::Failed(kind) => {
            in_flight.remove(&id);
            inst.on_transport_error(session, id, kind).await
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
