//! A canned Iterable: a plausible answer to any read request the core
//! plans, from the recorded bodies in `tests/fixtures` (compiled in, so
//! targets stay pure functions of their input). Stateless: a paging or
//! marker request gets a last page, and a file listing after `startAfter`
//! an empty one, so a session answered only from here ends.

use connector_core::HttpRequest;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/", $path, "/body"))
    };
}

/// The download URL every canned file listing names.
pub const FILE_URL: &str = "https://files.example.com/export/f1.json?X-Amz-Expires=1800";

/// The path of `url` (no scheme, host or query), still percent-encoded.
pub fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let p = rest.find('/').map_or("/", |i| &rest[i..]);
    p.split('?').next().unwrap_or(p)
}

fn export_body(url: &str) -> &'static [u8] {
    let of = |t: &str| url.contains(&format!("dataTypeName={t}&")) || url.ends_with(t);
    if of("user") {
        fixture!("export_data_json/user")
    } else if of("emailOpen") {
        fixture!("export_data_json/emailOpen")
    } else if of("purchase") {
        fixture!("export_data_json/purchase")
    } else if of("customEvent") {
        fixture!("export_data_json/customEvent")
    } else {
        fixture!("export_data_json/emailSend")
    }
}

/// Status and body for `req` on a server at `base_url`.
pub fn answer(req: &HttpRequest, base_url: &str) -> (u16, Vec<u8>) {
    if !req.url.starts_with(base_url) {
        // An async export file (a presigned URL on another host).
        return (200, fixture!("export_data_json/emailSend").to_vec());
    }
    let url = req.url.as_str();
    let path = path_of(url);
    let ok = |b: &[u8]| (200, b.to_vec());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "export", "data.json"] => ok(export_body(url)),
        ["api", "export", "start"] => ok(br#"{"jobId": 3562}"#),
        ["api", "export", "userEvents"] => ok(fixture!("export_userEvents/jane")),
        ["api", "export", "jobs"] => ok(fixture!("export_jobs/recent")),
        ["api", "export", _, "files"] if url.contains("startAfter=") => {
            ok(br#"{"jobId": 3562, "jobState": "completed", "exportTruncated": false, "files": []}"#)
        }
        ["api", "export", _, "files"] => (
            200,
            format!(
                r#"{{"jobId": 3562, "jobState": "completed", "exportTruncated": false, "files": [{{"file": "f1.json", "url": "{FILE_URL}"}}]}}"#
            )
            .into_bytes(),
        ),
        ["api", "campaigns"] => ok(fixture!("campaigns/page")),
        ["api", "campaigns" | "experiments", "metrics"] => {
            ok(fixture!("campaigns_metrics/two_campaigns"))
        }
        ["api", "channels"] => ok(fixture!("channels/all")),
        ["api", "messageTypes"] => ok(fixture!("messageTypes/all")),
        ["api", "lists"] => ok(fixture!("lists/all")),
        ["api", "lists", "getUsers"] => ok(fixture!("lists_getUsers/three")),
        ["api", "journeys"] => ok(fixture!("journeys/welcome")),
        ["api", "templates"] => ok(fixture!("templates/blast_email")),
        ["api", "templates", _, "get"] => ok(fixture!("templates_email_get/spring_sale")),
        ["api", "snippets"] => ok(br#"{"snippets": [{"id": 3, "name": "footer"}]}"#),
        ["api", "webhooks"] => ok(br#"{"webhooks": [{"id": 4, "name": "crm"}]}"#),
        ["api", "catalogs"] => ok(
            br#"{"msg": "", "code": "Success", "params": {"catalogNames": [{"name": "restaurants"}], "totalCatalogsCount": 1}}"#,
        ),
        ["api", "catalogs", _, "fieldMappings"] => ok(fixture!("catalogs_fieldMappings/restaurants")),
        ["api", "catalogs", _, "items"] if url.contains("page=") && !url.contains("page=1") => ok(
            br#"{"msg": "", "code": "Success", "params": {"catalogItemsWithProperties": [], "totalItemsCount": 1}}"#,
        ),
        ["api", "catalogs", _, "items"] => ok(fixture!("catalogs_items/restaurants_page1")),
        ["api", "catalogs", _, "items", _] => ok(
            br#"{"msg": "", "code": "Success", "params": {"catalogName": "restaurants", "itemId": "restaurant-123", "lastModified": 1704067200000, "size": 10, "value": {"name": "Good Thai"}}}"#,
        ),
        ["api", "metadata"] => ok(fixture!("metadata/tables")),
        ["api", "metadata", _] if url.contains("nextMarker=") => ok(br#"{"results": []}"#),
        ["api", "metadata", _] => ok(fixture!("metadata_table/storeconfig")),
        ["api", "metadata", _, _] => ok(fixture!("metadata_table_key/storeconfig_sf-01")),
        ["api", "users", "getFields"] => ok(fixture!("users_getFields/all")),
        ["api", "users", "getSentMessages"] => ok(fixture!("users_getSentMessages/jane")),
        ["api", "users", ..] => ok(fixture!("users_email/jane")),
        ["api", "inApp", "getMessages"] => ok(fixture!("inApp_getMessages/jane")),
        ["api", "events", ..] => ok(
            br#"{"events": [{"eventType": "emailSend", "createdAt": "2024-02-01 00:00:00 +00:00", "email": "a+b@example.com"}]}"#,
        ),
        _ => (
            404,
            br#"{"msg": "not found", "code": "NotFound", "params": null}"#.to_vec(),
        ),
    }
}
