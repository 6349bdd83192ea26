use serde_json::{Map, Value, json};

use super::*;
use crate::error::{ErrorKind, SQL_NEEDS_ENGINE};

fn config() -> Config {
    Config::from_json(
        &json!({"base_url": "http://sim", "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-11-01T00:00:00Z"}),
    )
    .expect("config")
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn select(sql: &str) -> SelectPlan {
    match plan_sql(
        &config(),
        sql,
        &params(json!({"e": "a@x.io", "n": 2})),
        None,
    ) {
        Ok(SqlPlan::Select(p)) => p,
        other => panic!("{sql}: {other:?}"),
    }
}

fn error(sql: &str) -> String {
    match plan_sql(&config(), sql, &Map::new(), None) {
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidInput, "{e}");
            e.message
        }
        Ok(p) => panic!("{sql} planned: {p:?}"),
    }
}

#[test]
fn tables_resolve_by_stream_or_skyvia_name_and_columns_ignore_case() {
    let p =
        select(r#"SELECT "Name", id AS ident FROM "Campaigns" WHERE CampaignState = 'Running'"#);
    assert_eq!(p.stream, "campaigns");
    assert_eq!(
        p.columns(),
        Some(vec!["name".to_string(), "ident".to_string()])
    );
    assert_eq!(select("SELECT * FROM CatalogItems").stream, "catalog_items");
    assert_eq!(
        select("select * from MessagesTypes").stream,
        "message_types"
    );
    assert!(select("SELECT * FROM lists").columns().is_none());
}

#[test]
fn the_user_of_by_user_tables_is_pushed_and_required() {
    let p = select("SELECT eventName FROM Events WHERE email = :e AND eventName LIKE 'view%'");
    assert_eq!(p.config.email.as_deref(), Some("a@x.io"));
    assert_eq!(p.pushed, ["email = \"a@x.io\" → email"]);
    let explain = p.explain();
    assert!(
        explain
            .iter()
            .any(|r| r["step"] == "filter on records"
                && r["detail"].as_str().unwrap().contains("LIKE")),
        "{explain:?}"
    );
    assert!(
        !explain
            .iter()
            .any(|r| r["detail"].as_str().unwrap().contains("\"email\" ="))
    );
    let m = error("SELECT * FROM InAppMessages");
    assert!(m.contains("WHERE email"), "{m}");
    let m = error("SELECT * FROM events WHERE email = 'a@x.io' OR email = 'b@x.io'");
    assert!(m.contains("one user at a time"), "{m}");
}

#[test]
fn time_ranges_become_the_export_window_and_stay_as_filters() {
    let p = select(
        "SELECT * FROM email_send WHERE createdAt >= '2026-03-01' AND createdAt < '2026-03-08T00:00:00Z' AND campaignId = 5",
    );
    assert_eq!(
        p.config.start_date.map(|t| time::to_rfc3339(&t)).as_deref(),
        Some("2026-03-01T00:00:00Z")
    );
    assert_eq!(
        p.config.end_date.map(|t| time::to_rfc3339(&t)).as_deref(),
        Some("2026-03-08T00:00:00Z")
    );
    let filter = p.explain();
    assert!(
        filter
            .iter()
            .any(|r| r["detail"].as_str().unwrap().contains("createdAt")),
        "the range is still checked on records: {filter:?}"
    );
    let p =
        select("SELECT * FROM users WHERE profileUpdatedAt BETWEEN '2026-05-01' AND '2026-05-02'");
    assert_eq!(
        p.config.end_date.map(|t| time::to_rfc3339(&t)).as_deref(),
        Some("2026-05-02T00:00:01Z")
    );
    let m = error("SELECT * FROM email_send WHERE createdAt > 'soon'");
    assert!(m.contains("not a date"), "{m}");
}

#[test]
fn list_and_catalog_settings_are_pushed() {
    let p = select("SELECT email FROM list_users WHERE listId IN (3, 4)");
    assert_eq!(p.config.list_ids, Some(vec![3, 4]));
    let p = select("SELECT * FROM catalog_items WHERE catalogName = 'shoes' LIMIT :n OFFSET 1");
    assert_eq!(p.config.catalog_names, Some(vec!["shoes".to_string()]));
    assert_eq!((p.limit, p.offset), (Some(2), 1));
}

#[test]
fn unsupported_sql_is_named_with_what_to_do() {
    for sql in [
        "SELECT * FROM lists JOIN campaigns ON 1 = 1",
        "SELECT count(*) FROM lists",
        "SELECT name FROM lists GROUP BY name",
        "SELECT * FROM lists WHERE id IN (SELECT 1)",
        "SELECT DISTINCT name FROM lists",
        "SELECT * FROM lists UNION SELECT * FROM lists",
    ] {
        let e = plan_sql(&config(), sql, &Map::new(), None).unwrap_err();
        assert_eq!(e.code.as_deref(), Some(SQL_NEEDS_ENGINE), "{sql}: {e}");
    }
    for (sql, needle) in [
        ("SELECT * FROM lists JOIN campaigns ON 1 = 1", "JOIN"),
        ("SELECT count(*) FROM lists", "GROUP BY"),
        ("SELECT name FROM lists GROUP BY name", "GROUP BY"),
        ("SELECT * FROM lists WHERE id IN (SELECT 1)", "subquer"),
        ("SELECT * FROM nowhere", "unknown table"),
        ("SELECT nmae FROM lists", "unknown column \"nmae\""),
        ("SELECT * FROM lists WHERE id = :missing", ":missing"),
        ("SELEC * FROM lists", "syntax error"),
        ("DROP TABLE lists", "DROP"),
        (
            "UPDATE lists SET name = 'x' WHERE id = 1",
            "UPDATE works on catalog_items",
        ),
        (
            "DELETE FROM campaigns WHERE id = 1",
            "DELETE on catalog_items",
        ),
        ("UPDATE templates SET nope = 1", "unknown column"),
        ("SELECT 1 FROM lists; SELECT 2 FROM lists", "one at a time"),
        ("INSERT INTO lists VALUES ('x')", "column list"),
        ("INSERT INTO lists (name) SELECT name FROM lists", "VALUES"),
        ("CALL LaunchRocket(1)", "unknown procedure"),
    ] {
        let m = error(sql);
        assert!(m.contains(needle), "{sql}: {m}");
    }
}

#[test]
fn insert_and_call_become_writes() {
    let p = plan_sql(
        &config(),
        "INSERT INTO Lists (name, description) VALUES ('A', NULL), (:e, 'b') RETURNING id",
        &params(json!({"e": "B"})),
        None,
    )
    .unwrap();
    let SqlPlan::Write(w) = p else {
        panic!("{p:?}")
    };
    assert_eq!(
        (w.object.as_str(), w.op.as_str(), w.returning),
        ("Lists", "insert", true)
    );
    assert_eq!(
        w.rows,
        vec![
            json!({"name": "A"}),
            json!({"name": "B", "description": "b"})
        ]
    );

    let p = plan_sql(
        &config(),
        "CALL triggercampaign(42, '[1,2]', NULL, '{\"k\": 1}')",
        &Map::new(),
        None,
    )
    .unwrap();
    let SqlPlan::Write(w) = p else {
        panic!("{p:?}")
    };
    assert_eq!(
        (w.object.as_str(), w.op.as_str()),
        ("TriggerCampaign", "call")
    );
    assert_eq!(
        w.rows,
        vec![json!({"campaignId": 42, "listIds": [1, 2], "dataFields": {"k": 1}})]
    );
}

#[test]
fn explain_wraps_a_select_and_lists_its_first_request() {
    let p = plan_sql(
        &config(),
        "EXPLAIN SELECT * FROM email_send WHERE createdAt >= '2026-10-01' LIMIT 5",
        &Map::new(),
        None,
    )
    .unwrap();
    let SqlPlan::Explain(p) = p else {
        panic!("{p:?}")
    };
    let reqs = p.first_requests(1_793_000_000_000, 1).unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0].url.contains("/api/export/data.json"),
        "{}",
        reqs[0].url
    );
    assert!(
        reqs[0].url.contains("startDateTime=2026-10-01"),
        "{}",
        reqs[0].url
    );
    assert!(p.explain().iter().any(|r| r["step"] == "limit"));
}

