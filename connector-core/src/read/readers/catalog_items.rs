//! `catalog_items`: the catalogs (paged), then each catalog's items (paged,
//! in Iterable's envelope), filtered client-side on `lastModified`; or,
//! when SQL planning named the items (`itemId = …`), one GET per item.

use serde_json::{Value, json};

use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::endpoint::{CATALOG_ITEM_GET, Endpoint};
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::cursor::ClientCursor;
use crate::read::readers::paged::{Pager, as_record};

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
    /// Read these items of each catalog by id instead of paging.
    item_ids: Option<Vec<String>>,
    /// The next of `item_ids` to read in the current catalog.
    next_id: usize,
}

impl CatalogItemsReader {
    pub(crate) fn new(
        catalogs: Endpoint,
        items: Endpoint,
        configured: Option<Vec<String>>,
        item_ids: Option<Vec<String>>,
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
            item_ids,
            next_id: 0,
        }
    }

    /// One item of the current catalog was read (or found absent).
    fn item_done(&mut self, catalog: usize) {
        self.next_id += 1;
        let count = self.item_ids.as_ref().map_or(0, Vec::len);
        if self.next_id >= count {
            self.next_id = 0;
            self.phase = CatalogPhase::Items(catalog + 1);
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
                    if let Some(ids) = &self.item_ids {
                        let Some(id) = ids.get(self.next_id) else {
                            self.phase = CatalogPhase::Items(i + 1);
                            continue;
                        };
                        let segments = [self.names[i].as_str(), id.as_str()];
                        return Ok(Next::Send(CATALOG_ITEM_GET.plan(
                            ctx.config,
                            &segments,
                            &[],
                        )));
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
            CatalogPhase::Items(i) if self.item_ids.is_some() => {
                // `GET …/items/{itemId}` answers the item itself, unwrapped.
                let mut rec = as_record(item)?;
                rec.entry("catalogName")
                    .or_insert_with(|| json!(self.names[i]));
                let rec = ctx.shaper.object(rec);
                if self.cursor.admit(&rec) {
                    sink.records.push(rec);
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
            // A read by id covers part of the catalog: no cursor to save.
            CatalogPhase::Items(i) if self.item_ids.is_some() => self.item_done(i),
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
        // An item asked for by id that does not exist (or a catalog that
        // does not): no record.
        if let (CatalogPhase::Items(i), true) = (&self.phase, self.item_ids.is_some()) {
            let i = *i;
            self.item_done(i);
            return true;
        }
        // A catalog deleted between listing and paging it: nothing to read.
        if let (CatalogPhase::Items(_), Some(p)) = (&self.phase, self.items.as_mut()) {
            p.stop();
            return true;
        }
        false
    }
}
