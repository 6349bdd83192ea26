//! The small, fully materialised entities: channels, message types, lists,
//! campaigns, templates, journeys, snippets, webhooks, metadata, catalogs and
//! experiments. Timestamps are epoch ms (iterable-api.md §3) except snippets
//! (ISO-8601 per the spec).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::names::*;
use super::rng::{Rng, hash};
use super::time::{DAY, iso_ms};
use super::{CampRef, CatalogEnt, CatalogItem, Experiment, ListEnt, ScaleCfg, State, TemplateEnt};

pub const CAMPAIGN_STATES: [&str; 9] = [
    "Draft",
    "Ready",
    "Scheduled",
    "Running",
    "Finished",
    "Starting",
    "Aborted",
    "Recurring",
    "Archived",
];
pub const CAMPAIGN_MEDIUMS: [&str; 7] = [
    "Email", "Push", "InApp", "SMS", "WebPush", "Embedded", "WhatsApp",
];
pub const TEMPLATE_TYPES: [&str; 4] = ["Base", "Blast", "Triggered", "Workflow"];
pub const TEMPLATE_MEDIUMS: [&str; 4] = ["Email", "Push", "InApp", "SMS"];

/// Campaign states whose campaigns have actually sent messages (events link to these).
const SENDING_STATES: [&str; 5] = ["Running", "Finished", "Aborted", "Recurring", "Archived"];

/// Templates only come in four media; the other campaign media reuse the closest one.
pub fn template_medium(campaign_medium: &str) -> &'static str {
    match campaign_medium {
        "Email" => "Email",
        "Push" | "WebPush" => "Push",
        "InApp" | "Embedded" => "InApp",
        _ => "SMS",
    }
}

/// The channel medium carrying a campaign medium.
fn channel_index(medium: &str) -> usize {
    CAMPAIGN_MEDIUMS
        .iter()
        .position(|m| *m == medium)
        .unwrap_or(0)
}

