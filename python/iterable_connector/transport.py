"""HTTP transports: the only place the connector touches the network.

A transport is any object with a ``send`` method (see :class:`Transport`). It
returns a :class:`Response` whose body is read in chunks, which the driver
feeds straight into the Rust core. Failures before a complete response are
reported by raising :class:`~iterable_connector.errors.TransportError`; the
core decides whether and when to retry. Transports must not retry or follow
redirects themselves.

Shipped: :class:`NativeTransport` (the default: HTTP/1.1 in the Rust
extension, the GIL released while it waits and reads), :class:`Urllib3Transport`,
:class:`RequestsTransport` and :class:`HttpxTransport` (their libraries are
imported only when used). :func:`make_transport` turns ``transport=`` (an
object, a name or ``None``) into one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from ._native import NativeTransport
from .errors import ConfigError, TransportError

__all__ = [
    "HttpxTransport",
    "NativeTransport",
    "RequestsTransport",
    "Response",
    "Transport",
    "TransportError",
    "Urllib3Transport",
    "make_transport",
]

CHUNK_SIZE = 256 * 1024

# A chunk goes out when it is full or this long after the last one, so a
# slow body still reaches the driver's minimum-throughput check often.
SLICE_S = 1.0


def _sliced(read: Any, size: int) -> Iterator[bytes]:
    """Chunks of up to ``size`` bytes from an urllib3 response: ``read1``
    (what has arrived) gathered until the chunk is full or :data:`SLICE_S`
    passed, so a fast body comes in full chunks and a trickle cannot block a
    whole chunk's worth of time. Older urllib3 (no ``read1``): ``read``."""
    read1 = getattr(read, "read1", None)
    if read1 is None:
        while data := read.read(size, decode_content=True):
            yield data
        return
    buf = bytearray()
    last = time.monotonic()
    while True:
        piece = read1(size - len(buf), decode_content=True)
        if not piece:
            if buf:
                yield bytes(buf)
            return
        buf += piece
        if len(buf) >= size or time.monotonic() - last >= SLICE_S:
            yield bytes(buf)
            buf.clear()
            last = time.monotonic()


DEFAULT_TIMEOUT = 300.0


