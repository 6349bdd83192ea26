//! Seeded export events, generated per `(type, day, row)` without materialising history.
//!
//! Row `i` of `(type, day)` gets a `createdAt` second that strictly increases with
//! `i` (the day is cut into `n` equal strides and each row jitters inside its own
//! stride), so rows of one type never share a `createdAt` and a window maps to
//! index ranges. Opens/clicks/bounces… link to a send of the previous day (or the
//! same day), copying its `messageId`, `campaignId`, `templateId` and email.
//!
//! Natural key of every event row: `createdAt|email|d` where `d` is the first of
//! `messageId`, `eventName`, `id` present (see [`crate::truth::natural_key`]).
//! Because `createdAt` is unique per type, keys are unique by construction.

use std::sync::Arc;

use serde_json::{Value, json};

use super::names::*;
use super::rng::{Rng, hash};
use super::time::{DAY, export_ts};
use super::{CampRef, Gen, users};
use crate::types::Scale;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Send,
    Skip,
    /// Follows a send of the named type (open, click, bounce…).
    Follow(&'static str),
    Subscribe,
    Unsubscribe,
    Received,
    Session,
    Purchase,
    Custom,
    JourneyExit,
    UnknownSession,
}

#[derive(Debug)]
pub struct EventType {
    /// The export `dataTypeName` (camelCase, as in the spec enum).
    pub name: &'static str,
    /// Campaign medium the messages belong to.
    pub medium: &'static str,
    pub kind: Kind,
    pub weight: u32,
}

const fn t(name: &'static str, medium: &'static str, kind: Kind, weight: u32) -> EventType {
    EventType {
        name,
        medium,
        kind,
        weight,
    }
}

use Kind::*;

/// The 52 event data types (every export `dataTypeName` except `user`).
pub static TYPES: [EventType; 52] = [
    t("emailSend", "Email", Send, 4),
    t("emailOpen", "Email", Follow("emailSend"), 2),
    t("emailClick", "Email", Follow("emailSend"), 1),
    t("hostedUnsubscribeClick", "Email", Follow("emailSend"), 1),
    t("emailComplaint", "Email", Follow("emailSend"), 1),
    t("emailBounce", "Email", Follow("emailSend"), 1),
    t("emailSendSkip", "Email", Skip, 1),
    t("emailSubscribe", "Email", Subscribe, 1),
    t("emailUnSubscribe", "Email", Unsubscribe, 1),
    t("pushSend", "Push", Send, 2),
    t("pushOpen", "Push", Follow("pushSend"), 1),
    t("pushUninstall", "Push", Follow("pushSend"), 1),
    t("pushBounce", "Push", Follow("pushSend"), 1),
    t("pushSendSkip", "Push", Skip, 1),
    t("inAppSend", "InApp", Send, 1),
    t("inAppOpen", "InApp", Follow("inAppSend"), 1),
    t("inAppClick", "InApp", Follow("inAppSend"), 1),
    t("inAppClose", "InApp", Follow("inAppSend"), 1),
    t("inAppDelete", "InApp", Follow("inAppSend"), 1),
    t("inAppDelivery", "InApp", Follow("inAppSend"), 1),
    t("inAppSendSkip", "InApp", Skip, 1),
    t("inAppRecall", "InApp", Follow("inAppSend"), 1),
    t("inboxSession", "InApp", Session, 1),
    t("inboxMessageImpression", "InApp", Follow("inAppSend"), 1),
    t("smsSend", "SMS", Send, 1),
    t("smsBounce", "SMS", Follow("smsSend"), 1),
    t("smsClick", "SMS", Follow("smsSend"), 1),
    t("smsReceived", "SMS", Received, 1),
    t("smsSendSkip", "SMS", Skip, 1),
    t("smsUsageInfo", "SMS", Follow("smsSend"), 1),
    t("webPushSend", "WebPush", Send, 1),
    t("webPushClick", "WebPush", Follow("webPushSend"), 1),
    t("webPushSendSkip", "WebPush", Skip, 1),
    t("rcsSend", "SMS", Send, 1),
    t("rcsSendSkip", "SMS", Skip, 1),
    t("embeddedSend", "Embedded", Send, 1),
    t("embeddedSendSkip", "Embedded", Skip, 1),
    t("embeddedClick", "Embedded", Follow("embeddedSend"), 1),
    t("embeddedReceived", "Embedded", Follow("embeddedSend"), 1),
    t("embeddedImpression", "Embedded", Follow("embeddedSend"), 1),
    t("embeddedSession", "Embedded", Session, 1),
    t("whatsAppBounce", "WhatsApp", Follow("whatsAppSend"), 1),
    t("whatsAppClick", "WhatsApp", Follow("whatsAppSend"), 1),
    t("whatsAppReceived", "WhatsApp", Received, 1),
    t("whatsAppSeen", "WhatsApp", Follow("whatsAppSend"), 1),
    t("whatsAppSend", "WhatsApp", Send, 1),
    t("whatsAppSendSkip", "WhatsApp", Skip, 1),
    t("whatsAppUsageInfo", "WhatsApp", Follow("whatsAppSend"), 1),
    t("purchase", "Email", Purchase, 1),
    t("customEvent", "Email", Custom, 2),
    t("unknownSession", "Email", UnknownSession, 1),
    t("journeyExit", "Email", JourneyExit, 1),
];

