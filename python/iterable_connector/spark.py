"""Apache Spark 4 Python Data Source ``iterable`` (``pip install "iterable-connector[spark]"``).

>>> from iterable_connector.spark import register
>>> register(spark)
>>> df = (spark.read.format("iterable").option("api_key", key)
...       .option("stream", "email_send").option("start_date", "2025-01-01").load())
>>> (users_df.write.format("iterable").option("api_key", key)
...       .option("object", "users").option("op", "upsert").mode("append").save())

How a read is split (the design is in ``docs/architecture.md``): Iterable's
budgets are per project — ``export/data.json`` allows 4 requests a minute for
every data type together — so time windows read by several executors would
only fight over one budget. Instead the driver (``partitions()``) runs the
core's coordinator session: it starts async export jobs, polls them and lists
their files, the only requests that cost budget, all paced in one process.
Every file becomes a work unit; units are dealt round-robin into at most
``max_partitions`` partitions, and each executor (``read()``) downloads its
files from pre-signed URLs — no key, no budget — and parses them with the
same core code as a single-process read, yielding Arrow record batches.
Streams that are not exports (campaigns, lists, catalog items, ...) are one
unit each, read with the key by one executor.

Options (all strings, as Spark passes them):

- ``api_key``, or ``api_key_file`` (the path, on the driver, of a file
  holding the key: a mounted Kubernetes/Docker/Vault secret), or the
  ``ITERABLE_API_KEY`` environment variable on the driver: never logged,
  never in a partition's repr, scrubbed from errors.
- read: ``stream`` (required), ``max_partitions`` (default 64), ``state``
  (JSON of a previous ``planned_state``: read only what came after it);
  every other option is a connector config key (``start_date``,
  ``end_date``, ``region``, ``base_url``, ``lookback_minutes``,
  ``window_days``, ``email``, ``list_ids``, ``max_retries``, ...), with
  numbers, booleans and lists given as JSON text.
- write: ``object`` and ``op`` (as :meth:`IterableSource.write`),
  ``failures_path`` (a file on the driver where every row that did not end
  ``ok`` is written as JSON lines; without it the job fails at commit when
  any row failed, after every row was tried), plus the write options
  ``catalog``, ``list_id``, ``medium``, ``bulk``, ``batch_size``,
  ``merge_nested_objects``; and ``budget_split`` = the number of write tasks
  running at once (executor cores in all): each task's session then keeps to
  its share of every rate limit, so together they stay within the project's.
  Reads need no such option: each partition carries its share (1/number of
  partitions) for the calls that spend budget.

Filters pushed down (``pushFilters``) with option ``pushdown`` = ``true`` and
``spark.sql.python.filterPushdown.enabled`` = ``true`` (Spark refuses a
reader with ``pushFilters`` while that setting is off, its default): ``createdAt >= t`` and
``createdAt < t`` narrow an export stream's window (exact, so Spark does not
evaluate them again); ``createdAt > t`` / ``<= t`` narrow it too and stay
with Spark; ``email = x`` on a stream that needs a user filter
(``user_events``, ...) becomes the ``email`` setting.

The schema comes from the catalog: timestamps are ``TimestampType``, nested
objects and arrays JSON strings; the last column, ``_extra``, holds the fields
a record has beyond its stream's schema (e.g. a metrics CSV's columns) as a
JSON object, null when there are none.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _driver, _native
from .errors import ConfigError, WriteError, _register_secret
from .transport import DEFAULT_TIMEOUT, NativeTransport

try:
    from pyspark.sql.datasource import (
        DataSource,
        DataSourceReader,
        DataSourceStreamReader,
        DataSourceWriter,
        EqualTo,
        Filter,
        GreaterThan,
        GreaterThanOrEqual,
        InputPartition,
        LessThan,
        LessThanOrEqual,
        WriterCommitMessage,
    )
    from pyspark.sql.types import (
        BooleanType,
        DataType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )
except ImportError as e:  # pragma: no cover - only without the extra
    raise ImportError(
        'iterable_connector.spark needs pyspark 4: pip install "iterable-connector[spark]"'
    ) from e

if TYPE_CHECKING:
    import pyarrow
    from pyspark.sql import Row, SparkSession

__all__ = ["IterableDataSource", "register"]

#: Partitions of a read at most, unless the ``max_partitions`` option says otherwise.
DEFAULT_MAX_PARTITIONS = 64
#: Rows per Arrow batch handed to Spark at most.
BATCH_ROWS = 10_000
_KEY_ENV = "ITERABLE_API_KEY"
_READ_OPTIONS = {
    "api_key",
    "api_key_file",
    "stream",
    "max_partitions",
    "state",
    "timeout",
    "pushdown",
}
_WRITE_ONLY = {"object", "op", "failures_path"}
_WRITE_OPTIONS = {"catalog", "list_id", "medium", "bulk", "batch_size", "merge_nested_objects"}


def register(spark: SparkSession) -> None:
    """Registers the ``iterable`` format with ``spark``."""
    spark.dataSource.register(IterableDataSource)


class _Key:
    """The API key on its way to executors: picklable (Spark ships the reader
    and writer to them), but shown as ``***`` everywhere."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def secret(self) -> _driver.Secret:
        _register_secret(self._value)
        return _driver.Secret(self._value)

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __getstate__(self) -> str:
        return self._value

    def __setstate__(self, state: str) -> None:
        self._value = state


