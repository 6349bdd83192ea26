"""State round trips: a second read returns only new records, and none is missing."""

from __future__ import annotations

import json
import time
import urllib.request

from conftest import API_KEY, SIM_NOW, START, Sim, event_stream_names, natural_key, source

EVENTS = event_stream_names()
MIDDLE = "2025-03-11T06:30:00Z"


def _keys(stream: str, records: list[dict]) -> list[str]:
    return [natural_key(stream, r, EVENTS) for r in records]  # type: ignore[misc]


def test_resume_with_a_later_end(sim: Sim) -> None:
    stream = "email_send"
    first = source(sim, end_date=MIDDLE).read(stream)
    a = _keys(stream, list(first))
    state = json.loads(json.dumps(first.state))  # JSON-able, as users store it
    assert state[stream]["v"] == 1

    second = source(sim).read(stream, state=state)
    b = _keys(stream, list(second))
    truth = sim.truth(stream, START, SIM_NOW)
    assert a and b
    assert not set(a) & set(b), "the second read repeated records"
    assert sorted(a + b) == sorted(truth["keys"]), "records missing or extra"

    third = source(sim).read(stream, state=second.state)
    assert list(third) == []
    assert third.state[stream] == second.state[stream]


def test_full_refresh_ignores_state(sim: Sim) -> None:
    stream = "email_open"
    first = source(sim).read(stream)
    n = len(list(first))
    again = source(sim).read(stream, state=first.state, incremental=False)
    assert len(list(again)) == n


def test_state_keeps_other_streams(sim: Sim) -> None:
    saved = {"email_send": {"v": 1, "next_start": SIM_NOW}, "campaigns": {"v": 1}}
    r = source(sim).read("email_open", state=saved)
    list(r)
    assert r.state["email_send"] == saved["email_send"]
    assert "email_open" in r.state
    # The Airbyte-style wrapper is accepted too.
    r2 = source(sim).read("email_send", state={"streams": r.state})
    assert list(r2) == []


def _track(sim: Sim, email: str, name: str, created_ms: int) -> None:
    body = json.dumps(
        {"email": email, "eventName": name, "createdAt": created_ms, "dataFields": {"n": 1}}
    ).encode()
    req = urllib.request.Request(
        sim.url.rstrip("/") + "/api/events/track",
        data=body,
        method="POST",
        headers={"Api-Key": API_KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200


def test_new_events_written_through_the_api(fresh_sim: Sim) -> None:
    """Events tracked after a read (simulator on a live clock): the next
    incremental read returns exactly them."""
    stream = "custom_event"
    src = source(fresh_sim, end_date=None, lookback_minutes=0)
    first = src.read(stream)
    before = _keys(stream, list(first))
    email = next(iter(source(fresh_sim, end_date=None).read("users")))["email"]
    after_first = int(time.time()) + 2  # whole seconds, past the first read's end
    for i in range(3):
        _track(fresh_sim, email, f"py-test-{i}", (after_first + i) * 1000)
    time.sleep(max(0.0, after_first + 3 - time.time()))
    second = src.read(stream, state=first.state)
    new = list(second)
    assert sorted(r.get("eventName") for r in new) == ["py-test-0", "py-test-1", "py-test-2"]
    assert not set(_keys(stream, new)) & set(before)
    third = src.read(stream, state=second.state)
    assert list(third) == []


def test_state_covers_each_batch_when_it_is_handed_out(sim: Sim) -> None:
    """Stopping after any batch and resuming from ``state`` at that moment
    neither repeats nor loses a record (the state is never a batch late)."""
    stream = "email_send"
    truth = sorted(sim.truth(stream, START, SIM_NOW)["keys"])
    stops = 0
    for stop_after in (1, 2, 3):
        reader = source(sim, window_days=3).read(stream)
        seen: list[str] = []
        state = None
        for i, batch in enumerate(reader.iter_batches(), start=1):
            seen += _keys(stream, batch.to_pylist())
            state = json.loads(json.dumps(reader.state))
            if i == stop_after:
                break
        else:
            continue
        stops += 1
        rest = _keys(stream, list(source(sim).read(stream, state=state)))
        assert not set(seen) & set(rest), f"records repeated after stopping at batch {stop_after}"
        assert sorted(seen + rest) == truth, f"records lost after stopping at batch {stop_after}"
    assert stops >= 2, "the read should have several batches"
