//! What happened to each row: Iterable's answer to a request, mapped back to
//! the rows it carried.
//!
//! A bulk answer names only the users that failed (`failedUpdates`), so a row
//! failed when its user is listed and succeeded otherwise; the batcher keeps
//! each user to one row per request, so the mapping is exact.

use serde_json::Value;

use crate::error::{ConnectorError, ErrorKind};

use super::prepare::{Prepared, UserRef};
use super::target::{Answer, Target};

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    /// Iterable accepted the row.
    Ok,
    /// The row was not applied: the error says why and how to fix it.
    Failed,
    /// The request may or may not have been applied: the error says what
    /// to check before writing the row again. Its `retryable` is set only
    /// for a write that is safe to repeat (one that never got an answer).
    Unknown,
}

impl RowStatus {
    /// `"ok"`, `"failed"` or `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Ok => "ok",
            RowStatus::Failed => "failed",
            RowStatus::Unknown => "unknown",
        }
    }
}

/// The one result of one input row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    /// The input row's number (counting from the session's first row).
    pub row: u64,
    /// How it ended.
    pub status: RowStatus,
    /// The id Iterable gave (a new list's or campaign's, a template's) or
    /// the id the row was written under (events, purchases, catalog items).
    pub id: Option<String>,
    /// Why it failed, or what to check when unknown.
    pub error: Option<ConnectorError>,
}

impl RowResult {
    pub(crate) fn ok(row: u64, id: Option<String>) -> RowResult {
        RowResult {
            row,
            status: RowStatus::Ok,
            id,
            error: None,
        }
    }

    pub(crate) fn failed(row: u64, error: ConnectorError) -> RowResult {
        RowResult {
            row,
            status: RowStatus::Failed,
            id: None,
            error: Some(error),
        }
    }

    pub(crate) fn unknown(row: u64, error: ConnectorError) -> RowResult {
        RowResult {
            row,
            status: RowStatus::Unknown,
            id: None,
            error: Some(error),
        }
    }
}

/// Results of the rows of a request Iterable answered with a 2xx.
pub(crate) fn on_success(
    answer: Answer,
    bulk: bool,
    rows: &[Prepared],
    body: Option<&Value>,
) -> Vec<RowResult> {
    let own_id = |p: &Prepared| {
        p.id.clone()
            .or_else(|| (!p.key.is_empty()).then(|| p.key.clone()))
    };
    match answer {
        Answer::FailedUpdates if bulk => {
            let Some(body) = body else {
                // Applied, but the answer that says which rows failed is unreadable.
                return rows
                    .iter()
                    .map(|p| {
                        RowResult::unknown(
                            p.row,
                            ConnectorError::malformed(
                                "Iterable accepted the request but its answer could not be read, \
                                 so which rows it refused is unknown; read the users back to check",
                            ),
                        )
                    })
                    .collect();
            };
            rows.iter()
                .map(|p| match refusal(body, p) {
                    Some(e) => RowResult::failed(p.row, e),
                    None => RowResult::ok(p.row, own_id(p)),
                })
                .collect()
        }
        Answer::ListId | Answer::CampaignId => {
            let field = if answer == Answer::ListId {
                "listId"
            } else {
                "campaignId"
            };
            let id = body.and_then(|b| b.get(field)).and_then(id_text);
            rows.iter()
                .map(|p| RowResult::ok(p.row, id.clone()))
                .collect()
        }
        Answer::SuccessFailedIds => rows.iter().map(|p| id_listed(body, p)).collect(),
        Answer::TemplateId => {
            let id = body.and_then(template_id);
            rows.iter()
                .map(|p| RowResult::ok(p.row, id.clone()))
                .collect()
        }
        Answer::Envelope | Answer::FailedUpdates => rows
            .iter()
            .map(|p| RowResult::ok(p.row, own_id(p)))
            .collect(),
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The template id of an upsert: `params.templateIds`, else the `IDs: 123`
/// Iterable writes into `msg` (its own tests parse it the same way).
fn template_id(body: &Value) -> Option<String> {
    if let Some(first) = body
        .pointer("/params/templateIds")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return id_text(first);
    }
    let msg = body.get("msg")?.as_str()?;
    let after = &msg[msg.find("IDs:")? + 4..];
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// Why Iterable refused row `p` in a bulk answer, if it did.
/// A row's fate in a `{"success": [ids], "failed": [ids]}` answer: listed
/// as failed, listed as done, or (neither, or no readable answer) unknown.
fn id_listed(body: Option<&Value>, p: &Prepared) -> RowResult {
    let listed = |field: &str| {
        body.and_then(|b| b.get(field))
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|v| id_text(v).as_deref() == Some(&p.key)))
    };
    if listed("failed") {
        let reason = body
            .and_then(|b| b.get("failureReason"))
            .and_then(Value::as_str)
            .unwrap_or("Iterable did not say why");
        let mut e = ConnectorError::new(
            ErrorKind::Upstream,
            format!("Iterable did not delete template {}: {reason}", p.key),
        );
        e.code = Some("failed".into());
        return RowResult::failed(p.row, e);
    }
    if listed("success") {
        return RowResult::ok(p.row, Some(p.key.clone()));
    }
    RowResult::unknown(
        p.row,
        ConnectorError::malformed(format!(
            "Iterable's answer lists template {} neither as deleted nor as failed; read the templates back to check",
            p.key
        )),
    )
}