def _option_value(text: str) -> Any:
    """An option string as a config value: JSON numbers, booleans and lists
    as such, anything else as the string."""
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return v if isinstance(v, int | float | bool | list) else text


def _int_option(options: Mapping[str, str], name: str, default: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"option {name!r}: must be a positive whole number, got {raw!r}",
            kind="invalid-config",
            field=name,
        )
    return value


@dataclass
class _Settings:
    """The options of one read or write, validated on the driver."""

    key: _Key = field(repr=False)
    config: dict[str, Any]
    timeout: float

    @property
    def config_json(self) -> str:
        return json.dumps(self.config)


def _api_key(opts: Mapping[str, str]) -> str:
    """The key from the ``api_key`` option, the file ``api_key_file`` names
    (a mounted secret: Kubernetes ``spark.kubernetes.driver.secrets.*``, Docker
    or Vault agents write one), or ``ITERABLE_API_KEY``, in that order."""
    if "api_key" in opts and "api_key_file" in opts:
        raise ConfigError(
            "options 'api_key' and 'api_key_file' are both set; keep one of them",
            kind="invalid-config",
            field="api_key_file",
        )
    if "api_key_file" in opts:
        path = opts["api_key_file"]
        try:
            with open(path, encoding="utf-8") as f:
                # A secret file often ends with a newline; nothing else is trimmed.
                key = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
            raise ConfigError(
                f"option 'api_key_file': cannot read {path!r} on the driver ({reason}); "
                "give the path of a file holding only the API key",
                kind="invalid-config",
                field="api_key_file",
            ) from None
        if not key:
            raise ConfigError(
                f"option 'api_key_file': {path!r} is empty; it must hold the API key",
                kind="invalid-config",
                field="api_key_file",
            )
        return key
    given = opts.get("api_key") or os.environ.get(_KEY_ENV)
    if not given:
        raise ConfigError(
            "option 'api_key': is missing; pass .option(\"api_key\", ...), "
            '.option("api_key_file", path) or set '
            f"{_KEY_ENV} on the driver (create a server-side key in Iterable)",
            kind="invalid-config",
            field="api_key",
        )
    return given


def _settings(options: Mapping[str, str], spark_only: set[str]) -> _Settings:
    opts = {str(k).lower(): str(v) for k, v in options.items()}
    key = _api_key(opts)
    _register_secret(key)
    config = {k: _option_value(v) for k, v in opts.items() if k not in spark_only}
    for name in ("start_date", "end_date", "base_url", "region", "email", "user_id"):
        if name in opts:
            config[name] = opts[name]  # strings even when they look like JSON
    try:
        _native.validate_config(json.dumps(config))
    except ConfigError as e:
        raise ConfigError(
            f"option {e.field!r}: {e}" if e.field else str(e), kind=e.kind, field=e.field
        ) from None
    try:
        timeout = float(opts.get("timeout", DEFAULT_TIMEOUT))
    except ValueError:
        timeout = 0.0
    if not timeout > 0:
        raise ConfigError(
            f"option 'timeout': must be a positive number of seconds, got {opts['timeout']!r}",
            kind="invalid-config",
            field="timeout",
        )
    return _Settings(key=_Key(key), config=config, timeout=timeout)


