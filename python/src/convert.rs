//! JSON values and errors crossing into Python.

use connector_core::{ConnectorError, ErrorKind};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use rustc_hash::FxHashMap;
use serde_json::{Map, Number, Value};

use crate::canonical::MAX_DEPTH as TEXT_MAX_DEPTH;
use crate::lines::{FieldRef, Line};
use crate::text_cursor::Cursor;

/// Interns object keys while converting many records: records of one stream
/// share their field names, so each name becomes one Python string.
///
/// Records are sorted maps with mostly the same fields, so the key at
/// position `i` of a record is nearly always the key at position `i` of the
/// previous one: one string comparison finds it, and the hash map (SipHash
/// of every key, the largest per-field cost before) is the fallback.
#[derive(Default)]
pub(crate) struct KeyCache<'py> {
    keys: FxHashMap<String, Bound<'py, PyString>>,
    /// The previous top-level record's keys by position.
    by_position: Vec<(String, Bound<'py, PyString>)>,
}

impl<'py> KeyCache<'py> {
    fn key(&mut self, py: Python<'py>, k: &str) -> Bound<'py, PyString> {
        if let Some(s) = self.keys.get(k) {
            return s.clone();
        }
        let s = PyString::intern(py, k);
        if self.keys.len() < 4096 {
            self.keys.insert(k.to_string(), s.clone());
        }
        s
    }

    /// The key at `pos` of a top-level record.
    fn key_at(&mut self, py: Python<'py>, pos: usize, k: &str) -> Bound<'py, PyString> {
        if let Some((name, s)) = self.by_position.get(pos)
            && name == k
        {
            return s.clone();
        }
        let s = self.key(py, k);
        if pos < self.by_position.len() {
            self.by_position[pos] = (k.to_string(), s.clone());
        } else if pos == self.by_position.len() && pos < 1024 {
            self.by_position.push((k.to_string(), s.clone()));
        }
        s
    }
}

pub(crate) fn value_to_py<'py>(
    py: Python<'py>,
    v: &Value,
    keys: &mut KeyCache<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_py(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item, keys)?)?;
            }
            list.into_any()
        }
        Value::Object(obj) => object_to_py(py, obj, keys)?.into_any(),
    })
}

fn number_to_py<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    Ok(if let Some(i) = n.as_i64() {
        i.into_pyobject(py)?.into_any()
    } else if let Some(u) = n.as_u64() {
        u.into_pyobject(py)?.into_any()
    } else {
        n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
    })
}

pub(crate) fn object_to_py<'py>(
    py: Python<'py>,
    obj: &Map<String, Value>,
    keys: &mut KeyCache<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in obj {
        dict.set_item(keys.key(py, k), value_to_py(py, v, keys)?)?;
    }
    Ok(dict)
}

/// A batch line as a dict, its keys found by position (see [`KeyCache`]).
pub(crate) fn line_to_py<'py>(
    py: Python<'py>,
    line: &Line<'_>,
    keys: &mut KeyCache<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (pos, (k, v)) in line.fields().enumerate() {
        dict.set_item(keys.key_at(py, pos, k), field_to_py(py, v, keys)?)?;
    }
    Ok(dict)
}

/// A top-level field's value: the scalars as read (what `value_to_py` makes
/// of them decoded), anything else through `value_to_py`.
fn field_to_py<'py>(
    py: Python<'py>,
    v: FieldRef<'_>,
    keys: &mut KeyCache<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        FieldRef::Null => py.None().into_bound(py),
        FieldRef::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        FieldRef::Int(n) => n.into_pyobject(py)?.into_any(),
        FieldRef::Str(s) => PyString::new(py, s).into_any(),
        FieldRef::Value(v) => value_to_py(py, v, keys)?,
        FieldRef::Json(text) => match TextToPy::new(py, text, keys).whole()? {
            Some(v) => v,
            None => value_to_py(py, &crate::lines::decode(text), keys)?,
        },
    })
}

