//! When a failed request may be sent again, and after how long.

/// Whether a request may be repeated without changing the outcome.
///
/// Every planned request carries one. Reads are [`RetryClass::Idempotent`].
/// A write that Iterable would apply twice (creating a list, triggering a
/// campaign) is [`RetryClass::NotIdempotent`]: it is repeated only when the
/// failure proves Iterable never acted on it (a 429, or no connection made).
/// Any other failure of such a request is handed to the caller as
/// "unknown", never retried blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Safe to send again: reads, and writes keyed so a repeat overwrites itself.
    Idempotent,
    /// Sent at most once unless Iterable provably did not receive it.
    NotIdempotent,
}

/// Exponential backoff for retryable failures: 1 s, 2 s, 4 s ... capped at 60 s.
pub(crate) fn backoff_ms(attempt: u32) -> i64 {
    let exp = attempt.min(6);
    (1_000i64 << exp).min(60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(3), 8_000);
        assert_eq!(backoff_ms(30), 60_000);
    }
}
