"""A dlt source: one resource per Iterable stream (``pip install dlt``).

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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import dlt
from dlt.sources import DltResource

from .source import IterableSource, StreamInfo

__all__ = ["column_hints", "iterable_source"]

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
    (``window_days``, ``user_key``, ``email``, ``list_ids``, ...)."""
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