/// Python objects straight from an object's or array's JSON text, without
/// building its `Value`, when the text is in the subset whose objects come
/// out as decoding would make them: keys strictly increasing (a decoded map
/// iterates in key order and keeps one of a repeated key), strings without
/// escapes, nesting at most `TEXT_MAX_DEPTH`; numbers are read by serde_json.
/// `Ok(None)` for any other text (the caller decodes it).
struct TextToPy<'a, 'k, 'py> {
    py: Python<'py>,
    c: Cursor<'a>,
    keys: &'k mut KeyCache<'py>,
    /// Objects and arrays open around the cursor.
    depth: usize,
}

type Built<'py> = PyResult<Option<Bound<'py, PyAny>>>;

impl<'a, 'k, 'py> TextToPy<'a, 'k, 'py> {
    fn new(py: Python<'py>, text: &'a str, keys: &'k mut KeyCache<'py>) -> Self {
        TextToPy {
            py,
            c: Cursor::new(text),
            keys,
            depth: 0,
        }
    }

    fn whole(mut self) -> Built<'py> {
        let v = self.value()?;
        Ok(v.filter(|_| self.c.at_end()))
    }

    fn value(&mut self) -> Built<'py> {
        let py = self.py;
        Ok(Some(match self.c.peek() {
            Some(b'{' | b'[') if self.depth >= TEXT_MAX_DEPTH => return Ok(None),
            Some(b'{') => return self.nested(Self::object),
            Some(b'[') => return self.nested(Self::array),
            Some(b'"') => match self.c.plain_string() {
                Some(s) => PyString::new(py, s).into_any(),
                None => return Ok(None),
            },
            Some(b't') if self.c.word("true") => PyBool::new(py, true).to_owned().into_any(),
            Some(b'f') if self.c.word("false") => PyBool::new(py, false).to_owned().into_any(),
            Some(b'n') if self.c.word("null") => py.None().into_bound(py),
            Some(b'-' | b'0'..=b'9') => match self.number() {
                Some(n) => number_to_py(py, &n)?,
                None => return Ok(None),
            },
            _ => return Ok(None),
        }))
    }

    fn nested(&mut self, read: fn(&mut Self) -> Built<'py>) -> Built<'py> {
        self.depth += 1;
        let built = read(self);
        self.depth -= 1;
        built
    }

    fn object(&mut self) -> Built<'py> {
        self.c.eat(b'{');
        let dict = PyDict::new(self.py);
        if self.c.eat(b'}') {
            return Ok(Some(dict.into_any()));
        }
        let mut previous: Option<&str> = None;
        loop {
            let Some(k) = self.c.plain_string() else {
                return Ok(None);
            };
            if previous.is_some_and(|p| p >= k) {
                return Ok(None);
            }
            previous = Some(k);
            let key = self.keys.key(self.py, k);
            if !self.c.eat(b':') {
                return Ok(None);
            }
            let Some(v) = self.value()? else {
                return Ok(None);
            };
            dict.set_item(key, v)?;
            if self.c.eat(b'}') {
                return Ok(Some(dict.into_any()));
            }
            if !self.c.eat(b',') {
                return Ok(None);
            }
        }
    }

    fn array(&mut self) -> Built<'py> {
        self.c.eat(b'[');
        let list = PyList::empty(self.py);
        if self.c.eat(b']') {
            return Ok(Some(list.into_any()));
        }
        loop {
            let Some(v) = self.value()? else {
                return Ok(None);
            };
            list.append(v)?;
            if self.c.eat(b']') {
                return Ok(Some(list.into_any()));
            }
            if !self.c.eat(b',') {
                return Ok(None);
            }
        }
    }

    /// A number as serde_json reads it (integer or float as it decides).
    fn number(&mut self) -> Option<Number> {
        serde_json::from_str(self.c.number_text()?).ok()
    }
}

/// A JSON value as plain Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    value_to_py(py, v, &mut KeyCache::default())
}

/// Python objects that are not JSON types but have one obvious JSON form.
pub(crate) struct FromPy<'py> {
    datetime: Bound<'py, PyAny>,
    date: Bound<'py, PyAny>,
    time: Bound<'py, PyAny>,
    utc: Bound<'py, PyAny>,
    mapping: Bound<'py, PyAny>,
    decimal: Option<Bound<'py, PyAny>>,
}

