//! One async export file, read by a worker ([`crate::plan::WorkUnit::ExportFile`]):
//! a single download from its pre-signed URL (no key, no rate budget), each
//! line shaped exactly as the single-process async read shapes it.
//!
//! A URL that expired (403) is refreshed once: the job's files are listed
//! after the file before this one (`export/{jobId}/files?startAfter=`, one
//! request with the key, paced like any), and the fresh URL downloaded.

use serde_json::Value;

use crate::catalog::RowShape;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::endpoint::EXPORT_FILES;
use crate::exchange::{LogLevel, LogMessage, Planned};
use crate::parse::BodyFormat;
use crate::parse::Row;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::paged::as_record;

/// Where a file unit's rows come from.
pub(crate) struct FileSource {
    pub(crate) url: String,
    pub(crate) job_id: i64,
    pub(crate) file: String,
    /// The file listed before this one (for `startAfter`).
    pub(crate) after: Option<String>,
}

enum Step {
    /// Download from `source.url` (again after a refresh).
    Download,
    /// The download is in flight.
    Downloading,
    /// The URL expired: list the job's files for a fresh one.
    Refresh,
    /// The listing is in flight.
    Listing,
    Done,
}

pub(crate) struct ExportFileReader {
    stream: &'static str,
    rows: RowShape,
    source: FileSource,
    step: Step,
    refreshed: bool,
}

impl ExportFileReader {
    pub(crate) fn new(stream: &'static str, rows: RowShape, source: FileSource) -> Self {
        ExportFileReader {
            stream,
            rows,
            source,
            step: Step::Download,
            refreshed: false,
        }
    }
}

impl Reader for ExportFileReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        match self.step {
            Step::Download => {
                self.step = Step::Downloading;
                // Pre-signed URLs are fetched without the key.
                Ok(Next::Send(Planned::download(
                    self.source.url.clone(),
                    BodyFormat::Ndjson,
                )))
            }
            Step::Refresh => {
                self.step = Step::Listing;
                let q: Vec<(&str, String)> = self
                    .source
                    .after
                    .iter()
                    .map(|a| ("startAfter", a.clone()))
                    .collect();
                Ok(Next::Send(EXPORT_FILES.plan(
                    ctx.config,
                    &[&self.source.job_id.to_string()],
                    &q,
                )))
            }
            Step::Downloading | Step::Listing => Err(ConnectorError::new(
                ErrorKind::Internal,
                "export file unit asked for a request while one is in flight",
            )),
            Step::Done => Ok(Next::Done),
        }
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        if let Step::Listing = self.step {
            let files = item.get("files").and_then(Value::as_array);
            for f in files.into_iter().flatten() {
                if f.get("file").and_then(Value::as_str) == Some(self.source.file.as_str())
                    && let Some(url) = f.get("url").and_then(Value::as_str)
                {
                    self.source.url = url.to_string();
                    self.step = Step::Download;
                }
            }
            return Ok(());
        }
        sink.records
            .push(ctx.shaper.shape(self.rows, as_record(item)?));
        Ok(())
    }

    fn on_row(&mut self, row: Row<'_>, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        if let Step::Listing = self.step {
            return self.on_item(row.value(), ctx, sink);
        }
        // A unit's rows carry no cursor: the coordinator commits the state.
        sink.shape_row(ctx, self.rows, "", row)?;
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.step {
            Step::Downloading => self.step = Step::Done,
            Step::Listing => {
                return Err(ConnectorError::new(
                    ErrorKind::Upstream,
                    format!(
                        "export job {} no longer lists file {}: plan the read again",
                        self.source.job_id, self.source.file
                    ),
                ));
            }
            Step::Download => sink.logs.push(LogMessage {
                level: LogLevel::Info,
                message: "download URL expired; downloading the file from a fresh URL".into(),
                stream: Some(self.stream.to_string()),
            }),
            Step::Refresh | Step::Done => {}
        }
        Ok(())
    }

    fn on_error_status(&mut self, status: u16, _sink: &mut Sink) -> bool {
        // An expired pre-signed URL: list the job's files once for a fresh one.
        if status == 403 && matches!(self.step, Step::Downloading) && !self.refreshed {
            self.refreshed = true;
            self.step = Step::Refresh;
            return true;
        }
        false
    }
}
