#!/usr/bin/env bash
# Every benchmark of #13, then ONE JSON line of the figures on stdout's last line:
#   core_mb_s parser_mb_s wasm_native_ratio py_arrow_rows_s py_dict_rows_s py_peak_rss_mb
#   rate_limited_sync_s rate_limited_floor_s requests connections csv_mb_s
# A figure whose benchmark is missing (or failed) is null. Each bench's full output goes to
# $OUT (default target/bench/), so the tables for BENCHMARKS.md are there too.
#
#   bash scripts/bench.sh            # full: large Python export, incumbents if their venvs exist
#   bash scripts/bench.sh --quick    # under 5 minutes on 2 cores (smaller data, fewer runs)
#
# On a shared machine, wrap it: `flock /tmp/build.lock bash scripts/bench.sh --quick`.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
OUT="${OUT:-$TARGET/bench}"
mkdir -p "$OUT"
PY="${BENCH_PYTHON:-python3}"
export CONNECTOR_WASM="${CONNECTOR_WASM:-$TARGET/wasm32-wasip2/wasm-release/wasm_component.wasm}"
export ITERABLE_SIM="${ITERABLE_SIM:-$TARGET/release/iterable-sim}"
export ITERABLE_CONNECTOR="${ITERABLE_CONNECTOR:-$TARGET/release/iterable-connector}"

log() { echo "-- bench: $*" >&2; }

# ---- build -------------------------------------------------------------------
log "building (release host and simulator, wasm component)"
cargo build -q --release -p iterable-connector-host -p iterable-sim >&2 || log "release build failed"
cargo build -q -p wasm-component --target wasm32-wasip2 --profile wasm-release >&2 || log "wasm build failed"

# ---- run ---------------------------------------------------------------------
log "core_throughput (parser, read session, SQL filter, CSV encoding)"
cargo bench -q -p integration-tests --bench core_throughput > "$OUT/core_throughput.txt" 2>&1 \
    || log "core_throughput failed (see $OUT/core_throughput.txt)"

# The same read natively and through the component in wasmtime (release host).
log "wasm_ratio (host/benches/wasm_ratio.rs)"
cargo bench -q -p iterable-connector-host --bench wasm_ratio > "$OUT/wasm_native.txt" 2>&1 \
    || log "wasm_ratio failed (see $OUT/wasm_native.txt)"

log "python: rows/s into dicts and Arrow (python/bench/bench_read.py)"
PY_SCALE=large
[ "$QUICK" = 1 ] && PY_SCALE=medium
rm -f "$OUT/py_read.json"
"$PY" python/bench/bench_read.py --scale "$PY_SCALE" --modes dicts,arrow_batches --json "$OUT/py_read.json" \
    > "$OUT/py_read.txt" 2>&1 || log "bench_read.py failed (is iterable_connector installed for $PY?)"

log "all-stream sync under rate limits (scripts/bench_rate_limited.py)"
RL_SCALE=small
[ "$QUICK" = 1 ] && RL_SCALE=tiny
rm -f "$OUT/rate_limited.json"
python3 scripts/bench_rate_limited.py --scale "$RL_SCALE" --time-scale 20 --json "$OUT/rate_limited.json" \
    > "$OUT/rate_limited.txt" 2>&1 || log "bench_rate_limited.py failed (see $OUT/rate_limited.txt)"

if [ "$QUICK" = 0 ]; then
    log "python: Spark read (python/bench/bench_spark.py)"
    "$PY" python/bench/bench_spark.py > "$OUT/spark.txt" 2>&1 || log "bench_spark.py failed"
    if [ -x "$TARGET/bench-venvs/airbyte/bin/python" ] || [ -x "$TARGET/bench-venvs/singer/bin/python" ]; then
        log "incumbents (python/bench/bench_incumbents.py)"
        python3 python/bench/bench_incumbents.py --json "$OUT/incumbents.json" \
            > "$OUT/incumbents.txt" 2>&1 || log "bench_incumbents.py failed"
    fi
fi

# ---- figures: one small function each; null when its bench is missing ---------
# A number after `label:` (the greppable form) or in a line matching a pattern.
num_after() { grep -Eo "$1[[:space:]]*:?[[:space:]]*[0-9]+(\.[0-9]+)?" "$2" 2>/dev/null | tail -1 | grep -Eo '[0-9]+(\.[0-9]+)?$'; }
json_field() { python3 -c 'import json,sys
try:
    d=json.load(open(sys.argv[1]))
    for k in sys.argv[2].split("."):
        d=d[int(k)] if isinstance(d,list) else d[k]
    print(d if d is not None else "")
except Exception:
    pass' "$1" "$2" 2>/dev/null; }
py_mode() { python3 -c 'import json,sys
try:
    rs=json.load(open(sys.argv[1]))["results"]
    print(next(r[sys.argv[3]] for r in rs if r["mode"]==sys.argv[2]))
except Exception:
    pass' "$OUT/py_read.json" "$1" "$2" 2>/dev/null; }

core_mb_s() { num_after 'core_mb_s' "$OUT/core_throughput.txt" || num_after 'read session \(all\) +' "$OUT/core_throughput.txt"; }
parser_mb_s() { num_after 'parser_mb_s' "$OUT/core_throughput.txt" || num_after 'parser only +' "$OUT/core_throughput.txt"; }
csv_mb_s() { num_after 'csv_mb_s' "$OUT/core_throughput.txt"; }
wasm_native_ratio() { num_after 'wasm_native_ratio' "$OUT/wasm_native.txt"; }
py_arrow_rows_s() { py_mode arrow_batches rows_per_s; }
py_dict_rows_s() { py_mode dicts rows_per_s; }
py_peak_rss_mb() { py_mode arrow_batches peak_rss_mb; }
rate_limited_sync_s() { json_field "$OUT/rate_limited.json" rate_limited_sync_s; }
rate_limited_floor_s() { json_field "$OUT/rate_limited.json" rate_limited_floor_s; }
requests() { json_field "$OUT/rate_limited.json" requests; }
connections() { json_field "$OUT/rate_limited.json" connections; }

value() { local v; v=$("$1"); [ -n "$v" ] && echo "$v" || echo null; }
line="{"
sep=""
for f in core_mb_s parser_mb_s wasm_native_ratio py_arrow_rows_s py_dict_rows_s py_peak_rss_mb \
    rate_limited_sync_s rate_limited_floor_s requests connections csv_mb_s; do
    line="$line$sep\"$f\": $(value $f)"
    sep=", "
done
echo "$line}"
