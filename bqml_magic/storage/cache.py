"""Objects read from object stores, kept on local disk so a re-run reads nothing twice.

Keyed by the store (its endpoint), the object's URI and its generation: an object version's
bytes never change, so a hit needs no request, and a new generation is simply another key.
Each entry is one file, written to a temporary name and renamed into place (a reader never
sees half an object; engines in other processes may share the folder). The cache holds at
most ``max_bytes``: past it, the least recently used entries go until it is at 90%.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import uuid
from pathlib import Path

DEFAULT_BYTES = 10 * 2**30
"""10 GiB: a few tens of thousands of photos."""
_TEMP = ".tmp-"
_STALE_TEMP_SECONDS = 3600


def cache_root() -> Path:
    """Where bqml_magic keeps what it can rebuild: ``$BQML_MAGIC_CACHE`` or ``~/.cache/bqml_magic``."""
    return Path(os.environ.get("BQML_MAGIC_CACHE") or Path.home() / ".cache" / "bqml_magic")


def default_folder() -> Path:
    return cache_root() / "objects"


class ContentCache:
    """Object bytes on disk by (store, uri, generation), least recently used first out."""

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int = DEFAULT_BYTES):
        self.folder = Path(folder).expanduser()
        self.max_bytes = max_bytes
        self._total: int | None = None  # bytes held, counted on the first write
        self._lock = threading.Lock()

    def get(self, store: str, uri: str, generation: int) -> bytes | None:
        path = self._path(store, uri, generation)
        try:
            with open(path, "rb") as file:
                data = file.read()
            os.utime(path)  # recently used: evicted last
        except OSError:
            return None
        return data

    def has(self, store: str, uri: str, generation: int) -> bool:
        return self._path(store, uri, generation).is_file()

    def put(self, store: str, uri: str, generation: int, data: bytes) -> None:
        """Keep an object version (replacing its older generations); a full or read-only disk only costs the hit."""
        path = self._path(store, uri, generation)
        stem = path.name.rpartition("-")[0]
        temp = path.with_name(f"{_TEMP}{uuid.uuid4().hex}")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temp.write_bytes(data)
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()
            return
        freed = 0
        for older in path.parent.glob(f"{stem}-*"):
            if older != path:
                with contextlib.suppress(OSError):
                    size = older.stat().st_size
                    older.unlink()
                    freed += size
        with self._lock:
            if self._total is None:
                self._total = self._count()
            else:
                self._total += len(data) - freed
            if self._total > self.max_bytes:
                self._total = self._evict(int(self.max_bytes * 0.9))

    def _path(self, store: str, uri: str, generation: int) -> Path:
        digest = hashlib.sha256(f"{store}\x00{uri}".encode("utf-8", "surrogateescape")).hexdigest()
        return self.folder / digest[:2] / f"{digest}-{generation}"

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every entry; temporary files of a killed writer are removed."""
        entries = []
        now = time.time()
        for sub in self.folder.glob("??"):
            with contextlib.suppress(OSError), os.scandir(sub) as found:
                for entry in found:
                    with contextlib.suppress(OSError):
                        info = entry.stat()
                        if entry.name.startswith(_TEMP):
                            if now - info.st_mtime > _STALE_TEMP_SECONDS:
                                os.unlink(entry.path)
                            continue
                        entries.append((info.st_mtime, info.st_size, Path(entry.path)))
        return entries

    def _count(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _evict(self, target: int) -> int:
        """Remove the least recently used entries until at most ``target`` bytes remain; the bytes left."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= target:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
        return total
