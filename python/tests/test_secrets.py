"""The API key never leaks from Python, even from a server whose error bodies
echo the request's headers: whole, as a bare token, or cut inside the key."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator

import pytest

from iterable_connector import IterableConnectorError, IterableSource
from iterable_connector.errors import redact

KEY = "5ecretPy-0123456789abcdef-XYZ"


class _Echo(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        key = self.headers.get("Api-Key", "")
        body = f"no. Api-Key: {key}\ntoken={key} cut {key[:9]}".encode()
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_prefixes_of_a_registered_key_are_scrubbed() -> None:
    IterableSource(api_key=KEY, base_url="http://127.0.0.1:9")
    assert redact(f"a {KEY} b") == "a *** b"
    assert redact(f"cut: {KEY[:6]}") == "cut: ***"
    assert redact("5ecr and 5ec") == "*** and 5ec"


def test_echoed_keys_never_reach_errors_or_logs(
    echo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="iterable_connector")
    src = IterableSource(api_key=KEY, base_url=echo_url, max_retries=0)
    seen: list[str] = []
    with pytest.raises(IterableConnectorError) as check:
        src.check()
    seen += [str(check.value), repr(check.value)]
    with pytest.raises(IterableConnectorError) as read:
        list(src.read("lists"))
    seen += [str(read.value), repr(read.value)]
    result = src.write("lists", [{"name": "x"}])
    seen += [repr(result.rows), str(result.to_pylist())]
    seen.append(caplog.text)
    for text in seen:
        assert "5ecretP" not in text and "0123456789abcdef" not in text, text
