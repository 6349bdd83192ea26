//! Which filters the API applies itself, per stream, and through which
//! request parameter: the facts SQL planning and partitioned reads will
//! push down (every other predicate is then evaluated on the records).

/// A comparison a filter makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `column = value`.
    Eq,
    /// `column IN (…)`.
    In,
    /// `column >= value`.
    Ge,
    /// `column < value`.
    Lt,
}

/// How the API takes a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiParam {
    /// A query parameter of the stream's request (`startDateTime`, `campaignId`).
    Query(&'static str),
    /// A config setting that selects what is read (`email` → the by-user
    /// endpoints, `list_ids`, `catalog_names`).
    Setting(&'static str),
}

/// One filter the API can apply for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushdown {
    /// The record field filtered on (for by-key streams: the user the
    /// request is about, which records need not repeat).
    pub column: &'static str,
    /// The comparison.
    pub op: FilterOp,
    /// Where the value goes in the request.
    pub param: ApiParam,
}

pub(crate) const fn query(column: &'static str, op: FilterOp, param: &'static str) -> Pushdown {
    Pushdown {
        column,
        op,
        param: ApiParam::Query(param),
    }
}

pub(crate) const fn setting(column: &'static str, op: FilterOp, key: &'static str) -> Pushdown {
    Pushdown {
        column,
        op,
        param: ApiParam::Setting(key),
    }
}

/// Export streams: a createdAt range becomes the export window; one campaign
/// is a parameter of `export/data.json`.
pub(crate) const EVENT_EXPORT: &[Pushdown] = &[
    query("createdAt", FilterOp::Ge, "startDateTime"),
    query("createdAt", FilterOp::Lt, "endDateTime"),
    query("campaignId", FilterOp::Eq, "campaignId"),
];

/// The users export: a profileUpdatedAt range is the export window.
pub(crate) const USER_EXPORT: &[Pushdown] = &[
    query("profileUpdatedAt", FilterOp::Ge, "startDateTime"),
    query("profileUpdatedAt", FilterOp::Lt, "endDateTime"),
];

/// Streams of one user: the user is the request.
pub(crate) const ONE_USER: &[Pushdown] = &[
    setting("email", FilterOp::Eq, "email"),
    setting("userId", FilterOp::Eq, "user_id"),
];
