"""Listing the objects behind an object table's ``uris`` patterns, streamed in batches.

BigQuery's rule: each pattern holds at most one ``*``, after the bucket name, and ``*``
also matches ``/`` (it is a prefix/suffix match, not a glob). We walk only the folder
above the ``*`` and yield Arrow record batches, so a folder of millions of files is never
held in memory at once. File content is never read here.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from bqml_magic.errors import SQLError, StorageError
from bqml_magic.storage.uris import BucketMap, Location, check_confined

BATCH_ROWS = 8192

OBJECT_SCHEMA = pa.schema(
    [("uri", pa.string()), ("generation", pa.int64()), ("content_type", pa.string()), ("size", pa.int64())]
)
"""What a listing records; ``updated``, ``metadata`` and ``ref`` derive from it in the view."""
ObjectInfo = tuple[str, int, int]  # uri, generation (mtime in ns), size
# Formats mimetypes may not know on every platform; GCS sets these on upload.
_EXTRA_TYPES = {".webp": "image/webp", ".bmp": "image/bmp", ".jfif": "image/jpeg"}


@dataclass(frozen=True)
class Pattern:
    """One ``uris`` entry split at its ``*``: objects whose name is prefix + anything + suffix."""

    written: str
    prefix: str
    suffix: str
    wildcard: bool

    @classmethod
    def parse(cls, uri: str) -> Pattern:
        if uri.count("*") > 1:
            raise SQLError(f"Invalid uris entry {uri!r}: only one '*' wildcard is allowed per URI")
        if uri.startswith("gs://") and "*" in uri[5:].split("/", 1)[0]:
            raise SQLError(f"Invalid uris entry {uri!r}: the bucket name cannot contain '*'")
        if uri.startswith("gs://") and "/" not in uri[5:]:
            raise SQLError(f"Invalid uris entry {uri!r}: expected gs://bucket/object_name")
        prefix, star, suffix = uri.partition("*")
        return cls(uri, prefix, suffix, bool(star))


def content_type(name: str) -> str:
    """The MIME type GCS would have recorded at upload, from the object name."""
    ext = os.path.splitext(name)[1].lower()
    return _EXTRA_TYPES.get(ext) or mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def list_objects(buckets: BucketMap, uris: list[str]) -> Iterator[pa.RecordBatch]:
    """Every object matching any pattern, each once, as Arrow batches of OBJECT_SCHEMA."""
    patterns = [Pattern.parse(u) for u in uris]
    seen: set[str] = set()
    rows: list[ObjectInfo] = []
    for pattern in patterns:
        for info in _matches(buckets, pattern):
            if info[0] in seen:
                continue
            seen.add(info[0])
            rows.append(info)
            if len(rows) >= BATCH_ROWS:
                yield _batch(rows)
                rows = []
    if rows:
        yield _batch(rows)


def _matches(buckets: BucketMap, pattern: Pattern) -> Iterator[ObjectInfo]:
    base_uri = pattern.prefix.rsplit("/", 1)[0] + "/" if pattern.wildcard else pattern.prefix
    location = buckets.resolve(base_uri if pattern.wildcard else pattern.written)
    if not location.is_local:
        yield from _fsspec_matches(location, pattern, base_uri)
        return
    if not pattern.wildcard:
        stat = _stat_file(location)
        if stat is not None:
            yield pattern.written, stat.st_mtime_ns, stat.st_size
        return
    if not os.path.isdir(location.path):
        if location.root is None:
            raise StorageError(f"Folder {location.path} for uris entry {pattern.written!r} does not exist")
        return  # GCS has no folders: an empty prefix simply matches nothing
    check_confined(location)
    shortest = len(pattern.prefix) + len(pattern.suffix)
    for rel, stat in _walk(location.path, "", location):
        uri = base_uri + rel
        if len(uri) >= shortest and uri.startswith(pattern.prefix) and uri.endswith(pattern.suffix):
            yield uri, stat.st_mtime_ns, stat.st_size


def _stat_file(location: Location) -> os.stat_result | None:
    try:
        check_confined(location)
        stat = os.stat(location.path)
    except FileNotFoundError:
        if location.root is None:
            raise StorageError(f"File {location.path} in uris does not exist") from None
        return None
    return stat if not os.path.isdir(location.path) else None


def _walk(folder: str, rel: str, location: Location) -> Iterator[tuple[str, os.stat_result]]:
    """Depth-first, sorted, following symlinks only while they stay inside the bucket."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except PermissionError:
        return
    for entry in entries:
        if entry.is_symlink():
            try:
                check_confined(location, entry.path)
            except StorageError:
                continue
        name = rel + entry.name
        if entry.is_dir():
            yield from _walk(entry.path, name + "/", location)
        elif entry.is_file():
            yield name, entry.stat()


def _fsspec_matches(location: Location, pattern: Pattern, base_uri: str) -> Iterator[ObjectInfo]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(location.path)
    found = fs.find(root, detail=True) if pattern.wildcard else {root: fs.info(root)}
    for path, info in sorted(found.items()):
        rel = path[len(root) :].lstrip("/") if pattern.wildcard else ""
        uri = base_uri + rel if pattern.wildcard else pattern.written
        if info.get("type") == "file" and uri.startswith(pattern.prefix) and uri.endswith(pattern.suffix):
            mtime = info.get("mtime") or info.get("created") or 0
            mtime = mtime.timestamp() if isinstance(mtime, datetime) else float(mtime)
            yield uri, int(mtime * 1e9), int(info.get("size") or 0)


def _batch(rows: list[ObjectInfo]) -> pa.RecordBatch:
    uris = [u for u, _, _ in rows]
    return pa.record_batch(
        [
            pa.array(uris, pa.string()),
            pa.array([g for _, g, _ in rows], pa.int64()),
            pa.array([content_type(u) for u in uris], pa.string()),
            pa.array([n for _, _, n in rows], pa.int64()),
        ],
        schema=OBJECT_SCHEMA,
    )