def _state_option(options: Mapping[str, str]) -> str | None:
    state = options.get("state")
    if not state:
        return None
    try:
        parsed = json.loads(state)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ConfigError(
            "option 'state': must be a JSON object (the planned_state of a previous read)",
            kind="invalid-config",
            field="state",
        )
    return json.dumps(parsed, sort_keys=True)


def _stream_info(config_json: str, stream: str) -> dict[str, Any]:
    for d in _native.discover(config_json):
        if d["name"] == stream:
            return dict(d)
    names = ", ".join(sorted(str(d["name"]) for d in _native.discover(config_json)))
    raise ConfigError(
        f"option 'stream': unknown stream {stream!r}; one of: {names}",
        kind="invalid-config",
        field="stream",
    )


def _spark_type(prop: Mapping[str, Any]) -> DataType:
    """Mirrors the Arrow builder's typing (``python/src/arrow.rs``)."""
    t = prop.get("type")
    types = [t] if isinstance(t, str) else [x for x in (t or []) if isinstance(x, str)]
    types = [x for x in types if x != "null"]
    if types == ["string"]:
        return TimestampType() if prop.get("format") == "date-time" else StringType()
    if types == ["integer"]:
        return LongType()
    if types == ["number"]:
        return DoubleType()
    if types == ["boolean"]:
        return BooleanType()
    return StringType()  # objects, arrays, mixed: JSON text


#: The last column: a record's fields beyond its stream's schema, as a JSON object.
EXTRA_COLUMN = "_extra"


def spark_schema(json_schema: Mapping[str, Any]) -> StructType:
    """A stream's Spark schema from its JSON schema, plus :data:`EXTRA_COLUMN`."""
    props = json_schema.get("properties") or {}
    fields = [StructField(n, _spark_type(p), True) for n, p in props.items()]
    if EXTRA_COLUMN not in props:
        fields.append(StructField(EXTRA_COLUMN, StringType(), True))
    return StructType(fields)


def _arrow_schema(schema: StructType) -> pyarrow.Schema:
    import pyarrow as pa

    def arrow(t: DataType) -> pyarrow.DataType:
        if isinstance(t, TimestampType):
            return pa.timestamp("us", tz="UTC")
        if isinstance(t, LongType):
            return pa.int64()
        if isinstance(t, DoubleType):
            return pa.float64()
        if isinstance(t, BooleanType):
            return pa.bool_()
        return pa.string()

    return pa.schema([pa.field(f.name, arrow(f.dataType), True) for f in schema.fields])


class IterablePartition(InputPartition):
    """Work units (JSON text from the core's planner) for one executor task,
    and its share of the project's rate budget: ``share`` partitions may run
    at once, so each paces its budgeted calls (a stream unit's reads, an
    expired URL's refresh listing) to 1/``share`` of every limit. Its repr
    shows file names only: download URLs stay out of logs."""

    def __init__(self, index: int, units: list[str], share: int = 1) -> None:
        super().__init__(index)
        self.index = index
        self.units = units
        self.share = share

    def __repr__(self) -> str:
        names = []
        for u in self.units:
            d = json.loads(u)
            names.append(d.get("file") or d.get("stream", "?"))
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        return f"IterablePartition(index={self.index}, units={len(self.units)}: {shown})"


