"""Rows fanned out over the engine's threads, results in order, abandoned on an interrupt.

A worker stuck in a read (a slow network mount) cannot be stopped from Python, but the query
need not wait for it: the caller polls the engine's cancel flag while it waits, so an
interrupt returns within a fraction of a second, and the rows not started are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import wait
from typing import TypeVar

from bqml_magic.errors import Cancelled
from bqml_magic.execution.services import Services

T = TypeVar("T")
R = TypeVar("R")
POLL_SECONDS = 0.1


def fan_out(services: Services, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``fn(item)`` for each item on the pool, yielded in order; the first error (in order) is raised."""
    futures = [services.pool.submit(fn, item) for item in items]
    try:
        for future in futures:
            while not wait([future], timeout=POLL_SECONDS).done:
                if services.cancel.is_set():
                    raise Cancelled("Query cancelled")
            yield future.result()
    finally:
        for future in futures:
            future.cancel()