/// Deeper nesting than this is refused (as serde_json refuses to parse it).
const MAX_DEPTH: usize = 128;

impl<'py> FromPy<'py> {
    pub(crate) fn new(py: Python<'py>) -> PyResult<Self> {
        let dt = py.import("datetime")?;
        let abc = py.import("collections.abc")?;
        let decimal = py
            .import("decimal")
            .ok()
            .and_then(|m| m.getattr("Decimal").ok());
        Ok(FromPy {
            datetime: dt.getattr("datetime")?,
            date: dt.getattr("date")?,
            time: dt.getattr("time")?,
            utc: dt.getattr("timezone")?.getattr("utc")?,
            mapping: abc.getattr("Mapping")?,
            decimal,
        })
    }

    /// A Python value as JSON without going through JSON text.
    ///
    /// `None`, `bool`, `int`, `float`, `str`, dicts (any `Mapping` with
    /// string keys), lists and tuples map as `json.dumps` maps them;
    /// `datetime` becomes ISO 8601 in UTC with a `Z` (a naive one is taken
    /// as UTC), `date` and `time` their ISO text, `Decimal` a number; NaN
    /// and infinities become null (JSON has no such numbers); numpy-style
    /// scalars and arrays (anything with `.tolist()` and `.dtype`) their
    /// Python value. Anything else is a `TypeError` naming the field.
    /// `path` names the value in errors.
    pub(crate) fn value(&self, v: &Bound<'py, PyAny>, path: &mut Vec<String>) -> PyResult<Value> {
        if path.len() > MAX_DEPTH {
            return Err(PyValueError::new_err(format!(
                "{}: nested deeper than {MAX_DEPTH} levels",
                show(path)
            )));
        }
        if v.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(b) = v.cast::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
        if let Ok(s) = v.cast::<PyString>() {
            return Ok(Value::String(s.to_str()?.to_string()));
        }
        if let Ok(i) = v.cast::<PyInt>() {
            if let Ok(n) = i.extract::<i64>() {
                return Ok(Value::from(n));
            }
            if let Ok(n) = i.extract::<u64>() {
                return Ok(Value::from(n));
            }
            return Err(PyValueError::new_err(format!(
                "{}: the integer {i} does not fit in 64 bits",
                show(path)
            )));
        }
        if let Ok(f) = v.cast::<PyFloat>() {
            return Ok(Number::from_f64(f.value()).map_or(Value::Null, Value::Number));
        }
        if let Ok(d) = v.cast::<PyDict>() {
            return self.object(d.iter(), path);
        }
        if let Ok(l) = v.cast::<PyList>() {
            return self.array(l.iter(), path);
        }
        if let Ok(t) = v.cast::<PyTuple>() {
            return self.array(t.iter(), path);
        }
        if v.is_instance(&self.datetime)? {
            let v = if v.getattr("tzinfo")?.is_none() {
                let kw = PyDict::new(v.py());
                kw.set_item("tzinfo", &self.utc)?;
                v.call_method("replace", (), Some(&kw))?
            } else {
                v.clone()
            };
            let text: String = v
                .call_method1("astimezone", (&self.utc,))?
                .call_method0("isoformat")?
                .extract()?;
            let text = match text.strip_suffix("+00:00") {
                Some(t) => format!("{t}Z"),
                None => text,
            };
            return Ok(Value::String(text));
        }
        if v.is_instance(&self.date)? || v.is_instance(&self.time)? {
            return Ok(Value::String(v.call_method0("isoformat")?.extract()?));
        }
        if let Some(dec) = &self.decimal
            && v.is_instance(dec)?
        {
            let f: f64 = v.call_method0("__float__")?.extract()?;
            return Ok(Number::from_f64(f).map_or(Value::Null, Value::Number));
        }
        if v.is_instance(&self.mapping)? {
            let items = v.call_method0("items")?;
            let mut pairs = Vec::new();
            for item in items.try_iter()? {
                let (k, val): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item?.extract()?;
                pairs.push((k, val));
            }
            return self.object(pairs.into_iter(), path);
        }
        if v.hasattr("tolist")? && v.hasattr("dtype")? {
            // A numpy scalar or array: its Python value.
            let inner = v.call_method0("tolist")?;
            if !inner.is(v) {
                path.push(String::new());
                let value = self.value(&inner, path);
                path.pop();
                return value;
            }
        }
        Err(PyTypeError::new_err(format!(
            "{}: a value of type {} cannot be written; give str, int, float, bool, None, \
             datetime, date, dict or list values",
            show(path),
            v.get_type().name()?
        )))
    }

