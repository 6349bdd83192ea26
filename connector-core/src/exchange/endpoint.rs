//! Every Iterable endpoint the core calls, as data: method, path, how the
//! body reads, which rate budget it draws on and whether a repeat is safe.
//! Readers (and later writers) plan requests from these rows, so no code
//! decides a bucket or a format by looking at a URL.

use crate::config::Config;
use crate::parse::BodyFormat;

use super::http::{Method, encode_component, path_with_query};
use super::pacing::Bucket;
use super::retry::RetryClass;

/// One Iterable endpoint. `path` may hold `{…}` placeholders, filled in order with
/// percent-encoded segments by [`Endpoint::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{…}` placeholders for segments.
    pub path: &'static str,
    /// How the response body reads.
    pub format: BodyFormat,
    /// The rate budget the endpoint draws on.
    pub bucket: Bucket,
    /// Whether a repeat is safe.
    pub retry: RetryClass,
}

const fn get(path: &'static str, format: BodyFormat, bucket: Bucket) -> Endpoint {
    Endpoint {
        method: Method::Get,
        path,
        format,
        bucket,
        retry: RetryClass::Idempotent,
    }
}

const JSON: BodyFormat = BodyFormat::Json;
const NDJSON: BodyFormat = BodyFormat::Ndjson;
const CSV: BodyFormat = BodyFormat::Csv { delimiter: b',' };

pub(crate) const CAMPAIGNS: Endpoint = get("/api/campaigns", JSON, Bucket::General);
pub(crate) const CAMPAIGN_METRICS: Endpoint =
    get("/api/campaigns/metrics", CSV, Bucket::CampaignMetrics);
pub(crate) const EXPERIMENT_METRICS: Endpoint =
    get("/api/experiments/metrics", CSV, Bucket::General);
pub(crate) const CHANNELS: Endpoint = get("/api/channels", JSON, Bucket::General);
pub(crate) const LISTS: Endpoint = get("/api/lists", JSON, Bucket::General);
pub(crate) const LIST_USERS: Endpoint = get(
    "/api/lists/getUsers",
    BodyFormat::TextLines,
    Bucket::ListUsers,
);
pub(crate) const MESSAGE_TYPES: Endpoint = get("/api/messageTypes", JSON, Bucket::General);
pub(crate) const METADATA_TABLES: Endpoint = get("/api/metadata", JSON, Bucket::General);
pub(crate) const METADATA_KEYS: Endpoint = get("/api/metadata/{table}", JSON, Bucket::General);
pub(crate) const METADATA_VALUE: Endpoint =
    get("/api/metadata/{table}/{key}", JSON, Bucket::General);
pub(crate) const TEMPLATES: Endpoint = get("/api/templates", JSON, Bucket::General);
/// The path segment of a template medium's endpoints (`Email` → `email`,
/// `InApp` → `inapp`; case, `_` and `-` ignored), for [`TEMPLATE_GET`],
/// [`TEMPLATE_UPSERT`] and [`TEMPLATE_UPDATE`].
pub(crate) fn template_medium_path(medium: &str) -> Option<&'static str> {
    match medium.to_ascii_lowercase().replace(['_', '-'], "").as_str() {
        "email" => Some("email"),
        "push" => Some("push"),
        "sms" => Some("sms"),
        "inapp" => Some("inapp"),
        _ => None,
    }
}

/// One template's full model; `{kind}` is the medium's path (`email`, `push`, `sms`, `inapp`).
pub(crate) const TEMPLATE_GET: Endpoint = get("/api/templates/{kind}/get", JSON, Bucket::General);
pub(crate) const JOURNEYS: Endpoint = get("/api/journeys", JSON, Bucket::General);
pub(crate) const SNIPPETS: Endpoint = get("/api/snippets", JSON, Bucket::General);
pub(crate) const WEBHOOKS: Endpoint = get("/api/webhooks", JSON, Bucket::General);
pub(crate) const CATALOGS: Endpoint = get("/api/catalogs", JSON, Bucket::General);
pub(crate) const CATALOG_ITEMS: Endpoint =
    get("/api/catalogs/{catalogName}/items", JSON, Bucket::General);
/// One catalog item (read-back confirmation of item writes).
pub(crate) const CATALOG_ITEM_GET: Endpoint = get(
    "/api/catalogs/{catalogName}/items/{itemId}",
    JSON,
    Bucket::General,
);
pub(crate) const EXPORT_DATA: Endpoint = get("/api/export/data.json", NDJSON, Bucket::Export);
pub(crate) const EXPORT_START: Endpoint = Endpoint {
    method: Method::Post,
    path: "/api/export/start",
    format: JSON,
    bucket: Bucket::ExportStart,
    // A repeat starts a second job for the same window; the reader only
    // ever follows the job it was told about, and jobs expire on their own.
    retry: RetryClass::Idempotent,
};
pub(crate) const EXPORT_FILES: Endpoint =
    get("/api/export/{jobId}/files", JSON, Bucket::ExportFiles);
