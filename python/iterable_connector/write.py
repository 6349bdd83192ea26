"""Writing to Iterable: :meth:`IterableSource.write`, :meth:`IterableSource.call`
and :class:`WriteResult`.

The Rust core's write session validates every row before any request,
batches rows to each endpoint's limits, paces and retries only what is safe
to repeat, and gives every input row exactly one result: ``ok``, ``failed``
(with the field or Iterable's reason) or ``unknown`` (a request that may or
may not have been applied, with what to check). This module feeds it rows
lazily and does the HTTP with the source's transport.

Input rows may be an iterable of dicts (consumed a request's worth at a time,
never materialised), a pandas or polars DataFrame, or any Arrow stream
(``__arrow_c_stream__``: a ``pyarrow.Table``, a DuckDB relation, ...; needs
``pyarrow``). Values convert as ``json.dumps`` would, plus: ``datetime`` →
ISO 8601 in UTC with a ``Z`` (naive ones are taken as UTC), ``date`` →
``YYYY-MM-DD``, ``Decimal`` and numpy numbers → JSON numbers, NaN → null.
In DataFrames and Arrow data a missing value (None, NaN, NaT, NA, null)
leaves the field out of that row, so an empty cell never overwrites a value
in Iterable with null; in dicts, ``None`` is sent as JSON null.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _driver, _native
from .errors import InputError, IterableConnectorError, WriteError, redact

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from .source import IterableSource

__all__ = ["RowResult", "WriteResult"]

logger = logging.getLogger("iterable_connector")

RowResult = _native.RowResult

PROCEDURES = ("AbortCampaign", "TriggerCampaign", "CancelScheduledOrRecurringCampaign")

_COLUMNS = ("row", "status", "id", "error_kind", "error_message", "field", "error_status")


class WriteResult:
    """What a write did: one :class:`RowResult` per input row, in input order.

    ``bool(result)`` is true when every row ended ``ok``. ``state`` is the
    last committed write state: pass it to ``write(..., state=)`` to resume a
    write that stopped, without applying anything twice.
    """

    def __init__(self, object: str, op: str, applied_later: bool = False) -> None:
        self.object = object
        self.op = op
        #: Iterable applies this kind of write after answering (catalog
        #: items, events, users): a read right after may not show it yet.
        self.applied_later = applied_later
        self._results: dict[int, RowResult] = {}
        self._state: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        self._sorted: list[RowResult] | None = None

    # -- filled by the driver --------------------------------------------

    def _add(self, rows: Iterable[RowResult]) -> None:
        for r in rows:
            self._results[r.row] = r
        self._sorted = None

    # -- reading ---------------------------------------------------------

    @property
    def rows(self) -> list[RowResult]:
        """Every row's result, in input order (by row number)."""
        if self._sorted is None:
            self._sorted = [self._results[k] for k in sorted(self._results)]
        return list(self._sorted)

    def _with(self, status: str) -> list[RowResult]:
        return [r for r in self.rows if r.status == status]

    @property
    def ok(self) -> list[RowResult]:
        """Rows Iterable accepted."""
        return self._with("ok")

    @property
    def failed(self) -> list[RowResult]:
        """Rows not applied; ``error_message`` and ``field`` say why."""
        return self._with("failed")

    @property
    def unknown(self) -> list[RowResult]:
        """Rows whose request may or may not have been applied and is not
        safe to repeat; ``error_message`` says what to check."""
        return self._with("unknown")

    @property
    def all_ok(self) -> bool:
        return all(r.status == "ok" for r in self._results.values())

    def __bool__(self) -> bool:
        return self.all_ok

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[RowResult]:
        return iter(self.rows)

    @property
    def summary(self) -> dict[str, Any] | None:
        """Totals once the write is done: object, op, rows, ok, failed,
        unknown, requests, retries."""
        return copy.deepcopy(self._summary)

    @property
    def done(self) -> bool:
        """Whether every row given has its result."""
        return self._summary is not None

    @property
    def state(self) -> dict[str, Any] | None:
        """The last committed write state (JSON-serialisable), or None before
        the first commit. ``state["rows_final"]``: every row numbered below
        it is final."""
        return copy.deepcopy(self._state)

    @property
    def ids(self) -> list[str | None]:
        """Each row's id (what SQL's ``RETURNING id`` asks for), in input
        order; None where a row has none (failed, or an object without ids)."""
        return [r.id for r in self.rows]

    @property
    def rows_final(self) -> int:
        """Every row numbered below this has its result."""
        return int(self._state["rows_final"]) if self._state else 0

    def to_pylist(self) -> list[dict[str, Any]]:
        """The results as dicts: row, status, id, error_kind, error_message,
        field, error_status."""
        return [r.as_dict() for r in self.rows]

    def to_pandas(self) -> pandas.DataFrame:
        """The results as a pandas DataFrame (``pip install pandas``)."""
        import pandas as pd

        df = pd.DataFrame(self.to_pylist(), columns=list(_COLUMNS))
        return df.astype({"row": "int64", "error_status": "Int64"})

    def to_arrow(self) -> pyarrow.Table:
        """The results as a ``pyarrow.Table`` (``pip install pyarrow``)."""
        pa = _pyarrow("WriteResult.to_arrow()")
        schema = pa.schema(
            [
                ("row", pa.int64()),
                ("status", pa.string()),
                ("id", pa.string()),
                ("error_kind", pa.string()),
                ("error_message", pa.string()),
                ("field", pa.string()),
                ("error_status", pa.int64()),
            ]
        )
        return pa.Table.from_pylist(self.to_pylist(), schema=schema)

    def raise_for_failures(self, *, limit: int = 5) -> WriteResult:
        """Raises :class:`WriteError` naming the first ``limit`` rows that did
        not end ``ok``; returns the result itself when every row did."""
        bad = [r for r in self.rows if r.status != "ok"]
        if not bad:
            return self
        counts = {s: sum(1 for r in bad if r.status == s) for s in ("failed", "unknown")}
        lines = [
            f"row {r.row} {r.status}: {r.error_message or r.error_kind or 'no detail'}"
            for r in bad[:limit]
        ]
        more = f"\n... and {len(bad) - limit} more" if len(bad) > limit else ""
        raise WriteError(
            f"{self.object} {self.op}: {counts['failed']} rows failed, "
            f"{counts['unknown']} unknown, of {len(self)}:\n" + "\n".join(lines) + more,
            result=self,
        )

    def __repr__(self) -> str:
        counts = {s: 0 for s in ("ok", "failed", "unknown")}
        for r in self._results.values():
            counts[r.status] = counts.get(r.status, 0) + 1
        status = "done" if self.done else "stopped"
        return redact(
            f"WriteResult(object={self.object!r}, op={self.op!r}, rows={len(self)}, "
            f"ok={counts['ok']}, failed={counts['failed']}, unknown={counts['unknown']}, "
            f"{status})"
        )


