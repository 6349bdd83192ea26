"""Read Iterable (the marketing platform) into Python, Arrow, pandas, polars and dlt,
and write to it from the same.

A Rust core (``iterable_connector._native``) plans every request, paces them
by Iterable's rate limits, parses responses and keeps per-stream state; this
package does the HTTP through a pluggable transport (by default a native one in the
extension; urllib3, requests and httpx adapters ship too).

>>> from iterable_connector import IterableSource
>>> src = IterableSource(api_key="...", start_date="2024-01-01")
>>> src.check()
>>> df = src.read("email_send").to_pandas()
"""

from __future__ import annotations

import logging

from . import _native
from .errors import (
    AuthError,
    ConfigError,
    InputError,
    IterableAPIError,
    IterableConnectorError,
    MalformedResponseError,
    ProtocolMisuseError,
    RateLimitError,
    SqlEngineError,
    TransportError,
    WriteError,
    redact,
)
from .source import IterableSource, Reader, StreamInfo
from .sql import SqlExplain, SqlResult
from .sync import SyncResult
from .transport import (
    HttpxTransport,
    NativeTransport,
    RequestsTransport,
    Response,
    Transport,
    Urllib3Transport,
)
from .write import RowResult, WriteResult

__version__: str = _native.__version__

__all__ = [
    "AuthError",
    "ConfigError",
    "HttpxTransport",
    "InputError",
    "IterableAPIError",
    "IterableConnectorError",
    "IterableSource",
    "MalformedResponseError",
    "NativeTransport",
    "ProtocolMisuseError",
    "RateLimitError",
    "Reader",
    "RequestsTransport",
    "Response",
    "RowResult",
    "SqlEngineError",
    "SqlExplain",
    "SqlResult",
    "StreamInfo",
    "SyncResult",
    "Transport",
    "TransportError",
    "Urllib3Transport",
    "WriteError",
    "WriteResult",
    "__version__",
]


class _RedactFilter(logging.Filter):
    """Scrubs any registered API key from records of the package's logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_logger = logging.getLogger("iterable_connector")
_logger.addFilter(_RedactFilter())
_logger.addHandler(logging.NullHandler())
