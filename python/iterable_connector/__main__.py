"""``python -m iterable_connector spec|check|discover|read`` (Airbyte protocol)."""

from __future__ import annotations

import sys

from .airbyte import main

if __name__ == "__main__":
    sys.exit(main())
