"""The catalog's DuckDB database, held only while its engine uses it.

DuckDB lets one process at a time open a database file. A kernel that kept its workspace open
while idle would lock every other notebook in the folder out, so an engine opens the file for
a statement and lets it go once it has been idle for ``LINGER_SECONDS``: reopening costs
~50 ms (docs/behaviour.md#workspace-sharing), which a loop of queries never pays
and a person running cells never notices. Which engine goes next is the workspace lock's
business (``lock.py``). An in-memory database stays open: nothing else can share it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from bqml_magic.catalog.lock import WorkspaceLock

LINGER_SECONDS = 1.0


class Database:
    """``session()`` around every use; ``con`` inside it. ``prepare`` readies each new connection."""

    def __init__(
        self,
        path: Path | None,
        connect: Callable[[], duckdb.DuckDBPyConnection],
        lock: WorkspaceLock | None,
        cancel: threading.Event,
    ):
        self.path = path
        self._connect = connect
        self._lock = lock
        self._cancel = cancel
        self._prepare: Callable[[duckdb.DuckDBPyConnection], None] = lambda con: None
        self._guard = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._timer: threading.Timer | None = None

    def prepare_with(self, prepare: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        """What each new connection needs before use (the catalog's tables, the engine's UDFs)."""
        self._prepare = prepare

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection; only inside ``session()``."""
        if self._con is None:
            raise RuntimeError("the catalog database is not open: use it inside Database.session()")
        return self._con

    @contextmanager
    def session(self, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The database, opened (waiting for the workspace if another engine holds it: ``wait`` seconds,
        default the lock's) or reused."""
        with self._guard:
            self._stop_timer()
            if self._con is None:
                self._open(wait)
            self._users += 1
            try:
                assert self._con is not None
                yield self._con
            finally:
                self._users -= 1
                if self._users == 0 and self.path is not None:
                    self._timer = threading.Timer(LINGER_SECONDS, self._release_if_idle)
                    self._timer.daemon = True
                    self._timer.start()

    def interrupt(self) -> None:
        """Stop what the connection runs (from another thread); nothing if it is closed."""
        con = self._con
        if con is not None:
            con.interrupt()

    def close(self) -> None:
        with self._guard:
            self._stop_timer()
            self._release()

    def _open(self, wait: float | None) -> None:
        if self._lock is not None:
            self._lock.acquire(self._cancel, wait)
        try:
            self._con = self._connect()
            self._prepare(self._con)  # may use ``con``
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        """Close the connection, if any, and let the workspace go."""
        con, self._con = self._con, None
        try:
            if con is not None:
                con.close()
        finally:
            if self._lock is not None and self._lock.held:
                self._lock.release()

    def _release_if_idle(self) -> None:
        with self._guard:  # a session started since then stopped this timer or made a new one
            if self._users == 0 and self._timer is threading.current_thread():
                self._timer = None
                self._release()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
