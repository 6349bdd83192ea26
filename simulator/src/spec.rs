//! Request validation against Iterable's own OpenAPI (Swagger 2.0) document.
//!
//! Where the spec comes from: `simulator/spec/iterable-openapi.json` is a
//! byte-identical copy of Iterable's published description ("Iterable API",
//! version 1.8), `api-docs.json` in Iterable's own client repository
//! `Iterable/api-client` (MIT; HEAD `981eeb5`, file last changed in `89d123b`,
//! Mar 2026). Never edit it by hand: replace it with a newer upstream copy.
//!
//! It is compiled in, never hand-copied into code, so the simulator rejects
//! exactly what the published contract says is wrong (plus the documented
//! leniencies: case-insensitive enums and `anonSession` for
//! `unknownSession`). The API is public because connector tests reuse it to
//! check every request they plan.

mod datetime;

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

pub use datetime::parse_datetime;

use crate::types::ApiResponse;

const SPEC_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/spec/iterable-openapi.json"
));

/// Enum aliases the spec does not list but Iterable accepts (the api-client
/// uses `anonSession` where the spec says `unknownSession`).
const ENUM_ALIASES: &[(&str, &str)] = &[("anonSession", "unknownSession")];

/// The parsed spec: every path template with its operations.
pub struct Spec {
    paths: Vec<PathEntry>,
}

struct PathEntry {
    template: String,
    segments: Vec<Segment>,
    operations: Vec<Operation>,
}

enum Segment {
    Literal(String),
    Param(String),
}

struct Operation {
    method: String,
    operation_id: Option<String>,
    params: Vec<Param>,
    body: Option<BodySpec>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Location {
    Query,
    Path,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer { int32: bool },
    Number,
    Boolean,
    Date,
    Text,
}

struct Param {
    name: String,
    location: Location,
    required: bool,
    allow_empty: bool,
    kind: Kind,
    enum_values: Option<Vec<String>>,
}

struct BodySpec {
    required: bool,
    /// Top-level required properties of the (resolved) schema.
    required_props: Vec<String>,
}

/// The operation a request matched, with its parameters decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedOperation {
    /// Upper-case HTTP method.
    pub method: String,
    /// The spec's path template, e.g. `/api/catalogs/{catalogName}/items`.
    pub template: String,
    pub operation_id: Option<String>,
    /// Path parameters by template name.
    pub path_params: Vec<(String, String)>,
    /// The query with enum values rewritten to the spec's spelling (so
    /// handlers see `emailUnSubscribe` even when the client sent
    /// `emailUnsubscribe`). Unknown parameters are kept as sent.
    pub query: Vec<(String, String)>,
}

/// Why a request is invalid. `Display` says what is wrong in words a
/// developer can act on; [`Violation::to_response`] renders Iterable's
/// error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// No path template matches, or none with this method.
    NotFound { method: String, path: String },
    /// A required query or path parameter is absent or empty.
    MissingParam { name: String },
    /// A value outside the parameter's enum.
    BadEnum {
        name: String,
        value: String,
        allowed: Vec<String>,
    },
    /// A non-integer value for an integer parameter.
    BadInteger { name: String, value: String },
    /// A non-boolean value for a boolean parameter.
    BadBoolean { name: String, value: String },
    /// A non-number value for a number parameter.
    BadNumber { name: String, value: String },
    /// A date/time parameter in no accepted layout.
    BadDate { name: String, value: String },
    /// Required body missing, not JSON, or not an object.
    BadJsonBody { reason: String },
    /// A required top-level property of the JSON body is missing or null.
    MissingBodyProperty { name: String },
}

impl Violation {
    pub fn status(&self) -> u16 {
        match self {
            Violation::NotFound { .. } => 404,
            _ => 400,
        }
    }

