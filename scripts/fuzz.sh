#!/usr/bin/env bash
# The long fuzz run (CI makes a short one: `cargo test -p fuzz`). Release
# build, every target (or the ones named) for SECONDS_PER_TARGET each
# (default 300),
# from SEED (default: the date, a new one each day, printed so a run can be
# repeated).
#
#   scripts/fuzz.sh                      # all targets, 5 minutes each
#   SECONDS_PER_TARGET=1800 scripts/fuzz.sh read_session
#   SEED=0x1234 scripts/fuzz.sh body_csv sql
#
# A finding stops that target, prints the input (hex) and saves it under
# fuzz/artifacts/<target>/; replay it with
#   cargo run -p fuzz --release -- replay <target> <file>
# (FUZZ_TRACE=1 prints a read session's actions), fix the core, and check
# the input in under fuzz/regressions/<target>/ with a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
per_target="${SECONDS_PER_TARGET:-300}"
seed="${SEED:-$(date -u +%Y%m%d)}"
cargo build --locked --release -p fuzz
bin="${CARGO_TARGET_DIR:-target}/release/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <("$bin" list | awk '{print $1}')
fi
echo "seed $seed, $per_target s per target: ${targets[*]}"
status=0
for t in "${targets[@]}"; do
    "$bin" "$t" --seconds "$per_target" --seed "$seed" || status=1
done
exit "$status"