#[test]
fn call_takes_parameters_for_every_argument() {
    let p = plan_sql(
        &config(),
        "CALL TriggerCampaign(:id, :lists)",
        &params(json!({"id": 7, "lists": "[5]"})),
        None,
    )
    .unwrap();
    let SqlPlan::Write(w) = p else {
        panic!("{p:?}")
    };
    assert_eq!(w.rows, vec![json!({"campaignId": 7, "listIds": [5]})]);
}

#[test]
fn joins_are_spread_into_table_scans_with_their_own_filters() {
    let scans = plan_scans(
        &config(),
        "SELECT l.name, count(*) FROM Lists l JOIN list_users u ON u.listId = l.id \
         WHERE u.listId IN (3, 4) AND l.name LIKE 'a%' AND u.email <> l.name GROUP BY l.name",
        &Map::new(),
        None,
    )
    .unwrap();
    let tables: Vec<&str> = scans.iter().map(|s| s.table.as_str()).collect();
    assert_eq!(tables, ["Lists", "list_users"]);
    assert!(scans[0].sql.contains("LIKE 'a%'"), "{}", scans[0].sql);
    assert!(
        !scans[0].sql.contains("email"),
        "a two-table predicate stays out: {}",
        scans[0].sql
    );
    assert_eq!(scans[1].plan.config.list_ids, Some(vec![3, 4]));

    // A subquery's own WHERE goes to its table.
    let scans = plan_scans(
        &config(),
        "SELECT * FROM campaigns WHERE id IN (SELECT campaignId FROM events WHERE email = :e)",
        &params(json!({"e": "a@x.io"})),
        None,
    )
    .unwrap();
    assert_eq!(scans[1].plan.config.email.as_deref(), Some("a@x.io"));
    assert!(!scans[0].sql.contains("WHERE"), "{}", scans[0].sql);
    let e = plan_scans(
        &config(),
        "SELECT * FROM lists l JOIN events e ON e.email = l.name",
        &Map::new(),
        None,
    )
    .unwrap_err();
    assert!(
        e.message.contains("table events") && e.message.contains("WHERE email"),
        "{e}"
    );
}