fn refusal(body: &Value, p: &Prepared) -> Option<ConnectorError> {
    if let (Some(name), Some(disallowed)) = (
        &p.event_name,
        body.get("disallowedEventNames").and_then(Value::as_array),
    ) && disallowed.iter().any(|d| d.as_str() == Some(name))
    {
        let mut e = ConnectorError::input(
            "eventName",
            format!("Iterable does not allow events named \"{name}\" in this project"),
        );
        e.code = Some("disallowedEventNames".into());
        return Some(e);
    }
    let user = p.user.as_ref()?;
    let (field, value, suffix) = match user {
        UserRef::Email(v) => ("email", v, "Emails"),
        UserRef::UserId(v) => ("userId", v, "UserIds"),
    };
    let lists = body.get("failedUpdates").or(Some(body))?;
    for (reason, hint) in REASONS {
        let key = format!("{reason}{suffix}");
        let listed = lists
            .get(&key)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value)));
        if listed {
            let mut e = ConnectorError::input(
                field,
                format!("Iterable refused {field} \"{value}\" ({key}): {hint}"),
            );
            e.code = Some(key);
            return Some(e);
        }
    }
    None
}

/// `failedUpdates` list prefixes and what each means for the user.
const REASONS: &[(&str, &str)] = &[
    ("invalid", "not a valid identifier; fix the value"),
    (
        "notFound",
        "no such user in the project; create the user first",
    ),
    (
        "forgotten",
        "the user was forgotten (GDPR); it cannot be written until unforgotten",
    ),
    (
        "conflict",
        "the email and userId belong to different users; merge them or fix the row",
    ),
    (
        "invalidData",
        "a field has a type other than the project's (types are fixed once set); fix the field's type",
    ),
];

/// What to look at before writing a row again whose request may have been
/// applied (only writes that are not safe to repeat end up here).
pub(crate) fn what_to_check(target: Target, p: &Prepared) -> String {
    match target {
        Target::ListsInsert => format!(
            "whether a list named \"{}\" now exists (GET /api/lists) before creating it again",
            p.key
        ),
        Target::CampaignsInsert => format!(
            "whether a campaign named \"{}\" now exists (GET /api/campaigns) before creating it again",
            p.key
        ),
        Target::TriggerCampaign => format!(
            "campaign {}'s sends (GET /api/campaigns/{}) before triggering it again",
            p.key, p.key
        ),
        Target::InAppMessagesInsert => format!(
            "the user's in-app messages (GET /api/inApp/getMessages for {}) before sending again",
            p.key
        ),
        _ => "the object in Iterable before writing the row again".to_string(),
    }
}

/// The error of a row of a write that is safe to repeat whose request may
/// have reached Iterable (a connection cut, a timeout) and never got an
/// answer, retries included: perhaps applied, and safe to write again.
pub(crate) fn unanswered(cause: &str) -> ConnectorError {
    let mut e = ConnectorError::new(
        ErrorKind::Upstream,
        format!(
            "the request may or may not have been applied (no answer after the retries, last: {cause}); writing the row again is safe"
        ),
    );
    e.retryable = true;
    e
}

