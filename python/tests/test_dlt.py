"""dlt: streams load into duckdb through the dlt source, and read back intact."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from conftest import API_KEY, FAST, SIM_NOW, START, Sim, event_stream_names, natural_key

dlt = pytest.importorskip("dlt", reason="dlt is not installed: pip install 'dlt[duckdb]'")
duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed: pip install duckdb")

EVENTS = event_stream_names()
MIDDLE = "2025-03-11T06:30:00Z"


def _pipeline(tmp_path: Path) -> dlt.Pipeline:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    return dlt.pipeline(
        pipeline_name="iterable_py_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
        dataset_name="iterable_data",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def _source(sim: Sim, end: str) -> object:
    from iterable_connector.dlt import iterable_source

    return iterable_source(
        api_key=API_KEY,
        base_url=sim.url,
        streams=["email_send", "campaigns", "lists"],
        start_date=START,
        end_date=end,
        config=FAST,
    )


def test_load_into_duckdb_twice(sim: Sim, tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    src = _source(sim, MIDDLE)
    resources = src.resources  # type: ignore[attr-defined]
    assert resources["email_send"].write_disposition == "merge"
    assert resources["campaigns"].write_disposition == "merge"
    pipeline.run(src)
    first = pipeline.last_trace.last_normalize_info.row_counts["email_send"]
    state = pipeline.state["sources"]["iterable"]["resources"]["email_send"]["connector_state"]
    assert state["v"] == 1

    # Second run, later end: the resource state makes it read only what is new.
    pipeline.run(_source(sim, SIM_NOW))
    second = pipeline.last_trace.last_normalize_info.row_counts["email_send"]
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select created_at, email, message_id, _key from email_send")
        camp = client.execute_sql("select count(*) from campaigns")[0][0]
        lists = client.execute_sql("select count(*) from lists")[0][0]
        types = dict(
            client.execute_sql(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'email_send'"
            )
        )
    truth = sim.truth("email_send", START, SIM_NOW)
    assert len(rows) == truth["count"]
    assert first > 0 and second > 0
    assert first + second == truth["count"], "the second run re-read old rows"
    assert len({r[3] for r in rows}) == len(rows)
    keys = sorted(
        natural_key(
            "email_send",
            {
                "createdAt": c.astimezone(dt.UTC).isoformat() if hasattr(c, "isoformat") else c,
                "email": e,
                "messageId": m,
            },
            EVENTS,
        )
        for c, e, m, _ in rows
    )
    assert keys == sorted(truth["keys"])
    assert camp == sim.truth("campaigns")["count"]
    assert lists == sim.truth("lists")["count"]
    assert types["created_at"].startswith("TIMESTAMP")
    assert types["campaign_id"] == "BIGINT"