#[test]
fn output_schema_types_copied_and_computed_columns_in_select_order() {
    let p = select("SELECT name AS title, createdAt, length(name) AS n, id > 3 AS big FROM lists");
    let schema = json!({"properties": {
        "name": {"type": ["string", "null"]},
        "createdAt": {"type": ["string", "null"], "format": "date-time"},
        "id": {"type": ["integer", "null"]}}});
    let out = p.output_schema(&schema).expect("named columns");
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["title", "createdAt", "n", "big"]);
    assert_eq!(out[0].1, schema["properties"]["name"]);
    assert_eq!(out[1].1["format"], "date-time");
    assert_eq!(out[2].1["type"][0], "integer");
    assert_eq!(out[3].1["type"][0], "boolean");
    assert!(
        select("SELECT * FROM lists")
            .output_schema(&schema)
            .is_none()
    );
}

#[test]
fn update_and_delete_read_the_keys_then_write_by_key() {
    let p = plan_sql(
        &config(),
        "UPDATE CatalogItems SET price = 2 * 5, name = upper(itemId) WHERE catalogName = 'shoes' AND itemId LIKE 'sku-%'",
        &Map::new(),
        None,
    );
    // Catalog items have no `price` column: custom fields are named quoted.
    assert!(p.is_err());
    let p = plan_sql(
        &config(),
        "UPDATE CatalogItems SET \"price\" = 2 * 5 WHERE catalogName = 'shoes' AND itemId LIKE 'sku-%'",
        &Map::new(),
        None,
    )
    .unwrap();
    let SqlPlan::Modify(m) = p else {
        panic!("{p:?}")
    };
    assert_eq!(
        (m.object.as_str(), m.op.as_str()),
        ("catalog_items", "update")
    );
    assert_eq!(
        m.select.config.catalog_names,
        Some(vec!["shoes".to_string()])
    );
    let rec = json!({"catalogName": "shoes", "itemId": "sku-1", "value": {"price": 1}});
    let rows = m.rows(&[rec.as_object().cloned().unwrap()]);
    assert_eq!(
        rows,
        vec![json!({"catalogName": "shoes", "itemId": "sku-1", "price": 10})]
    );

    let p = plan_sql(
        &config(),
        "DELETE FROM Lists WHERE name = :n",
        &params(json!({"n": "old"})),
        None,
    )
    .unwrap();
    let SqlPlan::Modify(m) = p else {
        panic!("{p:?}")
    };
    assert_eq!((m.object.as_str(), m.op.as_str()), ("lists", "delete"));
    let rows = m.rows(&[json!({"id": 7, "name": "old"})
        .as_object()
        .cloned()
        .unwrap()]);
    assert_eq!(rows, vec![json!({"listId": 7})]);
}

