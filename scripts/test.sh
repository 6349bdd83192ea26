#!/usr/bin/env bash
# Runs every test: the README's test command, also run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
# The wasm component, built before the host tests that load it.
rustup target add wasm32-wasip2
cargo build --locked -p wasm-component --target wasm32-wasip2 --profile wasm-release
export CONNECTOR_WASM="$PWD/target/wasm32-wasip2/wasm-release/wasm_component.wasm"
ls -l "$CONNECTOR_WASM"
# default-members: the core, the simulator, the integration tests, the host and
# the fuzzer (its short run: regressions, corpus, ~4 s of mutations per target).
cargo test --locked 2>&1 | tee target/test-output.txt
# (grep finds nothing when all is well: `|| true` keeps `set -e` from ending the script.)
passed=$({ grep -Eo 'test result: ok\. [0-9]+ passed' target/test-output.txt || true; } | awk '{s+=$4} END {print s+0}')
failed=$({ grep -Eo 'test result: FAILED\. [0-9]+ passed; [0-9]+ failed' target/test-output.txt || true; } | awk '{s+=$6} END {print s+0}')
echo "$passed passed, $failed failed"

# A host we did not write: wasmtime-py loads the component with every import
# trapping and syncs from the simulator binary.
cargo build --locked -p iterable-sim --bin iterable-sim
python3 -m venv target/wasmtime-py-venv
target/wasmtime-py-venv/bin/pip install --quiet "wasmtime==50.0.1"
target/wasmtime-py-venv/bin/python host/tests/foreign_host.py "$CONNECTOR_WASM" target/debug/iterable-sim

# Python package: fresh venv, pip install ./python, ruff, mypy, pytest (last:
# its closing "N passed" line is the final word of this script).
bash scripts/python-test.sh
