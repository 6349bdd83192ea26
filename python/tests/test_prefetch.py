"""The prefetching read: a background thread runs the session ahead of the
caller, and the caller still sees exactly what a sequential read gives."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from iterable_connector import _driver


def test_items_arrive_in_order_and_all_of_them() -> None:
    assert list(_driver.prefetched(iter(range(1000)), depth=3)) == list(range(1000))
    assert list(_driver.prefetched(iter([]))) == []


def test_the_producers_error_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the server cut the body")

    got: list[int] = []
    with pytest.raises(ValueError, match="cut the body"):
        for i in _driver.prefetched(items()):
            got.append(i)
    assert got == [1, 2]


def test_closing_early_stops_the_producer_and_closes_its_source() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    it = _driver.prefetched(items(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # type: ignore[attr-defined]
    assert closed.wait(5), "the source generator is closed (its response released)"
    # It ran at most a bounded distance ahead of the consumer.
    time.sleep(0.1)
    assert len(produced) < 10
