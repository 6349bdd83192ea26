#!/usr/bin/env bash
# Runs every test: the README's test command, also run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
# default-members: the core, the simulator and the integration tests.
cargo test --locked 2>&1 | tee target/test-output.txt
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo 'test result: FAILED\. [0-9]+ passed; [0-9]+ failed' target/test-output.txt | awk '{s+=$6} END {print s+0}')
echo "$passed passed, $failed failed"

# Python package: fresh venv, pip install ./python, ruff, mypy, pytest (last:
# its closing "N passed" line is the final word of this script).
bash scripts/python-test.sh
