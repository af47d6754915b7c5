"""Run an image kernel over a batch on threads.

Threads, not processes: simplejpeg (libjpeg-turbo), Pillow's decoders and numpy's array
loops release the GIL, so decode and resize scale across cores without pickling pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_images(fn: Callable[[T], R], items: Iterable[T], max_workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` in order, on up to ``max_workers`` threads (default: CPU count).

    The first exception (in item order) propagates, as in a plain loop.
    """
    items = list(items)
    workers = min(max_workers or os.cpu_count() or 1, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
