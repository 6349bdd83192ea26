"""Two-way sync of a catalog's items with a table: :meth:`IterableSource.sync`
and :class:`SyncResult`.

The Rust core reads Iterable's side, decides what changed where (by content
hash against the state of the last sync) and writes to Iterable itself; this
module hands it the table's rows, applies the local changes it decides with
plain SQL in one transaction, and does the HTTP with the source's transport.

The table is reached through any DB-API 2.0 connection (``sqlite3``,
``duckdb``, ``psycopg``; the placeholder style is taken from the
connection's module), or a SQLAlchemy ``Engine`` or ``Connection``
(statements go through ``exec_driver_sql`` with the dialect's placeholder
style; an ``Engine`` lends a connection for the sync; a ``Connection`` must
have no transaction in progress, as the sync commits and rolls back its
own). Rules:

- a row's key is its ``key`` column as text (the item's ``itemId``); a NULL
  key is an error;
- a row's content (the item's value) is its other columns, or the columns
  named in ``columns`` (``{table column: item field}``), without the
  ``changed_at`` column; a NULL column is left out of the content, and an
  item field that is missing is written to the table as NULL, so NULL and
  "absent" are the same thing on both sides;
- values convert as for writes (``Decimal`` → number, ``datetime`` → ISO
  8601 text in UTC); a dict or list going into the table is stored as JSON
  text, and text holding a JSON object or array is read back as one; a
  whole number read from a float or NUMERIC column is an int (``5.0`` → ``5``)
  and any other ``Decimal`` a float, so numbers settle after one sync; in
  SQLite a column declared ``BOOLEAN`` reads back as bool (not 0/1);
- every item field needs a column: an item with a field the table lacks
  stops the sync before any change (``ConfigError``, ``field="columns"``),
  since dropping the field would remove it from Iterable on the next run;
- ``changed_at`` (optional) is when the row last changed, for
  ``policy="newest_wins"``: a ``datetime`` (naive = UTC), a ``date``, ISO
  8601 text, or a number of epoch seconds (milliseconds above 10^11). The
  sync never writes this column: give it a default or a trigger.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import decimal
import json
import logging
import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _driver, _native
from .errors import ConfigError, InputError, IterableConnectorError, redact

if TYPE_CHECKING:
    from .source import IterableSource

__all__ = ["SyncResult"]

logger = logging.getLogger("iterable_connector")

_CHUNK = 1000
# Floats hold every whole number below this exactly.
_EXACT = 9_007_199_254_740_992


class SyncResult:
    """What a sync did (or, with ``dry_run=True``, would do).

    Counts: ``local_upserts``, ``local_deletes``, ``remote_upserts``,
    ``remote_deletes``, ``unchanged``. ``conflicts``: rows changed on both
    sides that ``policy="report"`` left alone (dicts ``key``, ``local``,
    ``remote``). ``failures``: writes to Iterable that did not end ok (dicts
    ``key``, ``error_kind``, ``error_message``, ``field``, ``error_status``),
    retried by the next sync. ``planned``: ``{"local": [...], "remote":
    [...]}``, the changes decided (dicts ``op``, ``key``, ``content``).
    ``state``: pass it to the next sync (``state=``). ``bool(result)``: no
    conflict and no failure. ``print(result)`` shows the plan.
    """

    def __init__(
        self,
        catalog: str | None,
        table: str,
        state: dict[str, Any] | None,
        medium: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.medium = medium
        self.table = table
        self._state = state
        self._summary: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        return copy.deepcopy(self._summary.get(name))

    @property
    def local_upserts(self) -> int:
        return int(self._summary.get("local_upserts", 0))

    @property
    def local_deletes(self) -> int:
        return int(self._summary.get("local_deletes", 0))

    @property
    def remote_upserts(self) -> int:
        return int(self._summary.get("remote_upserts", 0))

    @property
    def remote_deletes(self) -> int:
        return int(self._summary.get("remote_deletes", 0))

    @property
    def unchanged(self) -> int:
        return int(self._summary.get("unchanged", 0))

    @property
    def dry_run(self) -> bool:
        return bool(self._summary.get("dry_run", False))

    @property
    def conflicts(self) -> list[dict[str, Any]]:
        return list(self._get("conflicts") or [])

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list(self._get("failures") or [])

    @property
    def planned(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "local": list(self._get("planned_local") or []),
            "remote": list(self._get("planned_remote") or []),
        }

    @property
    def summary(self) -> dict[str, Any]:
        """Everything the core reported, as a plain dict."""
        return copy.deepcopy(self._summary)

    @property
    def state(self) -> dict[str, Any] | None:
        """The state for the next sync (the one given, after a dry run)."""
        return copy.deepcopy(self._state)

    @property
    def writes(self) -> int:
        """Rows changed on either side."""
        return self.local_upserts + self.local_deletes + self.remote_upserts + self.remote_deletes

    def __bool__(self) -> bool:
        return not self._summary.get("conflicts") and not self._summary.get("failures")

    def __repr__(self) -> str:
        return redact(
            f"SyncResult({self._scope_arg()}, table={self.table!r}, "
            f"local_upserts={self.local_upserts}, local_deletes={self.local_deletes}, "
            f"remote_upserts={self.remote_upserts}, remote_deletes={self.remote_deletes}, "
            f"unchanged={self.unchanged}, conflicts={len(self.conflicts)}, "
            f"failures={len(self.failures)}, dry_run={self.dry_run})"
        )

    def _scope_arg(self) -> str:
        if self.medium is not None:
            return f"medium={self.medium!r}"
        return f"catalog={self.catalog!r}"

    def __str__(self) -> str:
        head = "plan (dry run, nothing changed)" if self.dry_run else "sync"
        scope = (
            f"{self.medium} templates" if self.medium is not None else f"catalog {self.catalog!r}"
        )
        lines = [
            f"{head}: {scope} <-> table {self.table!r}",
            f"  table:    {self.local_upserts} upserts, {self.local_deletes} deletes",
            f"  Iterable: {self.remote_upserts} upserts, {self.remote_deletes} deletes",
            f"  unchanged: {self.unchanged}, conflicts: {len(self.conflicts)}, "
            f"failures: {len(self.failures)}",
        ]
        planned = self.planned
        for side, name in (("local", "table"), ("remote", "Iterable")):
            for c in planned[side]:
                what = json.dumps(c.get("content"), sort_keys=True, default=str)
                lines.append(
                    f"  {name} {c['op']} {c['key']}" + (f" {what}" if c["op"] == "upsert" else "")
                )
        for c in self.conflicts:
            lines.append(
                f"  conflict {c['key']}: table {json.dumps(c['local'], default=str)} / "
                f"Iterable {json.dumps(c['remote'], default=str)}"
            )
        for f in self.failures:
            lines.append(f"  failed {f['key']}: {f['error_message']}")
        return redact("\n".join(lines))


# -- the table --------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_table(name: str) -> str:
    return ".".join(_quote(p) for p in name.split("."))


def _is_sqlalchemy(con: Any) -> bool:
    return type(con).__module__.split(".")[0] == "sqlalchemy"


class _SACursor:
    """A DB-API cursor over a SQLAlchemy ``Connection``: each statement goes
    to the driver as written (``exec_driver_sql``)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._result: Any = None
        self.description: Any = None

    def execute(self, sql: str, params: Any = None) -> None:
        if self._result is not None:
            self._result.close()
        args = () if params is None else (params,)
        self._result = self._conn.exec_driver_sql(sql, *args)
        self.description = self._result.cursor.description if self._result.returns_rows else None

    def fetchmany(self, n: int) -> list[Any]:
        return [tuple(r) for r in self._result.fetchmany(n)]

    def fetchall(self) -> list[Any]:
        return [tuple(r) for r in self._result.fetchall()]

    def close(self) -> None:
        if self._result is not None:
            self._result.close()


