"""SQL over Iterable: :meth:`IterableSource.sql`.

The Rust core parses and plans every statement (``_native.plan_sql``): a
single-table ``SELECT`` runs in a ``QuerySession`` (the read session with
the query's filter, projection, order and limit; whatever the API can filter
itself is pushed down) and comes back as the same :class:`Reader` that
``src.read()`` returns; ``EXPLAIN SELECT`` gives the plan; ``INSERT`` and
``CALL`` run through the write path and give its :class:`WriteResult`.

Statements the core does not run (JOIN, GROUP BY and aggregates, DISTINCT,
set operations, subqueries) fail in the core with code ``sql-needs-engine``;
then each table the statement names is read with the predicates that concern
it alone pushed down (``_native.plan_scans``), registered in a fresh DuckDB
connection under the name the statement uses, and DuckDB runs the statement
(``pip install "iterable-connector[sql]"``). The result is a
:class:`SqlResult`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _driver, _native
from .errors import InputError, SqlEngineError

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

    from .source import IterableSource, Reader
    from .write import WriteResult

__all__ = ["SqlExplain", "SqlResult"]

#: Requests EXPLAIN lists per table read.
EXPLAIN_REQUESTS = 3

_INSTALL = 'pip install "iterable-connector[sql]"'


class SqlExplain(list[dict[str, str]]):
    """What ``EXPLAIN SELECT …`` returns: the plan as ``{"step", "detail"}``
    dicts (what is read, what is pushed down to the API, what is evaluated
    on the records, sorting, the limit, then the first requests). A list;
    ``print()`` shows it as a table."""

    def __str__(self) -> str:
        if not self:
            return "(empty plan)"
        width = max(len(r["step"]) for r in self)
        return "\n".join(f"{r['step']:<{width}}  {r['detail']}" for r in self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython
        p.text(str(self))


class SqlResult:
    """The rows of a statement DuckDB ran (a JOIN, GROUP BY, …) over the
    tables' pushed-down reads. Iterate it for dicts, or take ``to_arrow()``,
    ``to_pandas()``, ``to_polars()``; ``len()`` counts the rows. ``scans``
    says how each table was read (its single-table SQL, what was pushed
    down, the records read)."""

    def __init__(self, table: pyarrow.Table, scans: list[dict[str, Any]]) -> None:
        self._table = table
        self.scans = scans

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def summary(self) -> list[dict[str, Any]]:
        """Per table read: its ``Reader.summary``."""
        return [dict(s["summary"]) for s in self.scans if s.get("summary")]

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._table.to_pylist())

    def read_records(self) -> Iterator[dict[str, Any]]:
        return iter(self)

    def to_arrow(self) -> pyarrow.Table:
        return self._table

    def to_pandas(self) -> pandas.DataFrame:
        return self._table.to_pandas()

    def to_polars(self) -> polars.DataFrame:
        import polars as pl

        df = pl.from_arrow(self._table)
        assert isinstance(df, pl.DataFrame)
        return df

    def __repr__(self) -> str:
        tables = ", ".join(s["table"] for s in self.scans)
        return f"SqlResult(rows={len(self)}, columns={self.columns!r}, tables=[{tables}])"


# -- running ----------------------------------------------------------------


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in params.items()}


def _stream_schema(source: IterableSource, stream: str, user_fields: str | None) -> Any:
    if user_fields is None:
        return source.stream(stream).json_schema
    for d in _native.discover(source._config_json, user_fields):
        if d["name"] == stream:
            return d["json_schema"]
    return source.stream(stream).json_schema


#: Streams whose schema declares the project's custom user fields (the
#: catalog's ``user_fields`` rows).
_USER_FIELD_STREAMS = frozenset({"users"})


def _untyped(plan: _native.SqlPlan, stream_schema: Any) -> bool:
    """Whether an output column is a field the schema does not declare (a
    custom user field named in quotes)."""
    if plan.columns is None or plan.stream not in _USER_FIELD_STREAMS:
        return False
    props = json.loads(plan.json_schema(json.dumps(stream_schema)))["properties"]
    return any(not p for p in props.values())


def _query_reader(
    source: IterableSource, plan: _native.SqlPlan, user_fields: str | None = None
) -> Reader:
    """A :class:`Reader` over a SELECT plan's rows."""
    from .source import Reader

    stream = plan.stream
    assert stream is not None
    stream_schema = _stream_schema(source, stream, user_fields)
    schema = json.loads(plan.json_schema(json.dumps(stream_schema)))
    return Reader(
        source,
        [stream],
        None,
        False,
        _session=_native.QuerySession(plan),
        _schemas={stream: schema},
        _columns=plan.columns,
    )


def _explain(plan: _native.SqlPlan, prefix: str = "") -> list[dict[str, str]]:
    rows = [{"step": prefix + r["step"], "detail": str(r["detail"])} for r in plan.explain()]
    for req in plan.first_requests(_driver.now_ms(), EXPLAIN_REQUESTS):
        rows.append({"step": prefix + "request", "detail": f"{req.method} {req.url}"})
    return rows


def _write(source: IterableSource, plan: _native.SqlPlan) -> WriteResult:
    from . import write as _w

    object, op = plan.object, plan.op
    assert object is not None and op is not None
    result = _w.write(source, object, plan.rows, op, None, False, source.progress, {})
    if op == "call":
        (row,) = result.rows
        if row.status == "failed" and row.error_kind == "invalid-input":
            raise InputError(
                f"{object}: {row.error_message}", kind="invalid-input", field=row.field
            )
    return result


