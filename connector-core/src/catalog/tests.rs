use serde_json::json;

use super::*;

#[test]
fn names_are_unique_and_complete() {
    let mut names: Vec<&str> = all_streams().map(|d| d.name).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count);
    assert_eq!(EXPORT.len(), 52); // + users (dataTypeName "user") = 53
    assert_eq!(count, 21 + 52);
}

/// Walks the table: every row says everything a reader, `discover`, SQL
/// planning and the spec conformance test need, and says it consistently.
#[test]
fn every_row_is_complete() {
    let config = Config::from_json(&json!({})).expect("config");
    for def in all_streams() {
        let name = def.name;
        assert!(
            !name.is_empty() && name == name.to_ascii_lowercase(),
            "{name}"
        );
        let fields: Vec<&str> = def.all_fields().map(|f| f.name).collect();
        assert!(!fields.is_empty(), "{name}: no fields");
        let mut unique = fields.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            fields.len(),
            "{name}: a field is declared twice"
        );
        for key in def.key_fields(&config) {
            assert!(fields.contains(&key), "{name}: key {key} is not a field");
        }
        if let Some(cursor) = def.cursor_field {
            let f = def.all_fields().find(|f| f.name == cursor);
            assert_eq!(
                f.map(|f| f.ty),
                Some(FieldType::Timestamp),
                "{name}: cursor {cursor} must be a timestamp field"
            );
            assert_ne!(def.incremental, Incremental::None, "{name}");
        } else {
            assert_eq!(def.incremental, Incremental::None, "{name}");
        }
        for p in def.pushdown {
            // A by-key stream's user is the request's subject, whether or
            // not its records repeat it.
            let subject = def.is_by_key() && matches!(p.param, ApiParam::Setting(_));
            assert!(
                subject || fields.contains(&p.column),
                "{name}: pushdown on unknown {}",
                p.column
            );
        }
        if let Some(parent) = def.parent {
            assert!(find(parent).is_ok(), "{name}: unknown parent {parent}");
        }
        if let Family::Paged { passes, .. } = def.family {
            assert!(!passes.is_empty(), "{name}: a paged stream needs a pass");
            for pass in passes {
                for (f, _) in pass.set {
                    assert!(fields.contains(f), "{name}: pass sets unknown {f}");
                }
            }
        }
        // Their readers filter client-side on the cursor: one must be declared
        // (read::readers::reader_for relies on it).
        if matches!(
            def.family,
            Family::Metadata { .. } | Family::CatalogItems { .. }
        ) {
            assert!(def.cursor_field.is_some(), "{name}: needs a cursor field");
        }
        if def.is_export() {
            assert!(def.pushdown.iter().any(|p| p.op == FilterOp::Ge), "{name}");
        }
    }
}

/// Moving the schemas from code into the table changed nothing `discover`
/// declared, except the users streams now also declaring the internal
/// timestamps their records carry (which are normalised as declared).
#[test]
fn discover_matches_the_catalog_before_the_table() {
    let before: Value =
        serde_json::from_str(include_str!("../../tests/golden/catalog_before_table.json"))
            .expect("golden");
    let cases = [
        ("default", json!({}), None),
        (
            "user_id_with_fields",
            json!({"user_key": "userId"}),
            Some(
                json!({"fields": {"favoriteColor": "string", "LTV": "double", "vip": "boolean",
                "lastSeen": "date", "n": "long", "o": "object", "weird": "geo_location", "email": "string"}}),
            ),
        ),
    ];
    for (case, cfg, fields) in cases {
        let config = Config::from_json(&cfg).expect("config");
        // Streams added since the table are not in the snapshot.
        let added = ["template_contents"];
        let now: Vec<_> = discover(&config, fields.as_ref())
            .into_iter()
            .filter(|d| !added.contains(&d.name.as_str()))
            .collect();
        let old = before[case].as_array().expect("array");
        assert_eq!(now.len(), old.len());
        for (d, o) in now.iter().zip(old) {
            assert_eq!(d.name, o["name"], "{case}");
            assert_eq!(json!(d.primary_key), o["primary_key"], "{case} {}", d.name);
            assert_eq!(
                json!(d.cursor_field),
                o["cursor_field"],
                "{case} {}",
                d.name
            );
            assert_eq!(json!(d.sync_modes), o["sync_modes"], "{case} {}", d.name);
            assert_eq!(json!(d.requires_user_filter), o["requires_user_filter"]);
            let mut schema = d.json_schema.clone();
            if matches!(d.name.as_str(), "users" | "user_profile") {
                let props = schema["properties"].as_object_mut().expect("props");
                for added in [
                    "itblInternal.documentCreatedAt",
                    "itblInternal.documentUpdatedAt",
                ] {
                    assert!(props.remove(added).is_some(), "{}: {added}", d.name);
                }
                if d.name == "user_profile" {
                    assert!(props.remove("itblInternal").is_some());
                }
                // Since #14.8 a getFields `string` or `object` may be an
                // array of them: the snapshot declared the scalar only.
                for prop in props.values_mut() {
                    if prop["type"] == json!(["null", "string", "array"]) {
                        *prop = json!({"type": ["null", "string"]});
                    } else if prop["type"] == json!(["null", "object", "array"]) {
                        *prop = json!({"type": ["null", "object"], "additionalProperties": true});
                    }
                }
            }
            assert_eq!(schema, o["json_schema"], "{case} {}", d.name);
        }
    }
}

#[test]
fn users_declares_custom_fields_and_keys_follow_user_key() {
    let config = Config::from_json(&json!({"user_key": "userId"})).expect("config");
    let fields = json!({"fields": {"favoriteColor": "string", "LTV": "double"}});
    let cat = discover(&config, Some(&fields));
    let users = cat.iter().find(|s| s.name == "users").expect("users");
    assert_eq!(users.primary_key, vec![vec!["userId".to_string()]]);
    assert_eq!(
        users.json_schema["properties"]["LTV"]["type"],
        json!(["null", "number"])
    );
    let lu = cat
        .iter()
        .find(|s| s.name == "list_users")
        .expect("list_users");
    assert_eq!(
        lu.primary_key,
        vec![vec!["listId".to_string()], vec!["userId".to_string()]]
    );
    let send = cat
        .iter()
        .find(|s| s.name == "email_send")
        .expect("email_send");
    assert_eq!(send.cursor_field.as_deref(), Some("createdAt"));
    assert_eq!(send.sync_modes, vec!["full_refresh", "incremental"]);
}

#[test]
fn by_key_stream_without_filter_says_which_filter() {
    let config = Config::from_json(&json!({})).expect("config");
    let err = check_user_filter(&find("events").expect("events"), &config).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("email"));
    assert!(err.message.contains("user_id"));
    assert!(find("nope").unwrap_err().message.contains("unknown stream"));
}

#[test]
fn timestamps_come_from_the_schema() {
    let users = find("users").expect("users").timestamp_paths();
    assert!(users.top.contains(&"profileUpdatedAt"));
    assert!(users.top.contains(&"itblInternal.documentUpdatedAt"));
    let click = find("email_click").expect("email_click").timestamp_paths();
    assert_eq!(click.top, vec!["createdAt"]);
    assert_eq!(click.nested[0].0, "itblInternal");
}