def _as_utc(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        # PySpark hands TimestampType values over as naive local times, which
        # astimezone() reads as local time.
        t: _dt.datetime = value.astimezone(_dt.UTC)
        return t
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
    return None


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")


class IterableReader(DataSourceReader):
    """Plans on the driver, reads work units on executors (see the module docs)."""

    def __init__(
        self,
        settings: _Settings,
        stream: str,
        info: dict[str, Any],
        options: Mapping[str, str],
        schema: StructType,
    ) -> None:
        self._settings = settings
        self._stream = stream
        self._info = info
        self._schema = schema
        self._max_partitions = _int_option(options, "max_partitions", DEFAULT_MAX_PARTITIONS)
        self._state_json = _state_option(options)
        #: The state to keep once every partition was read (set by ``partitions``).
        self.planned_state: dict[str, Any] | None = None

    # (pushFilters is on IterablePushdownReader: Spark refuses a reader that
    # implements it while spark.sql.python.filterPushdown.enabled is off.)

    def _push(self, filters: list[Filter]) -> Iterator[Filter]:
        cfg = self._settings.config
        # Export event streams (the ones with the synthetic `_key`) are
        # windowed on createdAt: a range narrows the export jobs' window.
        props = self._info.get("json_schema", {}).get("properties", {})
        windowed = self._info.get("cursor_field") == "createdAt" and "_key" in props
        for f in filters:
            attr = getattr(f, "attribute", ())
            if attr == ("createdAt",) and windowed:
                t = _as_utc(getattr(f, "value", None))
                if t is not None and isinstance(f, GreaterThanOrEqual | GreaterThan):
                    if "start_date" not in cfg or t > _dt.datetime.fromisoformat(
                        str(cfg["start_date"]).replace("Z", "+00:00")
                    ).astimezone(_dt.UTC):
                        cfg["start_date"] = _iso(t)
                    if isinstance(f, GreaterThanOrEqual):
                        continue  # exact: the window starts there
                elif t is not None and isinstance(f, LessThan | LessThanOrEqual):
                    end = t if isinstance(f, LessThan) else t + _dt.timedelta(seconds=1)
                    cfg["end_date"] = _iso(end)
                    if isinstance(f, LessThan):
                        continue  # exact: the window ends there, exclusive
            elif (
                attr == ("email",)
                and isinstance(f, EqualTo)
                and self._info.get("requires_user_filter")
                and isinstance(f.value, str)
            ):
                cfg["email"] = f.value
            yield f

    def partitions(self) -> list[InputPartition]:
        """Runs the core's coordinator session on the driver."""
        units, self.planned_state = _plan(
            self._settings, self._stream, self._state_json, self._settings.config
        )
        return _partitions(units, self._max_partitions)

    def read(self, partition: InputPartition) -> Iterator[pyarrow.RecordBatch]:
        """Reads the partition's units on an executor, as Arrow batches."""
        assert isinstance(partition, IterablePartition)
        return _read_units(
            self._settings, self._info, self._schema, partition.units, partition.share
        )


def _plan(
    s: _Settings, stream: str, state_json: str | None, config: Mapping[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The coordinator session on the driver: work units (JSON text) and the
    state to keep once all of them were read."""
    session = _native.Session.plan(json.dumps(dict(config)), [(stream, True)], state_json)
    for _ in _driver.drive(session, NativeTransport(), s.key.secret(), timeout=s.timeout):
        pass  # a coordinator emits no rows; Done ends the loop
    return session.take_units(), json.loads(session.planned_state())


def _partitions(units: list[str], max_partitions: int) -> list[InputPartition]:
    """Units dealt round-robin into at most ``max_partitions`` partitions."""
    n = max(1, min(len(units), max_partitions))
    groups: list[list[str]] = [[] for _ in range(n)]
    for i, u in enumerate(units):
        groups[i % n].append(u)
    return [IterablePartition(i, g, share=n) for i, g in enumerate(groups)]


def _unit_config(s: _Settings, share: int) -> str:
    """The config a partition's sessions run with: 1/``share`` of every
    rate limit (or less, if ``budget_split`` asks for more sharing)."""
    config = dict(s.config)
    config["budget_split"] = max(share, int(config.get("budget_split") or 1))
    return json.dumps(config)


def _read_units(
    s: _Settings,
    info: Mapping[str, Any],
    schema: StructType,
    units: list[str],
    share: int = 1,
) -> Iterator[pyarrow.RecordBatch]:
    """Reads units on an executor, as Arrow batches of ``schema``, within
    ``1/share`` of the project's rate budget (the partition's share)."""
    import pyarrow as pa

    key = s.key.secret()
    target = _arrow_schema(schema)
    names = target.names
    schema_json = json.dumps(info["json_schema"])
    transport = NativeTransport()

    props = info["json_schema"].get("properties") or {}
    # Fields outside the schema are folded into one JSON column in Rust.
    extra = EXTRA_COLUMN if EXTRA_COLUMN in names and EXTRA_COLUMN not in props else None

    def convert(b: _native.ArrowBatch) -> pyarrow.RecordBatch:
        batch = pa.record_batch(b)
        cols = [
            batch.column(n).cast(target.field(n).type)
            if n in batch.schema.names
            else pa.nulls(batch.num_rows, target.field(n).type)
            for n in names
        ]
        return pa.RecordBatch.from_arrays(cols, schema=target)

    config_json = _unit_config(s, share)
    for unit in units:
        session = _native.Session.for_unit(config_json, unit)
        # Downloads go to pre-signed URLs without the key (the core marks them
        # so); the key serves only a stream unit, or the one listing that
        # refreshes an expired URL.
        builder = _native.ArrowBuilder(schema_json, extra)
        for action in _driver.drive(session, transport, key, timeout=s.timeout):
            if isinstance(action, _native.Emit):
                builder.append(action.batch)
                if builder.num_rows >= BATCH_ROWS:
                    yield convert(builder.flush_batch())
        if builder.num_rows:
            yield convert(builder.flush_batch())


class IterableStreamReader(DataSourceStreamReader):
    """``spark.readStream.format("iterable")``: incremental ingestion of an
    export stream. The offset is the connector's state: each micro-batch
    plans the export jobs from the previous batch's end state up to now
    (minus ``lookback_minutes``) and reads their files in parallel, like a
    batch read. Spark checkpoints the offsets, so a restarted query goes on
    where the last committed batch ended — an incremental read from saved
    state, with ``trigger(availableNow=True)`` for scheduled jobs. Option
    ``state``: where a new query starts (a previous ``planned_state``)."""

    def __init__(
        self,
        settings: _Settings,
        stream: str,
        info: dict[str, Any],
        options: Mapping[str, str],
        schema: StructType,
    ) -> None:
        self._settings = settings
        self._stream = stream
        self._info = info
        self._schema = schema
        self._max_partitions = _int_option(options, "max_partitions", DEFAULT_MAX_PARTITIONS)
        self._initial = _state_option(options) or "{}"
        # Units planned by latestOffset, by their end offset's state.
        self._planned: dict[str, list[str]] = {}

    def initialOffset(self) -> dict[str, str]:
        return {"state": self._initial}

    def latestOffset(self, start: dict[str, str], limit: Any = None) -> dict[str, str]:
        units, planned = _plan(self._settings, self._stream, start["state"], self._settings.config)
        if any(json.loads(u).get("kind") != "export_file" for u in units):
            raise ConfigError(
                f"option 'stream': {self._stream!r} is not an export stream; streaming reads "
                "take export streams (events, users) — read it with spark.read",
                kind="invalid-config",
                field="stream",
            )
        end = json.dumps(planned, sort_keys=True)
        if not units and end == start["state"]:
            return start
        self._planned[end] = units
        return {"state": end}

    def partitions(self, start: dict[str, str], end: dict[str, str]) -> list[InputPartition]:
        units = self._planned.pop(end["state"], None)
        if units is None:
            # Restarted between planning and reading this batch: plan the
            # same window again (from start's state up to end's).
            planned = json.loads(end["state"]).get(self._stream) or {}
            config = dict(self._settings.config)
            if planned.get("next_start"):
                config["end_date"] = planned["next_start"]
            units, _ = _plan(self._settings, self._stream, start["state"], config)
        return _partitions(units, self._max_partitions)

    def read(self, partition: InputPartition) -> Iterator[pyarrow.RecordBatch]:
        assert isinstance(partition, IterablePartition)
        return _read_units(
            self._settings, self._info, self._schema, partition.units, partition.share
        )

    def commit(self, end: dict[str, str]) -> None:
        # Spark has checkpointed `end`; nothing of ours to keep.
        self._planned.pop(end["state"], None)


class IterablePushdownReader(IterableReader):
    """The reader with ``pushFilters`` (option ``pushdown`` = ``true``; Spark
    also needs ``spark.sql.python.filterPushdown.enabled`` = ``true``)."""

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:
        return self._push(filters)


@dataclass
class IterableCommitMessage(WriterCommitMessage):
    """One write task's outcome: totals and every row that did not end ``ok``
    (``partition``, ``row`` within the partition, status, error)."""

    partition: int
    rows: int
    ok: int
    failed: int
    unknown: int
    problems: list[dict[str, Any]]


class IterableWriter(DataSourceWriter):
    """Runs the core's write session per partition; reports per-row outcomes."""

    def __init__(self, settings: _Settings, options: Mapping[str, str]) -> None:
        self._settings = settings
        opts = {str(k).lower(): str(v) for k, v in options.items()}
        obj = opts.get("object")
        if not obj:
            raise ConfigError(
                'option \'object\': is missing; e.g. .option("object", "users") '
                "(users, events, catalog_items, lists, list_users, ...)",
                kind="invalid-config",
                field="object",
            )
        self._object = obj
        self._op = opts.get("op", "insert")
        self._failures_path = opts.get("failures_path")
        self._write_options: dict[str, Any] = {
            k: _option_value(v) if k != "catalog" else v
            for k, v in opts.items()
            if k in _WRITE_OPTIONS
        }
        #: Totals of the last commit (rows, ok, failed, unknown).
        self.summary: dict[str, int] | None = None

    def write(self, iterator: Iterator[Row]) -> IterableCommitMessage:
        from pyspark import TaskContext

        from .source import IterableSource

        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        s = self._settings
        src = IterableSource(api_key=s.key.secret().reveal(), timeout=s.timeout, **s.config)

        def rows() -> Iterator[dict[str, Any]]:
            for row in iterator:
                # As for DataFrames: a null leaves the field out.
                yield {k: v for k, v in row.asDict(recursive=True).items() if v is not None}

        result = src.write(self._object, rows(), self._op, **self._write_options)
        problems = [{"partition": part, **r.as_dict()} for r in result.rows if r.status != "ok"]
        return IterableCommitMessage(
            partition=part,
            rows=len(result),
            ok=len(result.ok),
            failed=len(result.failed),
            unknown=len(result.unknown),
            problems=problems,
        )

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        msgs = [m for m in messages if isinstance(m, IterableCommitMessage)]
        self.summary = {
            "rows": sum(m.rows for m in msgs),
            "ok": sum(m.ok for m in msgs),
            "failed": sum(m.failed for m in msgs),
            "unknown": sum(m.unknown for m in msgs),
        }
        problems = [p for m in sorted(msgs, key=lambda m: m.partition) for p in m.problems]
        if self._failures_path:
            with open(self._failures_path, "w", encoding="utf-8") as f:
                for p in problems:
                    f.write(json.dumps(p, default=str) + "\n")
            return
        if problems:
            first = "; ".join(
                f"partition {p['partition']} row {p['row']}: {p.get('error_message')}"
                for p in problems[:5]
            )
            raise WriteError(
                f"{len(problems)} of {self.summary['rows']} rows did not end ok "
                f"({self.summary['failed']} failed, {self.summary['unknown']} unknown): {first}"
                " — every other row was written; set option 'failures_path' to keep "
                "the failures in a file instead of failing the job",
                kind="invalid-input",
            )


class IterableDataSource(DataSource):
    """The ``iterable`` format (see the module docs for options)."""

    @classmethod
    def name(cls) -> str:
        return "iterable"

    def _read_settings(self) -> tuple[_Settings, str, dict[str, Any]]:
        settings = _settings(self.options, _READ_OPTIONS | _WRITE_ONLY)
        stream = self.options.get("stream")
        if not stream:
            raise ConfigError(
                'option \'stream\': is missing; e.g. .option("stream", "email_send")',
                kind="invalid-config",
                field="stream",
            )
        return settings, stream, _stream_info(settings.config_json, stream)

    def schema(self) -> StructType:
        _, _, info = self._read_settings()
        return spark_schema(info["json_schema"])

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        settings, stream, info = self._read_settings()
        return IterableStreamReader(settings, stream, info, self.options, schema)

    def reader(self, schema: StructType) -> DataSourceReader:
        settings, stream, info = self._read_settings()
        pushdown = str(self.options.get("pushdown", "false")).lower()
        if pushdown not in ("true", "false"):
            raise ConfigError(
                f"option 'pushdown': must be true or false, got {pushdown!r}",
                kind="invalid-config",
                field="pushdown",
            )
        cls = IterablePushdownReader if pushdown == "true" else IterableReader
        return cls(settings, stream, info, self.options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        if overwrite:
            raise ConfigError(
                "mode: overwrite is not supported (Iterable has no truncate); use "
                'mode("append") with op "upsert" or "insert"',
                kind="invalid-config",
                field="mode",
            )
        settings = _settings(self.options, _READ_OPTIONS | _WRITE_ONLY | _WRITE_OPTIONS)
        return IterableWriter(settings, self.options)