/// Finds an event type by `dataTypeName`, case-insensitively (`emailUnsubscribe`
/// works, as production connectors rely on); `anonSession` is the newer name of
/// `unknownSession`.
pub fn find(name: &str) -> Option<&'static EventType> {
    let name = if name.eq_ignore_ascii_case("anonSession") {
        "unknownSession"
    } else {
        name
    };
    TYPES.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

/// The connector's snake_case stream name of a data type.
pub fn snake(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s.replace("whats_app", "whatsapp")
        .replace("email_un_subscribe", "email_unsubscribe")
}

/// Rows of a type on a history day.
pub fn rows_on_day(model: &Gen, t: &EventType, day: u32) -> u64 {
    if day >= model.days() {
        return 0;
    }
    let h = hash(model.seed, "rows", &[super::rng::label(t.name), day as u64]);
    if model.cfg.row_base == 0 {
        // Tiny: 0–4 rows, and at least one row on one designated day so every
        // stream is non-empty over the history.
        let n = h % 5;
        let special = (hash(model.seed, "rowsDay", &[super::rng::label(t.name)])
            % model.days() as u64) as u32;
        return if day == special && n == 0 {
            1 + (h >> 8) % 4
        } else {
            n
        };
    }
    let big = matches!(model.scale, Scale::Large | Scale::XLarge);
    let weight = if t.name == "emailSend" && big {
        12
    } else {
        t.weight
    } as u64;
    let base = model.cfg.row_base as u64 * weight;
    // Jitter only upwards: large scale guarantees ≥ 1M email sends over 90 days.
    (base + (h >> 3) % (base / 5 + 1)).min(DAY as u64)
}

/// `createdAt` (epoch seconds) of row `i` of `n`: strictly increasing in `i`.
pub fn row_time(model: &Gen, t: &EventType, day: u32, i: u64, n: u64) -> i64 {
    if is_twin(model, t, day, i) {
        return row_time(model, t, day, i - 1, n);
    }
    let stride = (DAY as u64 / n.max(1)).max(1);
    let jitter = hash(
        model.seed,
        "rowTime",
        &[super::rng::label(t.name), day as u64, i],
    ) % stride;
    model.history_start + day as i64 * DAY + (i * DAY as u64 / n.max(1)) as i64 + jitter as i64
}

/// Some custom events repeat the one before them: the same user, event
/// name and second, different data (a second item added to a cart in the
/// same second). Nothing that identifies an event tells them apart, as
/// happens in Iterable; a connector must still keep both.
pub fn is_twin(model: &Gen, t: &EventType, day: u32, i: u64) -> bool {
    // Odd rows only, so a twin's original is never a twin itself.
    t.kind == Custom
        && i % 2 == 1
        && hash(
            model.seed,
            "twin",
            &[super::rng::label(t.name), day as u64, i],
        )
        .is_multiple_of(3)
}