    /// Iterable's error `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::NotFound { .. } => "NotFound",
            Violation::BadJsonBody { .. } => "BadJsonBody",
            _ => "BadParams",
        }
    }

    /// The error envelope Iterable would send.
    pub fn to_response(&self) -> ApiResponse {
        ApiResponse::error(self.status(), self.code(), self.to_string())
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NotFound { method, path } => {
                write!(f, "No endpoint matches {method} {path}")
            }
            Violation::MissingParam { name } => {
                write!(f, "Missing required parameter: {name}")
            }
            Violation::BadEnum {
                name,
                value,
                allowed,
            } => write!(
                f,
                "Invalid value for parameter {name}: '{value}'. Allowed values: {}",
                allowed.join(", ")
            ),
            Violation::BadInteger { name, value } => {
                write!(f, "Parameter {name} must be an integer, got '{value}'")
            }
            Violation::BadBoolean { name, value } => {
                write!(f, "Parameter {name} must be true or false, got '{value}'")
            }
            Violation::BadNumber { name, value } => {
                write!(f, "Parameter {name} must be a number, got '{value}'")
            }
            Violation::BadDate { name, value } => write!(
                f,
                "Parameter {name} is not a valid date: '{value}' \
                 (expected yyyy-MM-dd HH:mm:ss [ZZ], ISO 8601 or yyyy-MM-dd)"
            ),
            Violation::BadJsonBody { reason } => write!(f, "Invalid JSON body: {reason}"),
            Violation::MissingBodyProperty { name } => {
                write!(f, "Missing required body field: {name}")
            }
        }
    }
}

impl std::error::Error for Violation {}

