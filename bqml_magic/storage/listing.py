"""Listing the objects behind an object table's ``uris`` patterns, streamed in batches.

BigQuery's rule: each pattern holds at most one ``*``, after the bucket name, and ``*``
also matches ``/`` (``rows.Pattern``). For a local folder we walk only the folder above the
``*``; for an object store, its listing API pages through the prefix (``remote_listing.py``).
Either way rows leave as Arrow record batches, so millions of objects are never held in
memory at once. Object content is never read here.

Only regular files are objects (docs/behaviour.md#access-policy). In a wildcard listing,
FIFOs, devices and sockets are not objects and are passed over silently (GCS cannot hold
them); an entry that cannot be examined (a symlink loop, an unreadable subfolder, a symlink
leaving the bucket, a name that is not UTF-8) is skipped and recorded, so the rest of the
folder is still listed and the caller can say which entries were left out. A pattern
without ``*`` that names a FIFO or a device, or cannot be examined, is an error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from bqml_magic.errors import StorageError
from bqml_magic.storage.reader import not_regular, os_failure, os_reason, stat_object
from bqml_magic.storage.remote import RemoteStores
from bqml_magic.storage.remote_listing import remote_rows
from bqml_magic.storage.rows import ObjectRow, Pattern, content_type, to_batch
from bqml_magic.storage.uris import BucketMap, Location, RemoteLocation, check_confined

BATCH_ROWS = 8192


@dataclass(frozen=True)
class Skipped:
    """An entry a wildcard listing left out, and why (for the caller to report)."""

    uri: str
    reason: str


def list_objects(
    buckets: BucketMap, stores: RemoteStores, uris: list[str], skipped: list[Skipped] | None = None
) -> Iterator[pa.RecordBatch]:
    """Every object matching any pattern, each once, as Arrow batches of ``rows.OBJECT_SCHEMA``.

    Entries a wildcard listing had to leave out are appended to ``skipped``.
    """
    patterns = [Pattern.parse(u) for u in uris]
    left_out = skipped if skipped is not None else []
    seen: set[str] = set()
    rows: list[ObjectRow] = []
    for pattern in patterns:
        location = buckets.resolve(pattern.written)  # the policy's verdict names the pattern as written
        if isinstance(location, RemoteLocation):
            matches = remote_rows(stores, pattern, location)
        else:
            matches = _matches(buckets, pattern, location, left_out)
        for row in matches:
            if row.uri in seen:
                continue
            seen.add(row.uri)
            rows.append(row)
            if len(rows) >= BATCH_ROWS:
                yield to_batch(rows)
                rows = []
    if rows:
        yield to_batch(rows)


def _local_row(uri: str, info: os.stat_result) -> ObjectRow:
    """A file as GCS would list it: the generation and ``updated`` are its modification time."""
    return ObjectRow(uri, info.st_mtime_ns, content_type(uri), info.st_size, None, info.st_mtime_ns // 1000)


def _matches(buckets: BucketMap, pattern: Pattern, named: Location, skipped: list[Skipped]) -> Iterator[ObjectRow]:
    if not pattern.wildcard:
        info = stat_object(named, missing_ok=named.bucket is not None)  # GCS: no such object matches nothing
        if info is not None:
            yield _local_row(pattern.written, info)
        return
    base_uri = pattern.folder_uri
    location = buckets.resolve(base_uri)
    assert isinstance(location, Location)  # the pattern's own verdict was local
    try:
        is_folder = stat.S_ISDIR(os.stat(location.path).st_mode)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise os_failure(f"{location.uri} (uris entry {pattern.written!r})", exc, "Folder") from exc
        is_folder = False
    if not is_folder:
        if location.bucket is None:
            raise StorageError(f"Folder {location.path} for uris entry {pattern.written!r} does not exist")
        return  # GCS has no folders: an empty prefix simply matches nothing
    everything = pattern.prefix == base_uri and not pattern.suffix  # 'folder/*': no name to test
    for rel, _, info in walk(
        location, skipped, _everything if everything else lambda rel: pattern.wants(base_uri + rel)
    ):
        uri = base_uri + rel
        try:
            uri.encode("utf-8")
        except UnicodeEncodeError:
            shown = uri.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            skipped.append(Skipped(shown, "is skipped: its name is not UTF-8, as GCS object names must be"))
            continue
        yield _local_row(uri, info)


def _everything(rel: str) -> bool:
    return True


def walk(
    location: Location, skipped: list[Skipped] | None, wanted: Callable[[str], bool] = _everything
) -> Iterator[tuple[str, str, os.stat_result]]:
    """Regular files below a folder location: ``(relative name, path, stat)``, depth-first in name order.

    ``wanted(rel)`` (``rel`` ending in ``/`` for a folder) narrows the walk: a folder it declines is
    not entered, an entry it declines is neither yielded nor reported.

    Symlinks are followed while they stay inside the location's roots; each real folder is walked
    once (a symlink back up the tree, or to a folder already walked, adds nothing), so the walk
    ends. With ``skipped`` (a listing), non-regular files are passed over and entries that cannot
    be examined are recorded there; with None (a model's files), each of those is an error naming
    the entry. An iterative walk: no recursion limit on deep trees.
    """
    check_confined(location)
    try:
        top = os.stat(location.path)
        stack = [iter(_scan(location.path))]
    except OSError as exc:
        raise os_failure(location.uri, exc, "Folder") from exc
    visited = {(top.st_dev, top.st_ino)}
    names = [""]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            names.pop()
            continue
        rel = names[-1] + entry.name
        if wanted is not _everything and not wanted(rel) and not wanted(rel + "/"):
            continue
        info = _examine(location, entry, rel, skipped, wanted)
        if info is None:
            continue
        if stat.S_ISDIR(info.st_mode):
            if not wanted(rel + "/"):
                continue
            key = (info.st_dev, info.st_ino)
            if key in visited:
                if skipped is None:
                    raise StorageError(f"Folder {location.child(rel).uri} leads back to a folder read before")
                continue
            visited.add(key)
            try:
                entries = _scan(entry.path)
            except OSError as exc:
                if skipped is None:
                    raise os_failure(location.child(rel + "/").uri, exc, "Folder") from exc
                skipped.append(Skipped(location.child(rel + "/").uri, os_reason(exc)))
                continue
            stack.append(iter(entries))
            names.append(rel + "/")
        elif not wanted(rel):
            continue
        elif stat.S_ISREG(info.st_mode):
            yield rel, entry.path, info
        elif skipped is None:
            raise not_regular(location.child(rel).uri, info.st_mode, "File")


def _scan(path: str) -> list[os.DirEntry[str]]:
    """A folder's entries in name order."""
    with os.scandir(path) as entries:
        return sorted(entries, key=lambda e: e.name)


def _examine(
    location: Location,
    entry: os.DirEntry[str],
    rel: str,
    skipped: list[Skipped] | None,
    wanted: Callable[[str], bool],
) -> os.stat_result | None:
    """An entry's stat (following a confined symlink), or None when it is passed over."""
    try:
        if entry.is_symlink():
            check_confined(location.child(rel), entry.path)
            return entry.stat()
        if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False) or skipped is None:
            return entry.stat(follow_symlinks=False)
        return None  # a FIFO, device or socket: not an object, and GCS could not hold one
    except StorageError:  # before OSError, which it refines: a symlink leaving the allowed folders
        if skipped is None:
            raise
        with contextlib.suppress(OSError):  # its target's type (a stat, nothing opened) says whether it matters
            if not wanted(rel + "/" if entry.is_dir() else rel):
                return None
        skipped.append(Skipped(location.child(rel).uri, "is a symlink that resolves outside the allowed folder"))
        return None
    except OSError as exc:
        if skipped is None:
            raise os_failure(location.child(rel).uri, exc, "File") from exc
        if exc.errno != errno.ENOENT:  # gone since the folder was read, or a dangling symlink: no object
            skipped.append(Skipped(location.child(rel).uri, os_reason(exc)))
        return None
