//! A self-contained mutation fuzzer for `connector-core`, on the stable
//! toolchain.
//!
//! cargo-fuzz and libFuzzer need nightly, which this project does not use,
//! so this crate brings its own small driver in the spirit of quinn-proto's
//! and str0m's `fuzz/` crates: every target is a plain `fn(&[u8])` that
//! panics when the core breaks a promise (the same signature libFuzzer
//! takes, so the targets could move to cargo-fuzz unchanged). Coverage
//! feedback is what this driver gives up; real seed bodies, a dictionary of
//! edge values, JSON-aware mutations and structured decoding make up for
//! much of it.
//!
//! # How a run works
//!
//! For one target (`runner::run`):
//! 1. every input in `regressions/<target>/` is replayed (inputs that once
//!    failed, checked in with their fix);
//! 2. every seed in `corpus/<target>/` is run unmutated;
//! 3. then, until the iteration or time budget is spent, input number `i`
//!    is made from the corpus by `mutate` with a SplitMix64 generator seeded
//!    from `(seed, i)`, and run.
//!
//! A finding is a panic (the target's own assertions included), an
//! allocation peak over the target's bound (this crate installs a counting
//! global allocator), or an input that runs for more than 30 s (a watchdog;
//! the process then exits with status 3). A finding prints the target, seed,
//! iteration, message and the input in hex, and saves the input to
//! `artifacts/<target>/<hash>.bin` for `fuzz replay`.
//!
//! The targets are listed in [`TARGETS`]; `fuzz/README.md` has the commands.

#![warn(missing_docs, unreachable_pub)]

pub mod mutate;
pub mod rng;
pub mod runner;
pub mod targets;

/// One fuzz target.
#[derive(Debug)]
pub struct Target {
    /// Its name on the command line and its directory under `corpus/`,
    /// `regressions/` and `artifacts/`.
    pub name: &'static str,
    /// What it exercises, in a few words.
    pub about: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
    /// Longest input the mutator makes.
    pub max_len: usize,
    /// Tokens the mutator inserts besides the common ones.
    pub tokens: &'static [&'static [u8]],
    /// Bytes an input may allocate at peak: this plus `memory_per_byte` per input byte.
    pub memory_base: usize,
    /// See `memory_base`.
    pub memory_per_byte: usize,
}

impl Target {
    /// The allocation bound for an input of `len` bytes.
    pub fn memory_limit(&self, len: usize) -> usize {
        self.memory_base
            .saturating_add(self.memory_per_byte.saturating_mul(len))
    }

    /// Looks a target up by name.
    pub fn find(name: &str) -> Option<&'static Target> {
        TARGETS.iter().find(|t| t.name == name)
    }
}

const MIB: usize = 1 << 20;

const SQL_TOKENS: &[&[u8]] = &[
    b"SELECT ",
    b" FROM ",
    b" WHERE ",
    b" AND ",
    b" OR ",
    b" NOT ",
    b" IN (",
    b" BETWEEN ",
    b" LIKE '%",
    b" IS NULL",
    b" ORDER BY ",
    b" LIMIT ",
    b" OFFSET ",
    b"INSERT INTO ",
    b" VALUES (",
    b"UPDATE ",
    b" SET ",
    b"DELETE FROM ",
    b"CALL ",
    b"EXPLAIN ",
    b"(SELECT ",
    b"createdAt",
    b"campaignId",
    b"itemId",
    b"templateType",
    b"messageMedium",
    b":email",
    b":n",
    b":missing",
    b"'2024-01-01'",
    b"TIMESTAMP '9999-12-31 23:59:59'",
    b"CAST(",
    b"lower(",
    b"COUNT(*)",
    b"email_send",
    b"users",
    b"catalog_items",
    b"templates",
    b"campaigns",
    b"list_users",
];

const JSON_TOKENS: &[&[u8]] = &[
    b"\"v\": 1",
    b"\"cursor\": ",
    b"\"next_start\": ",
    b"\"job\": {\"id\": 1, \"end\": \"2026-01-01T00:00:00Z\"}",
    b"\"streams\": ",
    b"\"base_url\": \"http://10.0.0.1:8080\"",
    b"\"start_date\": ",
    b"\"window_days\": ",
    b"\"lookback_minutes\": ",
    b"\"time_scale\": ",
    b"\"max_concurrency\": ",
    b"\"list_ids\": [",
    b"\"email\": \"x@y\"",
    b"\"dataFields\": {",
    b"\"catalogName\": ",
    b"\"itemId\": ",
    b"\"listId\": ",
];