# -- input rows -------------------------------------------------------------


def _pyarrow(what: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(f"{what} needs pyarrow: pip install pyarrow") from None
    return pyarrow


def _missing(v: Any) -> bool:
    """A DataFrame's empty cell: None, NaN, NaT, pandas.NA."""
    if v is None:
        return True
    if isinstance(v, float):
        return v != v
    name = type(v).__name__
    if name in ("NaTType", "NAType"):
        return True
    if hasattr(v, "dtype") and getattr(v, "ndim", None) == 0:  # a numpy scalar
        try:
            return bool(v != v)
        except (TypeError, ValueError):
            return False
    return False


def _cell(v: Any) -> Any:
    """A DataFrame cell as a plain Python value (numpy arrays → lists)."""
    if hasattr(v, "tolist") and hasattr(v, "dtype"):
        return v.tolist()  # numpy arrays and scalars
    return v


def _clean(record: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _cell(v) for k, v in record.items() if not _missing(v)}


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def _pandas_chunks(df: Any, size: int) -> Iterator[list[dict[str, Any]]]:
    if df.columns.has_duplicates:
        raise ValueError("the DataFrame has duplicate column names")
    for start in range(0, len(df), size):
        part = df.iloc[start : start + size]
        yield [_clean(r) for r in part.to_dict("records")]


def _polars_chunks(df: Any, size: int) -> Iterator[list[dict[str, Any]]]:
    for part in df.iter_slices(size):
        yield [_clean(r) for r in part.to_dicts()]


def _arrow_chunks(obj: Any, size: int) -> Iterator[list[dict[str, Any]]]:
    pa = _pyarrow("writing Arrow data")
    if hasattr(obj, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(obj)
        batches: Iterable[Any] = reader
    else:  # a single record batch (__arrow_c_array__)
        batches = pa.table(obj).to_batches()
    for batch in batches:
        for start in range(0, batch.num_rows, size):
            part = batch.slice(start, size)
            yield [_clean(r) for r in part.to_pylist()]


def _iter_chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def row_chunks(rows: Any, size: int) -> Iterator[list[Any]]:
    """Input rows in lists of at most ``size``, read lazily."""
    size = max(1, size)
    if isinstance(rows, str | bytes | Mapping):
        raise TypeError(
            "rows must be an iterable of dicts, a pandas or polars DataFrame or an Arrow "
            f"stream, not a {type(rows).__name__} (to write one row, pass [row])"
        )
    mod = _module(rows)
    if mod == "pandas" and hasattr(rows, "iloc"):
        return _pandas_chunks(rows, size)
    if mod == "polars" and hasattr(rows, "iter_slices"):
        return _polars_chunks(rows, size)
    if mod == "polars" and hasattr(rows, "collect"):
        return _polars_chunks(rows.collect(), size)
    if hasattr(rows, "__arrow_c_stream__") or hasattr(rows, "__arrow_c_array__"):
        return _arrow_chunks(rows, size)
    if not isinstance(rows, Iterable):
        raise TypeError(
            "rows must be an iterable of dicts, a pandas or polars DataFrame or an Arrow "
            f"stream, not a {type(rows).__name__}"
        )
    return _iter_chunks(rows, size)


def _skip(chunks: Iterator[list[Any]], n: int) -> Iterator[list[Any]]:
    """The chunks without their first ``n`` rows (already final)."""
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield chunk[n:]
        n = 0


# -- the driver -------------------------------------------------------------

WriteOutput = _native.Results | _native.WriteCommit | _native.WriteDone


def drive_write(
    session: _native.WriteSession | _native.ModifySession,
    chunks: Iterator[list[Any]],
    transport: Any,
    key: _driver.Secret | None,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], int] = _driver.now_ms,
    first: int = 0,
) -> Iterator[WriteOutput]:
    """Runs a write session; yields ``Results``, ``WriteCommit`` and
    ``WriteDone``. Sequential like :func:`_driver.drive`: one request on the
    wire at a time, answered before the next poll. ``first``: how many input
    rows were skipped before ``chunks`` (for error messages)."""
    pushed = first
    while True:
        match session.poll(clock()):
            case _native.Fetch(request=req):
                for _ in _driver.fetch(session, transport, req, key, timeout, None, clock):
                    pass
            case _native.NeedRows():
                chunk = next(chunks, None)
                if chunk is None:
                    session.finish_input()
                    continue
                try:
                    session.push_rows(chunk)
                except (TypeError, ValueError) as e:
                    if type(e) not in (TypeError, ValueError):
                        raise  # InputError and the like: already precise
                    # A value without a JSON form: say where it is in the input.
                    where = f"rows[0] there is row {pushed} of the input given"
                    raise type(e)(f"{e} ({where})") from None
                pushed += len(chunk)
            case _native.Results() | _native.WriteCommit() as action:
                yield action
            case _native.Sleep(until_ms=until):
                delay = until - clock()
                if delay > 0:
                    logger.debug("pacing: sleeping %d ms", delay)
                    sleep(delay / 1000.0)
            case _native.Log() as action:
                logger.log(_driver._LEVELS.get(action.level, logging.INFO), "%s", action.message)
            case _native.WriteDone() as action:
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


