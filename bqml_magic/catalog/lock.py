"""Whose turn it is to use a workspace: one engine at a time, across kernels and processes.

DuckDB opens a database file in one process at a time and fails the others at once, with an
interpreter path and a PID. A file lock (filelock) in front of it turns that into a queue: an
engine waits its turn for a while, and when the wait is over the error says in plain words who
holds the workspace (the notebook, its kernel's PID, since when) and the two ways out.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from bqml_magic.errors import Cancelled, StorageError, advice

WAIT_SECONDS = 10.0
"""How long an engine waits for another one's statement to end before it says who holds the workspace."""
_POLL_SECONDS = 0.1


class WorkspaceLock:
    """The lock of one workspace folder; ``holder.json`` beside it says who holds it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = FileLock(folder / "catalog.lock", thread_local=False)
        self._holder = folder / "catalog.holder.json"

    def acquire(self, cancel: threading.Event, wait: float | None = None) -> None:
        """Wait for the workspace, at most ``wait`` seconds (default ``WAIT_SECONDS``; 0: just try);
        an interrupt stops the wait."""
        wait = WAIT_SECONDS if wait is None else wait
        deadline = time.monotonic() + wait
        while True:
            try:
                self._lock.acquire(timeout=min(_POLL_SECONDS, max(deadline - time.monotonic(), 0)))
                break
            except Timeout:
                if cancel.is_set():
                    raise Cancelled("Query cancelled while waiting for the workspace") from None
                if time.monotonic() >= deadline:
                    raise StorageError(self._busy_message(wait)) from None
        self._holder.write_text(json.dumps(_me()))

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        self._lock.release()

    def _busy_message(self, waited: float) -> str:
        try:
            holder = json.loads(self._holder.read_text())
        except (OSError, ValueError):
            holder = {}
        who = _describe(holder)
        other = self.folder.with_name(self.folder.name + "-2")
        return (
            f"Workspace {self.folder} is in use by {who}, and stayed busy for {waited:g} s. "
            "Either wait for that statement to finish and run this again, or give this session its own "
            "workspace: " + advice(f"Engine(workspace='{other}')", f"%bqml workspace {other}")
        )


def _me() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "notebook": os.environ.get("JPY_SESSION_NAME"),  # set by Jupyter for a notebook's kernel
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _describe(holder: dict[str, object]) -> str:
    """``the kernel of notebook 01.ipynb (PID 1234 on host), busy since 13:05:12``."""
    if not holder:
        return "another process"
    pid = holder.get("pid")
    if pid == os.getpid() and holder.get("host") == socket.gethostname():
        who = "another Engine in this process (close it: engine.close())"
    elif holder.get("notebook"):
        who = f"the kernel of notebook {holder['notebook']} (PID {pid} on {holder.get('host')})"
    else:
        who = f"process {pid} on {holder.get('host')}"
    since = str(holder.get("since", ""))
    return f"{who}, busy since {since[11:19]}" if len(since) >= 19 else who
