//! Seeded users, generated lazily by index.
//!
//! User `u` has email `first.last.u@domain` (so the index can be read back from an
//! email) and userId `u-<100000+u>`. `profileUpdatedAt` strictly increases with
//! `u`, so a users-export window is a contiguous index range.

use serde_json::{Map, Value, json};

use super::Gen;
use super::names::*;
use super::rng::{Rng, hash};
use super::time::{DAY, export_ts};

const USER_ID_BASE: u64 = 100_000;

fn name_parts(seed: u64, u: u64) -> (usize, usize, usize) {
    let h = hash(seed, "userName", &[u]);
    (
        (h % FIRST.len() as u64) as usize,
        ((h >> 16) % LAST.len() as u64) as usize,
        ((h >> 32) % DOMAINS.len() as u64) as usize,
    )
}

pub fn email(model: &Gen, u: u64) -> String {
    let (f, l, d) = name_parts(model.seed, u);
    // Every export row carries one: written into one buffer (the names are
    // ASCII), not through two lower-cased copies and `format!`.
    let mut e = String::with_capacity(48);
    e.extend(FIRST[f].chars().map(|c| c.to_ascii_lowercase()));
    e.push('.');
    e.extend(LAST[l].chars().map(|c| c.to_ascii_lowercase()));
    e.push('.');
    e.push_str(&u.to_string());
    e.push('@');
    e.push_str(DOMAINS[d]);
    e
}

pub fn user_id(u: u64) -> String {
    format!("u-{}", USER_ID_BASE + u)
}

/// The seeded index behind an email, if it is one of ours.
pub fn index_of_email(model: &Gen, e: &str) -> Option<u64> {
    let local = e.split('@').next()?;
    let u: u64 = local.rsplit('.').next()?.parse().ok()?;
    (u < model.cfg.users && email(model, u) == e).then_some(u)
}

pub fn index_of_user_id(model: &Gen, id: &str) -> Option<u64> {
    let n: u64 = id.strip_prefix("u-")?.parse().ok()?;
    let u = n.checked_sub(USER_ID_BASE)?;
    (u < model.cfg.users && user_id(u) == id).then_some(u)
}

/// `profileUpdatedAt` in epoch seconds: strictly increasing in `u`, inside history.
pub fn profile_updated(model: &Gen, u: u64) -> i64 {
    let span = (model.history_end - model.history_start) as u128;
    let n = model.cfg.users.max(1) as u128;
    let stride = (span / n).max(1) as u64;
    let base = (u as u128 * span / n) as i64;
    model.history_start + base + (hash(model.seed, "profileUpdated", &[u]) % stride) as i64
}

/// First index whose `profileUpdatedAt >= t` (binary search over the monotone function).
pub fn first_index_at(model: &Gen, t: i64) -> u64 {
    let (mut lo, mut hi) = (0u64, model.cfg.users);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if profile_updated(model, mid) < t {
            lo = mid + 1
        } else {
            hi = mid
        }
    }
    lo
}

pub fn is_member(seed: u64, list_id: i64, member_mod: u64, u: u64) -> bool {
    member_mod > 0 && hash(seed, "member", &[list_id as u64, u]).is_multiple_of(member_mod)
}

