//! Arrow tables built in Rust from the core's records, typed by the stream's
//! JSON schema, and handed to Python through the Arrow PyCapsule interface
//! (`__arrow_c_schema__`, `__arrow_c_array__`, `__arrow_c_stream__`).
//!
//! Types: `integer` → int64, `number` → float64, `boolean` → bool,
//! `string` + `format: date-time` → timestamp[ms, UTC], `string` → utf8
//! (text-or-array: arrays as JSON text),
//! `object` / `array` / anything else → utf8 holding JSON text. Fields outside
//! the schema get columns too (after the schema's), typed from their first value.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, to_ffi};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchIterator, StructArray, new_null_array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};
use serde_json::Value;

use crate::lines::{FieldRef, Line, LineReader};
use crate::session::Batch;

/// Rows per Arrow record batch at most.
const ROWS_PER_BATCH: usize = 64 * 1024;
/// Without an extra column, values that contradict their column's type
/// (the schema check reported them) go here as a JSON object by field name,
/// so the typed column's null does not lose them.
const REJECTED_COLUMN: &str = "_rejected";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Timestamp,
    Json,
}

fn kind_of(prop: &Value) -> Kind {
    let mut types: Vec<&str> = match prop.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    types.retain(|t| *t != "null");
    match types.as_slice() {
        ["string"] if prop.get("format").and_then(Value::as_str) == Some("date-time") => {
            Kind::Timestamp
        }
        // Text or an array of text (a getFields `string`): text stays text,
        // an array becomes JSON text.
        ["string"] | ["string", "array"] => Kind::Str,
        ["integer"] => Kind::Int,
        ["number"] => Kind::Float,
        ["boolean"] => Kind::Bool,
        _ => Kind::Json,
    }
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Str | Kind::Json => DataType::Utf8,
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

enum Col {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder),
}

/// Appends `v` (or a null) to a primitive builder; `true` when it was a value.
fn append<T: arrow_array::types::ArrowPrimitiveType>(
    b: &mut arrow_array::builder::PrimitiveBuilder<T>,
    v: Option<T::Native>,
) -> bool {
    b.append_option(v);
    v.is_some()
}

