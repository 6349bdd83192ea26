//! The API key never reaches the host's output, even from a server whose
//! error bodies echo the request's headers: whole, under another name, or
//! cut inside the key (a prefix). Checked for `check`, `read` (Airbyte
//! TRACE and LOG), `write` result lines and `query`, on stdout and stderr.

use iterable_sim::{Hostile, HostileOptions, RunningSim, SimOptions};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

const KEY: &str = "5ecretKey-0123456789abcdef-XYZ";

/// Answers every API request with a plain-text error that repeats the key
/// it was sent: in a header echo, as a bare token, and cut after 9
/// characters (the simulator's hostile echo modes).
fn echoing_server(status: u16) -> RunningSim {
    let mode = if status == 500 {
        Hostile::Echo500
    } else {
        Hostile::Echo4xx
    };
    iterable_sim::spawn_hostile(SimOptions::default(), mode, HostileOptions::default())
}

fn config(sim: &RunningSim, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iterable-host-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let cfg = json!({"base_url": sim.base_url(), "api_key": KEY, "max_retries": 0,
        "start_date": "2026-10-01T00:00:00Z", "end_date": "2026-10-02T00:00:00Z"});
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

fn assert_no_key(what: &str, out: &std::process::Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains("5ecretK"),
        "{what} leaked (a prefix of) the key: {all}"
    );
    assert!(
        !all.contains("0123456789abcdef"),
        "{what} leaked the key: {all}"
    );
    assert!(
        all.contains("***") || all.contains("upstream"),
        "{what}: {all}"
    );
}

#[test]
fn echoed_keys_are_scrubbed_from_every_output() {
    for status in [400, 500] {
        let sim = echoing_server(status);
        let cfg = config(&sim, &format!("cfg-{status}.json"));
        let bin = env!("CARGO_BIN_EXE_iterable-connector");
        let catalog = cfg.with_file_name(format!("catalog-{status}.json"));
        std::fs::write(
            &catalog,
            json!({"streams": [{"stream": {"name": "lists"}, "sync_mode": "full_refresh"}]})
                .to_string(),
        )
        .unwrap();

        let out = Command::new(bin)
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_no_key("check", &out);
        let out = Command::new(bin)
            .args(["read", "--config"])
            .arg(&cfg)
            .arg("--catalog")
            .arg(&catalog)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert_no_key("read", &out);
        let out = Command::new(bin)
            .args(["query", "--config"])
            .arg(&cfg)
            .arg("SELECT * FROM lists")
            .output()
            .unwrap();
        assert_no_key("query", &out);
        let mut child = Command::new(bin)
            .args(["write", "--object", "lists", "--config"])
            .arg(&cfg)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"name\": \"x\"}\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_no_key("write", &out);
    }
}

/// A missing key is reported as missing (not as rejected by Iterable), and
/// a key with a line break is refused before any request.
#[test]
fn a_missing_or_mangled_key_is_named() {
    let sim = iterable_sim::spawn(SimOptions {
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    });
    let dir = std::env::temp_dir().join(format!("iterable-host-keyless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_iterable-connector");
    let keyless = dir.join("keyless.json");
    std::fs::write(&keyless, json!({"base_url": sim.base_url()}).to_string()).unwrap();
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(&keyless)
        .env_remove("ITERABLE_API_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no API key was given"), "{text}");
    let mangled = dir.join("mangled.json");
    std::fs::write(
        &mangled,
        json!({"base_url": sim.base_url(), "api_key": format!("{KEY}\r\n")}).to_string(),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(&mangled)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("line break"), "{all}");
    assert!(!all.contains("5ecretK"), "{all}");
}
