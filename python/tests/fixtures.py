"""Recorded exchanges shared with the Rust tests (``tests/fixtures/``).

``load(endpoint, case)`` reads ``tests/fixtures/<endpoint>/<case>/``;
``ReplayTransport`` answers the requests the connector sends from fixtures
(method, path, query and JSON body must be exactly as recorded), and from a
fallback for anything else (empty pages, terminal answers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from iterable_connector.transport import Response, Transport

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


@dataclass(frozen=True)
class Fixture:
    endpoint: str
    case: str
    method: str
    path: str
    #: Every query parameter, in order (repeated keys repeat).
    query: tuple[tuple[str, str], ...]
    request_body: Any
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def name(self) -> str:
        return f"{self.endpoint}/{self.case}"

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[str]:
        return [line for line in self.body.decode().splitlines() if line.strip()]

    def param(self, key: str) -> str:
        return next(v for k, v in self.query if k == key)

    def mismatch(self, method: str, url: str, body: bytes | None) -> str | None:
        """Why the request is not the recorded one; ``None`` when it is."""
        if method != self.method:
            return f"method {method} != {self.method}"
        parts = urlsplit(url)
        if unquote(parts.path) != self.path:
            return f"path {unquote(parts.path)} != {self.path}"
        got = sorted(parse_qsl(parts.query, keep_blank_values=True))
        if got != sorted(self.query):
            return f"query {got} != {sorted(self.query)}"
        if self.request_body is not None:
            sent = json.loads(body) if body else None
            if sent != self.request_body:
                return f"body {sent} != {self.request_body}"
        return None


def _scalar(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def load(endpoint: str, case: str) -> Fixture:
    d = FIXTURES / endpoint / case
    req = json.loads((d / "request.json").read_text())
    query: list[tuple[str, str]] = []
    for k, v in req.get("query", {}).items():
        for one in v if isinstance(v, list) else [v]:
            query.append((k, _scalar(one)))
    headers_file = d / "headers.json"
    headers = json.loads(headers_file.read_text()) if headers_file.exists() else {}
    return Fixture(
        endpoint=endpoint,
        case=case,
        method=req["method"],
        path=req["path"],
        query=tuple(query),
        request_body=req.get("body"),
        status=int((d / "status").read_text().strip()),
        headers=tuple((k.lower(), _scalar(v)) for k, v in headers.items()),
        body=(d / "body").read_bytes(),
    )


def all_fixtures() -> list[Fixture]:
    return [
        load(ep.name, case.name)
        for ep in sorted(FIXTURES.iterdir())
        if ep.is_dir()
        for case in sorted(ep.iterdir())
        if case.is_dir()
    ]


class _Response:
    def __init__(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        self.status: int = status
        self.headers: Sequence[tuple[str, str]] = list(headers)
        self._body = body

    def iter_chunks(self) -> Iterator[bytes]:
        # Small chunks: the core must parse bodies split anywhere.
        for i in range(0, len(self._body), 7):
            yield self._body[i : i + 7]

    def close(self) -> None:
        pass


#: A fallback answer: (status, content type, body).
Answer = tuple[int, str, bytes]


def json_answer(doc: Any) -> Answer:
    return (200, "application/json", json.dumps(doc).encode())


def _no_answer(method: str, url: str) -> Answer:
    raise AssertionError(f"no fixture or fallback answer for {method} {url}")


@dataclass
class ReplayTransport:
    """A :class:`~iterable_connector.Transport` answering from fixtures."""

    fixtures: list[Fixture]
    fallback: Callable[[str, str], Answer] = _no_answer
    #: Every request: (method, url, name of the fixture that answered or None).
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: Failures of the fallback (the connector sees them as transport errors).
    errors: list[BaseException] = field(default_factory=list)

    def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        for f in self.fixtures:
            if f.mismatch(method, url, body) is None:
                self.sent.append((method, url, f.name))
                return _Response(f.status, f.headers, f.body)
        self.sent.append((method, url, None))
        try:
            status, ctype, data = self.fallback(method, url)
        except BaseException as e:
            self.errors.append(e)
            raise
        return _Response(status, [("content-type", ctype)], data)

    def served(self, name: str) -> int:
        return sum(1 for _, _, by in self.sent if by == name)

    def as_transport(self) -> Transport:
        """Itself, typed: mypy checks that it satisfies the protocol."""
        return self

    def assert_each_served_once(self) -> None:
        """Every fixture was asked for exactly as recorded, once."""
        if self.errors:
            raise self.errors[0]
        for f in self.fixtures:
            near = [
                f.mismatch(m, u, None)
                for m, u, by in self.sent
                if by is None and unquote(urlsplit(u).path) == f.path
            ]
            assert self.served(f.name) == 1, f"{f.name} served {self.served(f.name)}x; {near}"