pub(crate) const EVENTS_BY_EMAIL: Endpoint = get("/api/events/{email}", JSON, Bucket::General);
pub(crate) const EVENTS_BY_USER_ID: Endpoint =
    get("/api/events/byUserId/{userId}", JSON, Bucket::General);
pub(crate) const USER_BY_EMAIL: Endpoint = get("/api/users/{email}", JSON, Bucket::General);
pub(crate) const USER_BY_USER_ID: Endpoint =
    get("/api/users/byUserId/{userId}", JSON, Bucket::General);
pub(crate) const IN_APP_MESSAGES: Endpoint = get("/api/inApp/getMessages", JSON, Bucket::General);
pub(crate) const SENT_MESSAGES: Endpoint =
    get("/api/users/getSentMessages", JSON, Bucket::UserLookup3);
pub(crate) const USER_EVENTS_EXPORT: Endpoint =
    get("/api/export/userEvents", NDJSON, Bucket::General);
pub(crate) const USER_FIELDS: Endpoint = get("/api/users/getFields", JSON, Bucket::UserLookup3);

// ---- writes (iterable-api.md §5; writes-sql-sync.md §2) ---------------------

const fn write(method: Method, path: &'static str, bucket: Bucket, retry: RetryClass) -> Endpoint {
    Endpoint {
        method,
        path,
        format: JSON,
        bucket,
        retry,
    }
}

use Method::{Delete, Patch, Post, Put};
use RetryClass::{Idempotent as SAFE, NotIdempotent as UNSAFE};

pub(crate) const CATALOG_ITEMS_BULK_UPSERT: Endpoint = write(
    Post,
    "/api/catalogs/{catalogName}/items",
    Bucket::General,
    SAFE,
);
pub(crate) const CATALOG_ITEMS_BULK_DELETE: Endpoint = write(
    Delete,
    "/api/catalogs/{catalogName}/items",
    Bucket::General,
    SAFE,
);
pub(crate) const CATALOG_ITEM_REPLACE: Endpoint = write(
    Put,
    "/api/catalogs/{catalogName}/items/{itemId}",
    Bucket::CatalogItem,
    SAFE,
);
pub(crate) const CATALOG_ITEM_MERGE: Endpoint = write(
    Patch,
    "/api/catalogs/{catalogName}/items/{itemId}",
    Bucket::General,
    SAFE,
);
pub(crate) const CATALOG_ITEM_DELETE: Endpoint = write(
    Delete,
    "/api/catalogs/{catalogName}/items/{itemId}",
    Bucket::General,
    SAFE,
);
pub(crate) const CATALOG_CREATE: Endpoint =
    write(Post, "/api/catalogs/{catalogName}", Bucket::General, SAFE);
pub(crate) const CATALOG_DELETE: Endpoint =
    write(Delete, "/api/catalogs/{catalogName}", Bucket::General, SAFE);
/// A repeat creates a second list with the same name.
pub(crate) const LIST_CREATE: Endpoint = write(Post, "/api/lists", Bucket::General, UNSAFE);
pub(crate) const LIST_DELETE: Endpoint =
    write(Delete, "/api/lists/{listId}", Bucket::General, SAFE);
pub(crate) const LIST_SUBSCRIBE: Endpoint =
    write(Post, "/api/lists/subscribe", Bucket::General, SAFE);
pub(crate) const LIST_UNSUBSCRIBE: Endpoint =
    write(Post, "/api/lists/unsubscribe", Bucket::General, SAFE);
pub(crate) const TEMPLATE_UPSERT: Endpoint = write(
    Post,
    "/api/templates/{medium}/upsert",
    Bucket::General,
    SAFE,
);
/// Deletes templates by id; a repeat only finds them gone (they are then
/// listed as failed, which the sync reads as "not there").
pub(crate) const TEMPLATE_BULK_DELETE: Endpoint =
    write(Post, "/api/templates/bulkDelete", Bucket::General, SAFE);
pub(crate) const TEMPLATE_UPDATE: Endpoint = write(
    Post,
    "/api/templates/{medium}/update",
    Bucket::General,
    SAFE,
);
/// A repeat creates (and may send) a second campaign.
pub(crate) const CAMPAIGN_CREATE: Endpoint =
    write(Post, "/api/campaigns/create", Bucket::General, UNSAFE);
