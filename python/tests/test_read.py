"""Every stream read from the simulator matches the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
from conftest import SIM_NOW, START, Sim, event_stream_names, natural_key, source

from iterable_connector import IterableSource, _native

EVENTS = event_stream_names()


def _all_streams() -> list[str]:
    cfg = json.dumps({"base_url": "http://127.0.0.1:1"})
    return [d["name"] for d in _native.discover(cfg) if not d["requires_user_filter"]]


STREAMS = _all_streams()


def test_catalog_is_complete() -> None:
    src = IterableSource(api_key="k", base_url="http://127.0.0.1:1")
    infos = src.streams()
    assert len(infos) >= 70
    names = [s.name for s in infos]
    assert len(set(names)) == len(names)
    send = src.stream("email_send")
    assert send.primary_key == ["_key"]
    assert send.cursor_field == "createdAt"
    assert send.supports_incremental
    assert send.json_schema["properties"]["createdAt"]["format"] == "date-time"


@pytest.mark.parametrize("stream", STREAMS)
def test_stream_matches_ground_truth(sim: Sim, stream: str) -> None:
    # Export streams (events, users) are windowed on their cursor; the others
    # (templates included: every template is read) are whole.
    windowed = stream in EVENTS or stream == "users"
    try:
        truth = sim.truth(stream, *((START, SIM_NOW) if windowed else (None, None)))
    except LookupError as e:
        pytest.skip(f"the simulator has no ground truth for {stream}: {e}")
    reader = source(sim).read(stream)
    records = list(reader)
    keys = [natural_key(stream, r, EVENTS) for r in records]
    assert None not in keys, f"{stream}: a record without a natural key"
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert len(records) == truth["count"], f"{stream}: duplicates {dupes[:5]}"
    assert sorted(keys) == sorted(truth["keys"])
    assert reader.done
    summary = {s["stream"]: s for s in reader.summary or []}
    assert summary[stream]["records"] == len(records)
    if stream in EVENTS:
        assert all(isinstance(r["_key"], str) and r["_key"] for r in records)
        assert stream in reader.state


def test_several_streams_in_one_read(sim: Sim) -> None:
    names = ["email_send", "campaigns", "lists"]
    reader = source(sim).read(names)
    seen = Counter(stream for stream, _ in reader.read_records(with_stream=True))
    for name in names:
        window = (START, SIM_NOW) if name == "email_send" else (None, None)
        assert seen[name] == sim.truth(name, *window)["count"]


def test_reader_is_single_use(sim: Sim) -> None:
    reader = source(sim).read("channels")
    assert list(reader)
    with pytest.raises(RuntimeError, match="already consumed"):
        list(reader)


def test_done_when_example() -> None:
    """The README example, literally: any key, the simulator's own clock, defaults."""
    from conftest import start_sim, stop_sim

    s = start_sim(now=None)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        df = IterableSource(api_key="k", base_url=s.url).read("email_send").to_pandas()
    finally:
        stop_sim(s)
    # Tiny history is 7 days before today: all of it lies in the default 30 days.
    truth = s.truth("email_send", now=now)
    assert len(df) == truth["count"]
    rows = df.to_dict("records")
    keys = sorted(
        natural_key("email_send", {**r, "createdAt": r["createdAt"].isoformat()}, EVENTS)
        for r in rows
    )
    assert keys == sorted(truth["keys"])
    assert str(df["createdAt"].dtype) == "datetime64[ms, UTC]"
