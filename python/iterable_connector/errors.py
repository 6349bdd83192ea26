"""Typed exceptions. Messages never contain the API key.

The Rust core builds error messages from field names, stream names, paths and
Iterable's own error codes only; as a second line of defence every message is
scrubbed of any API key this process has handed to the connector.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "InputError",
    "IterableAPIError",
    "IterableConnectorError",
    "MalformedResponseError",
    "ProtocolMisuseError",
    "RateLimitError",
    "SqlEngineError",
    "TransportError",
    "WriteError",
]

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _register_secret(value: str) -> None:
    """Remember a secret so that it is scrubbed from messages and log lines."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


_MIN_SECRET_PREFIX = 4


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `***`, and any run of
    4 or more of a secret's leading characters too (a body cut inside the key
    leaves a prefix)."""
    if not _secrets:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        text = _scrub_prefixes(text, s)
    return text


def _scrub_prefixes(text: str, secret: str) -> str:
    head = secret[:_MIN_SECRET_PREFIX]
    if head not in text:
        return text
    out: list[str] = []
    i = copied = 0
    while (at := text.find(head, i)) != -1:
        n = 0
        while n < len(secret) and at + n < len(text) and text[at + n] == secret[n]:
            n += 1
        out.append(text[copied:at])
        out.append("***")
        copied = at + n
        i = at + max(n, 1)
    out.append(text[copied:])
    return "".join(out)


class IterableConnectorError(Exception):
    """Base class of every error the connector raises.

    Attributes mirror the core's error: ``kind`` (``invalid-config``,
    ``unauthorized``, ``forbidden``, ``rate-limited``, ``upstream``,
    ``malformed-response``, ``protocol-misuse``, ``internal``), ``field``,
    ``stream``, ``status``, ``code``, ``retryable`` and ``retry_after_ms``.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "internal",
        field: str | None = None,
        stream: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after_ms: int | None = None,
    ) -> None:
        message = redact(str(message))
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.field = field
        self.stream = stream
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, kind={self.kind!r})"


class ConfigError(IterableConnectorError, ValueError):
    """The configuration, catalog or state is invalid; ``field`` names the culprit."""


class InputError(IterableConnectorError, ValueError):
    """A row or parameter given for a write is invalid; ``field`` names it."""


class IterableAPIError(IterableConnectorError):
    """Iterable (or the network) failed; ``status`` and ``code`` say how."""


class AuthError(IterableAPIError):
    """Iterable rejected the API key (401) or its permissions (403)."""


class RateLimitError(IterableAPIError):
    """Rate limited and the retries were exhausted."""


class MalformedResponseError(IterableConnectorError):
    """Iterable answered with a body the connector cannot parse."""


class ProtocolMisuseError(IterableConnectorError):
    """The driver called the core out of order (a bug in a custom driver)."""


class SqlEngineError(InputError):
    """A SQL statement needs a SQL engine (a JOIN, GROUP BY, aggregates,
    DISTINCT, UNION, subqueries) and DuckDB is not installed:
    ``pip install "iterable-connector[sql]"``. ``code`` is
    ``sql-needs-engine``."""


class WriteError(IterableConnectorError):
    """Rows of a write did not all end ``ok`` (``WriteResult.raise_for_failures``);
    ``result`` is the whole :class:`~iterable_connector.write.WriteResult`."""

    def __init__(self, message: str, *, result: Any = None, **kw: Any) -> None:
        kw.setdefault("kind", "write-failed")
        super().__init__(message, **kw)
        self.result = result


class TransportError(Exception):
    """Raised by transports when a request fails before a full response arrived.

    ``kind`` is one of ``connect``, ``timeout``, ``body_cut`` and ``other``; the
    core decides whether to retry.
    """

    KINDS = ("connect", "timeout", "body_cut", "other")

    def __init__(self, kind: str, message: str = "") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"TransportError kind must be one of {self.KINDS}, not {kind!r}")
        super().__init__(redact(f"{kind}: {message}" if message else kind))
        self.kind = kind
