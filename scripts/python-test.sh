#!/usr/bin/env bash
# The Python package (python/): built from source into a fresh venv with
# `pip install ./python`, linted, then tested against the simulator.
# Run by scripts/test.sh (last, so pytest's closing line is the final word).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
VENV="${CI_VENV:-.ci-venv}"

echo "-- python: simulator binary for the tests"
cargo build --locked -p iterable-sim
export ITERABLE_SIM="$PWD/target/debug/iterable-sim"

echo "-- python: the host, a real Singer target and PyAirbyte (test_singer_target.py, test_pyairbyte.py)"
cargo build --locked -p iterable-connector-host
export ITERABLE_HOST="$PWD/target/debug/iterable-connector"
export CONNECTOR_WASM="${CONNECTOR_WASM:-$PWD/target/wasm32-wasip2/wasm-release/wasm_component.wasm}"
# MeltanoLabs' target-postgres validates every record against its SCHEMA:
# its own venv, so its pins never meet the package's.
SINGER_VENV=target/singer-venv
[ -x "$SINGER_VENV/bin/target-postgres" ] || {
    python3 -m venv "$SINGER_VENV"
    "$SINGER_VENV/bin/pip" install --quiet "meltanolabs-target-postgres==0.8.1"
}
export SINGER_TARGET_POSTGRES="$PWD/$SINGER_VENV/bin/target-postgres"
# PyAirbyte runs our host as a local executable (test_pyairbyte.py): its own venv too.
PYAIRBYTE_VENV=target/pyairbyte-venv
[ -x "$PYAIRBYTE_VENV/bin/python" ] && "$PYAIRBYTE_VENV/bin/python" -c "import airbyte" 2>/dev/null || {
    rm -rf "$PYAIRBYTE_VENV"
    python3 -m venv "$PYAIRBYTE_VENV"
    "$PYAIRBYTE_VENV/bin/pip" install --quiet "airbyte==0.71.3"
}
export PYAIRBYTE_PYTHON="$PWD/$PYAIRBYTE_VENV/bin/python"

echo "-- python: fresh venv $VENV"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet maturin pytest ruff mypy pyarrow pandas polars requests httpx tqdm "dlt[duckdb,postgres]" "psycopg[binary]" psycopg2-binary sqlalchemy jsonschema "pyspark>=4.0"

echo "-- python: pip install ./python (maturin builds the extension from source)"
"$VENV/bin/pip" install ./python

echo "-- python: lint"
"$VENV/bin/ruff" check python
"$VENV/bin/ruff" format --check python
(cd python && "../$VENV/bin/mypy")

echo "-- python: the extension's Rust tests (its conversions against decoding, byte for byte)"
cargo test --locked -p iterable-connector-python

echo "-- python: pytest"
# test_sync.py and test_replicate.py start a real PostgreSQL server (initdb/pg_ctl): Debian keeps
# them under /usr/lib/postgresql/<version>/bin, off PATH.
for d in /usr/lib/postgresql/*/bin; do
    [ -d "$d" ] && PATH="$PATH:$d"
done
export PATH
# Run from the repo root so the installed package, not python/iterable_connector, is imported.
set +e
"$VENV/bin/pytest" -q -p no:cacheprovider python/tests 2>&1 | tee target/pytest-output.txt
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing"
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    exit "$rc"
fi
grep -Eq '[0-9]+ passed' target/pytest-output.txt || { echo "pytest reported no passed tests"; exit 1; }
