"""Opening and reading objects: the ``data`` pseudocolumn, ``md5_hash``, previews and model files.

Only regular files are objects. A file that ``stat`` says is anything else is refused without
being opened; a regular one is opened without following a final symlink, without blocking (were
it swapped for a FIFO meanwhile, it would otherwise wait forever for a writer) and without
becoming a controlling terminal, and ``fstat`` of what was opened decides again. Reads are bounded by
the bytes actually read, not by ``st_size`` (``/proc`` files report 0; a file may grow), and
every OS error becomes a StorageError naming the URI.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator

from bqml_magic.errors import LimitError, StorageError
from bqml_magic.storage.uris import Location, check_confined

MAX_INFERENCE_FILE_BYTES = 20 * 1000 * 1000
"""BigQuery: each object an ML function reads for inference is under 20 MB."""
MAX_INFERENCE_TOTAL_BYTES = 10**12
"""BigQuery: all objects an inference query reads are under 1 TB together."""
MAX_PREVIEW_BYTES = MAX_INFERENCE_FILE_BYTES
"""Previews of a result's files: a file no model may read is not worth holding in memory to show."""
CHUNK_BYTES = 1 << 20
"""Largest single read: md5 and copies hold no more than this of a file at once."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_NOFOLLOW", 0)  # the path opened is already the real one: a symlink here is a swap
    | getattr(os, "O_BINARY", 0)
)
_REASONS = {
    errno.ENOENT: "does not exist",
    errno.ENOTDIR: "does not exist (a part of its path is a file, not a folder)",
    errno.EACCES: "cannot be read: permission denied",
    errno.EPERM: "cannot be read: permission denied",
    errno.ELOOP: "cannot be read: it is a symlink loop (too many levels of symbolic links)",
    errno.ENAMETOOLONG: "cannot be read: its name is too long for this file system",
    errno.EISDIR: "is a folder, not a file",
}


def os_reason(exc: OSError) -> str:
    """What an OS error means for a file, in words (never the errno's class name)."""
    return _REASONS.get(exc.errno or 0) or f"cannot be read: {exc.strerror or 'operating system error'}"


def os_failure(uri: str, exc: OSError, what: str = "Object") -> StorageError:
    """An OS error as the user's message: what happened to which URI."""
    return StorageError(f"{what} {uri} {os_reason(exc)}")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular(uri: str, mode: int, what: str = "Object") -> StorageError:
    return StorageError(f"{what} {uri} is {file_kind(mode)}: only regular files are read")


@contextlib.contextmanager
def opened(location: Location, what: str = "Object") -> Iterator[tuple[int, os.stat_result]]:
    """A confined, regular file's descriptor and its ``fstat``; closed on exit."""
    real = check_confined(location)  # again at open time: the folder may have changed since resolve
    try:
        before = os.stat(real)
        if not stat.S_ISREG(before.st_mode):  # a device is never opened: opening some has effects
            raise not_regular(location.uri, before.st_mode, what)
        fd = os.open(real, _OPEN_FLAGS)
    except StorageError:
        raise
    except OSError as exc:
        raise os_failure(location.uri, exc, what) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular(location.uri, info.st_mode, what)
        yield fd, info
    finally:
        os.close(fd)


def read_chunks(
    location: Location, fd: int, size_hint: int, limit: int | None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The file's bytes in chunks of at most ``chunk_bytes``; with ``limit``, never more than ``limit`` in all.

    ``size_hint`` (``st_size``) only sizes the reads: a file of the expected size is read in one
    call plus the one that sees its end.
    """
    total = 0
    while limit is None or total < limit:
        want = max(min(size_hint - total + 1, chunk_bytes), 1 << 16)
        if limit is not None:
            want = min(want, limit - total)
        try:
            chunk = os.read(fd, want)
        except OSError as exc:
            raise os_failure(location.uri, exc) from exc
        if not chunk:
            return
        total += len(chunk)
        yield chunk


def read_bytes(location: Location, limit: int, purpose: str = "objects for inference") -> bytes:
    """All bytes of one object, refused (LimitError) at ``limit`` bytes or more, whatever ``st_size`` says."""
    with opened(location) as (fd, info):
        if info.st_size >= limit:
            raise LimitError(f"{location.uri} is {info.st_size:,} bytes; {purpose} must be under {limit:,}")
        data = b"".join(read_chunks(location, fd, info.st_size, limit, chunk_bytes=limit))
    if len(data) >= limit:
        raise LimitError(
            f"{location.uri} holds {limit:,} bytes or more (it grew while being read, or its size is not "
            f"known in advance); {purpose} must be under {limit:,}"
        )
    return data


def md5_base64(location: Location) -> str:
    """base64(MD5) as GCS reports it, hashed in bounded chunks whatever the file's size."""
    digest = hashlib.md5(usedforsecurity=False)
    with opened(location) as (fd, info):
        for chunk in read_chunks(location, fd, info.st_size, None):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def stat_object(location: Location, what: str = "Object", missing_ok: bool = False) -> os.stat_result | None:
    """A named object's metadata without opening it: None for a folder (no object has that name),
    and with ``missing_ok`` for a name that does not exist."""
    real = check_confined(location)
    try:
        info = os.stat(real)
    except OSError as exc:
        if missing_ok and exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise os_failure(location.uri, exc, what) from exc
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISREG(info.st_mode):
        raise not_regular(location.uri, info.st_mode, what)
    return info
