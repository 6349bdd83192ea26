//! One reader per stream family (see `catalog::Family`); each plans its
//! stream's requests, one at a time, from the stream's catalog row.

mod async_export;
mod auto_export;
mod by_key;
mod catalog_items;
mod cursor;
mod export;
mod export_file;

pub(crate) use export_file::FileSource;
mod list_users;
mod metadata;
mod metrics;
pub(crate) mod paged;
mod template_contents;

use crate::catalog::{Family, StreamDef};
use crate::config::{Config, ExportMode};
use crate::read::reader::Reader;
use crate::state::StreamState;
use cursor::ClientCursor;

/// Builds the reader for a stream from its row.
pub(crate) fn reader_for(
    def: &StreamDef,
    config: &Config,
    state: &StreamState,
    incremental: bool,
    hand_off: bool,
) -> Box<dyn Reader> {
    let cursor = || {
        def.cursor_field
            .map(|field| ClientCursor::new(field, state, incremental))
    };
    match def.family {
        Family::Simple { endpoint, field } => Box::new(paged::SimpleReader::new(endpoint, field)),
        Family::Paged {
            endpoint,
            field,
            page_size,
            in_envelope,
            passes,
            reread,
        } => Box::new(paged::PagedReader::new(
            paged::PagedSpec {
                endpoint,
                field,
                page_size,
                in_envelope,
                passes,
            },
            &config.pushed_query,
            cursor(),
            reread,
        )),
        Family::Metadata {
            tables,
            keys,
            values,
        } => Box::new(metadata::MetadataReader::new(
            [tables, keys, values],
            cursor().expect("metadata has a cursor field"),
        )),
        Family::ListUsers { lists, members } => Box::new(list_users::ListUsersReader::new(
            lists,
            members,
            config.list_ids.clone(),
        )),
        Family::CatalogItems { catalogs, items } => {
            Box::new(catalog_items::CatalogItemsReader::new(
                catalogs,
                items,
                config.catalog_names.clone(),
                config.item_ids.clone(),
                cursor().expect("catalog_items has a cursor field"),
            ))
        }
        Family::CampaignMetrics { campaigns, metrics } => {
            Box::new(metrics::MetricsReader::new(campaigns, metrics))
        }
        Family::Export { data_type, rows } => {
            let spec = export::ExportSpec {
                stream: def.name,
                data_type,
                shape: rows,
                cursor_field: def.cursor_field.unwrap_or("createdAt"),
                window_days: config.window_days,
            };
            match config.export_mode {
                _ if hand_off => Box::new(async_export::AsyncExportReader::new(
                    spec,
                    state.clone(),
                    true,
                )),
                ExportMode::Async => Box::new(async_export::AsyncExportReader::new(
                    spec,
                    state.clone(),
                    false,
                )),
                ExportMode::Sync => Box::new(export::ExportReader::new(spec, state.clone())),
                ExportMode::Auto => {
                    Box::new(auto_export::AutoExportReader::new(spec, state.clone()))
                }
            }
        }
        Family::TemplateContents { list, passes } => {
            Box::new(template_contents::TemplateContentsReader::new(
                list,
                passes,
                &config.pushed_query,
                cursor().expect("template_contents has a cursor field"),
            ))
        }
        Family::ByKey(read) => Box::new(by_key::ByKeyReader::new(def.name, read)),
    }
}

/// The reader of one export file handed out by a coordinator; `None` when
/// `def` is not an export stream.
pub(crate) fn export_file_reader(def: &StreamDef, source: FileSource) -> Option<Box<dyn Reader>> {
    match def.family {
        Family::Export { rows, .. } => Some(Box::new(export_file::ExportFileReader::new(
            def.name, rows, source,
        ))),
        _ => None,
    }
}
