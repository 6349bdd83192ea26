"""Runs an incumbent Iterable connector against the simulator instead of api.iterable.com.

    ITERABLE_BASE_URL=http://127.0.0.1:PORT python incumbent_shim.py airbyte read --config ...
    ITERABLE_BASE_URL=http://127.0.0.1:PORT python incumbent_shim.py singer --config ...

Airbyte's source-iterable (1.0.1) and Singer's tap-iterable (1.0.1) both hard-code
`https://api.iterable.com/api/` (Airbyte: `url_base` in its Python streams and its
manifest, US/EU only; Singer: `Iterable.uri`), and neither has a base-URL option. Both send
every request through `requests`, so this shim rewrites the URL of each prepared request
in `requests.adapters.HTTPAdapter.send` — the one place every `requests` call passes —
from `https://api.iterable.com` to ITERABLE_BASE_URL, then runs the connector's own entry
point with the remaining arguments. Nothing else of either connector is changed: their
pacing, retries, windows and parsing run as published.
"""

from __future__ import annotations

import os
import sys
from typing import Any

REAL = "https://api.iterable.com"


def patch(base_url: str) -> None:
    import requests.adapters

    send = requests.adapters.HTTPAdapter.send

    def rewritten(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.url and request.url.startswith(REAL):
            request.url = base_url + request.url[len(REAL) :]
        return send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = rewritten  # type: ignore[method-assign]


def main() -> None:
    base_url = os.environ.get("ITERABLE_BASE_URL", "").rstrip("/")
    if not base_url or len(sys.argv) < 2:
        sys.exit("usage: ITERABLE_BASE_URL=http://... incumbent_shim.py airbyte|singer ARGS...")
    which, args = sys.argv[1], sys.argv[2:]
    patch(base_url)
    if which == "airbyte":
        from source_iterable.run import run

        sys.argv = ["source-iterable", *args]
        run()
    elif which == "singer":
        from tap_iterable import main as tap_main

        sys.argv = ["tap-iterable", *args]
        tap_main()
    else:
        sys.exit(f"unknown connector {which!r}: airbyte or singer")


if __name__ == "__main__":
    main()
