//! One reader per stream family (see `catalog::Family`).

pub mod async_export;
pub mod by_key;
pub mod children;
pub mod cursor;
pub mod export;
pub mod simple;

use crate::catalog::{Family, StreamDef};
use crate::config::{Config, ExportMode};
use crate::session::reader::Reader;
use crate::state::StreamState;
use cursor::ClientCursor;

/// Builds the reader for a stream.
pub fn reader_for(
    def: &StreamDef,
    config: &Config,
    state: &StreamState,
    incremental: bool,
) -> Box<dyn Reader> {
    let cursor = |field: &'static str| ClientCursor::new(field, state, incremental);
    match def.family {
        Family::Simple { path, field } => Box::new(simple::SimpleReader::new(path, field)),
        Family::Paged {
            path,
            field,
            page_size,
            in_envelope,
        } => {
            let c = def.cursor_field.map(|f| {
                let c = cursor(f);
                if def.name == "campaigns" {
                    c.with_always(simple::campaign_in_flight)
                } else {
                    c
                }
            });
            Box::new(simple::PagedReader::new(
                simple::Pager::new(path, field, page_size, in_envelope),
                c,
            ))
        }
        Family::Templates => Box::new(simple::TemplatesReader::new(cursor("updatedAt"))),
        Family::Metadata => Box::new(children::MetadataReader::new(cursor("lastModified"))),
        Family::ListUsers => Box::new(children::ListUsersReader::new(config.list_ids.clone())),
        Family::CatalogItems => Box::new(children::CatalogItemsReader::new(
            config.catalog_names.clone(),
            cursor("lastModified"),
        )),
        Family::CampaignMetrics { path } => Box::new(children::MetricsReader::new(path)),
        Family::Export { data_type } if config.export_mode == ExportMode::Async => {
            Box::new(async_export::AsyncExportReader::new(
                def.name,
                data_type,
                def.cursor_field.unwrap_or("createdAt"),
                state.clone(),
                config.window_days,
            ))
        }
        Family::Export { data_type } => Box::new(export::ExportReader::new(
            def.name,
            data_type,
            def.cursor_field.unwrap_or("createdAt"),
            state.clone(),
            config.window_days,
        )),
        Family::ByKey(kind) => Box::new(by_key::ByKeyReader::new(def.name, kind)),
    }
}
