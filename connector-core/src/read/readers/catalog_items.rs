//! `catalog_items`: the catalogs (paged), then each catalog's items (paged,
//! in Iterable's envelope), filtered client-side on `lastModified`.

use serde_json::{Value, json};

use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::endpoint::Endpoint;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::cursor::ClientCursor;
use crate::read::readers::paged::Pager;

enum CatalogPhase {
    Catalogs,
    Items(usize),
}

pub(crate) struct CatalogItemsReader {
    phase: CatalogPhase,
    names: Vec<String>,
    catalogs: Pager,
    items_endpoint: Endpoint,
    items: Option<Pager>,
    cursor: ClientCursor,
}

impl CatalogItemsReader {
    pub(crate) fn new(
        catalogs: Endpoint,
        items: Endpoint,
        configured: Option<Vec<String>>,
        cursor: ClientCursor,
    ) -> Self {
        let (phase, names) = match configured {
            Some(n) => (CatalogPhase::Items(0), n),
            None => (CatalogPhase::Catalogs, Vec::new()),
        };
        CatalogItemsReader {
            phase,
            names,
            catalogs: Pager::new(catalogs, "catalogNames", 100, true),
            items_endpoint: items,
            items: None,
            cursor,
        }
    }

    fn items_pager(endpoint: Endpoint, name: &str) -> Pager {
        Pager::new(endpoint, "catalogItemsWithProperties", 1000, true)
            .with_segments(vec![name.to_string()])
    }
}

impl Reader for CatalogItemsReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        loop {
            match self.phase {
                CatalogPhase::Catalogs => {
                    if self.catalogs.finished() {
                        self.phase = CatalogPhase::Items(0);
                        continue;
                    }
                    return Ok(Next::Send(self.catalogs.request(ctx.config)));
                }
                CatalogPhase::Items(i) => {
                    if i >= self.names.len() {
                        return Ok(Next::Done);
                    }
                    let endpoint = self.items_endpoint;
                    let pager = self
                        .items
                        .get_or_insert_with(|| Self::items_pager(endpoint, &self.names[i]));
                    if pager.finished() {
                        self.items = None;
                        self.phase = CatalogPhase::Items(i + 1);
                        continue;
                    }
                    return Ok(Next::Send(pager.request(ctx.config)));
                }
            }
        }
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            CatalogPhase::Catalogs => {
                for rec in self.catalogs.page_records(&item)? {
                    if let Some(name) = rec.get("name").and_then(Value::as_str) {
                        self.names.push(name.to_string());
                    }
                }
            }
            CatalogPhase::Items(i) => {
                let pager = self
                    .items
                    .as_mut()
                    .ok_or_else(|| ConnectorError::new(ErrorKind::Internal, "no items pager"))?;
                for mut rec in pager.page_records(&item)? {
                    rec.entry("catalogName")
                        .or_insert_with(|| json!(self.names[i]));
                    let rec = ctx.shaper.object(rec);
                    if self.cursor.admit(&rec) {
                        sink.records.push(rec);
                    }
                }
            }
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            CatalogPhase::Catalogs => self.catalogs.advance(),
            CatalogPhase::Items(i) => {
                if let Some(p) = self.items.as_mut() {
                    p.advance();
                    if p.finished() && i + 1 == self.names.len() {
                        sink.commit = Some(self.cursor.state());
                    }
                }
            }
        }
        Ok(())
    }

    fn on_not_found(&mut self, _sink: &mut Sink) -> bool {
        // A catalog deleted between listing and paging it: nothing to read.
        if let (CatalogPhase::Items(_), Some(p)) = (&self.phase, self.items.as_mut()) {
            p.stop();
            return true;
        }
        false
    }
}
