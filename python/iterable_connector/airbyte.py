"""The Airbyte protocol over stdout: ``python -m iterable_connector spec|check|discover|read``.

One JSON message per line: SPEC, CONNECTION_STATUS, CATALOG, RECORD, STATE
(per stream, after the records it covers), LOG and TRACE (errors).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from . import _native
from .errors import ConfigError, IterableConnectorError, redact
from .source import IterableSource

__all__ = ["main"]

_LOG_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}


class Emitter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def __call__(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, separators=(",", ":"), default=str) + "\n")

    def log(self, level: str, message: str) -> None:
        self({"type": "LOG", "log": {"level": level, "message": redact(message)}})

    def error_trace(self, e: BaseException) -> None:
        if isinstance(e, ConfigError):
            failure = "config_error"
        elif isinstance(e, IterableConnectorError) and e.retryable:
            failure = "transient_error"
        else:
            failure = "system_error"
        message = redact(str(e))
        trace: dict[str, Any] = {
            "type": "ERROR",
            "emitted_at": time.time() * 1000,
            "error": {
                "message": message,
                "internal_message": f"{type(e).__name__}: {message}",
                "failure_type": failure,
            },
        }
        if isinstance(e, IterableConnectorError) and e.stream:
            trace["error"]["stream_descriptor"] = {"name": e.stream}
        self({"type": "TRACE", "trace": trace})


class _LogHandler(logging.Handler):
    def __init__(self, emit: Emitter) -> None:
        super().__init__(logging.INFO)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        level = _LOG_LEVELS.get(record.levelno, "INFO")
        self._emit.log(level, record.getMessage())


def _load(path: str | None, what: str) -> Any:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{what}: cannot read {path}: {type(e).__name__}", kind="invalid-config", field=what
        ) from None


def _source(config: Any) -> IterableSource:
    if not isinstance(config, dict):
        raise ConfigError("config: must be a JSON object", kind="invalid-config", field="config")
    cfg = dict(config)
    for key in ("transport", "progress"):
        if key in cfg:
            raise ConfigError(
                f"config field {key}: is a Python option, not one of a JSON config; remove it",
                kind="invalid-config",
                field=key,
            )
    timeout = cfg.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise ConfigError(
            "config field timeout: must be a positive number of seconds",
            kind="invalid-config",
            field="timeout",
        )
    return IterableSource(api_key=cfg.pop("api_key", None), **cfg)


def spec_message() -> dict[str, Any]:
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": "https://api.iterable.com/api/docs",
            "connectionSpecification": _native.spec(),
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


def catalog_message(src: IterableSource) -> dict[str, Any]:
    streams = []
    for s in src.streams():
        entry: dict[str, Any] = {
            "name": s.name,
            "json_schema": s.json_schema,
            "supported_sync_modes": s.sync_modes,
            "source_defined_primary_key": [[k] for k in s.primary_key],
        }
        if s.cursor_field:
            entry["source_defined_cursor"] = True
            entry["default_cursor_field"] = [s.cursor_field]
        streams.append(entry)
    return {"type": "CATALOG", "catalog": {"streams": streams}}


def _bad_state(why: str) -> ConfigError:
    return ConfigError(
        f"state: {why}; give the list of Airbyte STATE messages the last read emitted "
        "(STREAM, GLOBAL or LEGACY), or an object of stream name to state",
        kind="invalid-config",
        field="state",
    )


def _stream_state(item: dict[str, Any], out: dict[str, Any]) -> None:
    """One Airbyte STATE message (or its inner ``state``) into ``out``."""
    kind = item.get("type")
    if kind == "STATE" and isinstance(item.get("state"), dict):
        _stream_state(item["state"], out)
    elif kind == "STREAM" and isinstance(item.get("stream"), dict):
        name = (item["stream"].get("stream_descriptor") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise _bad_state("a STREAM state has no stream_descriptor.name")
        out[name] = item["stream"].get("stream_state")
    elif kind == "GLOBAL" and isinstance(item.get("global"), dict):
        for s in item["global"].get("stream_states") or []:
            if not isinstance(s, dict):
                raise _bad_state("a GLOBAL state's stream_states holds a non-object")
            _stream_state({"type": "STREAM", "stream": s}, out)
    elif kind == "LEGACY" and isinstance(item.get("data"), dict):
        out.update(item["data"])
    else:
        raise _bad_state(f"an entry of type {kind!r} is not a state this connector wrote")


def _state_input(raw: Any) -> dict[str, Any]:
    """Airbyte state: a list of STATE messages (STREAM, GLOBAL or LEGACY), a
    single one, or a plain object of stream name to state. Anything else is
    an error, never silently a fresh sync."""
    if raw is None:
        return {}
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for item in raw:
            if not isinstance(item, dict):
                raise _bad_state("the list holds a non-object")
            _stream_state(item, out)
        return out
    if isinstance(raw, dict):
        if raw.get("type") in ("STATE", "STREAM", "GLOBAL", "LEGACY"):
            _stream_state(raw, out)
            return out
        if isinstance(raw.get("streams"), dict):
            return dict(raw["streams"])
        if not all(isinstance(v, dict) for v in raw.values()):
            raise _bad_state("an object of stream name to state must hold objects")
        return dict(raw)
    raise _bad_state(f"a {type(raw).__name__} is not a state")


_SYNC_MODES = ("full_refresh", "incremental")


def _selection(catalog: Any) -> list[tuple[str, bool]]:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"catalog: {why}", kind="invalid-config", field="catalog")

    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise bad('must be a configured catalog with "streams"')
    selected: list[tuple[str, bool]] = []
    for i, entry in enumerate(catalog["streams"]):
        stream = entry.get("stream") if isinstance(entry, dict) else None
        name = stream.get("name") if isinstance(stream, dict) else None
        if not isinstance(name, str) or not name:
            raise bad(f"streams[{i}] needs stream.name")
        mode = entry.get("sync_mode", "incremental")
        if mode not in _SYNC_MODES:
            raise bad(
                f"streams[{i}] ({name}): sync_mode {mode!r} is not full_refresh or incremental"
            )
        if any(n == name for n, _ in selected):
            raise bad(f"stream {name!r} is listed twice")
        selected.append((name, mode == "incremental"))
    return selected


def read(src: IterableSource, catalog: Any, state: Any, emit: Emitter) -> None:
    selection = _selection(catalog)
    saved = _state_input(state)
    # Streams selected with different sync modes run as separate sessions.
    groups: dict[bool, list[str]] = {}
    for name, incremental in selection:
        groups.setdefault(incremental, []).append(name)
    for incremental, names in groups.items():
        reader = src.read(names, state=saved, incremental=incremental)
        last: dict[str, Any] = {}
        for batch in reader.iter_batches():
            now = int(time.time() * 1000)
            stream = batch.stream
            for record in batch.to_pylist():
                emit(
                    {
                        "type": "RECORD",
                        "record": {"stream": stream, "data": record, "emitted_at": now},
                    }
                )
            _emit_states(reader.state, names, last, emit)
        _emit_states(reader.state, names, last, emit)
        for s in reader.summary or []:
            emit.log(
                "INFO",
                f"{s['stream']}: {s['records']} records, {s['requests']} requests, "
                f"{s['retries']} retries",
            )
            # What was skipped on request is said, never silent.
            if s.get("skipped_lines"):
                emit.log(
                    "WARN",
                    f"{s['stream']}: {s['skipped_lines']} malformed lines skipped "
                    "(skip_malformed_lines)",
                )
            if s.get("skipped_units"):
                emit.log(
                    "WARN",
                    f"{s['stream']}: {s['skipped_units']} units skipped after persistent errors "
                    "(skip_persistent_errors)",
                )


def _emit_states(
    state: dict[str, Any],
    names: Sequence[str],
    last: dict[str, Any],
    emit: Callable[[dict[str, Any]], None],
) -> None:
    for name in names:
        if name in state and state[name] != last.get(name):
            last[name] = state[name]
            emit(
                {
                    "type": "STATE",
                    "state": {
                        "type": "STREAM",
                        "stream": {
                            "stream_descriptor": {"name": name},
                            "stream_state": state[name],
                        },
                    },
                }
            )


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iterable_connector",
        description="Iterable source speaking the Airbyte protocol (one JSON message per line).",
        epilog="python -m iterable_connector replicate --help: copy Iterable into a database "
        "(PostgreSQL, DuckDB, SQLite) with dlt.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("spec", help="print the connector specification")
    for name in ("check", "discover", "read"):
        p = sub.add_parser(name)
        p.add_argument("--config", required=True, help="config JSON file")
        if name == "read":
            p.add_argument("--catalog", required=True, help="configured catalog JSON file")
            p.add_argument("--state", help="state JSON file")
    args = parser.parse_args(argv)
    emit = Emitter(out if out is not None else sys.stdout)

    logger = logging.getLogger("iterable_connector")
    handler = _LogHandler(emit)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        if args.command == "spec":
            emit(spec_message())
            return 0
        config = _load(args.config, "config")
        if args.command == "check":
            try:
                _source(config).check()
            except IterableConnectorError as e:
                emit(
                    {
                        "type": "CONNECTION_STATUS",
                        "connectionStatus": {"status": "FAILED", "message": redact(str(e))},
                    }
                )
                return 0
            emit({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}})
            return 0
        src = _source(config)
        if args.command == "discover":
            emit(catalog_message(src))
            return 0
        read(src, _load(args.catalog, "catalog"), _load(args.state, "state"), emit)
        return 0
    except IterableConnectorError as e:
        emit.error_trace(e)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        emit.out.flush()