class _SAConnection:
    """A SQLAlchemy ``Connection`` seen as a DB-API connection (commit as you
    go: ``commit``/``rollback`` end the transaction SQLAlchemy began)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.dialect = str(conn.dialect.name)
        self.paramstyle = str(conn.dialect.paramstyle)

    def cursor(self) -> _SACursor:
        return _SACursor(self.conn)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()


@contextlib.contextmanager
def _connection(con: Any) -> Iterator[Any]:
    """``con`` itself for a DB-API connection; for SQLAlchemy, a DB-API view
    of the ``Connection`` (an ``Engine`` lends one for the sync)."""
    if not _is_sqlalchemy(con):
        yield con
        return
    import sqlalchemy

    if isinstance(con, sqlalchemy.Engine):
        with con.connect() as conn:
            yield _SAConnection(conn)
        return
    if isinstance(con, sqlalchemy.Connection):
        if con.in_transaction():
            raise ConfigError(
                "con: the SQLAlchemy Connection has a transaction in progress; commit or roll "
                "it back first (the sync commits and rolls back its own transactions)",
                kind="invalid-config",
                field="con",
            )
        yield _SAConnection(con)
        return
    raise ConfigError(
        f"con: a SQLAlchemy {type(con).__name__} is not supported; pass an Engine or a "
        "Connection (for an ORM Session: session.get_bind())",
        kind="invalid-config",
        field="con",
    )


class _Table:
    """The local table behind a DB-API connection."""

    def __init__(
        self,
        con: Any,
        table: str,
        key: str,
        changed_at: str | None,
        columns: Mapping[str, str] | None,
    ) -> None:
        self.con = con
        self.name = table
        style: str | None
        if isinstance(con, _SAConnection):
            self.kind = "sqlalchemy"
            self.sqlite = con.dialect == "sqlite"
            style = con.paramstyle
        else:
            top = type(con).__module__.split(".")[0]
            # DuckDB's connection class lives in its extension module `_duckdb`.
            self.kind = top.lstrip("_")
            self.sqlite = self.kind == "sqlite3"
            style = next(
                (
                    getattr(sys.modules[m], "paramstyle", None)
                    for m in (self.kind, top)
                    if m in sys.modules and hasattr(sys.modules[m], "paramstyle")
                ),
                None,
            )
        if style not in ("qmark", "format", "pyformat", "numeric", "named"):
            raise ConfigError(
                f"con: cannot tell the placeholder style of a {type(con).__module__}."
                f"{type(con).__name__} (its module has no DB-API paramstyle); pass a "
                "sqlite3, duckdb or psycopg connection, or a SQLAlchemy Engine or Connection",
                kind="invalid-config",
                field="con",
            )
        self.style = style
        if not isinstance(table, str) or not table.strip():
            raise ConfigError("table: must be a table name", kind="invalid-config", field="table")
        if not isinstance(key, str) or not key:
            raise ConfigError("key: must be a column name", kind="invalid-config", field="key")
        self.qtable = _quote_table(table)
        names = self._columns()
        self.key = key
        self._need(names, key, "key")
        self.changed_at = changed_at
        if changed_at is not None:
            self._need(names, changed_at, "changed_at")
        if columns is not None:
            if not isinstance(columns, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
            ):
                raise ConfigError(
                    "columns: must map table columns to item fields ({column: field})",
                    kind="invalid-config",
                    field="columns",
                )
            for col in columns:
                self._need(names, col, "columns")
                if col in (key, changed_at):
                    raise ConfigError(
                        f"columns: {col!r} is the key or changed_at column, not content",
                        kind="invalid-config",
                        field="columns",
                    )
            fields = list(columns.values())
            if len(set(fields)) != len(fields):
                raise ConfigError(
                    "columns: two columns map to the same item field",
                    kind="invalid-config",
                    field="columns",
                )
            self.mapping = dict(columns)
        else:
            self.mapping = {c: c for c in names if c not in (key, changed_at)}
        self.by_field = {f: c for c, f in self.mapping.items()}
        self.booleans = self._sqlite_booleans()
        self.keys: dict[str, Any] = {}

    # -- SQL plumbing --

    def ph(self, i: int) -> str:
        if self.style == "qmark":
            return "?"
        if self.style in ("format", "pyformat"):
            return "%s"
        if self.style == "numeric":
            return f":{i + 1}"
        return f":p{i}"

    def params(self, values: Sequence[Any]) -> Any:
        if self.style == "named":
            return {f"p{i}": v for i, v in enumerate(values)}
        return tuple(values)

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.con.rollback()

    def _columns(self) -> list[str]:
        cur = self.con.cursor()
        try:
            cur.execute(f"SELECT * FROM {self.qtable} WHERE 1 = 0")
            names = [str(d[0]) for d in cur.description or ()]
        except Exception as e:
            self.rollback()
            raise ConfigError(
                f"table: {self.name!r} does not exist or cannot be read "
                f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''})",
                kind="invalid-config",
                field="table",
            ) from None
        finally:
            _close(cur)
        self.rollback()  # end the read transaction (psycopg opens one)
        return names

    def _sqlite_booleans(self) -> set[str]:
        """SQLite stores booleans as 0 and 1: a column declared BOOLEAN reads
        back as bool, or every sync would turn Iterable's true into 1."""
        if not self.sqlite or "." in self.name:
            return set()
        cur = self.con.cursor()
        try:
            cur.execute(f"PRAGMA table_info({self.qtable})")
            return {
                str(r[1])
                for r in cur.fetchall()
                if "BOOL" in str(r[2]).upper() and str(r[1]) in self.mapping
            }
        finally:
            _close(cur)

    def _need(self, names: list[str], col: str, what: str) -> None:
        if col in names:
            return
        close = [n for n in names if n.lower() == col.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{what}: table {self.name!r} has no column {col!r}{hint}; it has "
            + ", ".join(repr(n) for n in names),
            kind="invalid-config",
            field=what,
        )

    # -- reading --

    def rows(self) -> Iterator[list[tuple[str, dict[str, Any], int | None]]]:
        """The table's rows as ``(key, content, changed_ms)``, in chunks."""
        cols = [self.key, *self.mapping]
        if self.changed_at is not None:
            cols.append(self.changed_at)
        cur = self.con.cursor()
        try:
            cur.execute(f"SELECT {', '.join(_quote(c) for c in cols)} FROM {self.qtable}")
            while True:
                batch = cur.fetchmany(_CHUNK)
                if not batch:
                    break
                out = []
                for row in batch:
                    raw_key = row[0]
                    if raw_key is None:
                        raise InputError(
                            f"key: a row of {self.name!r} has a NULL {self.key!r}",
                            kind="invalid-input",
                            field="key",
                        )
                    k = str(raw_key)
                    self.keys[k] = raw_key
                    content = {
                        self.mapping[c]: bool(v) if c in self.booleans else _from_db(v)
                        for c, v in zip(cols[1 : 1 + len(self.mapping)], row[1:], strict=False)
                        if v is not None
                    }
                    changed = _epoch_ms(row[-1]) if self.changed_at is not None else None
                    out.append((k, content, changed))
                yield out
        finally:
            _close(cur)
            self.rollback()

    # -- writing --

    def _key_value(self, key: str) -> Any:
        if key in self.keys:
            return self.keys[key]
        if self.keys and all(
            isinstance(v, int) and not isinstance(v, bool) for v in self.keys.values()
        ):
            try:
                return int(key)
            except ValueError:
                pass
        return key

    def _begin(self, cur: Any) -> bool:
        """Opens the transaction; true when by an explicit BEGIN (then
        ended by COMMIT on the same cursor: a DuckDB cursor is a connection
        of its own)."""
        explicit = self.kind == "duckdb" or getattr(self.con, "autocommit", None) is True
        if self.kind == "sqlite3" and not explicit:
            explicit = self.con.isolation_level is None and not self.con.in_transaction
        if explicit:
            cur.execute("BEGIN TRANSACTION" if self.kind == "duckdb" else "BEGIN")
        return explicit

    def apply(self, changes: list[dict[str, Any]]) -> None:
        """Applies the core's changes in one transaction. An item field
        without a column is an error before any statement: dropping it would
        make the next sync see a local change and remove it from Iterable."""
        missing: dict[str, str] = {}
        for c in changes:
            for f in c.get("content") or {}:
                if f not in self.by_field:
                    missing.setdefault(f, c["key"])
        if missing:
            listed = ", ".join(f"{f!r} (item {k!r})" for f, k in sorted(missing.items())[:10])
            raise ConfigError(
                f"columns: Iterable's items have fields with no column in {self.name!r}: "
                f"{listed}; add the columns (or map them with columns={{column: field}}). "
                "Nothing was changed on either side",
                kind="invalid-config",
                field="columns",
            )
        cur = self.con.cursor()
        explicit = False
        try:
            explicit = self._begin(cur)
            for c in changes:
                key = c["key"]
                kv = self._key_value(key)
                where = f"{_quote(self.key)} = {{}}"
                if c["op"] == "delete":
                    sql = f"DELETE FROM {self.qtable} WHERE {where.format(self.ph(0))}"
                    cur.execute(sql, self.params([kv]))
                    self.keys.pop(key, None)
                    continue
                content = c["content"] or {}
                values = [_to_db(content.get(f)) for f in self.by_field]
                cols = list(self.by_field.values())
                if key in self.keys:
                    if cols:
                        sets = ", ".join(
                            f"{_quote(col)} = {self.ph(i)}" for i, col in enumerate(cols)
                        )
                        sql = (
                            f"UPDATE {self.qtable} SET {sets} "
                            f"WHERE {where.format(self.ph(len(cols)))}"
                        )
                        cur.execute(sql, self.params([*values, kv]))
                else:
                    names = ", ".join(_quote(col) for col in [self.key, *cols])
                    marks = ", ".join(self.ph(i) for i in range(len(cols) + 1))
                    sql = f"INSERT INTO {self.qtable} ({names}) VALUES ({marks})"
                    cur.execute(sql, self.params([kv, *values]))
                    self.keys[key] = kv
            if explicit:
                cur.execute("COMMIT")
            else:
                self.con.commit()
        except BaseException:
            if explicit:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
            else:
                self.rollback()
            raise
        finally:
            _close(cur)


