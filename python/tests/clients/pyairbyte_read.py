"""Run by test_pyairbyte.py with PyAirbyte's own venv (not the package's):
reads the given streams with PyAirbyte, our host being the connector as a
local executable, into PyAirbyte's default DuckDB cache, and prints one JSON
object: rows per stream and the users table's column types."""

from __future__ import annotations

import json
import sys

import airbyte as ab


def main() -> None:
    host, config_path, cache_dir, *streams = sys.argv[1:]
    with open(config_path) as f:
        config = json.load(f)
    source = ab.get_source(
        "source-iterable", config=config, local_executable=host, install_if_missing=False
    )
    source.check()
    source.select_streams(streams)
    cache = ab.DuckDBCache(db_path=f"{cache_dir}/cache.duckdb", cache_dir=cache_dir)
    result = source.read(cache=cache)
    counts = {name: len(result[name].to_pandas()) for name in streams}
    types = {k: str(v) for k, v in result["users"].to_pandas().dtypes.items()}
    print(json.dumps({"counts": counts, "users_types": types}))


if __name__ == "__main__":
    main()
