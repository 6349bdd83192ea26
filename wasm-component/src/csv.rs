//! The `csv` interface: the core's CSV columns and `CsvEncoder` behind a
//! WIT resource.

use std::cell::RefCell;

use connector_core::{ConnectorError, CsvEncoder, CsvOptions};

use crate::bindings::exports::iterable_connector::source::csv;
use crate::{Component, config, error, parse_json, wit};

fn open(columns: Vec<String>, options_json: Option<String>) -> Result<CsvEncoder, ConnectorError> {
    let options = match options_json.as_deref().map(str::trim) {
        None | Some("") => CsvOptions::default(),
        Some(text) => CsvOptions::from_json(&parse_json("options", text)?)?,
    };
    CsvEncoder::new(columns, options)
}

impl csv::Guest for Component {
    type CsvEncoder = Encoder;

    fn csv_columns(
        config_json: String,
        stream: String,
        user_fields_json: Option<String>,
    ) -> Result<Vec<String>, wit::ConnectorError> {
        config(&config_json).map_err(error)?;
        let fields = match user_fields_json.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(parse_json("user_fields", text).map_err(error)?),
        };
        connector_core::csv_columns(&stream, fields.as_ref()).map_err(error)
    }
}

/// An encoder behind a WIT resource handle (`&self` methods, so it sits in
/// a `RefCell`; calls never re-enter).
pub struct Encoder(RefCell<CsvEncoder>);

impl csv::GuestCsvEncoder for Encoder {
    fn open(
        columns: Vec<String>,
        options_json: Option<String>,
    ) -> Result<csv::CsvEncoder, wit::ConnectorError> {
        let encoder = open(columns, options_json).map_err(error)?;
        Ok(csv::CsvEncoder::new(Encoder(RefCell::new(encoder))))
    }

    fn header(&self) -> Vec<u8> {
        self.0.try_borrow().map(|e| e.header()).unwrap_or_default()
    }

    fn encode(&self, ndjson: Vec<u8>) -> Result<Vec<u8>, wit::ConnectorError> {
        let mut encoder = self
            .0
            .try_borrow_mut()
            .map_err(|_| error(ConnectorError::misuse("csv-encoder called re-entrantly")))?;
        let mut out = Vec::with_capacity(ndjson.len());
        encoder.encode_ndjson(&ndjson, &mut out).map_err(error)?;
        Ok(out)
    }
}
