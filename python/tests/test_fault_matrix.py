"""Issue #14's fault matrix through the Python Airbyte CLI.

``python -m iterable_connector read`` against every hostile server mode
(``iterable-sim --hostile MODE``) and every fault of the simulator itself, one
row per fault. Each row asserts that the process ends (a generous subprocess
timeout is the hang detector, not a performance check), how it ends (a TRACE
error naming what happened, or a success with exactly the ground truth), that
no record is handed out twice, and that the API key, or any 4+-character prefix
of it, is nowhere in stdout or stderr. The same matrix runs through the host in
host/tests/fault_matrix.rs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import SIM_NOW, START, start_sim, stop_sim

KEY = "sk_live_FAULTMATRIX_0123456789abcdef"
END = "2025-03-15T00:00:00Z"
# Far beyond any row's expected time: reaching it means a hang.
DEADLINE_S = 180


@dataclass
class Row:
    fault: str
    sim_args: list[str]
    stream: str
    # A TRACE message containing one of these, or (None) exactly the ground truth.
    fails_with: tuple[str, ...] | None
    config: dict[str, Any] = field(default_factory=dict)
    log: str | None = None


ASYNC = {"export_mode": "async"}
# The host says "transport error (Timeout)", Python's transport "timeout".
TIMEOUT = ("Timeout", "timeout")
ROWS = [
    Row("html-200", ["--hostile", "html-200"], "lists", ("malformed-response",)),
    Row("wrong-shape", ["--hostile", "wrong-shape"], "lists", ("expected a JSON object",)),
    Row("invalid-utf8", ["--hostile", "invalid-utf8"], "lists", ("malformed-response",)),
    Row("echo-4xx", ["--hostile", "echo-4xx"], "lists", ("HTTP 400",)),
    Row("echo-500", ["--hostile", "echo-500"], "lists", ("HTTP 500",)),
    Row("trickle", ["--hostile", "trickle", "--trickle-ms", "300"], "lists", TIMEOUT),
    Row("never-answer", ["--hostile", "never-answer"], "lists", TIMEOUT),
    Row("retry-after-huge", ["--hostile", "retry-after-huge"], "lists", ("Retry-After",)),
    Row("retry-after-negative", ["--hostile", "retry-after-negative"], "lists", ("HTTP 429",)),
    Row("endless-pages", ["--hostile", "endless-pages"], "journeys", ("repeats page",)),
    Row(
        "ignore-start-after",
        ["--hostile", "ignore-start-after"],
        "users",
        ("ignores startAfter",),
        ASYNC,
    ),
    Row("never-complete", ["--hostile", "never-complete"], "email_send", ("status checks",), ASYNC),
    Row("error-rate 1", ["--error-rate", "1"], "lists", ("HTTP 500",)),
    Row("error-rate 0.3", ["--error-rate", "0.3"], "email_send", None, {"max_retries": 10}),
    Row("cut-after-bytes", ["--cut-after-bytes", "1500"], "email_send", None),
    Row(
        "malformed-rate, skipped",
        ["--malformed-rate", "0.2"],
        "email_send",
        None,
        {"skip_malformed_lines": True},
        log="malformed lines skipped",
    ),
    Row("malformed-rate", ["--malformed-rate", "0.2"], "email_send", ("malformed-response",)),
    Row("slow-body", ["--slow-body", "20000"], "email_send", None),
    Row(
        "fail-downloads", ["--fail-downloads", "2"], "email_send", None, {**ASYNC, "max_retries": 4}
    ),
    Row("url-ttl", ["--url-ttl", "0"], "email_send", None, ASYNC),
]


def _write(tmp: Path, name: str, value: Any) -> str:
    path = tmp / name
    path.write_text(json.dumps(value))
    return str(path)


@pytest.mark.parametrize("row", ROWS, ids=[r.fault for r in ROWS])
def test_fault_ends_typed_bounded_and_keyless(row: Row, tmp_path: Path) -> None:
    sim = start_sim("--api-key", KEY, *row.sim_args)
    try:
        cfg = {
            "api_key": KEY,
            "base_url": sim.url,
            "start_date": START,
            "end_date": END,
            "max_retries": 1,
            "time_scale": 10_000,
            **row.config,
        }
        catalog = {"streams": [{"stream": {"name": row.stream}, "sync_mode": "full_refresh"}]}
        env = {**os.environ, "ITERABLE_CONNECTOR_STALL_SECS": "2"}
        env.pop("ITERABLE_API_KEY", None)
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    *("-m", "iterable_connector", "read"),
                    *("--config", _write(tmp_path, "c.json", cfg)),
                    *("--catalog", _write(tmp_path, "k.json", catalog)),
                ],
                capture_output=True,
                text=True,
                timeout=DEADLINE_S,
                env=env,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{row.fault}: the read hung (killed after {DEADLINE_S} s)")
        truth = sim.truth(row.stream, START, END, now=SIM_NOW) if row.fails_with is None else None
    finally:
        stop_sim(sim)

    text = out.stdout + out.stderr
    # Any prefix of 4+ characters contains the first four.
    assert KEY[:4] not in text and "0123456789abcdef" not in text, f"key leaked: {text}"
    msgs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    records = [
        json.dumps(m["record"]["data"], sort_keys=True) for m in msgs if m["type"] == "RECORD"
    ]
    assert len(set(records)) == len(records), "records handed out twice"
    if row.fails_with is not None:
        assert out.returncode != 0, text
        traces = [m["trace"]["error"]["message"] for m in msgs if m["type"] == "TRACE"]
        assert traces, f"no TRACE error: {text}"
        assert any(s in traces[-1] for s in row.fails_with), traces[-1]
    else:
        assert out.returncode == 0, text
        assert truth is not None
        assert len(records) == truth["count"], (len(records), truth["count"])
        if row.log:
            logs = [m["log"]["message"] for m in msgs if m["type"] == "LOG"]
            assert any(row.log in m for m in logs), logs


# -- killed and resumed ---------------------------------------------------------

RESUME_STREAMS = ["email_send", "email_open", "users"]


def _read_until(
    args: list[str], kill_after: int | None
) -> tuple[list[tuple[str, str]], dict[str, Any], int, bool]:
    """Runs ``read``; SIGKILLs it after ``kill_after`` RECORD lines. Returns the
    (stream, key) of every record, the latest STATE per stream, the index in
    that list after which records are not covered by a STATE, and whether it
    was killed."""
    from conftest import natural_key

    from iterable_connector import _native

    events = {
        d["name"]
        for d in _native.discover(json.dumps({"base_url": "http://127.0.0.1:1"}))
        if "_key" in d["json_schema"]["properties"]
    }
    env = {**os.environ}
    env.pop("ITERABLE_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iterable_connector", "read", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[tuple[str, str]] = []
    states: dict[str, Any] = {}
    covered = 0
    killed = False
    for line in proc.stdout:
        m = json.loads(line)
        if m["type"] == "RECORD":
            r = m["record"]
            seen.append((r["stream"], str(natural_key(r["stream"], r["data"], events))))
            if kill_after is not None and len(seen) >= kill_after:
                proc.kill()
                killed = True
                break
        elif m["type"] == "STATE":
            states[m["state"]["stream"]["stream_descriptor"]["name"]] = m["state"]
            covered = len(seen)
    proc.wait(timeout=DEADLINE_S)
    if not killed:
        assert proc.returncode == 0, "the read failed"
    return seen, states, covered, killed


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_cli_killed_and_resumed_loses_nothing(mode: str, tmp_path: Path) -> None:
    """Killed (SIGKILL) after N RECORD lines, again and again, each run resumed
    from the last STATE it printed: the union is the ground truth, with 0
    missing and duplicates only among records printed after the last STATE."""
    sim = start_sim("--api-key", KEY)
    try:
        cfg = {
            "api_key": KEY,
            "base_url": sim.url,
            "start_date": START,
            "end_date": END,
            "time_scale": 10_000,
            "export_mode": mode,
        }
        catalog = {
            "streams": [{"stream": {"name": s}, "sync_mode": "incremental"} for s in RESUME_STREAMS]
        }
        base = ["--config", _write(tmp_path, "c.json", cfg)]
        base += ["--catalog", _write(tmp_path, "k.json", catalog)]
        truth = {s: sim.truth(s, START, END, now=SIM_NOW)["keys"] for s in RESUME_STREAMS}
        for kill_points in ([1], [3, 7], [5, 5, 5, 5]):
            got: list[tuple[str, str]] = []
            uncovered: list[tuple[str, str]] = []
            states: dict[str, Any] = {}
            points = list(kill_points)
            for _ in range(30):
                args = list(base)
                if states:
                    args += ["--state", _write(tmp_path, "s.json", list(states.values()))]
                seen, new_states, covered, killed = _read_until(
                    args, points.pop(0) if points else None
                )
                got += seen
                states.update(new_states)
                if not killed:
                    break
                uncovered += seen[covered:]
            else:
                pytest.fail(f"never finished after kills {kill_points}")
            for s in RESUME_STREAMS:
                keys = [k for st, k in got if st == s]
                missing = set(truth[s]) - set(keys)
                assert not missing, f"{mode}, kills {kill_points}: {s} lost {len(missing)}"
            counts: dict[tuple[str, str], int] = {}
            for k in got:
                counts[k] = counts.get(k, 0) + 1
            for k, n in counts.items():
                # A record re-read after a kill is one printed after the last STATE.
                assert n - 1 <= uncovered.count(k), f"{mode}, kills {kill_points}: {k} x{n}"
    finally:
        stop_sim(sim)
