//! One async export file, read by a worker ([`crate::plan::WorkUnit::ExportFile`]):
//! a single download from its pre-signed URL (no key, no rate budget), each
//! line shaped exactly as the single-process async read shapes it.

use serde_json::Value;

use crate::catalog::RowShape;
use crate::error::Result;
use crate::exchange::{LogLevel, LogMessage, Planned};
use crate::parse::BodyFormat;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::paged::as_record;

pub(crate) struct ExportFileReader {
    stream: &'static str,
    rows: RowShape,
    url: Option<String>,
}

impl ExportFileReader {
    pub(crate) fn new(stream: &'static str, rows: RowShape, url: String) -> Self {
        ExportFileReader {
            stream,
            rows,
            url: Some(url),
        }
    }
}

impl Reader for ExportFileReader {
    fn next(&mut self, _ctx: &Ctx) -> Result<Next> {
        Ok(match self.url.take() {
            // Pre-signed URLs are fetched without the key.
            Some(url) => Next::Send(Planned::download(url, BodyFormat::Ndjson)),
            None => Next::Done,
        })
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        sink.records
            .push(ctx.shaper.shape(self.rows, as_record(item)?));
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        Ok(())
    }

    fn on_error_status(&mut self, status: u16, sink: &mut Sink) -> bool {
        if status == 403 {
            // Not re-planned here (listing again needs the key and the
            // coordinator's budget); say what to do before the error.
            sink.logs.push(LogMessage {
                level: LogLevel::Error,
                message: "the file's download URL expired (URLs live 30 minutes): plan the read again for fresh URLs".into(),
                stream: Some(self.stream.to_string()),
            });
        }
        false
    }
}