def _close(cur: Any) -> None:
    with contextlib.suppress(Exception):
        cur.close()


def _from_db(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):
        raise InputError(
            "content: binary columns cannot be synced (no JSON form)",
            kind="invalid-input",
            field="columns",
        )
    # A float or NUMERIC column hands back 5.0 for the 5 it was given: whole
    # numbers are ints on both sides, or every sync would see a change.
    if isinstance(v, decimal.Decimal):
        if v.is_finite() and v == v.to_integral_value():
            return int(v)
        return float(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < _EXACT:
        return int(v)
    if isinstance(v, str) and v[:1] in ("{", "[") and v[-1:] in ("}", "]"):
        # A nested value the sync stored as JSON text (or a JSON column).
        try:
            parsed = json.loads(v)
        except ValueError:
            return v
        if isinstance(parsed, dict | list):
            return parsed
    return v


def _to_db(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return v


def _epoch_ms(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise InputError(
            "changed_at: a boolean is not a time", kind="invalid-input", field="changed_at"
        )
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        return int(v.timestamp() * 1000)
    if isinstance(v, _dt.date):
        return int(_dt.datetime(v.year, v.month, v.day, tzinfo=_dt.UTC).timestamp() * 1000)
    if isinstance(v, int | float):
        return int(v) if v > 1e11 else int(v * 1000)
    if isinstance(v, str):
        try:
            return _epoch_ms(_dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InputError(
        f"changed_at: {v!r} is not a time (datetime, ISO 8601 text or epoch seconds/ms)",
        kind="invalid-input",
        field="changed_at",
    )


# -- state -------------------------------------------------------------------


def _load_state(path: pathlib.Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"state_path: {path} is not a sync state file ({e})",
            kind="invalid-config",
            field="state_path",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"state_path: {path} does not hold a JSON object",
            kind="invalid-config",
            field="state_path",
        )
    return data


def _save_state(path: pathlib.Path, state: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True))
    os.replace(tmp, path)


# -- the driver ----------------------------------------------------------------


def sync(
    source: IterableSource,
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
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], int] = _driver.now_ms,
) -> SyncResult:
    path = pathlib.Path(state_path) if state_path is not None else None
    if state is None and path is not None:
        state = _load_state(path)
    if state is not None and not isinstance(state, Mapping):
        raise InputError(
            "state: must be the dict of a SyncResult's .state",
            kind="invalid-input",
            field="state",
        )
    options: dict[str, Any] = {
        "initial": initial,
        "policy": policy,
        "dry_run": dry_run,
    }
    if catalog is not None:
        options["catalog"] = catalog
    if medium is not None:
        options["medium"] = medium
    if confirm_timeout_ms is not None:
        options["confirm_timeout_ms"] = confirm_timeout_ms
    for name in ("catalog", "medium", "initial", "policy"):
        if name in options and not isinstance(options[name], str):
            raise InputError(f"{name}: must be a string", kind="invalid-input", field=name)
    templates = isinstance(object, str) and object.replace("_", "").lower() == "templates"

    def open_session() -> Any:
        return _native.SyncSession(
            source._config_json,
            object,
            json.dumps(options),
            json.dumps(dict(state)) if state is not None else None,
        )

    result = SyncResult(
        catalog,
        table,
        copy.deepcopy(dict(state)) if state is not None else None,
        medium=(medium or "Email") if templates else None,
    )
    if not templates:
        # The options and the state are checked (by the core) before the
        # table is touched, and the table before anything is written.
        session = open_session()
    with _connection(con) as dbapi:
        local = _Table(dbapi, table, key, changed_at, columns)
        if templates:
            # Templates sync the fields the table holds: the table is read
            # (not written) first to name them.
            options["fields"] = list(local.mapping.values())
            session = open_session()
        return _run(session, local, source, result, path, sleep, clock)


def _run(
    session: _native.SyncSession,
    local: _Table,
    source: IterableSource,
    result: SyncResult,
    path: pathlib.Path | None,
    sleep: Callable[[float], None],
    clock: Callable[[], int],
) -> SyncResult:
    transport, secret, timeout = source.transport, source._key, source.timeout
    while True:
        match session.poll(clock()):
            case _native.Fetch(request=req):
                for _ in _driver.fetch(session, transport, req, secret, timeout, None, clock):
                    pass
            case _native.NeedLocal():
                for chunk in local.rows():
                    session.push_local(chunk)
                session.finish_local()
            case _native.ApplyLocal() as action:
                local.apply(action.changes)
            case _native.SyncCommit(state=st):
                result._state = dict(st)
                if path is not None:
                    _save_state(path, st)
            case _native.Sleep(until_ms=until):
                delay = until - clock()
                if delay > 0:
                    sleep(delay / 1000.0)
            case _native.Log() as action:
                logger.log(_driver._LEVELS.get(action.level, logging.INFO), "%s", action.message)
            case _native.SyncDone(summary=summary):
                result._summary = summary.as_dict()
                return result
            case _native.Await():
                raise IterableConnectorError(
                    "internal: the core awaits a response but none is in flight", kind="internal"
                )
            case other:  # pragma: no cover - a newer core than this driver
                raise IterableConnectorError(
                    f"internal: unknown action {type(other).__name__}", kind="internal"
                )