impl Col {
    fn new(kind: Kind) -> Col {
        match kind {
            Kind::Str | Kind::Json => Col::Str(StringBuilder::new()),
            Kind::Int => Col::Int(Int64Builder::new()),
            Kind::Float => Col::Float(Float64Builder::new()),
            Kind::Bool => Col::Bool(BooleanBuilder::new()),
            Kind::Timestamp => {
                Col::Timestamp(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    /// Appends `f` converted to the column's type, or a null. `false` when a
    /// value was there but contradicts the type (text in an integer column):
    /// the caller keeps it elsewhere, as text, rather than lose it.
    ///
    /// Strings, integers and booleans are converted here as they are read;
    /// the result equals `push_value` of the decoded value (tested).
    fn push(&mut self, kind: Kind, f: FieldRef<'_>) -> bool {
        match f {
            FieldRef::Null => self.push_value(kind, None),
            FieldRef::Value(v) => self.push_value(kind, Some(v)),
            FieldRef::Bool(flag) => self.push_bool(flag),
            FieldRef::Int(n) => self.push_int(n),
            FieldRef::Str(s) => self.push_str(kind, s),
            FieldRef::Json(text) => self.push_json(kind, text),
        }
    }

    /// An object or array given as the text `to_string` of its value writes.
    fn push_json(&mut self, kind: Kind, text: &str) -> bool {
        match self {
            Col::Str(b) => {
                b.append_value(text);
                true
            }
            // No other column takes an object or an array: a null, and the
            // value is rejected.
            _ => {
                self.push_value(kind, None);
                false
            }
        }
    }

    fn push_bool(&mut self, flag: bool) -> bool {
        match self {
            Col::Str(b) => b.append_value(if flag { "true" } else { "false" }),
            Col::Bool(b) => b.append_value(flag),
            Col::Int(b) => return append(b, None),
            Col::Float(b) => return append(b, None),
            Col::Timestamp(b) => return append(b, None),
        }
        true
    }

    fn push_int(&mut self, n: i64) -> bool {
        match self {
            // As JSON text (what a decoded number's `to_string` writes).
            Col::Str(b) => {
                // The builder's `fmt::Write` extends the value being built.
                let _ = write!(b, "{n}");
                b.append_value("");
            }
            Col::Int(b) => b.append_value(n),
            Col::Float(b) => b.append_value(n as f64),
            Col::Bool(b) => {
                b.append_null();
                return false;
            }
            // Milliseconds since the epoch.
            Col::Timestamp(b) => b.append_value(n),
        }
        true
    }

    fn push_str(&mut self, kind: Kind, s: &str) -> bool {
        match self {
            Col::Str(b) if kind == Kind::Str => b.append_value(s),
            // A JSON-text column holds the string as JSON (quoted, escaped).
            Col::Str(b) => b.append_value(Value::from(s).to_string()),
            Col::Int(b) => return append(b, s.trim().parse().ok()),
            Col::Float(b) => return append(b, s.trim().parse().ok()),
            Col::Bool(b) => {
                b.append_null();
                return false;
            }
            Col::Timestamp(b) => {
                let millis = connector_core::parse_timestamp_str(s).map(|t| t.timestamp_millis());
                return append(b, millis);
            }
        }
        true
    }

    /// `push` of a decoded value (`None`: absent).
    fn push_value(&mut self, kind: Kind, v: Option<&Value>) -> bool {
        let v = v.filter(|v| !v.is_null());
        let converted = match self {
            Col::Str(b) => {
                match v {
                    None => b.append_null(),
                    Some(Value::String(s)) if kind == Kind::Str => b.append_value(s),
                    Some(other) => b.append_value(other.to_string()),
                }
                return true;
            }
            Col::Int(b) => append(
                b,
                v.and_then(|v| match v {
                    Value::Number(n) => n.as_i64().or_else(|| {
                        n.as_f64()
                            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                            .map(|f| f as i64)
                    }),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }),
            ),
            Col::Float(b) => append(
                b,
                v.and_then(|v| match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }),
            ),
            Col::Bool(b) => {
                let flag = v.and_then(Value::as_bool);
                b.append_option(flag);
                flag.is_some()
            }
            Col::Timestamp(b) => append(
                b,
                v.and_then(|v| match v {
                    Value::String(s) => {
                        connector_core::parse_timestamp_str(s).map(|t| t.timestamp_millis())
                    }
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }),
            ),
        };
        converted || v.is_none()
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Str(b) => Arc::new(b.finish()),
            Col::Int(b) => Arc::new(b.finish()),
            Col::Float(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// Field names and kinds: the stream's JSON schema properties first, then
/// fields found in records but absent from the schema (schemas allow
/// additional properties), in the order they were first seen.
struct Layout {
    names: Vec<String>,
    kinds: Vec<Kind>,
    index: HashMap<String, usize>,
}

impl Layout {
    fn from_json_schema(schema: &Value) -> PyResult<Layout> {
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| PyValueError::new_err("json_schema has no \"properties\" object"))?;
        let mut layout = Layout {
            names: Vec::with_capacity(props.len()),
            kinds: Vec::with_capacity(props.len()),
            index: HashMap::with_capacity(props.len()),
        };
        // Columns in `x-column-order` (a SQL projection's SELECT order) come
        // first, in that order; JSON objects do not keep their key order.
        let order: Vec<&str> = schema
            .get("x-column-order")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let first = order.iter().filter_map(|n| props.get_key_value(*n));
        let rest = props.iter().filter(|(n, _)| !order.contains(&n.as_str()));
        for (name, prop) in first.chain(rest) {
            if layout.index.contains_key(name) {
                continue;
            }
            layout.index.insert(name.clone(), layout.names.len());
            layout.names.push(name.clone());
            layout.kinds.push(kind_of(prop));
        }
        Ok(layout)
    }

    fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .names
            .iter()
            .zip(&self.kinds)
            .map(|(n, k)| Field::new(n, data_type(*k), true))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// The kind of a field outside the schema, from its first non-null value:
/// numbers become float64 (so that a later non-integral value still fits),
/// objects and arrays JSON text.
fn kind_of_value(v: FieldRef<'_>) -> Kind {
    match v {
        FieldRef::Bool(_) | FieldRef::Value(Value::Bool(_)) => Kind::Bool,
        FieldRef::Int(_) | FieldRef::Value(Value::Number(_)) => Kind::Float,
        FieldRef::Str(_) | FieldRef::Value(Value::String(_)) => Kind::Str,
        // Objects, arrays (as text or decoded), null.
        _ => Kind::Json,
    }
}

struct Builder {
    layout: Layout,
    cols: Vec<Col>,
    rows: usize,
    done: Vec<RecordBatch>,
    /// Fold fields outside the schema into this column (JSON object text)
    /// instead of adding a column per field: a fixed schema (Spark).
    extra: Option<usize>,
    /// The column of the previous record's field at each position. Records
    /// are sorted maps with mostly the same fields, so one string comparison
    /// usually finds a field's column (a name lookup per column per row was
    /// the largest cost of building Arrow).
    by_position: Vec<usize>,
    /// The row number (`stamp`) each column last got a value in; columns
    /// without the current stamp get a null.
    filled: Vec<u64>,
    stamp: u64,
    /// Kept between appends for its buffers.
    lines: LineReader,
}

impl Builder {
    fn new(mut layout: Layout, extra_column: Option<&str>) -> Builder {
        let extra = extra_column.map(|name| {
            let i = layout.names.len();
            layout.index.insert(name.to_string(), i);
            layout.names.push(name.to_string());
            layout.kinds.push(Kind::Json);
            i
        });
        let cols = layout.kinds.iter().map(|k| Col::new(*k)).collect();
        let filled = vec![0; layout.names.len()];
        Builder {
            layout,
            cols,
            rows: 0,
            done: Vec::new(),
            extra,
            by_position: Vec::new(),
            filled,
            stamp: 0,
            lines: LineReader::keeping_json(),
        }
    }

    /// The column of field `k` at position `pos` of a record; `None` for a
    /// field outside the layout (its column is added by the caller).
    fn column_of(&mut self, pos: usize, k: &str) -> Option<usize> {
        if let Some(&i) = self.by_position.get(pos)
            && self.layout.names[i] == k
        {
            return Some(i);
        }
        let i = *self.layout.index.get(k)?;
        if pos < self.by_position.len() {
            self.by_position[pos] = i;
        } else if pos == self.by_position.len() && pos < 1024 {
            self.by_position.push(i);
        }
        Some(i)
    }

    /// A column of `kind` for a field outside the layout, null for the rows
    /// before.
    fn add_column(&mut self, k: &str, kind: Kind) -> usize {
        let mut col = Col::new(kind);
        for _ in 0..self.rows {
            col.push(kind, FieldRef::Null);
        }
        let i = self.layout.names.len();
        self.layout.index.insert(k.to_string(), i);
        self.layout.names.push(k.to_string());
        self.layout.kinds.push(kind);
        self.cols.push(col);
        self.filled.push(0);
        i
    }

    /// Appends one row per NDJSON line (a line that is not a JSON object
    /// adds none, as `RecordBatch::records` leaves it out).
    fn append<'a>(&mut self, lines: impl Iterator<Item = &'a str>) -> Result<(), ArrowError> {
        let mut reader = std::mem::take(&mut self.lines);
        let mut result = Ok(());
        for line in lines {
            reader.read(line, |fields| {
                if let Some(fields) = fields {
                    self.append_row(fields);
                }
            });
            if self.rows >= ROWS_PER_BATCH
                && let Err(e) = self.flush()
            {
                result = Err(e);
                break;
            }
        }
        self.lines = reader;
        result
    }

    fn append_row(&mut self, line: &Line<'_>) {
        // Each field's value goes straight to its column, in the line's
        // own order; the columns it lacks get nulls after.
        self.stamp += 1;
        match self.extra {
            Some(extra) => self.append_folding(line, extra),
            None => self.append_typed(line),
        }
        for (i, col) in self.cols.iter_mut().enumerate() {
            if self.filled[i] != self.stamp {
                col.push(self.layout.kinds[i], FieldRef::Null);
            }
        }
        self.rows += 1;
    }

    /// A row whose fields outside the layout get columns of their own and
    /// whose values contradicting their column go to `_rejected`.
    fn append_typed(&mut self, line: &Line<'_>) {
        let mut rejected = serde_json::Map::new();
        for (pos, (k, v)) in line.fields().enumerate() {
            let i = match self.column_of(pos, k) {
                Some(i) => i,
                // A null field never seen before adds no column.
                None if v.is_null() => continue,
                None => self.add_column(k, kind_of_value(v)),
            };
            if !self.cols[i].push(self.layout.kinds[i], v) {
                rejected.insert(k.to_string(), v.to_value());
            }
            self.filled[i] = self.stamp;
        }
        if !rejected.is_empty() {
            let text = Value::Object(rejected);
            let i = match self.layout.index.get(REJECTED_COLUMN) {
                Some(&i) => i,
                None => self.add_column(REJECTED_COLUMN, Kind::Json),
            };
            self.cols[i].push(self.layout.kinds[i], FieldRef::Value(&text));
            self.filled[i] = self.stamp;
        }
    }

    /// A row whose non-null fields outside the schema (and values that
    /// contradict their column) go to the `extra` column as one JSON
    /// object, under their own names (null when there are none).
    fn append_folding(&mut self, line: &Line<'_>, extra: usize) {
        let mut folded = serde_json::Map::new();
        for (pos, (k, v)) in line.fields().enumerate() {
            match self.column_of(pos, k) {
                Some(i) if i != extra => {
                    if !self.cols[i].push(self.layout.kinds[i], v) {
                        folded.insert(k.to_string(), v.to_value());
                    }
                    self.filled[i] = self.stamp;
                }
                // Outside the schema, or named like the extra column.
                _ if !v.is_null() => {
                    folded.insert(k.to_string(), v.to_value());
                }
                _ => {}
            }
        }
        let folded = (!folded.is_empty()).then_some(Value::Object(folded));
        let value = folded.as_ref().map_or(FieldRef::Null, FieldRef::Value);
        self.cols[extra].push(self.layout.kinds[extra], value);
        self.filled[extra] = self.stamp;
    }

    fn flush(&mut self) -> Result<(), ArrowError> {
        if self.rows == 0 {
            return Ok(());
        }
        let batch = self.take()?;
        self.done.push(batch);
        Ok(())
    }

    fn take(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.layout.schema(), columns)
    }

    /// Every batch so far, all with the final schema (earlier batches get
    /// null columns for fields first seen later).
    fn finish(&mut self) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
        self.flush()?;
        let schema = self.layout.schema();
        let batches = std::mem::take(&mut self.done)
            .into_iter()
            .map(|b| {
                if b.num_columns() == schema.fields().len() {
                    return Ok(b);
                }
                let mut columns = b.columns().to_vec();
                for f in &schema.fields()[b.num_columns()..] {
                    columns.push(new_null_array(f.data_type(), b.num_rows()));
                }
                RecordBatch::try_new(schema.clone(), columns)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((schema, batches))
    }
}

fn arrow_err(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("arrow: {e}"))
}

/// Accumulates `Batch`es of one stream into Arrow record batches.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct ArrowBuilder {
    inner: Mutex<Builder>,
}

impl ArrowBuilder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Builder> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl ArrowBuilder {
    /// `extra_column`: fold every field outside the schema into this one
    /// column (JSON object text, null when a row has none), so that the
    /// schema never changes; without it each such field gets its own column.
    #[new]
    #[pyo3(signature = (json_schema, extra_column=None))]
    fn new(json_schema: &str, extra_column: Option<&str>) -> PyResult<Self> {
        let schema: Value = serde_json::from_str(json_schema)
            .map_err(|e| PyValueError::new_err(format!("json_schema is not JSON: {e}")))?;
        let layout = Layout::from_json_schema(&schema)?;
        if let Some(name) = extra_column
            && layout.index.contains_key(name)
        {
            return Err(PyValueError::new_err(format!(
                "extra_column {name:?} is a property of the schema already"
            )));
        }
        Ok(ArrowBuilder {
            inner: Mutex::new(Builder::new(layout, extra_column)),
        })
    }

    /// Appends a batch's records (without the GIL).
    fn append(&self, py: Python<'_>, batch: &Bound<'_, Batch>) -> PyResult<()> {
        let b: &Batch = batch.get();
        py.detach(|| self.lock().append(b.batch.lines()))
            .map_err(arrow_err)
    }

    /// Rows appended so far.
    #[getter]
    fn num_rows(&self) -> usize {
        let b = self.lock();
        b.done.iter().map(RecordBatch::num_rows).sum::<usize>() + b.rows
    }

    /// The rows appended since the last `flush_batch`/`finish` as one record batch.
    fn flush_batch(&self, py: Python<'_>) -> PyResult<ArrowBatch> {
        let batch = py.detach(|| self.lock().take()).map_err(arrow_err)?;
        Ok(ArrowBatch { batch })
    }

    /// Everything appended, as a table; the builder starts over empty.
    fn finish(&self, py: Python<'_>) -> PyResult<ArrowTable> {
        let (schema, batches) = py.detach(|| self.lock().finish()).map_err(arrow_err)?;
        Ok(ArrowTable { schema, batches })
    }
}

fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema).map_err(arrow_err)?;
    PyCapsule::new_with_value(py, ffi, c"arrow_schema")
}

/// One Arrow record batch (`__arrow_c_array__`: a struct array of the columns).
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct ArrowBatch {
    batch: RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, self.batch.schema().as_ref())
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // producers may ignore it (the interface allows that)
        let data = StructArray::from(self.batch.clone()).into_data();
        let (array, schema): (FFI_ArrowArray, FFI_ArrowSchema) =
            to_ffi(&data).map_err(arrow_err)?;
        let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
        let array = PyCapsule::new_with_value(py, array, c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }
}

