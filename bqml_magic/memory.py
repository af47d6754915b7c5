"""One memory budget for an engine: what DuckDB may use, and what image work may hold at once.

Image work runs on every core, and one image can be huge (a 13000 x 13000 PNG is half a GB of
pixels once decoded): without a bound, peak memory is cores x worst image. Each kernel call
reserves its peak (estimated from the image header or the target size, before any pixel is
allocated) from a shared pool; calls that do not fit wait for others to finish, and a call
that could never fit fails at once with a LimitError that says how to raise the budget.
DuckDB gets its own share as its ``memory_limit``, and object bytes fetched from a store ahead
of the decoders get theirs (docs/behaviour.md#limits).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from bqml_magic.errors import Cancelled, LimitError

DUCKDB_SHARE = 4
"""DuckDB gets a quarter of the budget: it holds listings and results, not pixels."""
READS_SHARE = 16
"""Object bytes read ahead from a store: a sixteenth of the budget (256 MB of 4 GiB, ~600 photos)."""
DEFAULT_CAP = 4 * 2**30

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_bytes(value: int | str, what: str = "memory size") -> int:
    """Bytes from ``4_000_000_000``, ``'4GB'`` or ``'512 MiB'``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*", str(value), re.IGNORECASE)
    if match is None:
        raise LimitError(f"Invalid {what} {value!r}: expected bytes or a figure like '4GB' or '512MiB'")
    return int(float(match[1]) * _UNITS[(match[2] or "").upper()])


def parse_size(value: int | str) -> int:
    """A memory budget's bytes (``parse_bytes``), at least 64 MiB."""
    size = parse_bytes(value)
    if size < 64 * 2**20:
        raise LimitError(f"Memory budget {value!r} is too small: give at least 64 MiB")
    return size


def default_budget() -> int:
    """A quarter of the machine's memory, at most 4 GiB: room for the notebook and everything else."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_CAP
    return max(256 * 2**20, min(DEFAULT_CAP, physical // 4))


class PixelPool:
    """Bytes of image work in flight across all threads; ``reserve`` blocks until they fit."""

    def __init__(self, capacity: int, cancel: threading.Event | None = None):
        self.capacity = capacity
        self._used = 0
        self._cancel = cancel
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        if nbytes > self.capacity:
            raise LimitError(
                f"This image needs about {_mb(nbytes)} at once; image work may hold {_mb(self.capacity)} "
                "(raise it with Engine(memory_budget=...) or context.memory_budget)"
            )
        with self._changed:
            while self._used and self._used + nbytes > self.capacity:
                if self._cancel is not None and self._cancel.is_set():
                    raise Cancelled("Query cancelled")
                self._changed.wait(0.1)
            self._used += nbytes
        try:
            yield
        finally:
            with self._changed:
                self._used -= nbytes
                self._changed.notify_all()


@dataclass(frozen=True)
class MemoryBudget:
    """``total`` bytes: ``duckdb`` for DuckDB's memory_limit, ``reads`` for object bytes fetched
    ahead, ``pixels`` for image work."""

    total: int
    pixels: PixelPool

    @classmethod
    def of(cls, size: int | str | None, cancel: threading.Event | None = None) -> MemoryBudget:
        total = default_budget() if size is None else parse_size(size)
        return cls(total, PixelPool(total - total // DUCKDB_SHARE - total // READS_SHARE, cancel))

    @property
    def duckdb(self) -> int:
        return self.total // DUCKDB_SHARE

    @property
    def reads(self) -> int:
        return self.total // READS_SHARE


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MB"