const BODY_TOKENS: &[&[u8]] = &[
    b"{\"email\":\"a@b.c\",\"createdAt\":\"2024-02-01 00:00:00 +00:00\"}\n",
    b"\"nextPageUrl\": \"/api/campaigns?page=2\"",
    b"\"nextPageUrl\": \"https://evil.example.com/api/campaigns?page=2\"",
    b"\"nextMarker\": \"k1\"",
    b"\"jobState\": \"running\"",
    b"\"jobState\": \"failed\"",
    b"\"url\": \"https://evil.example.com/f\"",
    b"\"files\": []",
    b"\"code\": \"RateLimitExceeded\"",
    b"Api-Key: fuzz-SECRET-key-0123456789abcdef",
    b"\"id\",\"name\"\r\n",
    b"\"a\"\"b\"",
];

/// Every target, in the order `all` runs them.
pub static TARGETS: &[Target] = &[
    Target {
        name: "body_json",
        about: "BodyParser, one JSON document (most endpoints)",
        run: targets::parsers::json,
        max_len: 64 * 1024,
        tokens: BODY_TOKENS,
        memory_base: 4 * MIB,
        memory_per_byte: 256,
    },
    Target {
        name: "body_ndjson",
        about: "BodyParser, NDJSON (export/data.json, userEvents, export files)",
        run: targets::parsers::ndjson,
        max_len: 64 * 1024,
        tokens: BODY_TOKENS,
        memory_base: 4 * MIB,
        memory_per_byte: 256,
    },
    Target {
        name: "body_csv",
        about: "BodyParser, CSV with a header (campaign and experiment metrics)",
        run: targets::parsers::csv,
        max_len: 64 * 1024,
        tokens: BODY_TOKENS,
        memory_base: 4 * MIB,
        memory_per_byte: 256,
    },
    Target {
        name: "body_text",
        about: "BodyParser, text lines (lists/getUsers)",
        run: targets::parsers::text_lines,
        max_len: 64 * 1024,
        tokens: BODY_TOKENS,
        memory_base: 4 * MIB,
        memory_per_byte: 256,
    },
    Target {
        name: "config",
        about: "Config::from_json, then a read planned with it",
        run: targets::settings::config,
        max_len: 4 * 1024,
        tokens: JSON_TOKENS,
        memory_base: 8 * MIB,
        memory_per_byte: 512,
    },
    Target {
        name: "state",
        about: "session and stream state from JSON, round trip, a resumed read planned",
        run: targets::settings::state,
        max_len: 4 * 1024,
        tokens: JSON_TOKENS,
        memory_base: 8 * MIB,
        memory_per_byte: 512,
    },
    Target {
        name: "timestamps",
        about: "the timestamp parsers and formatters",
        run: targets::settings::timestamps,
        max_len: 256,
        tokens: &[],
        memory_base: MIB,
        memory_per_byte: 64,
    },
    Target {
        name: "write_rows",
        about: "WriteSession::push_rows/push_ndjson into every target, canned answers",
        run: targets::writes::write_rows,
        max_len: 16 * 1024,
        tokens: JSON_TOKENS,
        memory_base: 16 * MIB,
        memory_per_byte: 1024,
    },
    Target {
        name: "sql",
        about: "plan_sql, then the planned session's first request",
        run: targets::writes::sql,
        max_len: 2 * 1024,
        tokens: SQL_TOKENS,
        memory_base: 16 * MIB,
        memory_per_byte: 1024,
    },
    Target {
        name: "read_session",
        about: "ReadSession driven by a hostile server (statuses, headers, chunks, cuts) on a simulated clock",
        run: targets::session::read_session,
        max_len: 16 * 1024,
        tokens: BODY_TOKENS,
        memory_base: 32 * MIB,
        memory_per_byte: 1024,
    },
];
