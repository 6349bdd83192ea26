"""The public API: :class:`IterableSource`, :class:`Reader`, :class:`StreamInfo`."""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import gzip as _gzip
import json
import logging
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import _driver, _native
from .errors import ConfigError, _register_secret
from .transport import DEFAULT_TIMEOUT, Transport, make_transport

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

    from .sync import SyncResult
    from .write import RowResult, WriteResult

__all__ = ["IterableSource", "Reader", "StreamInfo"]

logger = logging.getLogger("iterable_connector")

Progress = bool | Callable[[str, int], None]

# Streams whose CSV columns include the project's custom user fields.
_USER_FIELD_STREAMS = ("users", "user_profile")


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class StreamInfo:
    """One stream as the catalog describes it."""

    name: str
    primary_key: list[str]
    cursor_field: str | None
    json_schema: dict[str, Any] = field(repr=False)
    sync_modes: list[str]
    requires_user_filter: bool = False

    @property
    def supports_incremental(self) -> bool:
        return "incremental" in self.sync_modes


def _date(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _normalize_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
    if state is None:
        return {}
    if not isinstance(state, Mapping):
        raise ConfigError(
            "state: must be a dict of stream name to stream state (a Reader's .state)",
            kind="invalid-config",
            field="state",
        )
    inner = state.get("streams")
    if isinstance(inner, Mapping):
        state = inner
    return {str(k): copy.deepcopy(v) for k, v in state.items() if v is not None}


class IterableSource:
    """A configured connection to one Iterable project.

    >>> src = IterableSource(api_key="...", region="US", start_date="2024-01-01")
    >>> df = src.read("email_send").to_pandas()

    Other config keys (``user_key``, ``export_mode`` — ``"sync"``, ``"async"`` or
    ``"auto"``, async export jobs beside ``data.json`` windows —, ``email``, ``user_id``,
    ``list_ids``, ``catalog_names``, ``max_concurrency``, ``max_retries``,
    ``skip_malformed_lines``, ...) are passed as keyword arguments. The API key
    never appears in a repr, log line or exception.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        region: str = "US",
        start_date: str | _dt.date | None = None,
        end_date: str | _dt.date | None = None,
        base_url: str | None = None,
        window_days: int | None = None,
        lookback_minutes: int | None = None,
        transport: Transport | str | None = None,
        progress: Progress = False,
        timeout: float = DEFAULT_TIMEOUT,
        **config: Any,
    ) -> None:
        if api_key is not None and not isinstance(api_key, str):
            raise ConfigError("api_key: must be a string", kind="invalid-config", field="api_key")
        if not api_key:
            raise ConfigError(
                "api_key: is missing; create a server-side key in Iterable "
                "(Integrations > API Keys)",
                kind="invalid-config",
                field="api_key",
            )
        if "api_key" in config:
            raise TypeError("api_key given twice")
        _register_secret(api_key)
        self._key = _driver.Secret(api_key)
        cfg: dict[str, Any] = {"region": region}
        for name, value in (
            ("start_date", start_date),
            ("end_date", end_date),
            ("base_url", base_url),
            ("window_days", window_days),
            ("lookback_minutes", lookback_minutes),
        ):
            if value is not None:
                cfg[name] = _date(value)
        for name, value in config.items():
            if value is not None:
                cfg[name] = _date(value)
        self._config_json = json.dumps(cfg)
        _native.validate_config(self._config_json)
        self._config = cfg
        self._transport: Transport = make_transport(transport)
        self.progress = progress
        self.timeout = timeout
        self._streams: dict[str, StreamInfo] | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"IterableSource(api_key='***', {shown})"

    def __reduce__(self) -> Any:
        raise TypeError("IterableSource holds an API key and cannot be pickled")

    @property
    def config(self) -> dict[str, Any]:
        """The configuration, without the API key."""
        return copy.deepcopy(self._config)

    @property
    def transport(self) -> Transport:
        return self._transport

    def check(self) -> None:
        """Checks that Iterable accepts the key. Raises ``AuthError`` etc. if not."""
        req = _native.check_request(self._config_json)
        status, body = _driver.exchange(self._transport, req, self._key, self.timeout)
        _native.check_response(status, body)

    def user_fields(self) -> dict[str, Any]:
        """The project's user fields (``GET /api/users/getFields``)."""
        req = _native.user_fields_request(self._config_json)
        status, body = _driver.exchange(self._transport, req, self._key, self.timeout)
        return dict(json.loads(_native.user_fields_response(status, body)))

    def streams(self, *, fetch_user_fields: bool = False) -> list[StreamInfo]:
        """Every stream. ``fetch_user_fields=True`` asks Iterable for the
        project's custom user fields to type them in the ``users`` schema."""
        if self._streams is not None and not fetch_user_fields:
            return list(self._streams.values())
        fields = json.dumps(self.user_fields()) if fetch_user_fields else None
        infos = [
            StreamInfo(
                name=d["name"],
                primary_key=[p[0] if len(p) == 1 else ".".join(p) for p in d["primary_key"]],
                cursor_field=d["cursor_field"],
                json_schema=d["json_schema"],
                sync_modes=list(d["sync_modes"]),
                requires_user_filter=bool(d["requires_user_filter"]),
            )
            for d in _native.discover(self._config_json, fields)
        ]
        by_name = {s.name: s for s in infos}
        if not fetch_user_fields:
            self._streams = by_name
        return infos

    def stream(self, name: str) -> StreamInfo:
        streams = self._streams if self._streams is not None else None
        if streams is None:
            self.streams()
            streams = self._streams
        assert streams is not None
        try:
            return streams[name]
        except KeyError:
            raise ConfigError(
                f"streams: unknown stream {name!r}; see IterableSource.streams() for the list",
                kind="invalid-config",
                field="streams",
            ) from None

    def read(
        self,
        streams: str | Sequence[str],
        state: Mapping[str, Any] | None = None,
        *,
        incremental: bool = True,
    ) -> Reader:
        """Starts reading one stream or several. ``state``: a previous
        ``Reader.state``; with ``incremental=False`` saved state is ignored."""
        return Reader(self, _driver.stream_names(streams), state, incremental)

    def write(
        self,
        object: str,
        rows: Any,
        op: str = "insert",
        *,
        state: Mapping[str, Any] | None = None,
        skip_final: bool = True,
        progress: Progress | None = None,
        **options: Any,
    ) -> WriteResult:
        """Writes ``rows`` to ``object`` (``catalog_items``, ``events``,
        ``users``, ``lists``, ``list_users``, ``templates``, ``campaigns``, ...;
        Skyvia's names such as ``CatalogItems`` work too) with ``op``
        (``insert``, ``update``, ``upsert``, ``delete``, ``update_email``).

        ``rows``: an iterable of dicts (read lazily, a request's worth at a
        time), a pandas or polars DataFrame, or an Arrow stream
        (``__arrow_c_stream__``). ``options``: ``catalog``, ``list_id``,
        ``medium``, ``bulk``, ``batch_size``, ``merge_nested_objects``,
        ``first_row``.

        Returns a :class:`WriteResult` with one result per row: a bad row
        fails alone, naming the field. Raises only when the write cannot run
        at all (``InputError`` for an unknown object, op or option,
        ``ConfigError``, ...). Should it stop (an exception from the rows
        iterator, Ctrl-C), the exception carries ``write_result``: pass its
        ``state`` to ``write(..., state=)`` with the same rows to go on;
        rows already final are skipped (``skip_final=False`` when ``rows``
        already starts at ``state["rows_final"]``) and nothing is applied
        twice. ``progress``: as for reads (default: the source's setting).
        """
        from . import write as _write

        return _write.write(
            self,
            object,
            rows,
            op,
            state,
            skip_final,
            self.progress if progress is None else progress,
            options,
        )

    def sync(
        self,
        object: str,
        *,
        catalog: str | None = None,
        medium: str | None = None,
        con: Any,
        table: str,
        key: str,
        changed_at: str | None = None,
        columns: Mapping[str, str] | None = None,
        policy: str = "report",
        initial: str = "merge_by_key",
        state: Mapping[str, Any] | None = None,
        state_path: str | os.PathLike[str] | None = None,
        dry_run: bool = False,
        confirm_timeout_ms: int | None = None,
    ) -> SyncResult:
        """Two-way sync of a catalog's items (``object="catalog_items"``,
        ``catalog=``) or of one medium's templates (``object="templates"``,
        ``medium="Email"`` by default) with the table ``table`` behind
        ``con``: a DB-API connection (sqlite3, duckdb, psycopg) or a
        SQLAlchemy ``Engine`` or ``Connection`` (with no transaction in
        progress). ``key`` is the column holding the ``itemId`` (templates:
        the ``clientTemplateId``); the other columns (or ``columns``:
        ``{column: field}``) are the item's value (templates: fields of the
        template such as ``name``, ``subject``, ``html``; the template's other
        fields are not synced, and templates without a ``clientTemplateId``
        are left alone); ``changed_at`` (optional) the column saying when a
        row changed, for ``policy="newest_wins"``.

        ``initial`` (first run, no state): ``merge_by_key``,
        ``iterable_to_local`` or ``local_to_iterable``. ``policy`` (a row
        changed on both sides): ``local_wins``, ``iterable_wins``,
        ``newest_wins`` or ``report`` (change nothing, list it in
        ``conflicts``). Deletes propagate both ways.

        ``state``: the last sync's ``SyncResult.state`` (or ``state_path``, a
        JSON file read before and written after). ``dry_run=True`` decides
        and reports (``print(result)``), changing nothing. Bad input (no such
        table or column, an unknown policy) raises ``ConfigError`` /
        ``InputError`` before anything is written. Local changes are applied
        in one transaction, committed before Iterable is written. See
        :mod:`iterable_connector.sync` for how values map.
        """
        from . import sync as _sync

        return _sync.sync(
            self,
            object,
            catalog=catalog,
            medium=medium,
            con=con,
            table=table,
            key=key,
            changed_at=changed_at,
            columns=columns,
            policy=policy,
            initial=initial,
            state=state,
            state_path=state_path,
            dry_run=dry_run,
            confirm_timeout_ms=confirm_timeout_ms,
        )

    def sql(self, query: str, /, **params: Any) -> Any:
        """Runs one SQL statement; ``:name`` placeholders take ``params``.

        - ``SELECT … FROM <one table> [WHERE] [ORDER BY] [LIMIT/OFFSET]``:
          a :class:`Reader` over the rows (dicts, ``to_arrow()``,
          ``to_pandas()``, ``to_polars()``); what the API can filter is
          pushed down (the user of events, list ids, createdAt ranges,
          ``LIMIT``), the rest is evaluated on the records.
        - ``EXPLAIN SELECT …``: the plan, a list of ``{"step", "detail"}``
          dicts ending with the first requests (print it).
        - ``INSERT INTO t (cols) VALUES … [RETURNING id]`` and ``CALL
          TriggerCampaign(…)`` / ``AbortCampaign(…)`` /
          ``CancelScheduledOrRecurringCampaign(…)``: the write's
          :class:`WriteResult` (``.ids`` for RETURNING).
        - JOIN, GROUP BY, aggregates, DISTINCT, UNION, subqueries: each table
          is read with its own predicates pushed down, then DuckDB runs the
          statement (``pip install "iterable-connector[sql]"``); returns a
          :class:`~iterable_connector.sql.SqlResult`.

        Bad SQL raises ``InputError`` naming the construct.
        """
        from . import sql as _sql

        return _sql.run(self, query, params)

    def call(self, procedure: str, **params: Any) -> RowResult:
        """Runs a stored procedure: ``AbortCampaign(campaignId)``,
        ``TriggerCampaign(campaignId, listIds, suppressionListIds, dataFields,
        allowRepeatMarketingSends)`` or ``CancelScheduledOrRecurringCampaign(campaignId)``.

        Returns its :class:`RowResult` (check ``.status``: Iterable may
        refuse, e.g. a campaign that cannot be aborted in its state); raises
        ``InputError`` naming the parameter when one is missing or invalid.
        A ``TriggerCampaign`` that may or may not have gone through ends
        ``unknown`` and is never sent again automatically.
        """
        from . import write as _write

        return _write.call(self, procedure, params)


class Reader:
    """One read. Iterate it for dicts, or collect it with ``to_arrow()``,
    ``to_pandas()`` or ``to_polars()``. It can be consumed once; ``state``
    is final once it is drained."""

    def __init__(
        self,
        source: IterableSource,
        streams: list[str],
        state: Mapping[str, Any] | None,
        incremental: bool,
        *,
        _session: _native.Session | _native.QuerySession | None = None,
        _schemas: dict[str, dict[str, Any]] | None = None,
        _columns: list[str] | None = None,
    ) -> None:
        self._source = source
        self.streams = list(streams)
        self._state = _normalize_state(state)
        # A SQL query (``src.sql``) hands in its own session, the schema of
        # its rows and its output columns (dicts then keep SELECT order).
        self._schemas = (
            _schemas
            if _schemas is not None
            else {name: source.stream(name).json_schema for name in self.streams}
        )
        self._columns = _columns
        self._session = (
            _session
            if _session is not None
            else _native.Session(
                source._config_json,
                [(name, incremental) for name in self.streams],
                json.dumps(self._state),
            )
        )
        self._started = False
        self._done = False
        self._summary: list[dict[str, Any]] | None = None
        self._tables: dict[str, _native.ArrowTable] | None = None
        self._counts: dict[str, int] = dict.fromkeys(self.streams, 0)

    def __repr__(self) -> str:
        status = "done" if self._done else ("reading" if self._started else "not started")
        return f"Reader(streams={self.streams!r}, {status})"

    # -- driving ---------------------------------------------------------

    def _claim(self) -> None:
        if self._started:
            raise RuntimeError("this Reader was already consumed; call source.read(...) again")
        self._started = True

    def _progress(self) -> Callable[[str, int], None] | None:
        p = self._source.progress
        if callable(p):
            return p
        if not p:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            logger.warning("progress=True needs tqdm (pip install tqdm); continuing without")
            return None
        bars: dict[str, Any] = {}

        def update(stream: str, n: int) -> None:
            bar = bars.get(stream)
            if bar is None:
                bar = bars[stream] = tqdm(desc=stream, unit=" rec", leave=True)
            bar.update(n)
            if n == 0:
                bar.close()

        return update

    def iter_batches(self) -> Iterator[_native.Batch]:
        """The core's record batches (records still in Rust), as they arrive."""
        self._claim()
        progress = self._progress()
        # A batch is handed out once the commits that follow it are in, so
        # that ``state`` covers it when the caller sees it (a commit comes
        # right after the batches it covers, never before them).
        held: _native.Batch | None = None

        def count(batch: _native.Batch) -> None:
            self._counts[batch.stream] = self._counts.get(batch.stream, 0) + len(batch)
            if progress is not None:
                progress(batch.stream, len(batch))

        try:
            actions = _driver.drive(
                self._session,
                self._source.transport,
                self._source._key,
                timeout=self._source.timeout,
            )
            # The native transport and the core work without the GIL: the
            # next chunks are received and parsed on a second thread while
            # the caller handles this batch. Python transports stay on the
            # caller's thread (they may not expect another).
            if isinstance(self._source.transport, _native.NativeTransport):
                actions = _driver.prefetched(actions)
            for action in actions:
                if isinstance(action, _native.Emit):
                    if held is not None:
                        count(held)
                        yield held
                    held = action.batch
                elif isinstance(action, _native.Commit):
                    self._state[action.stream] = action.state
                else:
                    if held is not None:
                        count(held)
                        yield held
                        held = None
                    self._summary = [s.as_dict() for s in action.streams]
                    self._done = True
        except Exception:
            # A failed read still hands out what it read; the state does not
            # cover it, so a resume reads it again rather than losing it.
            if held is not None:
                count(held)
                yield held
            raise
        finally:
            if progress is not None:
                for name in self.streams:
                    progress(name, 0)

    def read_records(self, *, with_stream: bool = False) -> Iterator[Any]:
        """Every record as a dict (or ``(stream, dict)`` with ``with_stream``)."""
        columns = self._columns
        for batch in self.iter_batches():
            records = batch.to_pylist()
            if columns is not None:
                records = [{c: r.get(c) for c in columns} for r in records]
            if with_stream:
                name = batch.stream
                for r in records:
                    yield name, r
            else:
                yield from records

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.read_records()

    def iter_arrow_batches(self) -> Iterator[tuple[str, pyarrow.RecordBatch]]:
        """``(stream, pyarrow.RecordBatch)`` per core batch, built in Rust."""
        import pyarrow as pa

        builders = {n: _native.ArrowBuilder(json.dumps(s)) for n, s in self._schemas.items()}
        for batch in self.iter_batches():
            b = builders[batch.stream]
            b.append(batch)
            yield batch.stream, pa.record_batch(b.flush_batch())

    def arrow(self) -> dict[str, _native.ArrowTable]:
        """Drains the reader into Arrow tables (one per stream) that any
        PyCapsule-aware library can import without copying."""
        if self._tables is None:
            builders = {n: _native.ArrowBuilder(json.dumps(s)) for n, s in self._schemas.items()}
            for batch in self.iter_batches():
                builders[batch.stream].append(batch)
            self._tables = {n: b.finish() for n, b in builders.items()}
        return self._tables

    def _table(self, stream: str | None) -> _native.ArrowTable:
        tables = self.arrow()
        if stream is None:
            if len(tables) != 1:
                raise ValueError(f"this read has several streams {self.streams}: pass stream=")
            return next(iter(tables.values()))
        try:
            return tables[stream]
        except KeyError:
            raise ValueError(f"stream {stream!r} is not part of this read {self.streams}") from None

    def to_arrow(self, stream: str | None = None) -> pyarrow.Table:
        """A ``pyarrow.Table`` (``pip install pyarrow``): strings, int64,
        float64, bool, timestamp[ms, UTC]; objects and arrays as JSON text."""
        import pyarrow as pa

        return pa.table(self._table(stream))

    def to_pandas(self, stream: str | None = None) -> pandas.DataFrame:
        """A pandas DataFrame (via Arrow; ``pip install pandas pyarrow``)."""
        return self.to_arrow(stream).to_pandas()

    def to_polars(self, stream: str | None = None) -> polars.DataFrame:
        """A polars DataFrame (``pip install polars``), imported through the
        Arrow PyCapsule interface (pyarrow not needed)."""
        import polars as pl

        table = self._table(stream)
        try:
            df = pl.DataFrame(table)
        except (TypeError, ValueError):  # older polars: go through pyarrow
            df = pl.from_arrow(self.to_arrow(stream))  # type: ignore[assignment]
        assert isinstance(df, pl.DataFrame)
        return df

    def to_csv(
        self,
        path: str | os.PathLike[str],
        *,
        delimiter: str = ",",
        quote: str | None = '"',
        line_ending: str = "lf",
        bom: bool = False,
        header: bool = True,
        null_value: str = "",
        gzip: bool = False,
    ) -> dict[str, pathlib.Path]:
        """Drains the reader into CSV files, encoded by the core (the same
        bytes as ``iterable-connector export``); returns stream → file.

        One stream: ``path`` is the file. Several: ``path`` is a directory
        (created if missing) with one ``<stream>.csv`` (``.csv.gz`` with
        ``gzip=True``) per stream. Columns: the stream's fields in
        definition order, the project's custom user fields for ``users`` and
        ``user_profile``, then ``_extra``, a JSON object of any other fields
        a record carries (empty when none). Cells: strings as they are
        (timestamps RFC 3339 UTC), numbers as JSON text, ``true``/``false``,
        objects and arrays as compact JSON. RFC 4180 quoting with ``quote``
        (``None``: no quoting; a value that would need it raises
        ``InputError`` naming its row and column). Null is ``null_value``
        unquoted; a string equal to it (the empty string by default) is
        quoted, so the two read back apart. ``line_ending``: ``"lf"`` or
        ``"crlf"``; ``bom=True`` starts each file with a UTF-8 BOM (Excel).
        A bad option raises ``InputError`` naming it, before anything is read.
        """
        if self._started:
            raise RuntimeError("this Reader was already consumed; call source.read(...) again")
        options = json.dumps(
            {
                "delimiter": delimiter,
                "quote": quote,
                "line_ending": line_ending,
                "bom": bom,
                "header": header,
                "null_value": null_value,
            }
        )
        fields: str | None = None
        if any(name in _USER_FIELD_STREAMS for name in self.streams):
            try:
                fields = json.dumps(self._source.user_fields())
            except Exception as e:  # the built-in columns still work
                logger.warning("custom user fields not read (%s); they go to _extra", e)
        encoders = {
            name: _native.CsvEncoder(
                _native.csv_columns(self._source._config_json, name, fields), options
            )
            for name in self.streams
        }
        target = pathlib.Path(path)
        if len(self.streams) == 1:
            if target.parent != pathlib.Path():
                target.parent.mkdir(parents=True, exist_ok=True)
            paths = {self.streams[0]: target}
        else:
            target.mkdir(parents=True, exist_ok=True)
            suffix = ".csv.gz" if gzip else ".csv"
            paths = {name: target / f"{name}{suffix}" for name in self.streams}
        with contextlib.ExitStack() as stack:
            files: dict[str, _Sink] = {}
            for name, p in paths.items():
                f: _Sink = (
                    stack.enter_context(_gzip.open(p, "wb"))
                    if gzip
                    else stack.enter_context(open(p, "wb"))
                )
                f.write(encoders[name].header())
                files[name] = f
            for batch in self.iter_batches():
                files[batch.stream].write(encoders[batch.stream].encode(batch))
        return paths

    # -- results ---------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """Stream name → state covering every record handed out so far
        (final once the reader is drained). JSON-serialisable; pass it to
        the next ``read(..., state=)``."""
        return copy.deepcopy(self._state)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def summary(self) -> list[dict[str, Any]] | None:
        """Per-stream totals once done: records, requests, retries, skipped lines and units."""
        return copy.deepcopy(self._summary)

    @property
    def counts(self) -> dict[str, int]:
        """Records handed out so far, per stream."""
        return dict(self._counts)
