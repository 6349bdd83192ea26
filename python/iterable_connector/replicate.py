"""``python -m iterable_connector replicate``: Iterable into a database, no code.

Runs the dlt source (:func:`iterable_connector.dlt.iterable_source`) into the
database named by ``--to``:

- ``postgresql://user:password@host:port/database`` (``pip install
  "iterable-connector[postgres]"``),
- ``duckdb:///path/to/file.duckdb`` (``pip install "iterable-connector[duckdb]"``),
- ``sqlite:///path/to/file.db`` (through dlt's SQLAlchemy destination; ``pip
  install "iterable-connector[sqlite]"``).

Each run reads only what changed since the last one (the connector's state
lives in the dlt pipeline: in ``--state-dir`` and, once loaded, in the
database itself, so a lost state directory is recovered from there) and
merges by primary key, so a re-run duplicates nothing. A run stopped anywhere
(Ctrl-C, a crash, a killed process) is resumed by running the same command
again: data a stopped run extracted but did not load is loaded first.

The API key and the database password are never printed, not in progress
lines, summaries, errors nor inside a URL.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import ConfigError, IterableConnectorError, _register_secret, redact

__all__ = ["Destination", "main", "parse_destination", "replicate"]

logger = logging.getLogger("iterable_connector")

# Looked up through this name so that tests can hide a package.
_find_spec = importlib.util.find_spec

_SCHEMES = "postgresql://user:password@host:5432/database, duckdb:///path/file.duckdb or sqlite:///path/file.db"


@dataclass(frozen=True)
class Destination:
    """Where ``--to`` points: the dlt destination ``kind`` (``postgres``,
    ``duckdb``, ``sqlalchemy``), the ``credentials`` dlt takes (a URL or a
    path; may hold a password), and ``shown``, the same without the password
    (for messages)."""

    kind: str
    credentials: str
    shown: str
    #: The Python module the destination needs, and the pip extra providing it.
    module: str
    extra: str

    @property
    def identity(self) -> str:
        """What names the pipeline: the place, without the password."""
        return f"{self.kind}:{self.shown}"

    def factory(self) -> Any:
        import dlt

        if self.kind == "postgres":
            return dlt.destinations.postgres(credentials=self.credentials)
        if self.kind == "duckdb":
            return dlt.destinations.duckdb(self.credentials)
        return dlt.destinations.sqlalchemy(credentials=self.credentials)


def _bad_to(why: str) -> ConfigError:
    return ConfigError(f"--to: {why}; give {_SCHEMES}", kind="invalid-config", field="to")


def parse_destination(url: str) -> Destination:
    """Checks a ``--to`` URL and says which dlt destination it is. A bad URL
    is a :class:`ConfigError` (``field="to"``) naming what is wrong; the
    password, if any, is registered as a secret so that no message shows it."""
    if not isinstance(url, str) or not url.strip():
        raise _bad_to("is empty")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise _bad_to("is not a URL (no scheme://)")
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2"):
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            shown = redact(url.split("@")[-1])
            raise _bad_to(f"cannot read the PostgreSQL URL (…@{shown}: {e})") from None
        if parts.password:
            _register_secret(parts.password)
            _register_secret(unquote(parts.password))
        if not parts.hostname:
            raise _bad_to("the PostgreSQL URL has no host")
        database = parts.path.lstrip("/")
        if not database:
            raise _bad_to("the PostgreSQL URL has no database name (…/database)")
        if not parts.username:
            raise _bad_to("the PostgreSQL URL has no user (postgresql://user:password@…)")
        netloc = parts.username + (":***" if parts.password else "") + "@" + parts.hostname
        if port is not None:
            netloc += f":{port}"
        shown = urlunsplit(("postgresql", netloc, parts.path, parts.query, ""))
        creds = "postgresql" + url[len(scheme) :]
        return Destination("postgres", creds, shown, "psycopg2", "postgres")
    if scheme in ("duckdb", "sqlite"):
        path = rest[1:] if rest.startswith("/") else rest
        if not path or path.endswith("/"):
            raise _bad_to(f"the {scheme} URL has no file path ({scheme}:///path/file)")
        if path == ":memory:":
            raise _bad_to(f"an in-memory {scheme} database would be lost when the run ends")
        file = Path(path).expanduser().resolve()
        if not file.parent.is_dir():
            raise _bad_to(f"the directory {file.parent} does not exist")
        if scheme == "duckdb":
            return Destination("duckdb", str(file), f"duckdb:///{file}", "duckdb", "duckdb")
        return Destination(
            "sqlalchemy", f"sqlite:///{file}", f"sqlite:///{file}", "sqlalchemy", "sqlite"
        )
    raise _bad_to(f"unknown scheme {scheme!r}")


def _need(module: str, what: str, extra: str) -> None:
    if _find_spec(module) is None:
        raise ConfigError(
            f"{what} needs the Python package {module!r}, which is not installed: "
            f'pip install "iterable-connector[{extra}]"',
            kind="invalid-config",
            field="to" if extra != "dlt" else "dlt",
        )


def _check_reachable(dest: Destination) -> None:
    """Connects to a PostgreSQL server once before reading anything, so that
    a wrong password or database fails at once rather than after the read."""
    if dest.kind != "postgres":
        return
    import psycopg2

    try:
        psycopg2.connect(dest.credentials, connect_timeout=15).close()
    except Exception as e:
        raise ConfigError(
            redact(
                f"--to: cannot connect to {dest.shown}: {_first_line(e)}; check the host, "
                "port, user, password and database name (the database must exist)"
            ),
            kind="invalid-config",
            field="to",
        ) from None


# -- progress ----------------------------------------------------------------------


class Progress:
    """Shows what a run is doing on ``out`` (stderr): a tqdm bar per stream
    (``mode="bars"``), a plain line per stream every few seconds and when it
    ends (``"lines"``), or nothing (``"none"``)."""

    def __init__(self, mode: str, out: IO[str], every: float = 2.0) -> None:
        self.mode = mode
        self.out = out
        self.every = every
        self.counts: dict[str, int] = {}
        self._shown: dict[str, float] = {}
        self._bars: dict[str, Any] = {}
        self._done: set[str] = set()

    def line(self, text: str) -> None:
        if self.mode == "none":
            return
        if self._bars:
            from tqdm.auto import tqdm

            tqdm.write(redact(text), file=self.out)
        else:
            self.out.write(redact(text) + "\n")
            self.out.flush()

    def records(self, stream: str, n: int) -> None:
        """The source's progress callback: ``n`` more records of ``stream``;
        ``n == 0`` when its read ends."""
        if n:
            self.counts[stream] = self.counts.get(stream, 0) + n
        if self.mode == "bars":
            bar = self._bars.get(stream)
            if bar is None and n:
                from tqdm.auto import tqdm

                bar = self._bars[stream] = tqdm(desc=stream, unit=" rec", leave=True, file=self.out)
            if bar is not None:
                bar.update(n)
                if n == 0:
                    bar.close()
        elif self.mode == "lines":
            now = time.monotonic()
            if n == 0:
                if stream not in self._done:
                    self._done.add(stream)
                    self.line(f"{stream}: {self.counts.get(stream, 0)} records read")
            elif now - self._shown.get(stream, 0.0) >= self.every:
                self._shown[stream] = now
                self.line(f"{stream}: {self.counts[stream]} records so far")

    def close(self) -> None:
        for bar in self._bars.values():
            with contextlib.suppress(Exception):
                bar.close()


def _progress_mode(quiet: bool, out: IO[str]) -> str:
    if quiet:
        return "none"
    if _find_spec("tqdm") is not None and out.isatty():
        return "bars"
    return "lines"


# -- the run -----------------------------------------------------------------------


@dataclass
class ReplicateResult:
    """What a run loaded: ``rows`` per table (this run, before merging),
    the ``destination`` (password hidden), the ``dataset`` and the dlt
    ``pipeline_name``."""

    rows: dict[str, int]
    destination: str
    dataset: str
    pipeline_name: str
    resumed: bool


def _pipeline_name(dest: Destination, dataset: str) -> str:
    digest = hashlib.sha256(f"{dest.identity}|{dataset}".encode()).hexdigest()[:12]
    return f"iterable_replicate_{digest}"


def _root_cause(e: BaseException) -> BaseException:
    seen: set[int] = set()
    cur: BaseException | None = e
    last = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, IterableConnectorError):
            return cur
        last = cur
        cur = cur.__cause__ or cur.__context__
    return last


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def replicate(
    config: dict[str, Any],
    to: str,
    *,
    streams: Sequence[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    dataset: str = "iterable",
    progress: Progress | None = None,
    transport: Any = None,
) -> ReplicateResult:
    """Loads Iterable (``config``: the connector's JSON config, with
    ``api_key``) into the database ``to`` with dlt, merging by primary key
    and reading only what changed since the last run. ``streams``: the
    streams to load (default: every stream that needs no per-user filter).
    ``state_dir``: where dlt keeps the pipeline (default: dlt's,
    ``~/.dlt/pipelines``). Raises :class:`ConfigError` for a bad URL, an
    unknown stream or a missing package (naming the ``pip install``), and
    :class:`IterableConnectorError` when the run fails; the message never
    holds the API key or the database password."""
    dest = parse_destination(to)
    _need("dlt", "replicate", "dlt")
    _need(dest.module, f"--to {dest.shown.split(':')[0]}", dest.extra)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.pipeline.exceptions import PipelineStepFailed

    from .airbyte import _source
    from .dlt import iterable_source

    if not isinstance(dataset, str) or not dataset.strip():
        raise ConfigError(
            "--dataset: must be a schema name", kind="invalid-config", field="dataset"
        )
    src = _source(config)  # checks the config (and registers the key) before anything runs
    cfg = dict(config)
    api_key = cfg.pop("api_key", None)
    names = list(streams) if streams else None
    if names is not None:
        known = {s.name: s for s in src.streams()}
        for name in names:
            if name not in known:
                close = [k for k in known if name.lower() in k or k in name.lower()]
                hint = f" (did you mean {', '.join(sorted(close)[:3])}?)" if close else ""
                raise ConfigError(
                    f"--streams: unknown stream {name!r}{hint}; "
                    "`python -m iterable_connector discover --config C` lists them",
                    kind="invalid-config",
                    field="streams",
                )
            if known[name].requires_user_filter and not (cfg.get("email") or cfg.get("user_id")):
                raise ConfigError(
                    f"--streams: {name!r} reads one user's data and needs email or user_id "
                    "in the config",
                    kind="invalid-config",
                    field="streams",
                )
    extra: dict[str, Any] = {
        k: v for k, v in cfg.items() if k not in ("region", "start_date", "end_date", "base_url")
    }
    if progress is not None:
        extra["progress"] = progress.records
    if transport is not None:
        extra["transport"] = transport
    _check_reachable(dest)
    name = _pipeline_name(dest, dataset)
    show = progress.line if progress is not None else (lambda _t: None)
    where: dict[str, Any] = {} if state_dir is None else {"pipelines_dir": str(state_dir)}
    pipeline = dlt.pipeline(
        pipeline_name=name, destination=dest.factory(), dataset_name=dataset, **where
    )
    resumed = False
    try:
        if pipeline.has_pending_data:
            resumed = True
            show("finishing what a stopped run left: normalizing and loading it first")
            pipeline.normalize()
            pipeline.load()
        source = iterable_source(
            api_key=api_key,
            streams=names,
            region=cfg.get("region", "US"),
            start_date=cfg.get("start_date"),
            end_date=cfg.get("end_date"),
            base_url=cfg.get("base_url"),
            config=extra,
        )
        show(f"reading {len(source.resources)} streams from Iterable")
        pipeline.extract(source)
        show("normalizing")
        pipeline.normalize()
        show(f"loading into {dest.shown} (dataset {dataset})")
        pipeline.load()
    except PipelineStepFailed as e:
        cause = _root_cause(e)
        if isinstance(cause, IterableConnectorError):
            raise cause from None
        step = getattr(e, "step", "run")
        side = "Iterable" if step == "extract" else dest.shown
        raise IterableConnectorError(
            redact(
                f"replicate: the {step} step failed ({side}): {type(cause).__name__}: "
                f"{_first_line(cause)}; run the same command again to resume"
            ),
            kind="other",
        ) from None
    finally:
        if progress is not None:
            progress.close()
    trace = pipeline.last_trace
    rows: dict[str, int] = {}
    if trace is not None and trace.last_normalize_info is not None:
        rows = {
            t: n
            for t, n in trace.last_normalize_info.row_counts.items()
            if not t.startswith("_dlt")
        }
    return ReplicateResult(rows, dest.shown, dataset, name, resumed)


# -- the command --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m iterable_connector replicate",
        description=(
            "Copy Iterable into a database (PostgreSQL, DuckDB or SQLite) with dlt: each run "
            "adds only what changed, merging by primary key. Run it again to resume a run "
            "that was stopped."
        ),
    )
    p.add_argument(
        "--config", required=True, help="the connector's config JSON file (api_key, ...)"
    )
    p.add_argument("--to", required=True, help=f"the database: {_SCHEMES}")
    p.add_argument(
        "--streams",
        help="comma-separated stream names (default: every stream that needs no per-user filter)",
    )
    p.add_argument(
        "--state-dir", help="where to keep the pipeline state (default: dlt's ~/.dlt/pipelines)"
    )
    p.add_argument(
        "--dataset", default="iterable", help="schema / dataset name (default: iterable)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    return p


def _load_config(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"--config: cannot read {path}: {type(e).__name__}",
            kind="invalid-config",
            field="config",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"--config: {path} must hold a JSON object", kind="invalid-config", field="config"
        )
    return data


def main(
    argv: Sequence[str] | None = None, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    """The ``replicate`` command. Exit status: 0 done, 1 failed (the message
    on stderr says why and what to do), 2 bad arguments."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = _parser().parse_args(argv)
    progress = Progress(_progress_mode(args.quiet, err), err)
    streams = [s.strip() for s in args.streams.split(",") if s.strip()] if args.streams else None
    try:
        config = _load_config(args.config)
        result = replicate(
            config,
            args.to,
            streams=streams,
            state_dir=args.state_dir,
            dataset=args.dataset,
            progress=progress,
        )
    except IterableConnectorError as e:
        err.write(f"error: {redact(str(e))}\n")
        return 1
    except KeyboardInterrupt:
        err.write("stopped; run the same command again to resume\n")
        return 130
    except Exception as e:  # dlt's or a driver's own error, outside a pipeline step
        err.write(f"error: {redact(f'{type(e).__name__}: {_first_line(e)}')}\n")
        return 1
    if not args.quiet:
        total = sum(result.rows.values())
        out.write(
            redact(f"loaded {total} rows into {result.destination} (dataset {result.dataset})\n")
        )
        for table, n in sorted(result.rows.items()):
            out.write(f"  {table}: {n}\n")
        out.flush()
    return 0