/// Seeded state, campaigns by medium (for events) and `(listId, membership modulus)`.
pub type Built = (State, BTreeMap<&'static str, Vec<CampRef>>, Vec<(i64, u64)>);

/// Builds the seeded [`State`] and the generator's views of campaigns and lists.
pub fn build(seed: u64, cfg: &ScaleCfg, history_start: i64, history_end: i64) -> Built {
    let mut st = State::default();
    let mut r = Rng::new(seed, "entities", &[]);
    // Seed-dependent id bases, so two seeds never share ids.
    let base = 1_000 + (hash(seed, "idbase", &[]) % 900) as i64;
    let span_ms = (history_end - history_start) * 1000;
    let hs_ms = history_start * 1000;
    let early_ms = hs_ms - 120 * DAY * 1000;

    // Channels: one per campaign medium (Email also has a transactional channel).
    let mut channel_ids = Vec::new();
    for (i, m) in CAMPAIGN_MEDIUMS.iter().enumerate() {
        let id = base * 40 + i as i64;
        channel_ids.push(id);
        st.channels
            .push(json!({"id": id, "name": format!("{m} Marketing Channel"),
            "channelType": "Marketing", "messageMedium": m}));
    }
    st.channels
        .push(json!({"id": base * 40 + 7, "name": "Transactional Channel",
        "channelType": "Transactional", "messageMedium": "Email"}));

    // Message types: one per channel, plus a second (opt-in) one for email marketing.
    let mut mt_ids = Vec::new();
    for (i, ch) in st.channels.clone().iter().enumerate() {
        let id = base * 48 + i as i64;
        let created = early_ms + r.below(DAY as u64 * 1000 * 30) as i64;
        let mut mt = json!({"id": id, "createdAt": created, "updatedAt": created + r.below(DAY as u64 * 1000) as i64,
            "name": format!("{} Message", ch["name"].as_str().unwrap_or("").replace(" Channel", "")),
            "channelId": ch["id"], "subscriptionPolicy": if i == 7 { "OptIn" } else { "OptOut" }});
        if i % 2 == 0 {
            mt["rateLimitPerMinute"] = json!(1000 * (i as i64 + 1));
        }
        if i % 3 == 0 {
            mt["frequencyCap"] = json!({"days": 7, "messages": 3});
        }
        mt_ids.push(id);
        st.message_types.push(mt);
    }
    let newsletter_mt = base * 48 + 20;
    st.message_types.push(
        json!({"id": newsletter_mt, "createdAt": early_ms, "updatedAt": early_ms,
        "name": "Newsletter", "channelId": channel_ids[0], "subscriptionPolicy": "OptIn"}),
    );

    // Lists: standard, dynamic and suppression lists; seeded users are members by hash.
    let list_specs: [(&str, &str, u64); 10] = [
        ("Newsletter", "Standard", 2),
        ("VIP customers", "Standard", 5),
        ("Engaged last 30d", "Dynamic", 3),
        ("Global suppression", "Suppression", 11),
        ("Lapsed buyers", "Dynamic", 4),
        ("Hard bounces", "Suppression", 13),
        ("Beta testers", "Standard", 7),
        ("Imported leads", "Standard", 6),
        ("Push opt-ins", "Dynamic", 3),
        ("Event attendees", "Standard", 9),
    ];
    let mut gen_lists = Vec::new();
    for (i, (name, ty, m)) in list_specs.iter().take(cfg.lists).enumerate() {
        let id = base * 1000 + 814 + i as i64;
        let mut j = json!({"id": id, "name": name, "createdAt": early_ms + r.below(span_ms as u64 / 2) as i64,
            "listType": ty});
        if i % 2 == 0 {
            j["description"] = json!(format!("{name} ({ty})"));
        }
        if *ty == "Suppression" {
            j["isGlobalSuppressionEnabled"] = json!(i == 3);
        }
        gen_lists.push((id, *m));
        st.lists.push(ListEnt {
            json: j,
            id,
            member_mod: *m,
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
        });
    }
    let standard: Vec<i64> = st
        .lists
        .iter()
        .filter(|l| l.json["listType"] == "Standard")
        .map(|l| l.id)
        .collect();
    let suppression: Vec<i64> = st
        .lists
        .iter()
        .filter(|l| l.json["listType"] == "Suppression")
        .map(|l| l.id)
        .collect();

    // Journeys first: triggered campaigns may belong to one.
    let journey_base = base * 45 + 678;
    for i in 0..cfg.journeys {
        let id = journey_base + i as i64;
        let created = early_ms + r.below((span_ms + 120 * DAY * 1000) as u64 - 1) as i64;
        let archived = i % 7 == 6;
        let draft = i % 5 == 4;
        let mut j = json!({"id": id, "name": format!("{} {} journey", ADJ[i % ADJ.len()], NOUN[i % NOUN.len()]),
            "enabled": !archived && !draft, "isArchived": archived,
            "journeyType": if draft { "Draft" } else { "Published" },
            "createdAt": created, "updatedAt": created + r.below(5 * DAY as u64 * 1000) as i64,
            "creatorUserId": r.pick(OPS)});
        if i % 2 == 0 {
            j["description"] = json!(format!("Journey #{i}"));
            j["lifetimeLimit"] = json!(1 + i as i64 % 3);
            j["simultaneousLimit"] = json!(1);
            j["startTileId"] = json!(1);
            j["triggerEventNames"] = json!([EVENT_NAMES[i % EVENT_NAMES.len()]]);
        }
        if i % 6 == 1 {
            j["draft"] = json!({"id": id * 10 + 1, "name": format!("Draft of journey {id}"),
                "createdAt": created + 1000, "updatedAt": created + 2000, "creatorUserId": OPS[0]});
        }
        st.journeys.push(j);
    }

    // Campaigns: (i % 7, i % 9) covers every (medium, state) pair within 63 campaigns.
    let camp_base = base * 2000 + 229;
    let tmpl_base = base * 3000 + 605;
    let mut next_tmpl = tmpl_base;
    let mut by_medium: BTreeMap<&'static str, Vec<CampRef>> = BTreeMap::new();
    let mut recurring_parent: Option<i64> = None;
    for i in 0..cfg.campaigns {
        let medium = CAMPAIGN_MEDIUMS[i % 7];
        let state = CAMPAIGN_STATES[i % 9];
        let triggered = i % 2 == 1 && !matches!(state, "Recurring" | "Scheduled" | "Starting");
        let id = camp_base + 3 * i as i64;
        let template_id = next_tmpl;
        next_tmpl += 1;
        let mut cr = Rng::new(seed, "campaign", &[i as u64]);
        let created = early_ms + cr.below((span_ms + 120 * DAY * 1000 - DAY * 1000) as u64) as i64;
        let updated =
            (created + cr.below(3 * DAY as u64 * 1000) as i64).min(history_end * 1000 - 1);
        let name = format!(
            "{} {} — {} {}",
            ADJ[cr.below(ADJ.len() as u64) as usize],
            NOUN[cr.below(NOUN.len() as u64) as usize],
            medium.to_lowercase(),
            if triggered { "triggered" } else { "blast" }
        );
        let ch = channel_index(medium);
        let mut c = json!({"id": id, "createdAt": created, "updatedAt": updated, "name": name,
            "templateId": template_id, "messageMedium": medium, "createdByUserId": cr.pick(OPS),
            "updatedByUserId": cr.pick(OPS), "campaignState": state,
            "type": if triggered { "Triggered" } else { "Blast" }, "labels": if i % 4 == 0 { json!(["promo"]) } else { json!([]) }});
        if triggered {
            if i % 3 == 0 && !st.journeys.is_empty() {
                c["workflowId"] = st.journeys[i % st.journeys.len()]["id"].clone();
            }
        } else {
            let lid = if standard.is_empty() {
                0
            } else {
                standard[i % standard.len()]
            };
            c["listIds"] = json!([lid]);
            c["suppressionListIds"] = if i % 3 == 0 && !suppression.is_empty() {
                json!([suppression[0]])
            } else {
                json!([])
            };
            if matches!(
                state,
                "Running" | "Finished" | "Aborted" | "Archived" | "Recurring"
            ) {
                let start = updated - cr.below(3_600_000) as i64;
                c["startAt"] = json!(start);
                c["sendSize"] = json!(cr.range(2, 50_000));
                if matches!(state, "Finished" | "Aborted" | "Archived") {
                    c["endedAt"] = json!(updated);
                }
            }
            if state == "Recurring" {
                recurring_parent = Some(id);
            } else if state == "Finished"
                && i % 2 == 0
                && let Some(p) = recurring_parent
            {
                c["recurringCampaignId"] = json!(p);
            }
        }
        if SENDING_STATES.contains(&state) {
            by_medium.entry(medium).or_default().push(CampRef {
                id,
                template_id,
                blast: !triggered,
                channel_id: channel_ids[ch],
                message_type_id: mt_ids[ch],
            });
        }
        let tm = template_medium(medium);
        let tt = if triggered { "Triggered" } else { "Blast" };
        let t_created = created - cr.below(3_600_000) as i64;
        st.templates.push(template(
            seed,
            template_id,
            tt,
            tm,
            Some(id),
            &format!("{name} Template"),
            t_created,
            updated,
            mt_ids[ch],
        ));
        st.campaigns.push(c);
    }

    // Standalone Base and Workflow templates for every medium, created across history.
    for tm in TEMPLATE_MEDIUMS {
        for tt in ["Base", "Workflow"] {
            for k in 0..cfg.templates_per_combo {
                let tid = next_tmpl;
                next_tmpl += 1;
                let mut tr = Rng::new(seed, "template", &[tid as u64]);
                let created =
                    hs_ms - 10 * DAY * 1000 + tr.below((span_ms + 10 * DAY * 1000) as u64) as i64;
                let updated =
                    (created + tr.below(2 * DAY as u64 * 1000) as i64).min(history_end * 1000 - 1);
                let ch = channel_index(tm);
                st.templates.push(template(
                    seed,
                    tid,
                    tt,
                    tm,
                    None,
                    &format!("{tt} {} template {k}", tm.to_lowercase()),
                    created,
                    updated,
                    mt_ids[ch],
                ));
            }
        }
    }

    // Experiments on a few email campaigns that sent.
    if let Some(email) = by_medium.get("Email") {
        for (k, c) in email
            .iter()
            .filter(|c| c.blast)
            .take(3 + cfg.campaigns / 126)
            .enumerate()
        {
            let mut er = Rng::new(seed, "experiment", &[k as u64]);
            let mut variants = vec![(
                c.template_id,
                "Control".to_string(),
                "Spring is here".to_string(),
            )];
            for v in 0..1 + k % 2 {
                variants.push((
                    c.template_id + 500_000 + v as i64,
                    if v == 0 { "Winner" } else { "-" }.to_string(),
                    format!("Variant {} subject", v + 1),
                ));
            }
            st.experiments.push(Experiment {
                id: base * 10 + k as i64,
                campaign_id: c.id,
                variants,
                created_ms: hs_ms + er.below(span_ms as u64) as i64,
            });
        }
    }

    // Snippets (ISO-8601 timestamps per the spec) and webhooks.
    for k in 0..4i64 {
        let created = hs_ms + r.below(span_ms as u64) as i64;
        st.snippets.push(json!({"id": base * 7 + k, "name": format!("snippet_{k}"),
            "content": "Hi {{firstName}}, see {{url}}", "description": format!("Reusable block {k}"),
            "variables": ["firstName", "url"], "createdAt": iso_ms(created), "updatedAt": iso_ms(created + 60_000),
            "createdBy": OPS[0], "updatedBy": OPS[1], "projectId": base}));
    }
    const AUTH: [&str; 3] = ["NoAuth", "Basic", "OAuth2"];
    for k in 0..3i64 {
        st.webhooks.push(json!({"id": base * 9 + k, "endpoint": format!("https://hooks.acme.example/iterable/{k}"),
            "authType": AUTH[k as usize], "enabled": k != 2,
            "blastSendEnabled": k == 0, "triggeredSendEnabled": true,
            "channelIds": [channel_ids[0]], "messageTypeIds": [mt_ids[0]]}));
    }

    // Metadata tables: enough keys to need several nextMarker pages.
    for (t, table) in ["storeconfig", "promos"].iter().enumerate() {
        let mut keys = BTreeMap::new();
        for k in 0..cfg.metadata_keys {
            let key = format!("{}-{:03}", &table[..2], k);
            let (city, country, _) = CITIES[(k + t) % CITIES.len()];
            let value = if t == 0 {
                json!({"city": city, "country": country, "open": k % 3 != 0, "capacity": 10 + k})
            } else {
                json!({"code": format!("PROMO{k}"), "discount": 5 * (1 + k % 4), "active": k % 2 == 0})
            };
            let lm = hs_ms + r.below(span_ms as u64) as i64;
            keys.insert(
                key.clone(),
                json!({"table": table, "key": key,
                "size": value.to_string().len(), "lastModified": lm, "value": value}),
            );
        }
        st.metadata.insert(table.to_string(), keys);
    }

    // Catalogs with items (several pages at the default pageSize of 10).
    for (c, name) in ["restaurants", "products", "stores"].iter().enumerate() {
        let mut items = BTreeMap::new();
        for k in 0..cfg.catalog_items {
            let mut ir = Rng::new(seed, "catalogItem", &[c as u64, k as u64]);
            let (id, value) = catalog_item(&mut ir, name, k);
            items.insert(
                id,
                CatalogItem {
                    value,
                    last_modified: hs_ms + ir.below(span_ms as u64) as i64,
                },
            );
        }
        let mut mappings = BTreeMap::new();
        match *name {
            "restaurants" => {
                mappings.insert("location".into(), "geo_location".into());
                mappings.insert("averagePrice".into(), "long".into());
            }
            "products" => {
                mappings.insert("price".into(), "double".into());
                mappings.insert("inStock".into(), "boolean".into());
            }
            _ => {}
        }
        st.catalogs.insert(
            name.to_string(),
            CatalogEnt {
                name: name.to_string(),
                items,
                mappings,
            },
        );
    }

    st.next_id = base * 5_000_000;
    (st, by_medium, gen_lists)
}

fn catalog_item(r: &mut Rng, catalog: &str, k: usize) -> (String, Value) {
    match catalog {
        "restaurants" => {
            let (city, _, _) = *r.pick(CITIES);
            let cuisine = *r.pick(&["thai", "mexican", "italian", "indian", "japanese"]);
            (
                format!("restaurant-{}", 100 + k),
                json!({"name": format!("{} {}", ADJ[k % ADJ.len()], cuisine),
                "cuisine": cuisine, "averagePrice": r.range(8, 60), "city": city,
                "location": {"lat": 37.0 + r.below(1000) as f64 / 1000.0, "lon": -122.0 - r.below(1000) as f64 / 1000.0}}),
            )
        }
        "products" => {
            let (sku, name, price, cat) = *r.pick(SKUS);
            (
                format!("{sku}-{k}"),
                json!({"name": name, "sku": sku, "price": price, "category": cat,
                "inStock": r.chance(0.8), "tags": [cat, "catalog"]}),
            )
        }
        _ => {
            let (city, country, region) = *r.pick(CITIES);
            (
                format!("store-{:04}", k),
                json!({"city": city, "country": country, "region": region,
                "openingHours": {"weekday": "09:00-18:00", "weekend": "10:00-16:00"}}),
            )
        }
    }
}

/// A template list item plus its medium-specific detail fields.
#[allow(clippy::too_many_arguments)]
pub fn template(
    seed: u64,
    id: i64,
    tt: &str,
    medium: &str,
    campaign_id: Option<i64>,
    name: &str,
    created: i64,
    updated: i64,
    message_type_id: i64,
) -> TemplateEnt {
    let mut r = Rng::new(seed, "templateDetail", &[id as u64]);
    let mut json = json!({"templateId": id, "createdAt": created, "updatedAt": updated, "name": name,
        "creatorUserId": r.pick(OPS), "messageTypeId": message_type_id});
    if let Some(c) = campaign_id {
        json["campaignId"] = json!(c);
    }
    if id % 3 == 0 {
        json["clientTemplateId"] = json!(format!("tmpl-{id}"));
    }
    TemplateEnt {
        json,
        template_type: tt.to_string(),
        medium: medium.to_string(),
        detail: detail(&mut r, medium),
    }
}

fn detail(r: &mut Rng, medium: &str) -> Map<String, Value> {
    let subject = format!("{} {}", r.pick(ADJ), r.pick(NOUN));
    let v = match medium {
        "Email" => json!({"subject": subject, "preheaderText": "20% off", "fromName": "Acme",
            "fromEmail": "news@acme.example", "replyToEmail": "support@acme.example", "ccEmails": [], "bccEmails": [],
            "html": format!("<html><body><h1>{subject}</h1>Hi {{{{firstName}}}}</body></html>"),
            "plainText": format!("{subject}\nHi {{{{firstName}}}}"), "dataFeedIds": [], "cacheDataFeed": false,
            "mergeDataFeedContext": false, "googleAnalyticsCampaignName": "", "linkParams": [],
            "locale": "en", "isDefaultLocale": true}),
        "Push" => {
            json!({"title": subject, "message": "Tap to see what's new", "badge": "1", "sound": "default",
            "payload": {}, "buttons": [], "deeplink": {"ios": "acme://home", "android": "acme://home"},
            "richMedia": {}, "interruptionLevel": "active", "isSilentPush": false, "relevanceScore": 0.5,
            "wake": false, "locale": "en"})
        }
        "SMS" => json!({"message": format!("{subject}: reply STOP to opt out"), "imageUrl": "",
            "trackingDomain": "acme.example", "locale": "en"}),
        _ => {
            json!({"html": format!("<html><body>{subject}</body></html>"), "expirationDateTime": null,
            "expirationDuration": 30, "inAppDisplaySettings": {"top": {"percentage": 0}, "right": {"percentage": 0},
            "bottom": {"percentage": 0}, "left": {"percentage": 0}, "shouldAnimate": false},
            "webInAppDisplaySettings": {"position": "Center"},
            "inboxMetadata": {"title": subject, "subtitle": "Tap to read", "icon": ""}, "payload": {}, "locale": "en"})
        }
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
