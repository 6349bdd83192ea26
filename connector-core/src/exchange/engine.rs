//! The request engine under every session: ids, the in-flight table, pacing
//! against the project's rate budgets, response bodies parsed as they
//! arrive, and the retry decision for a failed request.
//!
//! A session owns one [`Exchange`] and says, per request, which of its units
//! (a read task, a write batch) the request serves: the engine hands that
//! owner back with every outcome, and knows nothing else about sessions.

use std::collections::BTreeMap;

use crate::error::{ConnectorError, ErrorKind, Result};
use crate::parse::{BodyFormat, BodyParser, ParseOptions, Parsed};

use super::endpoint::Planned;
use super::http::{HttpRequest, RequestId, TransportErrorKind};
use super::pacing::{Bucket, Pacer};
use super::retry::{RetryClass, backoff_ms};
use super::status::{is_transient, path_of, status_error};

/// Error bodies kept for the error message, at most.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// How a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A complete non-2xx response.
    Status {
        status: u16,
        body: Vec<u8>,
        retry_after_ms: Option<i64>,
    },
    /// No complete response: see the kind.
    Transport(TransportErrorKind),
}

impl Failure {
    /// Whether Iterable provably did not act on the request: it said "too
    /// many requests", or no connection was ever made.
    fn never_applied(&self) -> bool {
        matches!(
            self,
            Failure::Status { status: 429, .. } | Failure::Transport(TransportErrorKind::Connect)
        )
    }

    /// Log wording: `HTTP 503`, `transport error (Timeout)`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Failure::Status { status, .. } => format!("HTTP {status}"),
            Failure::Transport(kind) => format!("transport error ({kind:?})"),
        }
    }

    /// The typed error for this failure of `planned`.
    pub(crate) fn to_error(&self, planned: &Planned) -> ConnectorError {
        match self {
            Failure::Status {
                status,
                body,
                retry_after_ms,
            } => {
                let mut e = status_error(*status, body, path_of(&planned.url));
                if let Some(ms) = retry_after_ms {
                    e.retry_after_ms = u64::try_from(*ms).ok();
                    if *ms > MAX_RETRY_AFTER_MS {
                        e.message.push_str(&format!(
                            "; Iterable asked to wait {} s (Retry-After), longer than the {} s a run waits: try again later",
                            ms / 1000,
                            MAX_RETRY_AFTER_MS / 1000
                        ));
                    }
                }
                e
            }
            Failure::Transport(kind) => ConnectorError::new(
                ErrorKind::Upstream,
                format!("transport error ({kind:?}) on {}", path_of(&planned.url)),
            ),
        }
    }
}

/// What the engine makes of a failure, before any retry budget is counted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send the same request again after this many ms (server clock scaled).
    RetryAfter(i64),
    /// Not a passing failure: the session decides (skip, re-plan or fail).
    Permanent,
    /// A request that is not safe to repeat failed in a way that may or may
    /// not have been applied: report it as unknown, never resend it.
    Unknown,
}

/// A finished response.
pub(crate) enum Ended {
    /// 2xx: the last items of the body and how many malformed lines were skipped.
    Complete {
        owner: usize,
        items: Result<Parsed>,
        skipped_lines: u64,
    },
    /// Anything else.
    Failed {
        owner: usize,
        planned: Planned,
        failure: Failure,
    },
}

struct InFlight {
    owner: usize,
    planned: Planned,
    status: Option<u16>,
    parser: Option<BodyParser>,
    error_body: Vec<u8>,
    retry_after_ms: Option<i64>,
}

/// The shared request engine (see the module docs).
pub(crate) struct Exchange {
    pacer: Pacer,
    inflight: BTreeMap<RequestId, InFlight>,
    next_id: RequestId,
    skip_malformed: bool,
}

impl Exchange {
    pub(crate) fn new(time_scale: f64, skip_malformed: bool) -> Self {
        Exchange {
            pacer: Pacer::new(time_scale),
            inflight: BTreeMap::new(),
            next_id: 1,
            skip_malformed,
        }
    }

    /// This session is one of `split` sharing the project's rate budgets.
    pub(crate) fn with_budget_split(mut self, split: u32) -> Self {
        self.pacer = self.pacer.with_split(split);
        self
    }

    /// Requests sent and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// `None` when a request in `bucket` may go at `now`, else the earliest time.
    pub(crate) fn ready_at(&mut self, bucket: Bucket, now: i64) -> Option<i64> {
        self.pacer.ready_at(bucket, now)
    }

    /// A real-API duration on the server's clock (simulators run it faster).
    pub(crate) fn scale(&self, ms: i64) -> i64 {
        self.pacer.scale(ms)
    }

