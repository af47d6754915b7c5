"""Work fanned out over the engine's threads, results in order, abandoned on an interrupt.

A worker stuck in a read (a slow network mount) cannot be stopped from Python, but the query
need not wait for it: the caller polls the engine's cancel flag while it waits, so an
interrupt returns within a fraction of a second, and the work not started is dropped.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, wait
from typing import TypeVar

from bqml_magic.errors import Cancelled
from bqml_magic.execution.services import ImageWork

T = TypeVar("T")
R = TypeVar("R")
POLL_SECONDS = 0.1


def fan_out(work: ImageWork, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``fn(item)`` for each item on the pool, yielded in order; the first error (in order) is raised."""
    return results([work.pool.submit(fn, item) for item in items], work.cancel)


def results(futures: Sequence[Future[R]], cancel: threading.Event) -> Iterator[R]:
    """The futures' results in order, waiting with an eye on ``cancel``; the rest are cancelled
    when the caller stops early (an error, an interrupt, a LIMIT)."""
    try:
        for future in futures:
            while not wait([future], timeout=POLL_SECONDS).done:
                if cancel.is_set():
                    raise Cancelled("Query cancelled")
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


def pipelined(
    items: Iterable[T], start: Callable[[T], list[Future[R]]], ahead: int, cancel: threading.Event
) -> Iterator[tuple[T, list[R]]]:
    """Each item with the results of the work ``start`` submitted for it, in order, while the
    work of up to ``ahead`` later items is already under way: workers never wait for the
    caller to collect one item before they start on the next.
    """
    window: deque[tuple[T, list[Future[R]]]] = deque()

    def oldest() -> tuple[T, list[R]]:
        item, futures = window.popleft()
        return item, list(results(futures, cancel))

    try:
        for item in items:
            window.append((item, start(item)))
            if len(window) > ahead:
                yield oldest()
        while window:
            yield oldest()
    finally:
        for _, futures in window:
            for future in futures:
                future.cancel()