pub(crate) const CAMPAIGN_ABORT: Endpoint =
    write(Post, "/api/campaigns/abort", Bucket::General, SAFE);
pub(crate) const CAMPAIGN_CANCEL: Endpoint =
    write(Post, "/api/campaigns/cancel", Bucket::General, SAFE);
/// A repeat sends the campaign again.
pub(crate) const CAMPAIGN_TRIGGER: Endpoint =
    write(Post, "/api/campaigns/trigger", Bucket::General, UNSAFE);
/// Safe because every event carries an `id` (the row's or one derived from it).
pub(crate) const EVENT_TRACK: Endpoint =
    write(Post, "/api/events/track", Bucket::EventsTrack, SAFE);
pub(crate) const EVENT_TRACK_BULK: Endpoint =
    write(Post, "/api/events/trackBulk", Bucket::EventsTrackBulk, SAFE);
/// A repeat shows the message again.
pub(crate) const IN_APP_TARGET: Endpoint =
    write(Post, "/api/inApp/target", Bucket::General, UNSAFE);
pub(crate) const USER_UPDATE: Endpoint =
    write(Post, "/api/users/update", Bucket::UsersUpdate, SAFE);
pub(crate) const USER_BULK_UPDATE: Endpoint =
    write(Post, "/api/users/bulkUpdate", Bucket::UsersBulkUpdate, SAFE);
pub(crate) const USER_DELETE: Endpoint = write(Delete, "/api/users/{email}", Bucket::General, SAFE);
pub(crate) const USER_DELETE_BY_USER_ID: Endpoint = write(
    Delete,
    "/api/users/byUserId/{userId}",
    Bucket::General,
    SAFE,
);
pub(crate) const USER_UPDATE_EMAIL: Endpoint =
    write(Post, "/api/users/updateEmail", Bucket::General, SAFE);
pub(crate) const USER_UPDATE_SUBSCRIPTIONS: Endpoint = write(
    Post,
    "/api/users/updateSubscriptions",
    Bucket::General,
    SAFE,
);
/// Safe because every purchase carries an `id` (the row's or one derived from it).
pub(crate) const PURCHASE_TRACK: Endpoint =
    write(Post, "/api/commerce/trackPurchase", Bucket::General, SAFE);

/// A request a session wants sent, before it has an id.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub(crate) method: Method,
    /// Absolute URL.
    pub(crate) url: String,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) format: BodyFormat,
    pub(crate) bucket: Bucket,
    pub(crate) needs_auth: bool,
    pub(crate) retry: RetryClass,
}

impl Endpoint {
    /// A request to this endpoint: `segments` fill the path's placeholders
    /// in order (percent-encoded), `query` is appended (encoded).
    pub(crate) fn plan(
        &self,
        config: &Config,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Planned {
        Planned {
            method: self.method,
            url: config.url(&path_with_query(&self.fill(segments), query)),
            body: None,
            format: self.format,
            bucket: self.bucket,
            needs_auth: true,
            retry: self.retry,
        }
    }

    pub(crate) fn fill(&self, segments: &[&str]) -> String {
        let mut out = String::with_capacity(self.path.len());
        let mut rest = self.path;
        let mut segments = segments.iter();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            // A missing segment leaves the placeholder visible: the spec
            // conformance test then names the endpoint that was misplanned.
            match segments.next() {
                Some(s) => out.push_str(&encode_component(s)),
                None => out.push_str(&rest[open..close]),
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        out
    }
}

impl Planned {
    /// A pre-signed download URL (async export files): no key, no rate budget.
    pub(crate) fn download(url: String, format: BodyFormat) -> Planned {
        Planned {
            method: Method::Get,
            url,
            body: None,
            format,
            bucket: Bucket::Unlimited,
            needs_auth: false,
            retry: RetryClass::Idempotent,
        }
    }

    /// The same request with a JSON body.
    pub(crate) fn with_json_body(mut self, body: &serde_json::Value) -> Planned {
        self.body = Some(body.to_string().into_bytes());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_encoded_in_order() {
        let config = Config::from_json(&serde_json::json!({"base_url": "http://127.0.0.1:9"}))
            .expect("config");
        let p = METADATA_VALUE.plan(&config, &["a b", "k/1"], &[("x", "1".into())]);
        assert_eq!(p.url, "http://127.0.0.1:9/api/metadata/a%20b/k%2F1?x=1");
        assert_eq!(p.bucket, Bucket::General);
        let m = CAMPAIGN_METRICS.plan(&config, &[], &[]);
        assert_eq!(m.bucket, Bucket::CampaignMetrics);
        assert!(matches!(m.format, BodyFormat::Csv { .. }));
    }
}