impl Spec {
    /// The compiled-in spec, parsed once per process.
    pub fn load() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let doc: Value = serde_json::from_str(SPEC_JSON).expect("iterable-openapi.json");
            Spec::from_document(&doc)
        })
    }

    fn from_document(doc: &Value) -> Spec {
        let definitions = doc.get("definitions").cloned().unwrap_or(Value::Null);
        let mut paths = Vec::new();
        for (template, item) in doc["paths"].as_object().into_iter().flatten() {
            let shared: Vec<&Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let mut operations = Vec::new();
            for (method, op) in item.as_object().into_iter().flatten() {
                if method == "parameters" {
                    continue;
                }
                let raw: Vec<&Value> = shared
                    .iter()
                    .copied()
                    .chain(
                        op.get("parameters")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten(),
                    )
                    .collect();
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    operation_id: op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map(String::from),
                    params: raw.iter().filter_map(|p| parse_param(p)).collect(),
                    body: raw
                        .iter()
                        .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))
                        .map(|p| parse_body(p, &definitions)),
                });
            }
            paths.push(PathEntry {
                segments: split(template)
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_string()),
                            None => Segment::Literal(s.to_string()),
                        },
                    )
                    .collect(),
                template: template.clone(),
                operations,
            });
        }
        Spec { paths }
    }

    /// Every `(METHOD, template)` in the spec, for coverage checks.
    pub fn operations(&self) -> Vec<(String, String)> {
        self.paths
            .iter()
            .flat_map(|p| {
                p.operations
                    .iter()
                    .map(|o| (o.method.clone(), p.template.clone()))
            })
            .collect()
    }

    /// Validates a whole request: path and method, query and path
    /// parameters, and the JSON body. `path` is the decoded path without
    /// query; `query` the decoded pairs.
    pub fn validate(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<MatchedOperation, Violation> {
        let matched = self.match_route(method, path)?;
        self.check_params(matched, query, body)
    }

    /// [`Spec::validate`] for a request target as a client builds it: a
    /// full URL (`http://host/api/...?a=1`) or a path with query. The path
    /// and query are percent-decoded as the server decodes them.
    pub fn validate_target(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
    ) -> Result<MatchedOperation, Violation> {
        let without_scheme = target.split_once("://").map_or(target, |(_, rest)| {
            rest.find('/').map_or("/", |i| &rest[i..])
        });
        let (path, query) = without_scheme
            .split_once('?')
            .unwrap_or((without_scheme, ""));
        self.validate(
            method,
            &crate::server::percent_decode_path(path),
            &crate::server::parse_query(query),
            body,
        )
    }

    /// First half of [`Spec::validate`]: finds the operation (404 when
    /// none). The server rate-limits between the halves, as Iterable counts
    /// a request against an endpoint before it looks at its parameters.
    pub fn match_route(&self, method: &str, path: &str) -> Result<MatchedOperation, Violation> {
        let method = method.to_ascii_uppercase();
        let segs: Vec<&str> = split(path).collect();
        let mut best: Option<(&PathEntry, Vec<bool>)> = None;
        for entry in &self.paths {
            if entry.segments.len() != segs.len()
                || !entry.operations.iter().any(|o| o.method == method)
            {
                continue;
            }
            let fits = entry.segments.iter().zip(&segs).all(|(t, s)| match t {
                Segment::Literal(l) => l == s,
                Segment::Param(_) => !s.is_empty(),
            });
            if !fits {
                continue;
            }
            // Literal segments beat templates, earliest position first:
            // `/api/users/getFields` wins over `/api/users/{email}`.
            let shape: Vec<bool> = entry
                .segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect();
            if best.as_ref().is_none_or(|(_, b)| shape > *b) {
                best = Some((entry, shape));
            }
        }
        let Some((entry, _)) = best else {
            return Err(Violation::NotFound {
                method,
                path: path.to_string(),
            });
        };
        let op = entry
            .operations
            .iter()
            .find(|o| o.method == method)
            .expect("filtered on method");
        let path_params = entry
            .segments
            .iter()
            .zip(&segs)
            .filter_map(|(t, s)| match t {
                Segment::Param(name) => Some((name.clone(), s.to_string())),
                Segment::Literal(_) => None,
            })
            .collect();
        Ok(MatchedOperation {
            method,
            template: entry.template.clone(),
            operation_id: op.operation_id.clone(),
            path_params,
            query: Vec::new(),
        })
    }

    /// Second half of [`Spec::validate`]: parameters and body of an
    /// operation found by [`Spec::match_route`].
    pub fn check_params(
        &self,
        mut matched: MatchedOperation,
        query: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<MatchedOperation, Violation> {
        let op = self.operation(&matched).expect("matched operation exists");
        let mut query = query.to_vec();
        for param in &op.params {
            match param.location {
                Location::Path => {
                    let value = matched
                        .path_params
                        .iter()
                        .find(|(k, _)| *k == param.name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    check_value(param, &value)?;
                }
                Location::Query => {
                    let mut seen = false;
                    for (k, v) in query.iter_mut().filter(|(k, _)| *k == param.name) {
                        if v.is_empty() && param.allow_empty {
                            seen = true;
                            continue;
                        }
                        if v.is_empty() {
                            continue;
                        }
                        seen = true;
                        if let Some(canonical) = check_value(param, v)? {
                            debug_assert_eq!(k, &param.name);
                            *v = canonical;
                        }
                    }
                    if param.required && !seen {
                        return Err(Violation::MissingParam {
                            name: param.name.clone(),
                        });
                    }
                }
                Location::Other => {}
            }
        }
        if let Some(spec) = &op.body {
            check_body(spec, body.unwrap_or_default())?;
        }
        matched.query = query;
        Ok(matched)
    }

    fn operation(&self, m: &MatchedOperation) -> Option<&Operation> {
        self.paths
            .iter()
            .find(|p| p.template == m.template)?
            .operations
            .iter()
            .find(|o| o.method == m.method)
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn parse_param(p: &Value) -> Option<Param> {
    let location = match p.get("in")?.as_str()? {
        "query" => Location::Query,
        "path" => Location::Path,
        "body" => return None,
        _ => Location::Other,
    };
    let name = p.get("name")?.as_str()?.to_string();
    let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
    // Arrays (`collectionFormat: multi`) repeat the key; each value is
    // checked against the item type.
    let (ty, format, enum_src) = if ty == "array" {
        let items = p.get("items").unwrap_or(&Value::Null);
        (
            items
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string"),
            items.get("format").and_then(Value::as_str),
            items.get("enum"),
        )
    } else {
        (ty, p.get("format").and_then(Value::as_str), p.get("enum"))
    };
    let description = p.get("description").and_then(Value::as_str).unwrap_or("");
    let kind = match ty {
        "integer" => Kind::Integer {
            int32: format == Some("int32"),
        },
        "number" => Kind::Number,
        "boolean" => Kind::Boolean,
        // Dates are typed `string`; the spec marks them by `format:
        // date-time` or only in prose (the export endpoints).
        "string" if is_date(&name, format, description) => Kind::Date,
        _ => Kind::Text,
    };
    Some(Param {
        name,
        location,
        required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
        allow_empty: p
            .get("allowEmptyValue")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        kind,
        enum_values: enum_src.and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        }),
    })
}

fn is_date(name: &str, format: Option<&str>, description: &str) -> bool {
    matches!(format, Some("date-time" | "date"))
        || description.contains("yyyy-MM-dd")
        || description.contains("YYYY-MM-DD")
        || name.ends_with("DateTime")
}

fn parse_body(p: &Value, definitions: &Value) -> BodySpec {
    let mut schema = p.get("schema").unwrap_or(&Value::Null);
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
    {
        // A few refs in the published spec are broken (prose glued to the
        // name); those bodies are checked for JSON only.
        schema = definitions.get(name).unwrap_or(&Value::Null);
    }
    BodySpec {
        required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
        required_props: schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Checks one non-empty value; returns the canonical spelling when an enum
/// matched with a different case or through an alias.
fn check_value(param: &Param, value: &str) -> Result<Option<String>, Violation> {
    let name = || param.name.clone();
    if value.is_empty() {
        return if param.required {
            Err(Violation::MissingParam { name: name() })
        } else {
            Ok(None)
        };
    }
    match param.kind {
        Kind::Integer { int32 } => {
            let ok = if int32 {
                value.parse::<i32>().is_ok()
            } else {
                value.parse::<i64>().is_ok()
            };
            if !ok {
                return Err(Violation::BadInteger {
                    name: name(),
                    value: value.to_string(),
                });
            }
        }
        Kind::Number if value.parse::<f64>().is_err() => {
            return Err(Violation::BadNumber {
                name: name(),
                value: value.to_string(),
            });
        }
        Kind::Boolean if !["true", "false", "1", "0"].contains(&&*value.to_ascii_lowercase()) => {
            return Err(Violation::BadBoolean {
                name: name(),
                value: value.to_string(),
            });
        }
        Kind::Date if parse_datetime(value).is_none() => {
            return Err(Violation::BadDate {
                name: name(),
                value: value.to_string(),
            });
        }
        _ => {}
    }
    let Some(allowed) = &param.enum_values else {
        return Ok(None);
    };
    let wanted = ENUM_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(value))
        .map_or(value, |(_, canonical)| canonical);
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(wanted)) {
        Some(a) if a == value => Ok(None),
        Some(a) => Ok(Some(a.clone())),
        None => Err(Violation::BadEnum {
            name: name(),
            value: value.to_string(),
            allowed: allowed.clone(),
        }),
    }
}

fn check_body(spec: &BodySpec, body: &[u8]) -> Result<(), Violation> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if spec.required {
            Err(Violation::BadJsonBody {
                reason: "a JSON request body is required".into(),
            })
        } else {
            Ok(())
        };
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| Violation::BadJsonBody {
        reason: e.to_string(),
    })?;
    if spec.required_props.is_empty() {
        return Ok(());
    }
    let Some(obj) = value.as_object() else {
        return Err(Violation::BadJsonBody {
            reason: "expected a JSON object".into(),
        });
    };
    for prop in &spec.required_props {
        if obj.get(prop).is_none_or(Value::is_null) {
            return Err(Violation::MissingBodyProperty { name: prop.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<MatchedOperation, Violation> {
        Spec::load().validate(method, path, &q(query), None)
    }

    #[test]
    fn literal_segments_win_over_templates() {
        let m = check("GET", "/api/users/getFields", &[]).unwrap();
        assert_eq!(m.template, "/api/users/getFields");
        let m = check("GET", "/api/users/a@b.c", &[]).unwrap();
        assert_eq!(m.template, "/api/users/{email}");
        assert_eq!(m.path_params, q(&[("email", "a@b.c")]));
        // Another method falls through to the template that has it.
        let m = check("DELETE", "/api/users/getFields", &[]).unwrap();
        assert_eq!(m.template, "/api/users/{email}");
        let m = check("GET", "/api/catalogs/c1/items/i9", &[]).unwrap();
        assert_eq!(m.template, "/api/catalogs/{catalogName}/items/{itemId}");
    }

    #[test]
    fn unknown_paths_and_methods_are_not_found() {
        for (m, p) in [
            ("GET", "/api/nope"),
            ("PATCH", "/api/campaigns"),
            ("GET", "/api/users/"),
            ("GET", "/api"),
        ] {
            let v = check(m, p, &[]).unwrap_err();
            assert_eq!(v.code(), "NotFound", "{m} {p}");
            assert_eq!(v.status(), 404);
        }
    }

    #[test]
    fn query_rules() {
        let export = "/api/export/data.json";
        let v = check("GET", export, &[]).unwrap_err();
        assert_eq!(
            v,
            Violation::MissingParam {
                name: "dataTypeName".into()
            }
        );
        let v = check("GET", export, &[("dataTypeName", "bogus")]).unwrap_err();
        assert!(v.to_string().contains("dataTypeName") && v.to_string().contains("emailSend"));
        let m = check(
            "GET",
            export,
            &[("dataTypeName", "emailUnsubscribe"), ("stream", "True")],
        )
        .unwrap();
        assert_eq!(
            m.query,
            q(&[("dataTypeName", "emailUnSubscribe"), ("stream", "True")])
        );
        let m = check("GET", export, &[("dataTypeName", "anonSession")]).unwrap();
        assert_eq!(m.query[0].1, "unknownSession");
        let v = check(
            "GET",
            export,
            &[("dataTypeName", "user"), ("startDateTime", "last week")],
        )
        .unwrap_err();
        assert!(matches!(v, Violation::BadDate { ref name, .. } if name == "startDateTime"));
        check(
            "GET",
            export,
            &[
                ("dataTypeName", "user"),
                ("startDateTime", "2024-01-01 00:00:00 +00:00"),
                ("endDateTime", "2024-01-02"),
                ("campaignId", "12"),
            ],
        )
        .unwrap();
        let v = check(
            "GET",
            export,
            &[("dataTypeName", "user"), ("campaignId", "x")],
        )
        .unwrap_err();
        assert!(matches!(v, Violation::BadInteger { .. }));
        // Repeated array params are fine; metrics' empty dates are allowed.
        check(
            "GET",
            "/api/campaigns/metrics",
            &[
                ("campaignId", "1"),
                ("campaignId", "2"),
                ("startDateTime", ""),
            ],
        )
        .unwrap();
        let v = check("GET", "/api/lists/getUsers", &[("listId", "abc")]).unwrap_err();
        assert!(v.to_string().contains("listId"));
    }

    #[test]
    fn validate_target_takes_urls_as_clients_build_them() {
        let spec = Spec::load();
        let m = spec
            .validate_target(
                "GET",
                "http://127.0.0.1:1234/api/export/data.json?dataTypeName=emailUnsubscribe&startDateTime=2024-01-01+00%3A00%3A00",
                None,
            )
            .unwrap();
        assert_eq!(m.template, "/api/export/data.json");
        assert_eq!(
            m.query[0],
            ("dataTypeName".into(), "emailUnSubscribe".into())
        );
        let m = spec
            .validate_target("GET", "/api/users/a%40b.c", None)
            .unwrap();
        assert_eq!(m.path_params, q(&[("email", "a@b.c")]));
        assert!(
            spec.validate_target("GET", "https://x/api/nope", None)
                .is_err()
        );
    }

    #[test]
    fn path_integers_must_parse() {
        let v = check("GET", "/api/campaigns/abc", &[]).unwrap_err();
        assert_eq!(
            v,
            Violation::BadInteger {
                name: "id".into(),
                value: "abc".into()
            }
        );
        check("GET", "/api/campaigns/42", &[]).unwrap();
    }

    #[test]
    fn body_rules() {
        let spec = Spec::load();
        let start = |b: &[u8]| spec.validate("POST", "/api/export/start", &[], Some(b));
        assert_eq!(start(b"").unwrap_err().code(), "BadJsonBody");
        assert_eq!(start(b"{nope").unwrap_err().code(), "BadJsonBody");
        let v = start(br#"{"dataTypeName":"user"}"#).unwrap_err();
        assert_eq!(
            v,
            Violation::MissingBodyProperty {
                name: "outputFormat".into()
            }
        );
        start(br#"{"dataTypeName":"user","outputFormat":"text/csv"}"#).unwrap();
        // Broken $ref in the published spec: JSON is still required.
        let cancel = |b: &[u8]| spec.validate("POST", "/api/email/cancel", &[], Some(b));
        cancel(br#"{"campaignId":1}"#).unwrap();
        assert_eq!(cancel(b"").unwrap_err().code(), "BadJsonBody");
    }

    #[test]
    fn spec_is_the_published_one() {
        // 126 paths in Iterable's api-docs.json (see iterable-api.md).
        assert_eq!(Spec::load().paths.len(), 126);
    }
}
