"""The session loop: the Python counterpart of the Rust integration driver.

Sequential: one request at a time, its body streamed into the core chunk by
chunk (the core parses without the GIL). Sleeps exactly as the core says.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from . import _native
from .errors import IterableAPIError, IterableConnectorError, TransportError, redact
from .transport import Transport

logger = logging.getLogger("iterable_connector")

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}

# Hand out parsed records after at least this many body bytes (bounds memory
# to about this much parsed data, and keeps batches full).
DRAIN_BYTES = 256 * 1024
# A body must bring MIN_BYTES_PER_WINDOW bytes in every THROUGHPUT_WINDOW_S
# seconds: a server trickling a byte every few seconds never trips a
# per-read timeout and would hold a read forever (as in the host).
THROUGHPUT_WINDOW_S = 120.0
MIN_BYTES_PER_WINDOW = 1024
# Test knob, shared with the host: ITERABLE_CONNECTOR_STALL_SECS=N (a positive
# number of seconds) caps the throughput window and every request's timeout
# at N, so a fault-matrix test of a trickling or silent server ends in
# seconds. Unset or not a positive number: no cap.
STALL_ENV = "ITERABLE_CONNECTOR_STALL_SECS"
# Actions a prefetching read runs ahead of its consumer: a few batches of at
# most 1000 records each, so memory stays bounded.
PREFETCH_DEPTH = 8

T = TypeVar("T")


class _Raised:
    """An exception of the producer thread, handed to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def prefetched(items: Iterator[T], depth: int = PREFETCH_DEPTH) -> Iterator[T]:
    """``items`` produced on a background thread, up to ``depth`` ahead.

    For reads whose transport and core release the GIL (the native
    transport): receiving and parsing the next chunk then runs on one core
    while the caller converts the last batch (to Arrow, without the GIL, or
    to dicts) on the other. The consumer sees the same items, in order, and
    the producer's exception, raised where the item it stopped at would have
    been. Closing the iterator stops the producer at its next item.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # handed over, re-raised by the consumer
            put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="iterable-connector-read", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5.0)


def _stall_cap() -> float | None:
    try:
        cap = float(os.environ.get(STALL_ENV, ""))
    except ValueError:
        return None
    return cap if math.isfinite(cap) and cap > 0 else None


def _capped(seconds: float) -> float:
    cap = _stall_cap()
    return seconds if cap is None else min(seconds, cap)


class _Throughput:
    """Bytes per window of one body, on the monotonic clock."""

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.bytes = 0

    def keeps_up(self, n: int) -> bool:
        """Counts ``n`` bytes; ``False`` once a whole window brought too few."""
        self.bytes += n
        now = time.monotonic()
        if now - self.since < _capped(THROUGHPUT_WINDOW_S):
            return True
        ok = self.bytes >= MIN_BYTES_PER_WINDOW
        self.since, self.bytes = now, 0
        return ok


def _trickle(rid: int) -> TransportError:
    logger.warning(
        "request %d: the body brought under %d bytes in %.0f s; dropped as stalled",
        rid,
        MIN_BYTES_PER_WINDOW,
        _capped(THROUGHPUT_WINDOW_S),
    )
    return TransportError("timeout", "body trickled below the minimum throughput")


Request = _native.Request
# The actions ``drive`` hands to its caller; the rest it handles itself.
Output = _native.Emit | _native.Commit | _native.Done


class Secret:
    """Holds the API key; prints as ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key cannot be pickled")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _headers(req: Request, key: Secret | None) -> list[tuple[str, str]]:
    headers = list(req.headers)
    if req.needs_auth and key is not None:
        headers.append(("Api-Key", key.reveal()))
    return headers


def _send(transport: Transport, req: Request, key: Secret | None, timeout: float) -> Any:
    logger.debug("%s %s%s", req.method, req.url, f" [{req.stream}]" if req.stream else "")
    try:
        return transport.send(req.method, req.url, _headers(req, key), req.body, _capped(timeout))
    except TransportError:
        raise
    except Exception as e:  # a custom transport failed in its own way
        raise TransportError("other", redact(f"{type(e).__name__}: {e}")) from None