/// A whole table (`__arrow_c_stream__`), built in Rust; read it with
/// `pyarrow.table(t)`, `polars.DataFrame(t)` or any PyCapsule-aware library.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct ArrowTable {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl ArrowTable {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    #[getter]
    fn num_batches(&self) -> usize {
        self.batches.len()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    fn __repr__(&self) -> String {
        format!(
            "ArrowTable(columns={}, rows={}, batches={})",
            self.schema.fields().len(),
            self.num_rows(),
            self.batches.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::tricky_lines;
    use serde_json::json;

    /// A schema with a column of every kind for the fields of `tricky_lines`
    /// (some of them left out, to get columns of their own).
    fn tricky_schema() -> Layout {
        let schema = json!({"properties": {
            "a": {"type": ["null", "object"]},
            "b": {"type": ["null", "boolean"]},
            "c": {"type": ["null", "integer"]},
            "createdAt": {"type": ["null", "string"], "format": "date-time"},
            "d": {"type": ["null", "string"]},
            "e": {"type": ["null", "string"]},
            "f": {"type": ["null", "number"]},
            "g": {"type": ["null", "object"]},
            "i": {"type": ["null", "boolean"]},
            "id": {"type": ["null", "integer"]},
            "j": {"type": ["null", "integer"]},
            "k": {"type": ["null", "number"]},
            "l": {"type": ["null", "integer"]},
            "m": {"type": ["null", "string"], "format": "date-time"},
            "n": {"type": ["null", "number"]},
            "x": {"type": ["null", "string"]},
            "y": {"type": ["null", "array"]},
            "z": {"type": ["null", "boolean"]},
        }});
        Layout::from_json_schema(&schema).expect("a schema")
    }

    /// The table built from `lines` read by `reader`, in batches of 3 lines
    /// (so that columns added later are filled in for earlier batches).
    fn build(lines: &[String], extra: Option<&str>, reader: LineReader) -> Vec<RecordBatch> {
        let mut b = Builder::new(tricky_schema(), extra);
        b.lines = reader;
        for chunk in lines.chunks(3) {
            b.append(chunk.iter().map(String::as_str))
                .expect("appended");
            b.flush().expect("flushed");
        }
        b.finish().expect("finished").1
    }

    #[test]
    fn reading_lines_builds_what_decoding_them_builds() {
        let lines = tricky_lines();
        for extra in [None, Some("_extra")] {
            let slow = build(&lines, extra, LineReader::decoding());
            let fast = build(&lines, extra, LineReader::keeping_json());
            assert_eq!(fast, slow, "extra column {extra:?}");
            let decoding_json = build(&lines, extra, LineReader::default());
            assert_eq!(decoding_json, slow, "extra column {extra:?}");
            let rows: usize = fast.iter().map(RecordBatch::num_rows).sum();
            // Every line but the array.
            assert_eq!(rows, lines.len() - 1);
        }
    }

    #[test]
    fn values_land_in_their_columns() {
        let lines = [
            r#"{"c":"12","createdAt":"2025-01-02T03:04:05.678Z","d":3,"f":"1.5","id":"x","new":true,"y":"s"}"#,
            r#"{"a":"q\"","c":1.0,"d":true,"f":-4,"id":null,"x":{"k":[1]},"zz":1}"#,
        ]
        .map(String::from);
        let batches = build(&lines, None, LineReader::keeping_json());
        assert_eq!(batches.len(), 1);
        let table = &batches[0];
        let text = |name: &str| -> Vec<Option<String>> {
            let col = table.column_by_name(name).expect(name);
            let col = col
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("text");
            col.iter().map(|v| v.map(String::from)).collect()
        };
        assert_eq!(text("d"), [Some("3".into()), Some("true".into())]);
        assert_eq!(text("x"), [None, Some(r#"{"k":[1]}"#.into())]);
        assert_eq!(text("y"), [Some(r#""s""#.into()), None]);
        assert_eq!(text("a"), [None, Some(r#""q\"""#.into())]);
        assert_eq!(text(REJECTED_COLUMN), [Some(r#"{"id":"x"}"#.into()), None]);
        let ints = table.column_by_name("c").expect("c");
        let ints = ints
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .expect("int64");
        assert_eq!(ints.iter().collect::<Vec<_>>(), [Some(12), Some(1)]);
        let floats = table.column_by_name("f").expect("f");
        let floats = floats
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .expect("float64");
        assert_eq!(floats.iter().collect::<Vec<_>>(), [Some(1.5), Some(-4.0)]);
        let stamps = table.column_by_name("createdAt").expect("createdAt");
        let stamps = stamps
            .as_any()
            .downcast_ref::<arrow_array::TimestampMillisecondArray>()
            .expect("timestamps");
        assert_eq!(stamps.value(0), 1_735_787_045_678);
        assert!(stamps.is_null(1));
        // Fields outside the schema: typed by their first value.
        assert_eq!(
            table
                .schema()
                .field_with_name("new")
                .expect("new")
                .data_type(),
            &DataType::Boolean
        );
        assert_eq!(
            table
                .schema()
                .field_with_name("zz")
                .expect("zz")
                .data_type(),
            &DataType::Float64
        );
    }

    #[test]
    fn kinds_follow_the_schema() {
        assert_eq!(
            kind_of(&json!({"type": ["null", "string"], "format": "date-time"})),
            Kind::Timestamp
        );
        assert_eq!(kind_of(&json!({"type": "string"})), Kind::Str);
        assert_eq!(kind_of(&json!({"type": ["null", "integer"]})), Kind::Int);
        assert_eq!(kind_of(&json!({"type": ["null", "object"]})), Kind::Json);
        assert_eq!(kind_of(&json!({})), Kind::Json);
    }
}
