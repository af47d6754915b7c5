"""The catalog snapshot completion reads: the session engine's, kept between key presses.

When it is taken again:
- after a cell that ran statements on the engine (IPython's ``post_run_cell``), while the
  workspace is still open from that cell: reopening it later costs ~100 ms
  (docs/behaviour.md#completion), which a key press should not wait for;
- on a key press, when the engine ran statements since (from another thread, say);
- in the background, when older than ``STALE_SECONDS``: another kernel may share the workspace.

Completion never waits: while the engine runs a statement, or another process holds the
workspace, the last snapshot (or none) is used at once. Nothing heavy is imported until a
``%%bqml`` cell asks, and pressing Tab in a fresh notebook creates no workspace folder.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bqml_magic.errors import BQMLError

if TYPE_CHECKING:
    from bqml_magic.catalog.snapshot import CatalogSnapshot
    from bqml_magic.engine import Engine

STALE_SECONDS = 10.0


@dataclass(frozen=True)
class _Taken:
    snapshot: CatalogSnapshot
    engine: weakref.ref[Engine]
    scripts_run: int
    at: float

    def current_for(self, engine: Engine) -> bool:
        """Taken from this engine, after every script it ran."""
        return self.engine() is engine and self.scripts_run == engine.scripts_run


class SnapshotCache:
    """``latest()`` on each completion; ``after_cell()`` after each cell."""

    def __init__(self) -> None:
        self._taken: _Taken | None = None
        self._refreshing = threading.Lock()

    def latest(self) -> CatalogSnapshot | None:
        engine = _session_engine()
        if engine is None:
            return None
        taken = self._taken
        if taken is None or not taken.current_for(engine):
            taken = self._refresh(engine)
        elif time.monotonic() - taken.at > STALE_SECONDS and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, args=(engine, True), daemon=True, name="bqml-completion").start()
        return taken.snapshot if taken is not None and taken.engine() is engine else None

    def after_cell(self, *_: Any) -> None:
        """Once completion has been used: a new snapshot if the cell ran statements, while that is cheap."""
        from bqml_magic.config import context

        engine = context.started_engine()
        if self._taken is not None and engine is not None and not self._taken.current_for(engine):
            self._refresh(engine)

    def _refresh(self, engine: Engine, background: bool = False) -> _Taken | None:
        """The new snapshot, or the last one when the engine or its workspace is busy."""
        try:
            scripts_run = engine.scripts_run
            snapshot = engine.catalog_snapshot(wait=False)
            if snapshot is not None:
                self._taken = _Taken(snapshot, weakref.ref(engine), scripts_run, time.monotonic())
        except BQMLError:  # busy, or cannot be opened: the next cell will say so
            pass
        finally:
            if background:
                self._refreshing.release()
        return self._taken


def _session_engine() -> Engine | None:
    """The ``%%bqml`` cells' engine; started here only on a workspace that exists and is free."""
    from bqml_magic.config import context

    engine = context.started_engine()
    if engine is not None or context.workspace is None:
        return engine  # an in-memory catalog is empty until a cell starts its engine
    from bqml_magic.engine import CATALOG_FILE

    folder = Path(context.workspace).expanduser().resolve()
    if not (folder / CATALOG_FILE).is_file() or _busy(folder):
        return None
    try:
        return context.engine()
    except BQMLError:
        return None


def _busy(folder: Path) -> bool:
    """Another process holds the workspace: starting an engine on it would wait for it."""
    from bqml_magic.catalog.lock import WorkspaceLock

    lock = WorkspaceLock(folder)
    try:
        lock.acquire(threading.Event(), wait=0)
    except BQMLError:
        return True
    lock.release()
    return False