def fetch(
    session: _native.Session
    | _native.QuerySession
    | _native.WriteSession
    | _native.ModifySession
    | _native.SyncSession,
    transport: Transport,
    req: Request,
    key: Secret | None,
    timeout: float,
    on_chunk: Callable[[], Iterator[Output]] | None = None,
    clock: Callable[[], int] = now_ms,
) -> Iterator[Output]:
    """Performs one planned request, streaming the reply into the session.

    After every chunk, ``on_chunk`` drains what the core has parsed so far, so
    memory stays bounded by a chunk's worth of records, not a response's.
    """
    rid = req.id
    try:
        resp = _send(transport, req, key, timeout)
    except TransportError as e:
        logger.debug("request %d failed: %s", rid, e)
        session.on_transport_error(clock(), rid, e.kind)
        return
    try:
        session.on_response_head(
            clock(), rid, int(resp.status), [(str(k), str(v)) for k, v in resp.headers]
        )
        fed = 0
        pace = _Throughput()
        try:
            for chunk in resp.iter_chunks():
                if not pace.keeps_up(len(chunk)):
                    raise _trickle(rid)
                if chunk:
                    session.on_response_body(clock(), rid, chunk)
                    fed += len(chunk)
                    if on_chunk is not None and fed >= DRAIN_BYTES:
                        fed = 0
                        yield from on_chunk()
        except TransportError as e:
            logger.debug("request %d cut off: %s", rid, e)
            session.on_transport_error(clock(), rid, e.kind)
            return
        session.on_response_end(clock(), rid)
    finally:
        resp.close()


def exchange(
    transport: Transport,
    req: Request,
    key: Secret | None,
    timeout: float,
    limit: int = 16 * 1024 * 1024,
) -> tuple[int, bytes]:
    """A one-shot request outside a session (check, user fields): status and body."""
    try:
        resp = _send(transport, req, key, timeout)
    except TransportError as e:
        raise IterableAPIError(
            f"upstream: could not reach Iterable ({e.kind})", kind="upstream", retryable=True
        ) from None
    try:
        parts: list[bytes] = []
        size = 0
        pace = _Throughput()
        try:
            for chunk in resp.iter_chunks():
                if not pace.keeps_up(len(chunk)):
                    raise _trickle(req.id)
                parts.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
        except TransportError as e:
            raise IterableAPIError(
                f"upstream: the response was cut off ({e.kind})", kind="upstream", retryable=True
            ) from None
        return int(resp.status), b"".join(parts)
    finally:
        resp.close()


def drive(
    session: _native.Session | _native.QuerySession,
    transport: Transport,
    key: Secret | None,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], int] = now_ms,
) -> Iterator[Output]:
    """Runs the session; yields the ``Emit``, ``Commit`` and ``Done`` actions.

    Sequential: one request on the wire at a time. When the core plans another
    request while a body is still streaming (it allows several in flight), the
    request waits in ``pending`` and is sent next; sending later than planned
    never breaks a rate limit.
    """
    pending: deque[Request] = deque()

    def log(action: _native.Log) -> None:
        logger.log(
            _LEVELS.get(action.level, logging.INFO),
            "%s%s",
            f"[{action.stream}] " if action.stream else "",
            action.message,
        )

    def drain() -> Iterator[Output]:
        # Hand out what the core has ready without waiting for anything.
        while True:
            match session.poll(clock()):
                case _native.Emit() | _native.Commit() as action:
                    yield action
                case _native.Log() as action:
                    log(action)
                case _native.Fetch(request=req):
                    pending.append(req)
                case _:  # Sleep, Await: nothing more until the body goes on
                    return

    while True:
        if pending:
            req = pending.popleft()
            yield from fetch(session, transport, req, key, timeout, drain, clock)
            continue
        match session.poll(clock()):
            case _native.Fetch(request=req):
                yield from fetch(session, transport, req, key, timeout, drain, clock)
            case _native.Emit() | _native.Commit() as action:
                yield action
            case _native.Sleep(until_ms=until):
                delay = until - clock()
                if delay > 0:
                    logger.debug("pacing: sleeping %d ms", delay)
                    sleep(delay / 1000.0)
            case _native.Log() as action:
                log(action)
            case _native.Done() as action:
                yield action
                return
            case _native.Await():
                raise IterableConnectorError(
                    "internal: the core awaits a response but none is in flight", kind="internal"
                )
            case other:  # pragma: no cover - a newer core than this driver
                raise IterableConnectorError(
                    f"internal: unknown action {type(other).__name__}", kind="internal"
                )


def stream_names(streams: str | Sequence[str]) -> list[str]:
    if isinstance(streams, str):
        return [streams]
    names = list(streams)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError("streams must be a stream name or a list of stream names")
    return names
