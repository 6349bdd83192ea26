"""Malformed lines, by-key streams and progress reporting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import (
    API_KEY,
    SIM_NOW,
    START,
    Sim,
    event_stream_names,
    natural_key,
    source,
    start_sim,
    stop_sim,
)

from iterable_connector import MalformedResponseError

EVENTS = event_stream_names()


@pytest.fixture(scope="module")
def malformed_sim() -> Iterator[Sim]:
    s = start_sim("--api-key", API_KEY, "--malformed-rate", "0.05")
    yield s
    stop_sim(s)


def test_malformed_lines_are_typed_errors(malformed_sim: Sim) -> None:
    with pytest.raises(MalformedResponseError) as info:
        list(source(malformed_sim).read("email_send"))
    assert info.value.kind == "malformed-response"
    assert info.value.stream == "email_send"


def test_malformed_lines_can_be_skipped(malformed_sim: Sim) -> None:
    reader = source(malformed_sim, skip_malformed_lines=True).read("email_send")
    keys = sorted(natural_key("email_send", r, EVENTS) for r in reader)  # type: ignore[type-var]
    assert keys == sorted(malformed_sim.truth("email_send", START, SIM_NOW)["keys"])
    assert (reader.summary or [{}])[0]["skipped_lines"] > 0


def test_by_key_stream_with_a_user_filter(sim: Sim) -> None:
    email = next(iter(source(sim).read("users")))["email"]
    profiles = list(source(sim, email=email).read("user_profile"))
    assert [p["email"] for p in profiles] == [email]


def test_progress_callback(sim: Sim) -> None:
    seen: dict[str, int] = {}

    def progress(stream: str, n: int) -> None:
        seen[stream] = seen.get(stream, 0) + n

    reader = source(sim, progress=progress).read(["email_send", "campaigns"])
    n = sum(1 for _ in reader)
    assert sum(seen.values()) == n
    assert seen["email_send"] == reader.counts["email_send"]


def test_progress_bar_with_tqdm(sim: Sim, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    n = sum(1 for _ in source(sim, progress=True).read("email_send"))
    assert n > 0
    assert "email_send" in capsys.readouterr().err
