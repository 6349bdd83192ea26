"""``python -m iterable_connector spec|check|discover|read`` (Airbyte protocol)
and ``python -m iterable_connector replicate`` (into a database with dlt)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["replicate"]:
        from .replicate import main as replicate_main

        sys.exit(replicate_main(sys.argv[2:]))
    from .airbyte import main

    sys.exit(main())
