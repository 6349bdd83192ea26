"""`python -m iterable_connector` speaks the Airbyte protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import API_KEY, FAST, SIM_NOW, START, WRONG_KEY, Sim, event_stream_names, natural_key

EVENTS = event_stream_names()


def run(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    out = subprocess.run(
        [sys.executable, "-m", "iterable_connector", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return out.returncode, messages, out.stdout + out.stderr


def write(tmp: Path, name: str, value: Any) -> str:
    path = tmp / name
    path.write_text(json.dumps(value))
    return str(path)


def config(sim: Sim, key: str = API_KEY) -> dict[str, Any]:
    return {"api_key": key, "base_url": sim.url, "start_date": START, "end_date": SIM_NOW, **FAST}


def test_spec() -> None:
    code, msgs, _ = run("spec")
    assert code == 0 and len(msgs) == 1
    spec = msgs[0]["spec"]["connectionSpecification"]
    assert msgs[0]["type"] == "SPEC"
    assert spec["properties"]["api_key"]["airbyte_secret"] is True


def test_check(sim: Sim, tmp_path: Path) -> None:
    code, msgs, _ = run("check", "--config", write(tmp_path, "c.json", config(sim)))
    assert code == 0
    assert msgs[-1] == {"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}}
    code, msgs, raw = run("check", "--config", write(tmp_path, "w.json", config(sim, WRONG_KEY)))
    assert msgs[-1]["connectionStatus"]["status"] == "FAILED"
    assert WRONG_KEY not in raw


def test_discover(sim: Sim, tmp_path: Path) -> None:
    code, msgs, _ = run("discover", "--config", write(tmp_path, "c.json", config(sim)))
    assert code == 0
    streams = {s["name"]: s for s in msgs[-1]["catalog"]["streams"]}
    assert msgs[-1]["type"] == "CATALOG"
    assert streams["email_send"]["source_defined_primary_key"] == [["_key"]]
    assert streams["email_send"]["default_cursor_field"] == ["createdAt"]
    assert "incremental" in streams["email_send"]["supported_sync_modes"]


def test_read_and_resume(sim: Sim, tmp_path: Path) -> None:
    catalog = {
        "streams": [
            {
                "stream": {"name": "email_send", "json_schema": {}},
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            },
            {
                "stream": {"name": "campaigns", "json_schema": {}},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            },
        ]
    }
    cfg = config(sim)
    cfg["end_date"] = "2025-03-11T00:00:00Z"
    args = ["--config", write(tmp_path, "c.json", cfg)]
    args += ["--catalog", write(tmp_path, "cat.json", catalog)]
    code, msgs, raw = run("read", *args)
    assert code == 0, raw
    assert API_KEY not in raw
    types = {m["type"] for m in msgs}
    assert {"RECORD", "STATE", "LOG"} <= types
    records = [m["record"] for m in msgs if m["type"] == "RECORD"]
    sends = [r["data"] for r in records if r["stream"] == "email_send"]
    camps = [r["data"] for r in records if r["stream"] == "campaigns"]
    assert len(camps) == sim.truth("campaigns")["count"]
    states = [m["state"] for m in msgs if m["type"] == "STATE"]
    assert states[-1]["type"] == "STREAM"
    # STATE after the records it covers: nothing follows the last one but logs.
    last_state = max(i for i, m in enumerate(msgs) if m["type"] == "STATE")
    assert all(m["type"] != "RECORD" for m in msgs[last_state + 1 :])

    # Resume with the per-stream states and a later end: only the rest.
    per_stream = {}
    for s in states:
        per_stream[s["stream"]["stream_descriptor"]["name"]] = s
    cfg["end_date"] = SIM_NOW
    args2 = ["--config", write(tmp_path, "c2.json", cfg)]
    args2 += ["--catalog", write(tmp_path, "cat.json", catalog)]
    args2 += ["--state", write(tmp_path, "state.json", list(per_stream.values()))]
    code, msgs2, raw2 = run("read", *args2)
    assert code == 0, raw2
    sends2 = [m["record"]["data"] for m in msgs2 if m["type"] == "RECORD"]
    sends2 = [
        m["record"]["data"]
        for m in msgs2
        if m["type"] == "RECORD" and m["record"]["stream"] == "email_send"
    ]
    keys = sorted(natural_key("email_send", r, EVENTS) for r in sends + sends2)  # type: ignore[misc]
    assert keys == sorted(sim.truth("email_send", START, SIM_NOW)["keys"])


def test_read_error_is_a_trace(sim: Sim, tmp_path: Path) -> None:
    catalog = {"streams": [{"stream": {"name": "email_send"}, "sync_mode": "incremental"}]}
    args = ["--config", write(tmp_path, "w.json", config(sim, WRONG_KEY))]
    args += ["--catalog", write(tmp_path, "cat.json", catalog)]
    code, msgs, raw = run("read", *args)
    assert code == 1
    trace = msgs[-1]
    assert trace["type"] == "TRACE" and trace["trace"]["type"] == "ERROR"
    assert WRONG_KEY not in raw
    bad = write(tmp_path, "bad.json", {"api_key": "k", "region": "X"})
    code, msgs, _ = run("check", "--config", bad)
    assert code == 0  # Airbyte: a failed check is a status, not a crash
    assert msgs[-1]["connectionStatus"]["status"] == "FAILED"
    assert "region" in msgs[-1]["connectionStatus"]["message"]
    code, msgs, _ = run("read", "--config", bad, "--catalog", str(tmp_path / "cat.json"))
    assert code == 1 and msgs[-1]["trace"]["error"]["failure_type"] == "config_error"


def test_skipped_malformed_lines_are_reported(tmp_path: Path) -> None:
    from conftest import start_sim, stop_sim

    sim = start_sim("--api-key", API_KEY, "--malformed-rate", "0.05")
    try:
        cfg = write(tmp_path, "c.json", {**config(sim), "skip_malformed_lines": True})
        catalog = {"streams": [{"stream": {"name": "email_send"}, "sync_mode": "incremental"}]}
        code, msgs, text = run(
            "read", "--config", cfg, "--catalog", write(tmp_path, "k.json", catalog)
        )
    finally:
        stop_sim(sim)
    assert code == 0, text
    warnings = [
        m["log"]["message"] for m in msgs if m["type"] == "LOG" and m["log"]["level"] == "WARN"
    ]
    assert any("malformed lines skipped" in w for w in warnings), warnings


def test_odd_catalogs_states_and_configs_are_config_errors(sim: Sim, tmp_path: Path) -> None:
    import pytest

    from iterable_connector import ConfigError
    from iterable_connector.airbyte import _selection, _source, _state_input

    entry = {"stream": {"name": "lists"}, "sync_mode": "incremental"}
    for catalog, needle in [
        ({"streams": [entry, entry]}, "listed twice"),
        ({"streams": [{"stream": {"name": "lists"}, "sync_mode": "append"}]}, "sync_mode"),
        ({"streams": ["lists"]}, "stream.name"),
        ({"streams": [{"stream": "lists"}]}, "stream.name"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            _selection(catalog)
    for state, needle in [
        ([1, 2], "non-object"),
        ({"type": "SOMETHING"}, "must hold objects"),
        ("junk", "not a state"),
        ({"lists": 5}, "must hold objects"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            _state_input(state)
    one = {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": "lists"}, "stream_state": {"v": 1}},
    }
    assert _state_input(one) == {"lists": {"v": 1}}
    assert _state_input({"type": "STATE", "state": one}) == {"lists": {"v": 1}}
    glob = {"type": "GLOBAL", "global": {"stream_states": [one["stream"]]}}
    assert _state_input([glob]) == {"lists": {"v": 1}}
    for bad, field in [({"transport": "x"}, "transport"), ({"timeout": "soon"}, "timeout")]:
        with pytest.raises(ConfigError) as info:
            _source({**config(sim), **bad})
        assert info.value.field == field

    catalog = {"streams": [entry, entry]}
    code, msgs, text = run(
        "read",
        "--config",
        write(tmp_path, "c.json", config(sim)),
        "--catalog",
        write(tmp_path, "k.json", catalog),
    )
    assert code != 0
    traces = [m for m in msgs if m["type"] == "TRACE"]
    assert traces and traces[0]["trace"]["error"]["failure_type"] == "config_error", text