/// The error of a row whose request ended in doubt.
pub(crate) fn in_doubt(target: Target, p: &Prepared, cause: &str) -> ConnectorError {
    let mut e = ConnectorError::new(
        ErrorKind::Upstream,
        format!(
            "the request may or may not have been applied ({cause}) and is not safe to repeat; check {}",
            what_to_check(target, p)
        ),
    );
    e.retryable = false;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user_row(n: u64, email: &str) -> Prepared {
        let mut p = crate::write::prepare::tests::blank(n);
        p.user = Some(UserRef::Email(email.into()));
        p.key = format!("email:{email}");
        p
    }

    #[test]
    fn template_deletes_map_success_and_failed_ids_to_rows() {
        let rows: Vec<Prepared> = (0..4)
            .map(|n| {
                let mut p = crate::write::prepare::tests::blank(n);
                p.key = (100 + n).to_string();
                p
            })
            .collect();
        let body = json!({"success": [100, 103], "failed": ["101"],
            "failureReason": "Templates which are associated with a campaign will not be deleted"});
        let r = on_success(Answer::SuccessFailedIds, true, &rows, Some(&body));
        let status: Vec<RowStatus> = r.iter().map(|x| x.status).collect();
        assert_eq!(
            status,
            [
                RowStatus::Ok,
                RowStatus::Failed,
                RowStatus::Unknown,
                RowStatus::Ok
            ]
        );
        assert!(r[1].error.as_ref().unwrap().message.contains("campaign"));
        assert_eq!(r[0].id.as_deref(), Some("100"));
        // No readable answer: every row unknown, none ok.
        let r = on_success(Answer::SuccessFailedIds, true, &rows, None);
        assert!(r.iter().all(|x| x.status == RowStatus::Unknown));
    }

    #[test]
    fn bulk_failures_map_back_to_their_rows() {
        let rows = [
            user_row(0, "a@x.io"),
            user_row(1, "b@x.io"),
            user_row(2, "c@x.io"),
        ];
        let body = json!({"successCount": 1, "failCount": 2,
            "failedUpdates": {"notFoundEmails": ["b@x.io"], "invalidDataEmails": ["c@x.io"],
                              "invalidEmails": []}});
        let r = on_success(Answer::FailedUpdates, true, &rows, Some(&body));
        assert_eq!(r[0].status, RowStatus::Ok);
        assert_eq!(r[1].status, RowStatus::Failed);
        let e1 = r[1].error.as_ref().unwrap();
        assert_eq!(e1.code.as_deref(), Some("notFoundEmails"));
        assert_eq!(e1.field.as_deref(), Some("email"));
        assert_eq!(
            r[2].error.as_ref().unwrap().code.as_deref(),
            Some("invalidDataEmails")
        );
        let unread = on_success(Answer::FailedUpdates, true, &rows, None);
        assert!(unread.iter().all(|r| r.status == RowStatus::Unknown));
    }

    #[test]
    fn disallowed_event_names_fail_their_rows() {
        let mut row = user_row(4, "a@x.io");
        row.event_name = Some("banned".into());
        let body = json!({"disallowedEventNames": ["banned"], "failedUpdates": {}});
        let r = on_success(Answer::FailedUpdates, true, &[row], Some(&body));
        assert_eq!(
            r[0].error.as_ref().unwrap().field.as_deref(),
            Some("eventName")
        );
    }

    #[test]
    fn ids_come_from_the_answer() {
        let row = crate::write::prepare::tests::blank(0);
        let list = on_success(
            Answer::ListId,
            false,
            std::slice::from_ref(&row),
            Some(&json!({"listId": 77})),
        );
        assert_eq!(list[0].id.as_deref(), Some("77"));
        let t = json!({"msg": "Upserted 1 templates with IDs: 12345", "code": "Success"});
        let r = on_success(Answer::TemplateId, false, &[row], Some(&t));
        assert_eq!(r[0].id.as_deref(), Some("12345"));
    }
}