_EXPLAIN = re.compile(r"^\s*explain\b", re.IGNORECASE)


def run(source: IterableSource, query: str, params: Mapping[str, Any]) -> Any:
    """``IterableSource.sql``: see there."""
    if not isinstance(query, str):
        raise TypeError(f"query must be SQL text (str), not {type(query).__name__}")
    params = _params(params)
    config = source._config_json
    needs_engine: InputError | None = None
    try:
        plan = _native.plan_sql(config, query, params)
    except InputError as e:
        if e.code != _native.SQL_NEEDS_ENGINE:
            raise
        needs_engine = e
    if needs_engine is not None:
        # Outside the except block: errors from here on do not chain onto it.
        explain = _EXPLAIN.match(query)
        if explain:
            return _explain_scans(source, query[explain.end() :], params)
        return _engine(source, query, params, needs_engine)
    if plan.kind == "select":
        stream = plan.stream
        assert stream is not None
        if _untyped(plan, source.stream(stream).json_schema):
            # Custom user fields: their types (and names) come from
            # users/getFields, one request, only when a query selects them.
            fields = json.dumps(source.user_fields())
            plan = _native.plan_sql(config, query, params, fields)
            return _query_reader(source, plan, fields)
        return _query_reader(source, plan)
    if plan.kind == "explain":
        return SqlExplain(_explain(plan))
    if plan.kind == "modify":
        from . import write as _w

        object, op = plan.object, plan.op
        assert object is not None and op is not None
        return _w.run_session(source, _native.ModifySession(plan), object, op)
    return _write(source, plan)


# -- statements for DuckDB ----------------------------------------------------


def _explain_scans(source: IterableSource, query: str, params: dict[str, Any]) -> SqlExplain:
    rows: list[dict[str, str]] = []
    for table, plan in _native.plan_scans(source._config_json, query, params):
        rows.append({"step": "scan", "detail": f"{table}: {plan.sql}"})
        rows.extend(_explain(plan, prefix="  "))
    rows.append({"step": "engine", "detail": "DuckDB runs the statement over the scans"})
    return SqlExplain(rows)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def duckdb_sql(query: str) -> tuple[str, list[str]]:
    """``query`` with its ``:name`` placeholders as DuckDB's ``$name``
    (outside string literals, quoted identifiers and comments; ``::`` casts
    stay), and the names in order of appearance (each once)."""
    out: list[str] = []
    names: list[str] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c in "'\"":
            j = i + 1
            while j < n:
                if query[j] == c:
                    if j + 1 < n and query[j + 1] == c:  # '' inside a literal
                        j += 2
                        continue
                    break
                j += 1
            out.append(query[i : j + 1])
            i = j + 1
        elif query.startswith("--", i):
            j = query.find("\n", i)
            j = n if j < 0 else j
            out.append(query[i:j])
            i = j
        elif query.startswith("/*", i):
            j = query.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(query[i:j])
            i = j
        elif query.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and (m := _NAME.match(query, i + 1)):
            out.append("$" + m.group())
            if m.group() not in names:
                names.append(m.group())
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out), names


def _duckdb(error: InputError) -> Any:
    try:
        import duckdb
    except ImportError:
        raise SqlEngineError(
            f"{error.message}. DuckDB is not installed: {_INSTALL}",
            kind="invalid-input",
            field="sql",
            code=_native.SQL_NEEDS_ENGINE,
        ) from None
    return duckdb


def _engine(
    source: IterableSource, query: str, params: dict[str, Any], error: InputError
) -> SqlResult:
    duckdb = _duckdb(error)
    try:
        import pyarrow as pa  # noqa: F401  (DuckDB reads and returns Arrow through it)
    except ImportError:
        raise SqlEngineError(
            f"{error.message}. Running it in DuckDB needs pyarrow: {_INSTALL}",
            kind="invalid-input",
            field="sql",
            code=_native.SQL_NEEDS_ENGINE,
        ) from None
    text, names = duckdb_sql(query)
    missing = [n for n in names if n not in params]
    if missing:
        raise InputError(
            f"sql: no value for the parameter :{missing[0]}; pass it as sql(..., {missing[0]}=…)",
            kind="invalid-input",
            field=missing[0],
        )
    scans = _native.plan_scans(source._config_json, query, params)
    con = duckdb.connect()
    try:
        infos: list[dict[str, Any]] = []
        for table, plan in scans:
            reader = _query_reader(source, plan)
            arrow = reader.to_arrow()
            con.register(table, arrow)
            summary = reader.summary
            infos.append(
                {
                    "table": table,
                    "stream": plan.stream,
                    "sql": plan.sql,
                    "pushed": list(plan.pushed),
                    "records": arrow.num_rows,
                    "summary": summary[0] if summary else None,
                }
            )
        try:
            bound = {n: params[n] for n in names}
            try:
                rel = con.sql(text, params=bound) if bound else con.sql(text)
            except TypeError:  # an older DuckDB without sql(params=)
                rel = con.execute(text, bound)
            # DuckDB 1.4+ names it to_arrow_table; older ones fetch_arrow_table.
            fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
            table = fetch()
        except duckdb.Error as e:
            raise InputError(
                f"sql: DuckDB could not run the statement: {e}", kind="invalid-input", field="sql"
            ) from None
    finally:
        con.close()
    if not hasattr(table, "num_rows"):  # a RecordBatchReader (newer DuckDB)
        table = table.read_all()
    return SqlResult(table, infos)