fn day_start(model: &Gen, day: u32) -> i64 {
    model.history_start + day as i64 * DAY
}

/// The send a follow-up row links to: `(send type, day, row)`.
fn link(model: &Gen, t: &EventType, day: u32, i: u64) -> Option<(&'static EventType, u32, u64)> {
    let Follow(parent) = t.kind else { return None };
    let p = find(parent)?;
    let mut r = Rng::new(
        model.seed,
        "link",
        &[super::rng::label(t.name), day as u64, i],
    );
    for d in [day.checked_sub(1), Some(day)].into_iter().flatten() {
        let n = rows_on_day(model, p, d);
        if n > 0 {
            return Some((p, d, r.below(n)));
        }
    }
    None
}

/// The user index a row belongs to (cheap; used by per-user scans).
pub fn user_of(model: &Gen, t: &EventType, day: u32, i: u64) -> u64 {
    if is_twin(model, t, day, i) {
        return user_of(model, t, day, i - 1);
    }
    if let Some((p, d, j)) = link(model, t, day, i) {
        return user_of(model, p, d, j);
    }
    Rng::new(model.seed, t.name, &[day as u64, i]).below(model.cfg.users)
}

/// Message identity shared by a send and its follow-ups.
struct Core {
    user: u64,
    camp: Option<CampRef>,
    message_id: String,
    sent_at: i64,
}

fn core(model: &Gen, t: &EventType, day: u32, i: u64) -> (Core, Rng) {
    if let Some((p, d, j)) = link(model, t, day, i) {
        let (c, _) = core(model, p, d, j);
        return (
            c,
            Rng::new(
                model.seed,
                "rowExtra",
                &[super::rng::label(t.name), day as u64, i],
            ),
        );
    }
    let mut r = Rng::new(model.seed, t.name, &[day as u64, i]);
    let user = r.below(model.cfg.users);
    let camp = model
        .campaigns_by_medium
        .get(t.medium)
        .filter(|v| !v.is_empty())
        .map(|v| r.pick(v).clone());
    let message_id = r.hex32();
    let n = rows_on_day(model, t, day);
    let sent_at = row_time(model, t, day, i, n);
    (
        Core {
            user,
            camp,
            message_id,
            sent_at,
        },
        r,
    )
}

fn device(r: &mut Rng) -> Value {
    let ios = r.chance(0.5);
    json!({"deviceId": format!("{:016X}", r.next_u64()), "platform": if ios { "iOS" } else { "Android" },
        "appPackageName": "com.acme.app"})
}

fn phone(r: &mut Rng) -> String {
    format!("+1555{:07}", r.below(10_000_000))
}

