"""The native (Rust) transport: the default, its framing and decoding, its
typed errors, and connection reuse, against the simulator and small local
servers (all on loopback)."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import API_KEY, SIM_NOW, START, Sim, source, start_sim, stop_sim

from iterable_connector import (
    ConfigError,
    IterableAPIError,
    NativeTransport,
    Transport,
    TransportError,
    Urllib3Transport,
)

ROWS = b"".join(b'{"n": %d, "text": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(5000))


def _collect(transport: NativeTransport, url: str, headers: list[tuple[str, str]]) -> bytes:
    resp = transport.send("GET", url, headers, None, 10.0)
    try:
        assert resp.status == 200
        return b"".join(resp.iter_chunks())
    finally:
        resp.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        mode = self.path.strip("/")
        if mode == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in ROWS.splitlines(keepends=True):  # one HTTP chunk per row
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        elif mode == "gzip":
            body = gzip.compress(ROWS)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif mode == "close":  # no length, no chunks: the body ends with the connection
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(ROWS)
            self.close_connection = True
        elif mode == "short":  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(ROWS) + 100))
            self.end_headers()
            self.wfile.write(ROWS)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(ROWS)))
            self.end_headers()
            self.wfile.write(ROWS)


@pytest.fixture()
def local() -> Iterator[tuple[str, list[dict[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_native_is_the_default_and_a_transport(sim: Sim) -> None:
    src = source(sim)
    assert isinstance(src.transport, NativeTransport)
    assert isinstance(src.transport, Transport)
    assert repr(src.transport) == "NativeTransport()"
    assert isinstance(source(sim, transport="urllib3").transport, Urllib3Transport)


def test_an_unknown_transport_name_is_a_config_error(sim: Sim) -> None:
    with pytest.raises(ConfigError) as e:
        source(sim, transport="curl")
    assert e.value.field == "transport"
    assert "native" in str(e.value)


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip", "close"])
def test_framings_and_gzip_decode_to_the_same_bytes(
    local: tuple[str, list[dict[str, str]]], mode: str
) -> None:
    url, _ = local
    assert _collect(NativeTransport(chunk_size=4096), f"{url}/{mode}", []) == ROWS


def test_chunks_are_full_not_one_per_http_chunk(local: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = local
    resp = NativeTransport(chunk_size=64 * 1024).send("GET", f"{url}/chunked", [], None, 10.0)
    sizes = [len(c) for c in resp.iter_chunks()]
    # ~190 KB in 5000 HTTP chunks come out in a handful of chunks.
    assert sum(sizes) == len(ROWS)
    assert len(sizes) <= 8, sizes


def test_keep_alive_reuses_one_connection(local: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = local
    t = NativeTransport()
    for _ in range(3):
        assert _collect(t, f"{url}/length", [("Api-Key", API_KEY)]) == ROWS
        assert t.idle_connections == 1
    assert [h.get("Api-Key") for h in seen] == [API_KEY] * 3
    assert all(h["Host"] == url.removeprefix("http://") for h in seen)
    # A connection whose body ends with close is not kept.
    _collect(t, f"{url}/close", [])
    assert t.idle_connections == 0


def test_a_short_body_is_a_body_cut(local: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = local
    resp = NativeTransport().send("GET", f"{url}/short", [("Api-Key", API_KEY)], None, 10.0)
    with pytest.raises(TransportError) as e:
        b"".join(resp.iter_chunks())
    assert e.value.kind == "body_cut"
    assert API_KEY not in str(e.value)


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_connection_refused_is_a_connect_error() -> None:
    with pytest.raises(TransportError) as e:
        NativeTransport().send("GET", _refused_url() + "/x", [("Api-Key", API_KEY)], None, 5.0)
    assert e.value.kind == "connect"
    assert API_KEY not in str(e.value) and API_KEY not in repr(e.value)


def test_connection_refused_through_a_read_is_retried_then_typed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from iterable_connector import IterableSource

    src = IterableSource(
        api_key=API_KEY,
        base_url=_refused_url(),
        start_date=START,
        end_date=SIM_NOW,
        time_scale=1000,
        max_retries=1,
    )
    with (
        caplog.at_level("DEBUG", logger="iterable_connector"),
        pytest.raises(IterableAPIError) as e,
    ):
        list(src.read("campaigns", incremental=False))
    assert e.value.kind == "upstream" and "(Connect)" in str(e.value), e.value
    assert API_KEY not in str(e.value) and API_KEY not in caplog.text


def test_the_simulator_cutting_bodies_is_a_body_cut_then_a_typed_error() -> None:
    sim = start_sim("--api-key", API_KEY, "--cut-after-bytes", "300")
    try:
        t = NativeTransport()
        resp = t.send("GET", f"{sim.url}/api/campaigns", [("Api-Key", API_KEY)], None, 10.0)
        assert resp.status == 200
        with pytest.raises(TransportError) as e:
            list(resp.iter_chunks())
        assert e.value.kind == "body_cut"
        assert t.idle_connections == 0  # a cut connection is never reused
        with pytest.raises(IterableAPIError) as err:
            list(source(sim, max_retries=1).read("campaigns", incremental=False))
        assert API_KEY not in str(err.value)
    finally:
        stop_sim(sim)


def test_bad_arguments_are_typed_errors() -> None:
    t = NativeTransport()
    with pytest.raises(TransportError) as e:
        t.send("GET", "ftp://example.com/", [], None, 5.0)
    assert e.value.kind == "other" and "http://" in str(e.value)
    with pytest.raises(ValueError, match="timeout"):
        t.send("GET", "http://127.0.0.1:1/", [], None, 0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        NativeTransport(chunk_size=0)
    # A header value with a line break would smuggle a header: refused, and
    # the value (here the key) is not echoed.
    with pytest.raises(TransportError) as e:
        t.send("GET", "http://127.0.0.1:1/", [("Api-Key", API_KEY + "\r\nX: y")], None, 5.0)
    assert API_KEY not in str(e.value)


def test_native_reads_what_the_simulator_holds(sim: Sim) -> None:
    from conftest import event_stream_names, natural_key

    events = event_stream_names()
    t = NativeTransport()
    records = list(source(sim, transport=t).read("email_send"))
    keys: Callable[[dict[str, object]], object] = lambda r: natural_key("email_send", r, events)  # noqa: E731
    assert sorted(map(keys, records)) == sorted(sim.truth("email_send", START, SIM_NOW)["keys"])  # type: ignore[type-var]
    assert t.idle_connections == 1  # the connection is kept for the next read


def test_tls_to_a_server_without_a_public_certificate_is_a_typed_connect_error(
    tmp_path: Path,
) -> None:
    """https goes through rustls with Mozilla's roots only: a self-signed
    server fails the handshake as a `connect` error, key never shown."""
    import shutil
    import ssl
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = f"{tmp_path}/cert.pem", f"{tmp_path}/key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://localhost:{server.server_address[1]}/length"
        with pytest.raises(TransportError) as e:
            NativeTransport().send("GET", url, [("Api-Key", API_KEY)], None, 5.0)
        assert e.value.kind == "connect", e.value
        assert "TLS" in str(e.value) and API_KEY not in str(e.value)
        assert server.seen == []  # type: ignore[attr-defined]  # the request was never sent
    finally:
        server.shutdown()
        server.server_close()
