"""A real Singer target loads what we emit (#14.8): our host's Singer tap
(``iterable-connector singer``) piped into MeltanoLabs' ``target-postgres``
(from PyPI; it validates every RECORD against its SCHEMA message) into the
session's real PostgreSQL server. Every selected stream lands with the
simulator's row count; array custom fields (``devices``,
``favoriteCategories``) land as jsonb, not rejected.

Needs the host binary and component (``ITERABLE_HOST``, ``CONNECTOR_WASM``)
and the target (``SINGER_TARGET_POSTGRES``, installed by
``scripts/python-test.sh`` in its own venv): missing pieces fail the test,
they are not skipped."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, FAST, PG_PASSWORD, START, Postgres, Sim

END = "2025-03-15T00:00:00Z"
# Every stream that reads without a user filter and has a ground truth,
# across the families (paged, exports, list members, catalogs, metrics,
# metadata, templates and their contents).
STREAMS = [
    "campaigns",
    "campaigns_metrics",
    "lists",
    "list_users",
    "templates",
    "template_contents",
    "journeys",
    "catalogs",
    "catalog_items",
    "metadata",
    "experiments_metrics",
    "users",
    "email_send",
    "email_open",
    "email_click",
    "purchase",
    "custom_event",
]


def _path(env: str, hint: str) -> str:
    p = os.environ.get(env)
    if not p or not Path(p).exists():
        pytest.fail(f"${env} must name {hint} (scripts/python-test.sh sets it)", pytrace=False)
    return p


def test_target_postgres_loads_every_stream(sim: Sim, postgres: Postgres, tmp_path: Path) -> None:
    host = _path("ITERABLE_HOST", "the iterable-connector host binary")
    wasm = _path("CONNECTOR_WASM", "the connector component")
    target = _path("SINGER_TARGET_POSTGRES", "MeltanoLabs' target-postgres")
    db = postgres.new_database("singer")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"api_key": API_KEY, "base_url": sim.url, "start_date": START, "end_date": END, **FAST}
        )
    )
    target_config = tmp_path / "target.json"
    target_config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": postgres.port,
                "user": "postgres",
                "password": PG_PASSWORD,
                "database": db,
                "default_target_schema": "iterable",
                "activate_version": False,
            }
        )
    )
    env = {**os.environ, "CONNECTOR_WASM": wasm}
    discover = subprocess.run(
        [host, "singer", "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert discover.returncode == 0, discover.stderr
    catalog: dict[str, Any] = json.loads(discover.stdout)
    catalog["streams"] = [s for s in catalog["streams"] if s["tap_stream_id"] in STREAMS]
    for s in catalog["streams"]:
        for m in s["metadata"]:
            if m["breadcrumb"] == []:
                m["metadata"]["selected"] = True
    assert len(catalog["streams"]) == len(STREAMS)
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))

    tap = subprocess.Popen(
        [host, "singer", "--config", str(config), "--catalog", str(catalog_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    load = subprocess.run(
        [target, "--config", str(target_config)],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    tap_err = tap.stderr.read().decode() if tap.stderr else ""
    assert tap.wait(timeout=60) == 0, tap_err
    assert load.returncode == 0, load.stderr[-3000:]
    for text in (tap_err, load.stdout, load.stderr):
        assert API_KEY not in text

    con = postgres.connect(db)
    try:
        for stream in STREAMS:
            (count,) = con.execute(f'SELECT count(*) FROM iterable."{stream}"').fetchone()
            # Templates are read whole (the truth windows them on createdAt).
            whole = stream in ("templates", "template_contents")
            truth = sim.truth(stream, None if whole else START, None if whole else END)
            assert count == truth["count"], (stream, count, truth["count"])
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'iterable' AND table_name = 'users'"
            ).fetchall()
        )
        assert types["devices"] == "jsonb" and types["favoriteCategories"] == "jsonb", types
        assert types["loyaltyPoints"] == "bigint", types
    finally:
        con.close()