def _progress(progress: Any, object: str, total: int | None) -> Callable[[int], None] | None:
    if callable(progress):

        def call(n: int) -> None:
            progress(object, n)

        return call
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger.warning("progress=True needs tqdm (pip install tqdm); continuing without")
        return None
    bar = tqdm(desc=f"{object} write", unit=" row", total=total, leave=True)

    def update(n: int) -> None:
        bar.update(n)
        if n == 0:
            bar.close()

    return update


def _json_options(options: Mapping[str, Any]) -> str:
    try:
        return json.dumps({k: v for k, v in options.items() if v is not None})
    except TypeError as e:
        raise InputError(f"options: {e}", kind="invalid-input", field="options") from None


def write(
    source: IterableSource,
    object: str,
    rows: Any,
    op: str,
    state: Mapping[str, Any] | None,
    skip_final: bool,
    progress: Any,
    options: Mapping[str, Any],
) -> WriteResult:
    state_json = None
    if state is not None:
        if not isinstance(state, Mapping):
            raise InputError(
                "state: must be the dict of a WriteResult's .state",
                kind="invalid-input",
                field="state",
            )
        state_json = json.dumps(dict(state))
    session = _native.WriteSession(
        source._config_json, object, op, _json_options(options), state_json
    )
    size = session.rows_per_request()
    chunks = row_chunks(rows, size)
    skipped = 0
    if state is not None and skip_final:
        done = state.get("rows_final")
        if isinstance(done, int) and done > 0:
            skipped = max(0, done - int(options.get("first_row") or 0))
            chunks = _skip(chunks, skipped)
    total = len(rows) if hasattr(rows, "__len__") and not hasattr(rows, "__next__") else None
    result = WriteResult(object, op, session.applied_later())
    if state is not None:
        # Until this session commits, the state to resume from is the one given.
        result._state = copy.deepcopy(dict(state))
    report = _progress(progress, object, total)
    return _run(source, session, chunks, result, report, skipped)


