"""Where a URI lives on this machine.

The same SQL must run here and in BigQuery, so ``gs://bucket/path`` stays the URI users
write and see; a bucket mapping turns it into a local folder. Plain paths and ``file://``
work without a mapping; other fsspec protocols (``memory://``, ``s3://`` with its package)
pass through to fsspec. A mapped URI never escapes its folder: ``..``, absolute segments and
symlinks that point outside are refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bqml_magic.errors import StorageError


@dataclass(frozen=True)
class Location:
    """A resolved URI: a local path (fast path) or an fsspec protocol plus path."""

    uri: str
    path: str
    protocol: str = "file"
    root: str | None = None  # the mapped bucket folder this location must stay inside

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"


class BucketMap:
    """``{bucket: folder}``, resolving ``gs://bucket/key`` to ``folder/key`` safely."""

    def __init__(self, buckets: Mapping[str, str | os.PathLike[str]] | None = None):
        self._folders: dict[str, Path] = {}
        for bucket, folder in (buckets or {}).items():
            self.mount(bucket, folder)

    def mount(self, bucket: str, folder: str | os.PathLike) -> None:
        """Map a bucket name to an existing local folder."""
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise StorageError(f"Cannot mount bucket '{bucket}': folder {str(folder)!r} does not exist")
        if not bucket or "/" in bucket or "*" in bucket:
            raise StorageError(f"Invalid bucket name {bucket!r}")
        self._folders[bucket] = path

    @property
    def buckets(self) -> dict[str, Path]:
        return dict(self._folders)

    def resolve(self, uri: str) -> Location:
        """Map a URI to where its bytes are; raises StorageError naming the URI.

        What follows ``gs://bucket/`` or ``file://`` is a name taken as written, as GCS takes an
        object's name: ``#``, ``?`` and ``%`` are characters of file names, not URL syntax.
        """
        scheme, sep, rest = uri.partition("://")
        scheme = scheme.lower() if sep else ""
        if scheme == "gs":
            bucket, _, key = rest.partition("/")
            return self._resolve_bucket(uri, bucket, "/" + key)
        if scheme == "file":
            host, _, path = rest.partition("/")  # file:///path, or file://localhost/path
            if host not in ("", "localhost"):
                raise StorageError(f"{uri} names the host '{host}': file URIs are local paths, file:///path")
            return Location(uri, "/" + path)
        if not scheme:
            return Location(uri, os.path.abspath(os.path.expanduser(uri)))
        return Location(uri, uri, protocol=scheme)

    def _resolve_bucket(self, uri: str, bucket: str, key: str) -> Location:
        folder = self._folders.get(bucket)
        if folder is None:
            known = ", ".join(sorted(self._folders)) or "none"
            raise StorageError(
                f"Bucket '{bucket}' in {uri} is not mounted on this machine (mounted: {known}); "
                f"map it with Engine(buckets={{'{bucket}': '/local/folder'}}) or Engine.mount()"
            )
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts) or key.startswith("//"):
            raise StorageError(f"{uri} leaves its bucket: '..' and absolute segments are not allowed")
        path = folder.joinpath(*parts)
        return Location(uri, str(path), root=str(folder))


def check_confined(location: Location, path: str | None = None) -> None:
    """Refuse a path (after following symlinks) outside its mapped bucket folder."""
    if location.root is None:
        return
    real = os.path.realpath(path or location.path)
    if real != location.root and not real.startswith(location.root.rstrip(os.sep) + os.sep):
        raise StorageError(f"{location.uri} resolves outside bucket folder {location.root} (symlink?)")