#[test]
fn paged_filters_become_request_parameters_and_stay_as_filters() {
    let p = select(
        "SELECT templateId FROM Templates WHERE templateType = 'Blast' AND messageMedium IN ('Email', 'SMS') AND createdAt >= '2026-03-01T10:00:00.500Z' AND createdAt < '2026-04-01T00:00:00.250Z'",
    );
    assert_eq!(
        p.config.pushed_query,
        vec![
            ("templateType", "Blast".to_string()),
            ("messageMedium", "Email".to_string()),
            ("messageMedium", "SMS".to_string()),
            // Whole seconds, widened: the start floors, the end rounds up.
            ("startDateTime", "2026-03-01 10:00:00".to_string()),
            ("endDateTime", "2026-04-01 00:00:01".to_string()),
        ]
    );
    // The API narrows; the records are still filtered exactly.
    assert!(p.residual.is_some());
    // Paged streams have no export window.
    assert_eq!(p.config.start_date, config().start_date);
    let p = select("SELECT id FROM campaigns WHERE campaignState IN ('Running', 'Finished')");
    assert_eq!(
        p.config.pushed_query,
        vec![
            ("campaignState", "Running".to_string()),
            ("campaignState", "Finished".to_string())
        ]
    );
    // The same parameter twice would widen (a=1&a=2): the second stays a filter only.
    let p = select(
        "SELECT id FROM campaigns WHERE campaignState = 'Running' AND campaignState = 'Draft'",
    );
    assert_eq!(
        p.config.pushed_query,
        vec![("campaignState", "Running".to_string())]
    );
    // Numbers are not the API's template types: evaluated on the records.
    let p = select("SELECT templateId FROM templates WHERE templateType = 3");
    assert!(p.config.pushed_query.is_empty());
}

#[test]
fn catalog_items_by_id_are_pushed_as_item_ids() {
    let p = select(
        "SELECT * FROM CatalogItems WHERE catalogName = 'products' AND itemId IN ('a', 'b')",
    );
    assert_eq!(p.config.catalog_names, Some(vec!["products".to_string()]));
    assert_eq!(
        p.config.item_ids,
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert!(p.residual.is_none());
}

#[test]
fn named_columns_of_an_export_become_only_fields() {
    let p = select("SELECT email AS who FROM email_send WHERE templateId > 3 ORDER BY messageId");
    let (_, only) = p
        .config
        .pushed_query
        .iter()
        .find(|(k, _)| *k == "onlyFields")
        .expect("onlyFields");
    let only: Vec<&str> = only.split(',').collect();
    // The output, the filter, the sort, the cursor and the synthetic key's fields.
    for f in [
        "email",
        "templateId",
        "messageId",
        "createdAt",
        "campaignId",
        "eventName",
    ] {
        assert!(only.contains(&f), "{f} in {only:?}");
    }
    assert!(!only.contains(&"_key"), "{only:?}");
    // `*` reads every field; async exports and other streams have no onlyFields.
    assert!(
        select("SELECT * FROM email_send")
            .config
            .pushed_query
            .is_empty()
    );
    assert!(
        select("SELECT id FROM lists")
            .config
            .pushed_query
            .is_empty()
    );
    let async_config =
        Config::from_json(&json!({"base_url": "http://sim", "export_mode": "async"}))
            .expect("config");
    match plan_sql(
        &async_config,
        "SELECT email FROM email_send",
        &Map::new(),
        None,
    ) {
        Ok(SqlPlan::Select(p)) => assert!(p.config.pushed_query.is_empty()),
        other => panic!("{other:?}"),
    }
}