/// Builds row `i` of `(type, day)`: `(createdAt secs, export JSON object)`.
pub fn build_row(model: &Gen, t: &EventType, day: u32, i: u64) -> (i64, Value) {
    if is_twin(model, t, day, i) {
        // The row before, with another item.
        let (secs, mut row) = build_row(model, t, day, i - 1);
        let sku = row["sku"].as_str().unwrap_or_default().to_string();
        let at = SKUS.iter().position(|s| s.0 == sku).unwrap_or(0);
        let (sku, _, price, cat) = SKUS[(at + 1 + i as usize % (SKUS.len() - 1)) % SKUS.len()];
        row["sku"] = json!(sku);
        row["price"] = json!(price);
        row["categories"] = json!([cat]);
        return (secs, row);
    }
    let n = rows_on_day(model, t, day);
    let secs = row_time(model, t, day, i, n);
    let (c, mut r) = core(model, t, day, i);
    let ts = export_ts(secs);
    let doc = export_ts(secs + r.below(3) as i64);
    let mut row = json!({
        "email": users::email(model, c.user),
        "userId": users::user_id(c.user),
        "createdAt": ts,
        "itblInternal": {"documentCreatedAt": doc, "documentUpdatedAt": doc},
    });
    let o = row.as_object_mut().expect("object");
    let camp = c.camp.clone();
    let message = |o: &mut serde_json::Map<String, Value>| {
        if let Some(cr) = &camp {
            o.insert("campaignId".into(), json!(cr.id));
            o.insert("templateId".into(), json!(cr.template_id));
        }
        o.insert("messageId".into(), json!(c.message_id));
    };
    let url = format!("https://acme.example/{}", *r.pick(NOUN));
    match t.kind {
        Send | Skip => {
            message(o);
            if let Some(cr) = &c.camp {
                o.insert("channelId".into(), json!(cr.channel_id));
                o.insert("messageTypeId".into(), json!(cr.message_type_id));
            }
            let (sku, _, price, _) = *r.pick(SKUS);
            let event_name: &&str = r.pick(EVENT_NAMES);
            let td = transactional_data(event_name, sku, price);
            o.insert("transactionalData".into(), json!(td));
            if t.kind == Skip {
                o.insert(
                    "reason".into(),
                    json!(*r.pick(&[
                        "DuplicateMarketingMessage",
                        "FrequencyCapped",
                        "MessageTypeUnsubscribed",
                        "MissingContactInfo"
                    ])),
                );
            } else {
                o.insert("contentId".into(), json!(9_000 + r.below(5_000)));
                o.insert("catalogLookupCount".into(), json!(0));
                o.insert("catalogCollectionCount".into(), json!(0));
                o.insert("productRecommendationCount".into(), json!(0));
                send_extras(t.name, o, &mut r);
            }
        }
        Follow(_) => {
            message(o);
            follow_extras(t.name, o, &mut r, c.sent_at, &url);
        }
        Subscribe | Unsubscribe => {
            let list = model
                .lists
                .get(r.below(model.lists.len() as u64) as usize)
                .map(|l| l.0)
                .unwrap_or(0);
            o.insert("emailListIds".into(), json!([list]));
            o.insert("emailListId".into(), json!(list));
            o.insert("channelIds".into(), json!([]));
            if t.kind == Subscribe {
                o.insert(
                    "signupSource".into(),
                    json!(*r.pick(&["ListAPI", "Import", "WebForm"])),
                );
                o.insert("profileUpdatedAt".into(), json!(export_ts(secs - 60)));
            } else {
                o.insert(
                    "unsubSource".into(),
                    json!(*r.pick(&["Import", "HardBounce", "ListAPI", "EmailLink"])),
                );
            }
        }
        Received => {
            let (cc, name, code) = *r.pick(COUNTRY_NAMES);
            let _ = cc;
            if t.name == "smsReceived" {
                o.insert("fromPhoneNumber".into(), json!(phone(&mut r)));
                o.insert("toPhoneNumber".into(), json!("+15555550999"));
                o.insert(
                    "smsMessage".into(),
                    json!(*r.pick(&["STOP", "YES", "HELP", "Thanks!"])),
                );
                o.insert("smsReceiveCount".into(), json!(1));
                o.insert("mmsReceiveCount".into(), json!(0));
                o.insert("espName".into(), json!("Twilio"));
            } else {
                o.insert("fromWhatsAppPhoneNumber".into(), json!(phone(&mut r)));
                o.insert("toWhatsAppPhoneNumber".into(), json!("+15555550999"));
                o.insert(
                    "whatsAppMessage".into(),
                    json!(*r.pick(&["Where is my order?", "Thanks", "STOP"])),
                );
                o.insert("espName".into(), json!("Meta"));
            }
            o.insert("recipientCountryName".into(), json!(name));
            o.insert("recipientCountryCallingCode".into(), json!(code));
        }
        Session => {
            let dur = 5 + r.below(600) as i64;
            let id = r.hex32();
            o.insert("sessionId".into(), json!(id));
            o.insert("sessionStartedAt".into(), json!(export_ts(secs)));
            o.insert("sessionEndedAt".into(), json!(export_ts(secs + dur)));
            o.insert("deviceInfo".into(), device(&mut r));
            if t.name == "inboxSession" {
                let total = 1 + r.below(20);
                o.insert("startTotalMessageCount".into(), json!(total));
                o.insert("startUnreadMessageCount".into(), json!(r.below(total + 1)));
                o.insert("endTotalMessageCount".into(), json!(total));
                o.insert("endUnreadMessageCount".into(), json!(0));
            } else {
                o.insert("placementId".into(), json!(100 + r.below(5)));
            }
        }
        Purchase => {
            let k = 1 + r.below(3);
            let mut items = Vec::new();
            let mut total = 0.0;
            for _ in 0..k {
                let (sku, name, price, cat) = *r.pick(SKUS);
                let q = 1 + r.below(3);
                total += price * q as f64;
                items.push(json!({"id": sku, "sku": sku, "name": name, "price": price, "quantity": q, "categories": [cat]}));
            }
            o.insert("id".into(), json!(format!("order-{}", r.hex32())));
            o.insert("total".into(), json!((total * 100.0).round() / 100.0));
            if let Some(cr) = &c.camp {
                o.insert("campaignId".into(), json!(cr.id));
                o.insert("templateId".into(), json!(cr.template_id));
            }
            o.insert("shoppingCartItems".into(), json!(items));
        }
        Custom => {
            let (sku, _, price, cat) = *r.pick(SKUS);
            o.insert("eventName".into(), json!(*r.pick(EVENT_NAMES)));
            o.insert("eventUpdatedAt".into(), json!(ts));
            o.insert("sku".into(), json!(sku));
            o.insert("price".into(), json!(price));
            o.insert("categories".into(), json!([cat]));
            o.insert(
                "platform".into(),
                json!(*r.pick(&["web", "iOS", "Android"])),
            );
        }
        JourneyExit => {
            o.insert("workflowId".into(), json!(10_000 + r.below(50)));
            o.insert(
                "workflowName".into(),
                json!(format!("{} journey", *r.pick(ADJ))),
            );
            o.insert(
                "journeyExitReason".into(),
                json!(*r.pick(&["Completed", "ExitRule", "Deleted"])),
            );
        }
        UnknownSession => {
            o.insert("anonymousSessionId".into(), json!(r.hex32()));
            o.insert("sessionStartedAt".into(), json!(ts));
            o.insert("pageViews".into(), json!(1 + r.below(12)));
            o.insert("userAgent".into(), json!(r.pick(USER_AGENTS).0));
        }
    }
    (secs, row)
}

