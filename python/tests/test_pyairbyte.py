"""A real Airbyte client reads through our host (#14.8): PyAirbyte (from
PyPI, in its own venv) runs ``iterable-connector`` as a local executable and
loads the streams into its DuckDB cache, which types every column from our
declared schemas: row counts equal the simulator's ground truth, custom
date fields are timestamps, numbers are numbers.

Needs ``ITERABLE_HOST``, ``CONNECTOR_WASM`` and ``PYAIRBYTE_PYTHON`` (set by
``scripts/python-test.sh``): missing pieces fail the test."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import API_KEY, FAST, START, Sim

END = "2025-03-15T00:00:00Z"
# One stream per family (the Singer test covers more streams).
STREAMS = ["campaigns", "catalog_items", "experiments_metrics", "users", "custom_event"]
CLIENT = Path(__file__).parent / "clients" / "pyairbyte_read.py"


def _path(env: str, hint: str) -> str:
    p = os.environ.get(env)
    if not p or not Path(p).exists():
        pytest.fail(f"${env} must name {hint} (scripts/python-test.sh sets it)", pytrace=False)
    return p


def test_pyairbyte_reads_through_the_host(sim: Sim, tmp_path: Path) -> None:
    host = _path("ITERABLE_HOST", "the iterable-connector host binary")
    wasm = _path("CONNECTOR_WASM", "the connector component")
    python = _path("PYAIRBYTE_PYTHON", "the python of a venv with PyAirbyte")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"api_key": API_KEY, "base_url": sim.url, "start_date": START, "end_date": END, **FAST}
        )
    )
    env = {
        **os.environ,
        "CONNECTOR_WASM": wasm,
        # No registry or telemetry: the connector is the local executable.
        "AIRBYTE_OFFLINE_MODE": "1",
        "DO_NOT_TRACK": "1",
        "AIRBYTE_LOCAL_ROOT": str(tmp_path / "airbyte"),
        "HOME": str(tmp_path),
        # The compiled component is cached across runs (debug hosts compile slowly).
        "CONNECTOR_CACHE_DIR": os.environ.get(
            "CONNECTOR_CACHE_DIR", str(Path(host).parent / "component-cache")
        ),
    }
    run = subprocess.run(
        [python, str(CLIENT), host, str(config), str(tmp_path / "cache"), *STREAMS],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert API_KEY not in run.stdout + run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for stream in STREAMS:
        truth = sim.truth(stream, START, END)
        assert out["counts"][stream] == truth["count"], (stream, out["counts"], truth["count"])
    types = out["users_types"]
    assert types["lastpurchasedate"].startswith("datetime64"), types
    assert types["loyaltypoints"] == "int64" and types["ltv"] == "float64", types
