//! `spawn`/`start` with the real backend, and shutting down.

mod server_support;

use std::net::TcpStream;

use iterable_sim::{SimOptions, spawn, start};
use server_support::{get, request};

/// Answers that come from the server layer whatever the world holds.
fn server_layer_answers(base: &str) {
    assert_eq!(request(base, "GET", "/api/channels", &[], None).status, 401);
    assert_eq!(get(base, "/api/not/a/thing").status, 404);
    assert_eq!(get(base, "/api/export/data.json").status, 400);
}

#[test]
fn spawn_serves_until_stopped() {
    let mut sim = spawn(SimOptions::default());
    let base = sim.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    server_layer_answers(&base);
    assert_eq!(sim.request_log().len(), 3);
    sim.stop();
    sim.stop(); // idempotent
    let addr = base.trim_start_matches("http://");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after stop"
    );
}

#[test]
fn drop_stops_the_server() {
    let addr = {
        let sim = spawn(SimOptions::default());
        sim.base_url().trim_start_matches("http://").to_string()
    };
    assert!(TcpStream::connect(addr).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_runs_inside_an_existing_runtime() {
    let sim = start(SimOptions::default()).await.unwrap();
    let base = sim.base_url();
    tokio::task::spawn_blocking(move || server_layer_answers(&base))
        .await
        .unwrap();
    assert_eq!(sim.request_log().len(), 3);
}