def run_session(source: IterableSource, session: Any, object: str, op: str) -> WriteResult:
    """Runs a session that finds its own rows (SQL's UPDATE and DELETE:
    ``_native.ModifySession``) like a write, and returns its result."""
    result = WriteResult(object, op, False)
    return _run(source, session, iter(()), result, _progress(source.progress, object, None), 0)


def _run(
    source: IterableSource,
    session: Any,
    chunks: Iterator[list[Any]],
    result: WriteResult,
    report: Callable[[int], None] | None,
    skipped: int,
) -> WriteResult:
    try:
        for action in drive_write(
            session, chunks, source.transport, source._key, timeout=source.timeout, first=skipped
        ):
            match action:
                case _native.Results(rows=results):
                    result._add(results)
                    if report is not None:
                        report(len(results))
                case _native.WriteCommit(state=st):
                    result._state = dict(st)
                case _native.WriteDone(summary=summary):
                    result._summary = summary.as_dict()
                    result.object = str(summary.object)
                    result.op = str(summary.op)
    except BaseException as e:
        # The partial result (and its state, to resume from) rides along.
        try:
            e.write_result = result  # type: ignore[attr-defined]
            e.add_note(
                f"the write stopped with rows below {result.rows_final} final; resume with "
                "write(..., state=exc.write_result.state)"
            )
        except (AttributeError, TypeError):
            pass
        raise
    finally:
        if report is not None:
            report(0)
    return result


def call(source: IterableSource, procedure: str, params: Mapping[str, Any]) -> RowResult:
    result = write(source, procedure, [dict(params)], "call", None, False, False, {})
    (row,) = result.rows
    if row.status == "failed" and row.error_kind == "invalid-input":
        raise InputError(f"{procedure}: {row.error_message}", kind="invalid-input", field=row.field)
    return row