@runtime_checkable
class Response(Protocol):
    """An HTTP response whose body has not been read yet."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...

    def iter_chunks(self) -> Iterator[bytes]:
        """The body, decoded (gzip undone), in chunks. Raises ``TransportError``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Sends one request. Raises ``TransportError`` if no response arrived."""

    def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> Response: ...


class _SimpleResponse:
    def __init__(
        self,
        status: int,
        headers: Sequence[tuple[str, str]],
        chunks: Iterator[bytes],
        close: Any = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._close = close

    def iter_chunks(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        if self._close is not None:
            self._close()


class Urllib3Transport:
    """The default transport: a ``urllib3.PoolManager``, streaming bodies."""

    def __init__(self, pool: Any = None, *, chunk_size: int = CHUNK_SIZE) -> None:
        import urllib3

        self._urllib3 = urllib3
        self._pool = pool if pool is not None else urllib3.PoolManager(maxsize=8, retries=False)
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return "Urllib3Transport()"

    def _kind(self, exc: BaseException) -> str:
        exc_mod = self._urllib3.exceptions
        if isinstance(exc, exc_mod.MaxRetryError) and exc.reason is not None:
            exc = exc.reason
        if isinstance(exc, exc_mod.ConnectTimeoutError | exc_mod.NewConnectionError):
            return "connect"
        if isinstance(exc, exc_mod.TimeoutError):
            return "timeout"
        if isinstance(exc, exc_mod.ProtocolError | exc_mod.DecodeError):
            return "body_cut"
        return "other"

    def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        u3 = self._urllib3
        try:
            resp = self._pool.request(
                method,
                url,
                headers=dict(headers),
                body=body,
                preload_content=False,
                redirect=False,
                retries=False,
                timeout=u3.Timeout(connect=min(timeout, 30.0), read=timeout),
            )
        except u3.exceptions.HTTPError as e:
            raise TransportError(self._kind(e), type(e).__name__) from None

        done = False

        def chunks() -> Iterator[bytes]:
            nonlocal done
            # Not stream(): for chunked bodies it yields every HTTP chunk (one
            # per row on some servers); _sliced fills chunks, but not forever.
            try:
                yield from _sliced(resp, self._chunk_size)
            except u3.exceptions.HTTPError as e:
                kind = self._kind(e)
                raise TransportError(
                    "body_cut" if kind == "other" else kind, type(e).__name__
                ) from None
            done = True

        def close() -> None:
            if done:
                resp.release_conn()
            else:  # unread body left: drop the connection rather than reuse it
                resp.close()
                resp.release_conn()

        return _SimpleResponse(resp.status, list(resp.headers.items()), chunks(), close)


class RequestsTransport:
    """Adapter for a ``requests.Session`` (``pip install requests``)."""

    def __init__(self, session: Any = None, *, chunk_size: int = CHUNK_SIZE) -> None:
        import requests

        self._requests = requests
        self._session = session if session is not None else requests.Session()
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return "RequestsTransport()"

    def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        rq = self._requests
        import urllib3.exceptions as u3e

        try:
            resp = self._session.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                stream=True,
                timeout=(min(timeout, 30.0), timeout),
                allow_redirects=False,
            )
        except rq.exceptions.ConnectTimeout:
            raise TransportError("connect", "ConnectTimeout") from None
        except rq.exceptions.Timeout as e:
            raise TransportError("timeout", type(e).__name__) from None
        except rq.exceptions.ConnectionError as e:
            raise TransportError("connect", type(e).__name__) from None
        except rq.exceptions.RequestException as e:
            raise TransportError("other", type(e).__name__) from None

        def chunks() -> Iterator[bytes]:
            try:
                yield from _sliced(resp.raw, self._chunk_size)  # the urllib3 response
            except (rq.exceptions.Timeout, u3e.TimeoutError) as e:
                raise TransportError("timeout", type(e).__name__) from None
            except (rq.exceptions.RequestException, u3e.HTTPError, OSError) as e:
                raise TransportError("body_cut", type(e).__name__) from None

        return _SimpleResponse(resp.status_code, list(resp.headers.items()), chunks(), resp.close)


class HttpxTransport:
    """Adapter for an ``httpx.Client`` (``pip install httpx``)."""

    def __init__(self, client: Any = None) -> None:
        import httpx

        self._httpx = httpx
        self._client = client if client is not None else httpx.Client()

    def __repr__(self) -> str:
        return "HttpxTransport()"

    def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        hx = self._httpx
        request = self._client.build_request(
            method,
            url,
            headers=list(headers),
            content=body,
            timeout=hx.Timeout(timeout, connect=min(timeout, 30.0)),
        )
        try:
            resp = self._client.send(request, stream=True, follow_redirects=False)
        except hx.ConnectError as e:
            raise TransportError("connect", type(e).__name__) from None
        except hx.TimeoutException as e:
            raise TransportError("timeout", type(e).__name__) from None
        except hx.HTTPError as e:
            raise TransportError("other", type(e).__name__) from None

        def chunks() -> Iterator[bytes]:
            try:
                yield from resp.iter_bytes()
            except hx.TimeoutException as e:
                raise TransportError("timeout", type(e).__name__) from None
            except hx.HTTPError as e:
                raise TransportError("body_cut", type(e).__name__) from None

        return _SimpleResponse(
            resp.status_code, list(resp.headers.multi_items()), chunks(), resp.close
        )


# ``transport=`` by name: the shipped transports with their default settings.
_BY_NAME: dict[str, Any] = {
    "native": NativeTransport,
    "urllib3": Urllib3Transport,
    "requests": RequestsTransport,
    "httpx": HttpxTransport,
}


def make_transport(transport: Transport | str | None) -> Transport:
    """``None`` → a :class:`NativeTransport` (the default); ``"native"``,
    ``"urllib3"``, ``"requests"`` or ``"httpx"`` → that transport; any other
    object with a ``send`` method is used as it is."""
    if transport is None:
        return NativeTransport()
    if isinstance(transport, str):
        factory = _BY_NAME.get(transport)
        if factory is None:
            raise ConfigError(
                f"transport: unknown name {transport!r}; use one of {sorted(_BY_NAME)} "
                "or pass a transport object",
                kind="invalid-config",
                field="transport",
            )
        made: Transport = factory()
        return made
    if not callable(getattr(transport, "send", None)):
        raise ConfigError(
            f"transport: a {type(transport).__name__} has no send() method; pass a Transport "
            "(see iterable_connector.transport) or one of "
            f"{sorted(_BY_NAME)}",
            kind="invalid-config",
            field="transport",
        )
    return transport
