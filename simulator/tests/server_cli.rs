//! The `iterable-sim` binary: one URL line, runs like a server (stdin closed
//! or not) until SIGTERM, exits on stdin EOF only with `--exit-on-stdin-eof`,
//! flags reach the server.

mod server_support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use server_support::{get, request};

/// Starts the binary with a pipe on stdin (held in `Child::stdin`).
fn launch(args: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    launch_with(args, Stdio::piped())
}

fn launch_with(args: &[&str], stdin: Stdio) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iterable-sim"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run iterable-sim");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    (child, out, line)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "simulator did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keeps_serving_when_stdin_is_closed() {
    // As from `iterable-sim --port N &` in a script: stdin at EOF from the start.
    for extra in [&[][..], &["--ignore-stdin"]] {
        let mut args = vec!["--port", "0", "--scale", "tiny"];
        args.extend_from_slice(extra);
        let (mut child, _out, line) = launch_with(&args, Stdio::null());
        let url = line.trim_end().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited although stdin EOF is not an exit signal by default ({extra:?})"
        );
        let r = request(&url, "GET", "/api/campaigns", &[], None);
        assert_eq!(r.status, 401, "still answering ({extra:?})");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn with_the_flag_exits_on_stdin_eof() {
    let (mut child, _out, line) = launch_with(&["--exit-on-stdin-eof"], Stdio::null());
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn prints_one_url_line_and_exits_when_stdin_closes() {
    let (mut child, mut out, line) = launch(&[
        "--port",
        "0",
        "--seed",
        "3",
        "--scale",
        "tiny",
        "--exit-on-stdin-eof",
    ]);
    let url = line.trim_end().to_string();
    assert!(line.ends_with('\n'));
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("bad URL line {line:?}"))
        .parse()
        .unwrap();
    assert!(port > 0);
    // It serves: no key → 401 from the real binary.
    let r = request(&url, "GET", "/api/campaigns", &[], None);
    assert_eq!(r.status, 401);
    drop(child.stdin.take()); // EOF
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[cfg(unix)]
#[test]
fn exits_cleanly_on_sigterm() {
    let (mut child, _out, _line) = launch(&[]);
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn flags_reach_the_server() {
    let dir = std::env::temp_dir().join(format!("iterable-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.jsonl");
    let (mut child, _out, line) = launch(&[
        "--api-key",
        "only-this",
        "--error-rate",
        "1",
        "--now",
        "2024-05-01T12:00:00Z",
        "--log",
        log.to_str().unwrap(),
        "--exit-on-stdin-eof",
    ]);
    let url = line.trim_end();
    let r = request(url, "GET", "/api/campaigns", &[("Api-Key", "other")], None);
    assert_eq!(r.status, 401, "--api-key");
    let r = request(
        url,
        "GET",
        "/api/campaigns",
        &[("Api-Key", "only-this")],
        None,
    );
    assert_eq!(r.status, 500, "--error-rate 1");
    assert_eq!(r.json()["code"], "GenericError");
    drop(child.stdin.take());
    assert!(wait_exit(&mut child).success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("only-this"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_fault_flag_is_accepted() {
    let (mut child, _out, line) = launch(&[
        "--rate-limits",
        "--time-scale",
        "60",
        "--retry-after",
        "3",
        "--cut-after-bytes",
        "100000",
        "--malformed-rate",
        "0.1",
        "--slow-body",
        "1000000",
        "--late-events",
        "300",
        "--error-rate",
        "0",
        "--write-error-rate",
        "0.05",
        "--write-429-rate",
        "0.1",
        "--write-429-storm",
        "10:5",
        "--write-cut-rate",
        "0.05",
        "--write-visible-after",
        "250",
        "--exit-on-stdin-eof",
    ]);
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    drop(child.stdin.take());
    assert!(wait_exit(&mut child).success());
}

#[test]
fn write_fault_flags_reach_the_server() {
    let (mut child, _out, line) = launch(&[
        "--write-429-storm",
        "0:1",
        "--write-visible-after",
        "60000",
        "--exit-on-stdin-eof",
    ]);
    let url = line.trim_end().to_string();
    let body = br#"{"email":"cli@acme.example","eventName":"e","id":"cli-1"}"#;
    let send = || {
        request(
            &url,
            "POST",
            "/api/events/track",
            &[("Api-Key", "k")],
            Some(body),
        )
        .status
    };
    assert_eq!(send(), 429, "--write-429-storm 0:1");
    assert_eq!(send(), 200);
    let r = get(&url, "/api/events/cli@acme.example");
    assert_eq!(
        r.json()["events"],
        serde_json::json!([]),
        "--write-visible-after"
    );
    let admin = request(&url, "GET", "/_sim/applied", &[], None).json();
    assert_eq!(admin["applied"]["event"]["cli-1"], 1);
    assert_eq!(admin["pendingWrites"], 1);
    drop(child.stdin.take());
    assert!(wait_exit(&mut child).success());
}

#[test]
fn bad_flags_are_rejected() {
    for args in [
        &["--scale", "huge"][..],
        &["--error-rate", "2"],
        &["--now", "yesterday"],
        &["--write-429-storm", "5"],
        &["--write-cut-rate", "1.5"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_iterable-sim"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Keep the helper used in this binary.
    let _ = get;
}

#[test]
fn truth_subcommand_does_not_start_a_server() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iterable-sim"))
        .args(["truth", "--seed", "1"])
        .stdin(Stdio::piped()) // kept open: a server would not exit
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = wait_exit(&mut child);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(!out.starts_with("http://"), "{out}");
}