/// `{"eventName":…,"price":…,"sku":…}` as serde_json writes that object
/// (keys sorted, compact), without building it: names and SKUs are plain
/// ASCII, and a float's `Debug` text is the shortest that reads back, as
/// serde_json's is, for the prices of `SKUS`.
fn transactional_data(event_name: &str, sku: &str, price: f64) -> String {
    format!(r#"{{"eventName":"{event_name}","price":{price:?},"sku":"{sku}"}}"#)
}

fn send_extras(name: &str, o: &mut serde_json::Map<String, Value>, r: &mut Rng) {
    match name {
        "emailSend" => {
            o.insert(
                "messageBusId".into(),
                json!(format!(
                    "0100{:012x}-{}-000000",
                    r.next_u64() >> 16,
                    r.hex32()
                )),
            );
        }
        "pushSend" | "webPushSend" => {
            o.insert(
                "platformEndpoint".into(),
                json!(format!(
                    "arn:aws:sns:us-east-1:000000000000:endpoint/{:x}",
                    r.next_u64()
                )),
            );
            o.insert("notificationsEnabled".into(), json!(r.chance(0.9)));
        }
        "smsSend" | "rcsSend" => {
            o.insert("toPhoneNumber".into(), json!(phone(r)));
            o.insert("fromSMSSenderId".into(), json!(301));
            o.insert("smsSendCount".into(), json!(1));
            o.insert("mmsSendCount".into(), json!(0));
            o.insert("espName".into(), json!("Twilio"));
            o.insert(
                "espAccountId".into(),
                json!(format!("AC{:x}", r.next_u64())),
            );
            o.insert("billingParty".into(), json!("Iterable"));
            o.insert(
                "renderedSmsMessage".into(),
                json!("Hi there, 20% off today"),
            );
            o.insert("isSMSEstimation".into(), json!(false));
        }
        "whatsAppSend" => {
            o.insert("toWhatsAppPhoneNumber".into(), json!(phone(r)));
            o.insert("fromWhatsAppSenderId".into(), json!(12));
            o.insert("espName".into(), json!("Meta"));
            o.insert("billingParty".into(), json!("Iterable"));
            o.insert(
                "renderedWhatsAppMessage".into(),
                json!("Your order shipped"),
            );
        }
        "inAppSend" => {
            o.insert(
                "messageContext".into(),
                json!({"saveToInbox": r.chance(0.5), "silentInbox": false, "location": "in-app"}),
            );
        }
        "embeddedSend" => {
            o.insert("placementId".into(), json!(100 + r.below(5)));
        }
        _ => {}
    }
}

fn follow_extras(
    name: &str,
    o: &mut serde_json::Map<String, Value>,
    r: &mut Rng,
    sent_at: i64,
    url: &str,
) {
    let (ua, dev) = *r.pick(USER_AGENTS);
    let (city, country, region) = *r.pick(CITIES);
    let ip = format!("203.0.113.{}", r.below(250) + 1);
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    match name {
        "emailOpen" | "emailClick" => {
            put("ip", json!(ip));
            put("city", json!(city));
            put("region", json!(region));
            put("country", json!(country));
            put("userAgent", json!(ua));
            put("userAgentDevice", json!(dev));
            put("isBot", json!(r.chance(0.05)));
            if name == "emailClick" {
                put("url", json!(url));
                put("hrefIndex", json!(r.below(5)));
                put("contentId", json!(9_000 + r.below(5_000)));
            }
        }
        "hostedUnsubscribeClick" => {
            put("ip", json!(ip));
            put("userAgent", json!(ua));
            put("url", json!("https://links.acme.example/unsubscribe"));
        }
        "emailComplaint" => put("recipientState", json!("Complaint")),
        "emailBounce" => {
            let hard = r.chance(0.7);
            put(
                "recipientState",
                json!(if hard { "HardBounce" } else { "SoftBounce" }),
            );
            put("status", json!(if hard { "5.1.1" } else { "4.2.2" }));
        }
        "pushOpen" => {
            put("appAlreadyRunning", json!(r.chance(0.3)));
            put("deviceInfo", device(r));
        }
        "pushUninstall" | "pushBounce" => {
            put(
                "platformEndpoint",
                json!(format!(
                    "arn:aws:sns:us-east-1:000000000000:endpoint/{:x}",
                    r.next_u64()
                )),
            );
            if name == "pushBounce" {
                put("status", json!("EndpointDisabled"));
            }
        }
        n if n.starts_with("inApp") || n == "inboxMessageImpression" => {
            put("sentAt", json!(export_ts(sent_at)));
            put("expiresAt", json!(export_ts(sent_at + 30 * DAY)));
            put("deviceInfo", device(r));
            put(
                "messageContext",
                json!({"saveToInbox": true, "silentInbox": false, "location": if r.chance(0.5) { "in-app" } else { "inbox" }}),
            );
            match n {
                "inAppClick" => put(
                    "clickedUrl",
                    json!(if r.chance(0.3) {
                        "iterable://dismiss"
                    } else {
                        url
                    }),
                ),
                "inAppClose" => put("closeAction", json!(*r.pick(&["link", "back", "other"]))),
                "inAppDelete" => put(
                    "deleteAction",
                    json!(*r.pick(&["delete-button", "inbox-swipe"])),
                ),
                "inboxMessageImpression" => {
                    put("impressionCount", json!(1 + r.below(4)));
                    put("totalDuration", json!(r.below(30_000)));
                }
                _ => {}
            }
        }
        "smsBounce" => {
            put("toPhoneNumber", json!(phone(r)));
            put("errorCode", json!("30003"));
        }
        "smsClick" | "webPushClick" | "whatsAppClick" => put("clickedUrl", json!(url)),
        "smsUsageInfo" => {
            let (_, cname, code) = *r.pick(COUNTRY_NAMES);
            put("smsSendCount", json!(1));
            put("mmsSendCount", json!(0));
            put("segmentCount", json!(1 + r.below(3)));
            put("billingParty", json!("Iterable"));
            put("recipientCountryName", json!(cname));
            put("recipientCountryCallingCode", json!(code));
        }
        "embeddedClick" => {
            put("placementId", json!(100 + r.below(5)));
            put("buttonIdentifier", json!("cta"));
            put("targetUrl", json!(url));
        }
        "embeddedReceived" | "embeddedImpression" => {
            put("placementId", json!(100 + r.below(5)));
            put("deviceInfo", device(r));
        }
        "whatsAppBounce" | "whatsAppSeen" | "whatsAppUsageInfo" => {
            put("toWhatsAppPhoneNumber", json!(phone(r)));
            if name == "whatsAppBounce" {
                put("status", json!("131026"));
            }
            if name == "whatsAppUsageInfo" {
                put("conversationCategory", json!("marketing"));
                put("billingParty", json!("Iterable"));
            }
        }
        _ => {}
    }
}

/// Row positions `(day, i, createdAt)` of a type with `start <= createdAt < end`,
/// in `createdAt` order, walking days lazily.
pub struct Positions {
    model: Arc<Gen>,
    t: &'static EventType,
    day: u32,
    i: u64,
    n: u64,
    end_day: u32,
    end: i64,
}

impl Positions {
    pub fn new(model: Arc<Gen>, t: &'static EventType, start: i64, end: i64) -> Positions {
        let days = model.days() as i64;
        let first = (start - model.history_start).div_euclid(DAY).clamp(0, days) as u32;
        let end_day = ((end - model.history_start + DAY - 1).div_euclid(DAY)).clamp(0, days) as u32;
        let mut p = Positions {
            n: 0,
            i: 0,
            day: first,
            end_day,
            end,
            t,
            model,
        };
        if first < end_day {
            p.n = rows_on_day(&p.model, t, first);
            // Skip rows before `start` by binary search: times increase with `i`.
            let (mut lo, mut hi) = (0u64, p.n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if row_time(&p.model, t, first, mid, p.n) < start {
                    lo = mid + 1
                } else {
                    hi = mid
                }
            }
            p.i = lo;
        }
        p
    }

    pub fn model(&self) -> &Gen {
        &self.model
    }
}

impl Iterator for Positions {
    type Item = (u32, u64, i64);

    fn next(&mut self) -> Option<(u32, u64, i64)> {
        loop {
            if self.day >= self.end_day {
                return None;
            }
            if self.i >= self.n {
                self.day += 1;
                self.i = 0;
                self.n = rows_on_day(&self.model, self.t, self.day);
                continue;
            }
            let secs = row_time(&self.model, self.t, self.day, self.i, self.n);
            if secs >= self.end {
                self.day = self.end_day;
                return None;
            }
            let out = (self.day, self.i, secs);
            self.i += 1;
            return Some(out);
        }
    }
}

/// Seeded rows of a type in `[start, end)`, lazily, in `createdAt` order.
pub fn rows(
    model: Arc<Gen>,
    t: &'static EventType,
    start: i64,
    end: i64,
) -> impl Iterator<Item = (i64, Value)> + std::marker::Send {
    let g = model.clone();
    Positions::new(model, t, start, end).map(move |(d, i, _)| build_row(&g, t, d, i))
}

/// The first day start of history, for callers that need the epoch of day 0.
pub fn history_day_start(model: &Gen, day: u32) -> i64 {
    day_start(model, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::WorldOptions;
    use crate::world::World;

    #[test]
    fn twins_repeat_user_name_and_second_with_other_data() {
        let w = world(Scale::Small);
        let m = &w.model;
        let t = find("customEvent").expect("customEvent");
        let mut twins = 0;
        for day in 0..m.days().min(2) {
            for i in 0..rows_on_day(m, t, day) {
                if !is_twin(m, t, day, i) {
                    continue;
                }
                twins += 1;
                let (s0, a) = build_row(m, t, day, i - 1);
                let (s1, b) = build_row(m, t, day, i);
                assert_eq!(s0, s1);
                for f in ["email", "userId", "eventName", "createdAt"] {
                    assert_eq!(a[f], b[f], "{f}");
                }
                assert_ne!(a["sku"], b["sku"]);
                // Every way of finding a row's user agrees.
                assert_eq!(user_of(m, t, day, i), user_of(m, t, day, i - 1));
                assert_eq!(row_time(m, t, day, i, rows_on_day(m, t, day)), s1);
            }
        }
        assert!(twins > 0);
    }

    fn world(scale: Scale) -> World {
        World::new(WorldOptions {
            seed: 42,
            scale,
            now: chrono::DateTime::from_timestamp(1_709_287_200, 0).unwrap(),
            late_index_secs: 0,
        })
    }

    #[test]
    fn fifty_two_distinct_types_plus_user() {
        let mut names: Vec<_> = TYPES.iter().map(|t| t.name.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 52);
        assert_eq!(snake("emailUnSubscribe"), "email_unsubscribe");
        assert_eq!(snake("whatsAppUsageInfo"), "whatsapp_usage_info");
        assert_eq!(snake("inAppSendSkip"), "in_app_send_skip");
        assert!(find("EMAILUNSUBSCRIBE").is_some());
        assert_eq!(find("anonSession").unwrap().name, "unknownSession");
    }

    #[test]
    fn tiny_every_type_is_non_empty_and_times_increase() {
        let w = world(Scale::Tiny);
        for t in TYPES.iter() {
            let total: u64 = (0..w.model.days())
                .map(|d| rows_on_day(&w.model, t, d))
                .sum();
            assert!(total > 0, "{}", t.name);
            let times: Vec<i64> = Positions::new(w.model.clone(), t, i64::MIN / 4, i64::MAX / 4)
                .map(|p| p.2)
                .collect();
            assert_eq!(times.len() as u64, total);
            assert!(times.windows(2).all(|w| w[0] < w[1]), "{}", t.name);
            assert!(
                times
                    .iter()
                    .all(|&s| s >= w.model.history_start && s < w.model.history_end)
            );
        }
    }

    #[test]
    fn follow_rows_share_message_with_their_send() {
        let w = world(Scale::Small);
        let g = &w.model;
        let open = find("emailOpen").unwrap();
        let send = find("emailSend").unwrap();
        let (_, row) = build_row(g, open, 3, 0);
        let (p, d, j) = link(g, open, 3, 0).unwrap();
        assert_eq!(p.name, "emailSend");
        let (_, s) = build_row(g, send, d, j);
        for k in ["messageId", "campaignId", "templateId", "email"] {
            assert_eq!(row[k], s[k], "{k}");
        }
        assert_eq!(
            users::email(g, user_of(g, open, 3, 0)),
            row["email"].as_str().unwrap()
        );
        assert!(s["transactionalData"].is_string());
    }

    #[test]
    fn large_has_a_million_email_sends() {
        let w = world(Scale::Large);
        let send = find("emailSend").unwrap();
        let total: u64 = (0..w.model.days())
            .map(|d| rows_on_day(&w.model, send, d))
            .sum();
        assert!(total >= 1_000_000, "{total}");
    }

    #[test]
    fn transactional_data_is_what_serde_json_writes() {
        for name in EVENT_NAMES {
            for (sku, _, price, _) in SKUS {
                let want = json!({"eventName": name, "sku": sku, "price": price}).to_string();
                assert_eq!(transactional_data(name, sku, *price), want);
            }
        }
    }
}