    /// Gives `planned` an id, draws on its budget and hands out the request.
    /// Call only when [`Exchange::ready_at`] said the bucket is ready.
    pub(crate) fn send(
        &mut self,
        owner: usize,
        planned: Planned,
        stream: &str,
        now: i64,
    ) -> HttpRequest {
        self.pacer.record(planned.bucket, now);
        let id = self.next_id;
        self.next_id += 1;
        let mut headers = vec![("Accept".to_string(), accept_for(planned.format).into())];
        if planned.body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let request = HttpRequest {
            id,
            method: planned.method,
            url: planned.url.clone(),
            headers,
            body: planned.body.clone(),
            needs_auth: planned.needs_auth,
            stream: stream.to_string(),
        };
        self.inflight.insert(
            id,
            InFlight {
                owner,
                planned,
                status: None,
                parser: None,
                error_body: Vec::new(),
                retry_after_ms: None,
            },
        );
        request
    }

    fn get(&mut self, id: RequestId) -> Result<&mut InFlight> {
        self.inflight
            .get_mut(&id)
            .ok_or_else(|| ConnectorError::misuse(format!("unknown request id {id}")))
    }

    /// The status line and headers of a response.
    pub(crate) fn on_head(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        let skip = self.skip_malformed;
        let f = self.get(id)?;
        if f.status.is_some() {
            return Err(ConnectorError::misuse(format!(
                "on_response_head called twice for request {id}"
            )));
        }
        f.status = Some(status);
        if (200..300).contains(&status) {
            f.parser = Some(BodyParser::new(
                f.planned.format,
                ParseOptions {
                    skip_malformed: skip,
                    ..ParseOptions::default()
                },
            ));
        }
        f.retry_after_ms = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| v.trim().parse::<i64>().ok())
            .map(|secs| secs.clamp(0, i64::MAX / 1000) * 1000);
        Ok(())
    }

    /// A chunk of a body. A 2xx body yields its owner and the items parsed
    /// so far; an error body is kept (bounded) for the error message.
    pub(crate) fn on_body(
        &mut self,
        id: RequestId,
        chunk: &[u8],
    ) -> Result<Option<(usize, Result<Parsed>)>> {
        let f = self.get(id)?;
        if f.status.is_none() {
            return Err(ConnectorError::misuse(format!(
                "on_response_body before on_response_head for request {id}"
            )));
        }
        match f.parser.as_mut() {
            Some(parser) => {
                let items = match parser.push(chunk) {
                    Ok(()) => Ok(parser.take_parsed()),
                    Err(e) => Err(ConnectorError::from(e)),
                };
                Ok(Some((f.owner, items)))
            }
            None => {
                let room = MAX_ERROR_BODY.saturating_sub(f.error_body.len());
                f.error_body
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
                Ok(None)
            }
        }
    }

    /// The body is complete.
    pub(crate) fn on_end(&mut self, id: RequestId) -> Result<Ended> {
        let f = self
            .inflight
            .remove(&id)
            .ok_or_else(|| ConnectorError::misuse(format!("unknown request id {id}")))?;
        let status = f.status.ok_or_else(|| {
            ConnectorError::misuse(format!("on_response_end before on_response_head for {id}"))
        })?;
        Ok(match f.parser {
            Some(mut parser) => {
                let finished = parser.finish();
                let skipped_lines = parser.skipped();
                let items = match finished {
                    Ok(()) => Ok(parser.take_parsed()),
                    Err(e) => Err(ConnectorError::from(e)),
                };
                Ended::Complete {
                    owner: f.owner,
                    items,
                    skipped_lines,
                }
            }
            None => Ended::Failed {
                owner: f.owner,
                planned: f.planned,
                failure: Failure::Status {
                    status,
                    body: f.error_body,
                    retry_after_ms: f.retry_after_ms,
                },
            },
        })
    }

    /// The request failed before its body was complete: owner, request, failure.
    pub(crate) fn on_transport_error(
        &mut self,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(usize, Planned, Failure)> {
        let f = self
            .inflight
            .remove(&id)
            .ok_or_else(|| ConnectorError::misuse(format!("unknown request id {id}")))?;
        // A 2xx whose body broke off is a cut body whatever the host called it.
        let kind = if f.parser.is_some() && kind == TransportErrorKind::Other {
            TransportErrorKind::BodyCut
        } else {
            kind
        };
        Ok((f.owner, f.planned, Failure::Transport(kind)))
    }

    /// Whether and when to send `planned` again after `failure`, the
    /// `attempts`-th in a row. A 429 also freezes the request's bucket for
    /// everyone until the wait is over.
    pub(crate) fn verdict(
        &mut self,
        planned: &Planned,
        failure: &Failure,
        attempts: u32,
        now: i64,
    ) -> Verdict {
        if planned.retry == RetryClass::NotIdempotent && !failure.never_applied() {
            return match failure {
                // A complete refusal (4xx) was not applied: the caller reports it.
                Failure::Status { status, .. } if !is_transient(*status) => Verdict::Permanent,
                _ => Verdict::Unknown,
            };
        }
        match failure {
            Failure::Transport(_) => Verdict::RetryAfter(self.scale(backoff_ms(attempts))),
            // A wait longer than any run should sit through: give up now,
            // with Iterable's Retry-After in the error, instead of hanging.
            Failure::Status {
                retry_after_ms: Some(wait),
                ..
            } if *wait > MAX_RETRY_AFTER_MS => Verdict::Permanent,
            Failure::Status {
                status: 429,
                retry_after_ms,
                ..
            } => {
                let wait = retry_after_ms
                    .unwrap_or_else(|| self.scale(planned.bucket.rate_limited_backoff_ms()));
                self.pacer.freeze(planned.bucket, now.saturating_add(wait));
                Verdict::RetryAfter(wait)
            }
            Failure::Status {
                status,
                retry_after_ms,
                ..
            } if is_transient(*status) => {
                // Server errors wait on the server's clock, Retry-After included.
                Verdict::RetryAfter(self.scale(retry_after_ms.unwrap_or(backoff_ms(attempts))))
            }
            Failure::Status { .. } => Verdict::Permanent,
        }
    }
}