/// The profile's `dataFields` as `GET /api/users/{email}` shows them (nested objects kept).
pub fn data_fields(model: &Gen, u: u64) -> Map<String, Value> {
    let mut r = Rng::new(model.seed, "user", &[u]);
    let (f, l, d) = name_parts(model.seed, u);
    let updated = profile_updated(model, u);
    let signup = updated - r.below(400 * DAY as u64) as i64;
    let (city, country, region) = *r.pick(CITIES);
    let lists: Vec<i64> = model
        .lists
        .iter()
        .filter(|(id, m)| is_member(model.seed, *id, *m, u))
        .map(|(id, _)| *id)
        .collect();
    let email = email(model, u);
    let v = json!({
        "email": email,
        "userId": user_id(u),
        "firstName": FIRST[f],
        "lastName": LAST[l],
        "signupDate": export_ts(signup),
        "signupSource": *r.pick(&["API", "Import", "ListAPI", "WebForm"]),
        "profileUpdatedAt": export_ts(updated),
        "emailListIds": lists,
        "unsubscribedChannelIds": [],
        "unsubscribedMessageTypeIds": [],
        "subscribedMessageTypeIds": [],
        // Always fractional, so the field is typed double, never long.
        "LTV": (r.below(500_000) as f64) / 100.0 + 0.01,
        "favoriteColor": *r.pick(COLORS),
        "isVip": r.chance(0.1),
        "loyaltyPoints": r.below(10_000),
        "lastPurchaseDate": export_ts(signup + r.below((updated - signup).max(1) as u64) as i64),
        "phoneNumber": format!("+1555{:07}", r.below(10_000_000)),
        "defaultAddress": {"city": city, "country": country, "region": region, "zip": format!("{:05}", r.below(100_000))},
        // Arrays getFields types by their elements ("object", "string").
        "devices": (0..r.below(3)).map(|i| json!({"platform": *r.pick(&["iOS", "Android", "web"]),
            "token": format!("tok-{u}-{i}"), "endpointEnabled": r.chance(0.8)})).collect::<Vec<_>>(),
        "favoriteCategories": (0..1 + r.below(3)).map(|_| *r.pick(&["shoes", "bags", "outdoor", "books"])).collect::<Vec<_>>(),
        "itblInternal": {"emailDomain": DOMAINS[d], "regionCode": country,
            "documentCreatedAt": export_ts(signup), "documentUpdatedAt": export_ts(updated)},
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Field types as `GET /api/users/getFields` reports them.
pub fn field_types() -> Value {
    json!({"fields": {
        "email": "string", "userId": "string", "firstName": "string", "lastName": "string",
        "signupDate": "date", "signupSource": "string", "profileUpdatedAt": "date",
        "emailListIds": "long", "unsubscribedChannelIds": "long", "unsubscribedMessageTypeIds": "long",
        "subscribedMessageTypeIds": "long", "LTV": "double", "favoriteColor": "string", "isVip": "boolean",
        "loyaltyPoints": "long", "lastPurchaseDate": "date", "phoneNumber": "string",
        "defaultAddress": "object", "defaultAddress.city": "string", "defaultAddress.country": "string",
        "defaultAddress.region": "string", "defaultAddress.zip": "string",
        "itblInternal": "object", "itblInternal.emailDomain": "string", "itblInternal.regionCode": "string",
        "itblInternal.documentCreatedAt": "date", "itblInternal.documentUpdatedAt": "date",
        "shoppingCartItems": "nested", "shoppingCartItems.sku": "string", "shoppingCartItems.price": "double",
        "devices": "object", "devices.platform": "string", "devices.token": "string",
        "devices.endpointEnabled": "boolean", "favoriteCategories": "string"
    }})
}

/// Flattens nested objects to dotted keys (the users export shape).
pub fn flatten(m: &Map<String, Value>) -> Map<String, Value> {
    fn go(prefix: &str, m: &Map<String, Value>, out: &mut Map<String, Value>) {
        for (k, v) in m {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(inner) if !inner.is_empty() => go(&key, inner, out),
                _ => {
                    out.insert(key, v.clone());
                }
            }
        }
    }
    let mut out = Map::new();
    go("", m, &mut out);
    out
}

/// Light email validation in the spirit of Iterable's `InvalidEmailAddressError`.
pub fn valid_email(e: &str) -> bool {
    let mut parts = e.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::types::{Scale, WorldOptions};
    use crate::world::World;

    fn world() -> World {
        World::new(WorldOptions {
            seed: 5,
            scale: Scale::Small,
            now: chrono::DateTime::from_timestamp(1_709_287_200, 0).unwrap(),
            late_index_secs: 0,
        })
    }

    #[test]
    fn emails_lower_case_the_names_as_to_lowercase_does() {
        assert!(FIRST.iter().chain(LAST).all(|n| n.is_ascii()));
        let w = world();
        let model = &w.model;
        let (f, l, d) = name_parts(model.seed, 42);
        let want = format!(
            "{}.{}.42@{}",
            FIRST[f].to_lowercase(),
            LAST[l].to_lowercase(),
            DOMAINS[d]
        );
        assert_eq!(email(model, 42), want);
    }
    #[test]
    fn emails_round_trip_and_are_unique() {
        let w = world();
        let g = &w.model;
        let mut seen = std::collections::BTreeSet::new();
        for u in 0..g.cfg.users {
            let e = email(g, u);
            assert!(valid_email(&e));
            assert_eq!(index_of_email(g, &e), Some(u));
            assert_eq!(index_of_user_id(g, &user_id(u)), Some(u));
            assert!(seen.insert(e));
        }
        assert_eq!(index_of_email(g, "nobody@example.com"), None);
    }

    #[test]
    fn profile_updated_is_strictly_increasing_inside_history() {
        let w = world();
        let g = &w.model;
        let mut prev = i64::MIN;
        for u in 0..g.cfg.users {
            let t = profile_updated(g, u);
            assert!(t > prev && t >= g.history_start && t < g.history_end);
            prev = t;
        }
        let mid = profile_updated(g, 700);
        assert_eq!(first_index_at(g, mid), 700);
        assert_eq!(first_index_at(g, mid + 1), 701);
    }

    #[test]
    fn flatten_uses_dotted_keys() {
        let w = world();
        let f = flatten(&data_fields(&w.model, 3));
        assert!(f.contains_key("defaultAddress.city"));
        assert!(f.contains_key("itblInternal.emailDomain"));
        assert!(!f.contains_key("defaultAddress"));
        assert!(!valid_email("not-an-email"));
        assert!(!valid_email("a@b"));
    }
}
