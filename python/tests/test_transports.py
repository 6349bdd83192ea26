"""Pluggable transports: requests and httpx adapters, and a faulty custom one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from conftest import SIM_NOW, START, Sim, event_stream_names, natural_key, source

from iterable_connector import (
    HttpxTransport,
    NativeTransport,
    RequestsTransport,
    Transport,
    TransportError,
)
from iterable_connector.transport import Response, Urllib3Transport

EVENTS = event_stream_names()


def _keys(records: list[dict]) -> list[str]:
    return sorted(natural_key("email_send", r, EVENTS) for r in records)  # type: ignore[misc]


@pytest.mark.parametrize("factory", [RequestsTransport, HttpxTransport])
def test_adapters_read_the_same(sim: Sim, factory: type) -> None:
    pytest.importorskip("requests" if factory is RequestsTransport else "httpx")
    transport = factory()
    assert isinstance(transport, Transport)
    records = list(source(sim, transport=transport).read("email_send"))
    assert _keys(records) == sorted(sim.truth("email_send", START, SIM_NOW)["keys"])
    source(sim, transport=transport).check()


class CuttingTransport:
    """Cuts the first `cuts` bodies after a few bytes, then behaves."""

    def __init__(self, cuts: int) -> None:
        self.inner = Urllib3Transport(chunk_size=97)
        self.cuts = cuts
        self.sent = 0

    def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        self.sent += 1
        resp = self.inner.send(method, url, headers, body, timeout)
        if "/export/" not in url or self.cuts <= 0:
            return resp
        self.cuts -= 1
        outer = self

        class Cut:
            status = resp.status
            headers = resp.headers

            def iter_chunks(self) -> Iterator[bytes]:
                for i, chunk in enumerate(resp.iter_chunks()):
                    if i == 3:
                        raise TransportError("body_cut", "test cut")
                    yield chunk

            def close(self) -> None:
                resp.close()

        assert outer
        return Cut()


def test_cut_bodies_are_retried_without_loss(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    transport = CuttingTransport(cuts=2)
    reader = source(sim, transport=transport).read("email_send")
    records = list(reader)
    assert _keys(records) == sorted(sim.truth("email_send", START, SIM_NOW)["keys"])
    assert transport.cuts == 0
    # The core re-plans a cut export (smaller window) instead of spending retries.
    assert "cut off" in caplog.text
    assert (reader.summary or [{}])[0]["requests"] >= 3


class Refusing:
    def send(self, *args: object) -> Response:
        raise ConnectionRefusedError("nope")


def test_custom_transport_exceptions_become_retries_then_errors(sim: Sim) -> None:
    from iterable_connector import IterableConnectorError

    with pytest.raises(IterableConnectorError):
        list(source(sim, transport=Refusing(), max_retries=1).read("channels"))


@pytest.mark.parametrize(
    "factory", [NativeTransport, Urllib3Transport, RequestsTransport, HttpxTransport]
)
def test_a_trickling_body_ends_in_a_typed_error_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch, factory: type
) -> None:
    """A server sending a few bytes a second never trips a per-read timeout;
    the minimum throughput does (#14.4), on every transport, and the core
    retries, then fails with a typed error instead of hanging."""
    import time

    from conftest import API_KEY, start_sim, stop_sim

    from iterable_connector import IterableAPIError, _driver

    monkeypatch.setattr(_driver, "THROUGHPUT_WINDOW_S", 1.0)
    sim = start_sim("--api-key", API_KEY, "--slow-body", "200")
    try:
        src = source(sim, max_retries=1, transport=factory())
        started = time.monotonic()
        with pytest.raises(IterableAPIError) as e:
            list(src.read("campaigns", incremental=False))
        assert e.value.kind in ("upstream", "timeout"), e.value
        assert "timeout" in str(e.value).lower(), e.value
        # Two attempts of about one window each, plus the retry's wait.
        assert time.monotonic() - started < 30
    finally:
        stop_sim(sim)
