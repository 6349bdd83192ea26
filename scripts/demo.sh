#!/usr/bin/env bash
# The main job: builds the component and the host, then syncs every stream
# from the bundled simulator (rate limits on) into demo-out/.
# Extra arguments go to `iterable-connector demo` (--scale, --out, --seed).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo build --locked -p wasm-component --target wasm32-wasip2 --profile wasm-release
export CONNECTOR_WASM="$PWD/target/wasm32-wasip2/wasm-release/wasm_component.wasm"
cargo run --locked -q -p iterable-connector-host --bin iterable-connector -- demo "$@"