/// The longest `Retry-After` a request waits for (15 minutes); a longer one
/// ends the request with its error.
const MAX_RETRY_AFTER_MS: i64 = 15 * 60 * 1000;

fn accept_for(format: BodyFormat) -> &'static str {
    match format {
        BodyFormat::Json => "application/json",
        BodyFormat::Ndjson => "application/x-json-stream",
        BodyFormat::Csv { .. } => "text/csv",
        BodyFormat::TextLines => "text/plain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::exchange::endpoint::{CHANNELS, Endpoint};
    use crate::exchange::http::Method;

    fn planned(retry: RetryClass) -> Planned {
        let config = Config::from_json(&serde_json::json!({})).expect("config");
        let endpoint = Endpoint {
            method: Method::Post,
            retry,
            ..CHANNELS
        };
        endpoint.plan(&config, &[], &[])
    }

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            body: Vec::new(),
            retry_after_ms: None,
        }
    }

    #[test]
    fn reads_retry_passing_failures_only() {
        let mut x = Exchange::new(1.0, false);
        let p = planned(RetryClass::Idempotent);
        assert_eq!(
            x.verdict(&p, &status(503), 0, 0),
            Verdict::RetryAfter(1_000)
        );
        assert_eq!(x.verdict(&p, &status(501), 0, 0), Verdict::Permanent);
        assert_eq!(x.verdict(&p, &status(400), 0, 0), Verdict::Permanent);
        let cut = Failure::Transport(TransportErrorKind::BodyCut);
        assert_eq!(x.verdict(&p, &cut, 2, 0), Verdict::RetryAfter(4_000));
    }

    #[test]
    fn a_429_freezes_the_bucket_for_everyone() {
        let mut x = Exchange::new(1.0, false);
        let p = planned(RetryClass::Idempotent);
        let f = Failure::Status {
            status: 429,
            body: Vec::new(),
            retry_after_ms: Some(7_000),
        };
        assert_eq!(x.verdict(&p, &f, 0, 100), Verdict::RetryAfter(7_000));
        assert_eq!(x.ready_at(p.bucket, 200), Some(7_100));
    }

    #[test]
    fn a_huge_retry_after_ends_the_request_instead_of_hanging() {
        let mut x = Exchange::new(1.0, false);
        let p = planned(RetryClass::Idempotent);
        // Parsed without overflow, however large.
        let f = x.send(0, p.clone(), "s", 0);
        x.on_head(
            f.id,
            429,
            &[("Retry-After".into(), "9223372036854775807".into())],
        )
        .expect("head");
        let Ended::Failed {
            failure, planned, ..
        } = x.on_end(f.id).expect("end")
        else {
            panic!("a 429 is a failure");
        };
        assert_eq!(
            x.verdict(&planned, &failure, 0, i64::MAX - 5),
            Verdict::Permanent
        );
        let e = failure.to_error(&planned);
        assert!(e.message.contains("Retry-After"), "{}", e.message);
        assert!(e.retry_after_ms.is_some());
        // A reasonable one is waited for.
        let f = Failure::Status {
            status: 429,
            body: Vec::new(),
            retry_after_ms: Some(60_000),
        };
        assert_eq!(
            x.verdict(&p, &f, 0, i64::MAX - 5),
            Verdict::RetryAfter(60_000)
        );
    }

    #[test]
    fn unsafe_writes_are_never_resent_blindly() {
        let mut x = Exchange::new(1.0, false);
        let p = planned(RetryClass::NotIdempotent);
        // Provably not applied: safe to send again.
        assert!(matches!(
            x.verdict(&p, &status(429), 0, 0),
            Verdict::RetryAfter(_)
        ));
        let connect = Failure::Transport(TransportErrorKind::Connect);
        assert!(matches!(
            x.verdict(&p, &connect, 0, 0),
            Verdict::RetryAfter(_)
        ));
        // May have been applied: unknown, never resent.
        assert_eq!(x.verdict(&p, &status(500), 0, 0), Verdict::Unknown);
        let timeout = Failure::Transport(TransportErrorKind::Timeout);
        assert_eq!(x.verdict(&p, &timeout, 0, 0), Verdict::Unknown);
        let cut = Failure::Transport(TransportErrorKind::BodyCut);
        assert_eq!(x.verdict(&p, &cut, 0, 0), Verdict::Unknown);
        // Refused outright: a plain failure.
        assert_eq!(x.verdict(&p, &status(400), 0, 0), Verdict::Permanent);
    }
}