    fn object(
        &self,
        items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        path: &mut Vec<String>,
    ) -> PyResult<Value> {
        let mut map = Map::new();
        for (k, val) in items {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_str()?.to_string(),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "{}: keys must be strings, not {}",
                        show(path),
                        k.get_type().name()?
                    )));
                }
            };
            path.push(key.clone());
            let value = self.value(&val, path);
            path.pop();
            map.insert(key, value?);
        }
        Ok(Value::Object(map))
    }

    fn array(
        &self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        path: &mut Vec<String>,
    ) -> PyResult<Value> {
        let mut out = Vec::new();
        for (i, item) in items.enumerate() {
            path.push(i.to_string());
            let value = self.value(&item, path);
            path.pop();
            out.push(value?);
        }
        Ok(Value::Array(out))
    }
}

/// `rows[3].dataFields.plan`; a long path keeps its two ends.
fn show(path: &[String]) -> String {
    let parts: Vec<&str> = path
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    match parts.len() {
        0 => "value".to_string(),
        n if n > 8 => format!("{}...{}", parts[..4].join("."), parts[n - 3..].join(".")),
        _ => parts.join("."),
    }
}

pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value, ConnectorError> {
    serde_json::from_str(text)
        .map_err(|e| ConnectorError::config(what, format!("is not valid JSON: {e}")))
}

/// The Python exception class (in `iterable_connector.errors`) for each kind.
/// Exhaustive: a kind the core adds fails this build until Python maps it.
pub(crate) fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidConfig => "ConfigError",
        ErrorKind::InvalidInput => "InputError",
        ErrorKind::Unauthorized | ErrorKind::Forbidden => "AuthError",
        ErrorKind::RateLimited => "RateLimitError",
        ErrorKind::Upstream => "IterableAPIError",
        ErrorKind::MalformedResponse => "MalformedResponseError",
        ErrorKind::ProtocolMisuse => "ProtocolMisuseError",
        ErrorKind::Internal => "IterableConnectorError",
    }
}

/// The typed Python exception (from `iterable_connector.errors`) for an error.
pub(crate) fn to_py_err(py: Python<'_>, e: ConnectorError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = py.import("iterable_connector.errors")?;
        let cls = module.getattr(class_name(e.kind))?;
        let kw = PyDict::new(py);
        kw.set_item("kind", e.kind.as_str())?;
        kw.set_item("field", e.field.as_deref())?;
        kw.set_item("stream", e.stream.as_deref())?;
        kw.set_item("status", e.status)?;
        kw.set_item("code", e.code.as_deref())?;
        kw.set_item("retryable", e.retryable)?;
        kw.set_item("retry_after_ms", e.retry_after_ms)?;
        let exc = cls.call((e.to_string(),), Some(&kw))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

pub(crate) trait IntoPyResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, ConnectorError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e))
    }
}

/// A transport failure as the Python drivers name it: "connect",
/// "timeout", "body_cut" or "other" (one parser for every session class).
pub(crate) fn transport_kind(kind: &str) -> PyResult<connector_core::TransportErrorKind> {
    use connector_core::TransportErrorKind as K;
    Ok(match kind {
        "connect" => K::Connect,
        "timeout" => K::Timeout,
        "body_cut" => K::BodyCut,
        "other" => K::Other,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown transport error kind {other:?} (connect|timeout|body_cut|other)"
            )));
        }
    })
}
