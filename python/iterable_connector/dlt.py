"""A dlt source: one resource per Iterable stream, and a dlt destination
writing to Iterable (``pip install dlt``).

>>> import dlt
>>> from iterable_connector.dlt import iterable_source
>>> pipeline = dlt.pipeline("iterable", destination="duckdb", dataset_name="iterable")
>>> pipeline.run(iterable_source(streams=["email_send", "campaigns"], start_date="2024-01-01"))

Primary keys and write dispositions come from the catalog: ``merge`` for
incremental streams with a primary key, ``append`` for incremental streams
without one, ``replace`` for full-refresh streams. The connector's own state
for each stream lives in that resource's dlt state, so the next run reads
only what is new. The API key comes from ``dlt.secrets`` (``sources.iterable.api_key``)
unless passed.

:func:`iterable_destination` is the other way: any dlt pipeline loads into
Iterable (reverse ETL), each row through ``IterableSource.write``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import dlt
from dlt.sources import DltResource

from . import _native
from .source import IterableSource, StreamInfo

__all__ = ["column_hints", "iterable_destination", "iterable_source"]

logger = logging.getLogger("iterable_connector")

_STATE_KEY = "connector_state"


def _data_type(prop: dict[str, Any]) -> str:
    t = prop.get("type")
    types = [x for x in ([t] if isinstance(t, str) else list(t or [])) if x != "null"]
    if types == ["string"]:
        return "timestamp" if prop.get("format") == "date-time" else "text"
    return {"integer": "bigint", "number": "double", "boolean": "bool"}.get(
        types[0] if len(types) == 1 else "", "json"
    )


def column_hints(info: StreamInfo) -> dict[str, dict[str, Any]]:
    """dlt column hints from a stream's JSON schema."""
    props = info.json_schema.get("properties", {})
    return {
        name: {
            "name": name,
            "data_type": _data_type(prop),
            "nullable": name not in info.primary_key,
        }
        for name, prop in props.items()
    }


def _disposition(info: StreamInfo, incremental: bool) -> Literal["append", "replace", "merge"]:
    if not incremental:
        return "replace"
    return "merge" if info.primary_key else "append"


def _records(source: IterableSource, info: StreamInfo, incremental: bool) -> Iterator[Any]:
    state = dlt.current.resource_state()
    saved = state.get(_STATE_KEY) if incremental else None
    reader = source.read(
        info.name,
        state={info.name: saved} if saved else None,
        incremental=incremental,
    )
    for batch in reader.iter_batches():
        yield batch.to_pylist()
        current = reader.state.get(info.name)
        if current is not None and incremental:
            state[_STATE_KEY] = current
    current = reader.state.get(info.name)
    if current is not None and incremental:
        state[_STATE_KEY] = current


def _resource(source: IterableSource, info: StreamInfo, incremental: bool) -> DltResource:
    hints: Any = column_hints(info)
    resource: DltResource = dlt.resource(
        _records(source, info, incremental),
        name=info.name,
        primary_key=info.primary_key or (),
        write_disposition=_disposition(info, incremental),
        columns=hints,
    )
    return resource


@dlt.source(name="iterable", max_table_nesting=0)
def iterable_source(
    api_key: str = dlt.secrets.value,
    streams: Sequence[str] | None = None,
    region: str = "US",
    start_date: str | None = None,
    end_date: str | None = None,
    base_url: str | None = None,
    incremental: bool = True,
    config: dict[str, Any] | None = None,
) -> Any:
    """Iterable as a dlt source. ``streams``: names to load (default: every
    stream that needs no per-user filter). ``config``: other connector keys
    (``window_days``, ``user_key``, ``email``, ``list_ids``, ...) and
    :class:`IterableSource`'s Python options (``transport``, ``progress``,
    ``timeout``). ``python -m iterable_connector replicate`` runs this source
    into a database without code."""
    src = IterableSource(
        api_key=api_key,
        region=region,
        start_date=start_date,
        end_date=end_date,
        base_url=base_url,
        **(config or {}),
    )
    infos = {s.name: s for s in src.streams()}
    names = (
        list(streams) if streams else [n for n, s in infos.items() if not s.requires_user_filter]
    )
    for name in names:
        src.stream(name)  # raises ConfigError for unknown names
    return [
        _resource(src, infos[name], incremental and infos[name].supports_incremental)
        for name in names
    ]


# -- the destination: any dlt pipeline loads into Iterable ---------------------


def iterable_destination(
    object: str,
    op: str = "insert",
    *,
    source: IterableSource | Mapping[str, Any] | None = None,
    on_failed: Literal["raise", "log"] = "raise",
    items_per_call: int = 1000,
    name: str = "iterable",
    **options: Any,
) -> Any:
    """A dlt destination writing every table's rows to ``object`` with ``op``
    through :meth:`IterableSource.write`.

    >>> pipeline = dlt.pipeline("to_iterable", destination=iterable_destination(
    ...     "users", "upsert", source=IterableSource(api_key="...")))
    >>> pipeline.run(rows, table_name="users")

    ``source``: an :class:`IterableSource`, or the keyword arguments to make
    one (``api_key``, ``region``, ``base_url``, ...). ``options``: write
    options (``catalog``, ``list_id``, ``bulk``, ...). Column names reach
    Iterable unchanged (the ``direct`` naming convention; ``eventName`` stays
    ``eventName``) and nested dicts stay nested (no child tables); dlt's own
    ``_dlt_*`` columns are dropped.

    dlt calls the destination with ``items_per_call`` rows at a time and
    records each finished call, so a job that fails resumes at the call that
    failed. A call never leaves a row behind silently:

    * rows that end ``unknown`` (a request that may have been applied and is
      not safe to repeat) always fail the job with a terminal error listing
      them: dlt does not retry it, so nothing can be applied twice;
    * rows that end ``failed`` (a bad row, or Iterable's refusal) fail the job
      the same way with ``on_failed="raise"`` (the default), or are logged as
      warnings and skipped with ``on_failed="log"``. Retrying would not help
      a row that failed, and would re-send the rows of the call that
      succeeded.
    """
    from dlt.common.destination.exceptions import DestinationTerminalException

    from .errors import IterableConnectorError, WriteError

    if on_failed not in ("raise", "log"):
        raise ValueError(f'on_failed must be "raise" or "log", not {on_failed!r}')
    if source is None:
        raise TypeError("iterable_destination needs source= (an IterableSource or its config)")
    src = source if isinstance(source, IterableSource) else IterableSource(**dict(source))
    # Fails now, not at load time, on an unknown object, op or option.
    _native.WriteSession(src._config_json, object, op, json.dumps(options))

    def sink(items: Any, table: Any) -> None:
        rows = ({k: v for k, v in item.items() if not k.startswith("_dlt_")} for item in items)
        try:
            result = src.write(object, rows, op, progress=False, **options)
        except IterableConnectorError as e:
            raise DestinationTerminalException(str(e)) from e
        if result.unknown or (result.failed and on_failed == "raise"):
            try:
                result.raise_for_failures()
            except WriteError as e:
                raise DestinationTerminalException(f"table {table.get('name')}: {e}") from e
        for r in result.failed:
            logger.warning(
                "%s %s: table %s row %d failed: %s",
                result.object,
                result.op,
                table.get("name"),
                r.row,
                r.error_message,
            )

    sink.__name__ = name
    factory = dlt.destination(
        batch_size=items_per_call,
        loader_file_format="typed-jsonl",
        name=name,
        naming_convention="direct",
        skip_dlt_columns_and_tables=True,
        max_table_nesting=0,
    )(sink)
    return factory()
