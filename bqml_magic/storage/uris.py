"""Where a URI lives on this machine, and whether SQL may read it at all (docs/behaviour.md#access-policy).

The same SQL must run here and in BigQuery, so ``gs://bucket/path`` stays the URI users write
and see. A bucket mapping turns it into a local folder; an unmapped ``gs://`` or ``s3://`` URI
is the object store itself (``remote.py``). SQL may come from elsewhere (a shared notebook),
so what it can name is confined: a mapped bucket's folder or a local folder the user allowed
(``local_roots``), each checked after following symlinks, and the object stores: ``gs://`` and
``s3://``, plus any other fsspec protocol the user gave ``storage_options`` for. Nothing else:
not ``~/.ssh``, ``/proc/self/environ`` or ``/dev/zero``, not ``http://`` (a cloud metadata
server is one request away). This module is the one place that decides; ``reader.py``
re-checks at the moment a file is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from bqml_magic.errors import StorageError, advice

OBJECT_STORES = ("gs", "s3")
"""Protocols read from the store itself without being asked: BigQuery's object tables live there."""
_ALIASES = {"gcs": "gs", "s3a": "s3"}
_NEVER_REMOTE = ("file", "local")
"""Local files are the local policy's (``local_roots``): no storage option opens them another way."""
NAME_MAX = 255
"""Bytes in one file or folder name (ext4, XFS, APFS, NTFS): GCS allows longer object names."""
PATH_MAX = 4096
"""Bytes in a whole path (Linux)."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOW_TO_ALLOW = {
    "python": "allow a folder with Engine(local_roots=['/folder']), or mount it as a bucket "
    "(engine.mount('bucket', '/folder')) and write gs://bucket/...",
    "notebook": "mount it as a bucket (%bqml mount bucket=/folder) and write gs://bucket/..., or allow the folder "
    "with bqml_magic.context.local_roots = ['/folder'], then bqml_magic.context.close()",
}


@dataclass(frozen=True)
class Location:
    """A URI resolved to a local path, with the real folders it must stay inside."""

    uri: str
    path: str
    roots: tuple[str, ...]
    """Real (symlink-free) folders; the file's real path must be inside one of them."""
    bucket: str | None = None
    """The ``gs://`` bucket the URI named; None for a local path inside an allowed root."""

    def child(self, rel: str) -> Location:
        """An entry below this folder location, ``rel`` being its ``/``-separated relative name."""
        return Location(_below(self.uri, rel), os.path.join(self.path, *rel.split("/")), self.roots, self.bucket)


@dataclass(frozen=True)
class RemoteLocation:
    """A URI read from an object store: ``path`` is ``bucket/key`` as fsspec names it."""

    uri: str
    protocol: str
    path: str

    @property
    def bucket(self) -> str:
        return self.path.partition("/")[0]

    def child(self, rel: str) -> RemoteLocation:
        """An object below this prefix, ``rel`` being its ``/``-separated relative name."""
        return RemoteLocation(_below(self.uri, rel), self.protocol, _below(self.path, rel))


def _below(base: str, rel: str) -> str:
    return base + rel if base.endswith("/") or not base else f"{base}/{rel}"


class BucketMap:
    """``{bucket: folder}`` plus the allowed local roots: the only places objects and models come from."""

    def __init__(
        self,
        buckets: Mapping[str, str | os.PathLike[str]] | None = None,
        local_roots: Iterable[str | os.PathLike[str]] = (),
        remote: Iterable[str] = OBJECT_STORES,
    ):
        self.remote = frozenset(protocol_name(p) for p in remote) - set(_NEVER_REMOTE)
        """The protocols read from their stores: ``OBJECT_STORES`` and those given storage options."""
        self._folders: dict[str, Path] = {}
        for bucket, folder in (buckets or {}).items():
            self.mount(bucket, folder)
        if isinstance(local_roots, (str, os.PathLike)):
            local_roots = [local_roots]  # one folder given as a string, not its characters
        self._roots = tuple(dict.fromkeys(_real_folder(root, "allow local root") for root in local_roots))
        self._node: str | None = None
        self._unseen: dict[str, str] = {}
        """Folders of the driver's mapping this node does not have: bucket name, or local root, -> folder."""

    @classmethod
    def seen_from(
        cls, node: str, buckets: Mapping[str, str], local_roots: Iterable[str], remote: Iterable[str]
    ) -> BucketMap:
        """A driver's mapping as a cluster node sees it. A folder the node lacks stays in the map as
        missing: reading below it is an error naming the node and the folder, never an empty result
        or a fall through to Cloud Storage."""
        present = {bucket: folder for bucket, folder in buckets.items() if os.path.isdir(folder)}
        mapping = cls(present, [root for root in local_roots if os.path.isdir(root)], remote)
        mapping._node = node
        mapping._unseen = {bucket: folder for bucket, folder in buckets.items() if bucket not in present}
        mapping._unseen.update({root: root for root in local_roots if not os.path.isdir(root)})
        return mapping

    def mount(self, bucket: str, folder: str | os.PathLike) -> None:
        """Map a bucket name to an existing local folder."""
        if not bucket or "/" in bucket or "*" in bucket:
            raise StorageError(f"Invalid bucket name {bucket!r}")
        self._folders[bucket] = Path(_real_folder(folder, f"mount bucket '{bucket}'"))

    @property
    def buckets(self) -> dict[str, Path]:
        return dict(self._folders)

    @property
    def local_roots(self) -> tuple[str, ...]:
        return self._roots

    def resolve(self, uri: str) -> Location | RemoteLocation:
        """Where a URI's bytes are, if the policy allows it; raises StorageError naming the URI.

        What follows ``gs://bucket/`` or ``file://`` is a name taken as written, as GCS takes an
        object's name: ``#``, ``?`` and ``%`` are characters of file names, not URL syntax.
        """
        if "\x00" in uri:
            raise StorageError(f"{uri!r} contains a NUL byte, which no object name or file path can hold")
        scheme, sep, rest = uri.partition("://")
        if not sep or not _SCHEME.fullmatch(scheme):
            return self._resolve_local(uri, os.path.expanduser(uri))
        scheme = protocol_name(scheme)
        if scheme == "file":
            host, _, path = rest.partition("/")  # file:///path, or file://localhost/path
            if host not in ("", "localhost"):
                raise StorageError(f"{uri} names the host '{host}': file URIs are local paths, file:///path")
            return self._resolve_local(uri, "/" + path)
        bucket, _, key = rest.partition("/")
        if scheme == "gs" and bucket in self._unseen:
            self._refuse_unseen(uri, self._unseen[bucket])
        if scheme == "gs" and bucket in self._folders:  # a mapping wins over the network
            return self._resolve_bucket(uri, bucket, "/" + key)
        if scheme in self.remote:
            if not bucket:
                raise StorageError(f"{uri} names no bucket: write {scheme}://bucket/object_name")
            return RemoteLocation(uri, scheme, rest)
        raise StorageError(
            f"{uri}: {scheme}:// URIs are not read here. Objects and models come from object stores "
            f"({', '.join(f'{p}://' for p in sorted(self.remote))}; another fsspec protocol once you give it "
            f"options), from gs:// buckets mapped to local folders or from local paths inside allowed roots: "
            + advice(
                f"Engine(storage_options={{'{scheme}': {{...}}}}, buckets={{'bucket': '/folder'}}, "
                "local_roots=['/folder'])",
                "%bqml mount bucket=/folder, or bqml_magic.context.storage_options / .local_roots",
            )
        )

    def _resolve_bucket(self, uri: str, bucket: str, key: str) -> Location:
        folder = self._folders[bucket]
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts) or key.startswith("//"):
            raise StorageError(f"{uri} leaves its bucket: '..' and absolute segments are not allowed")
        location = Location(uri, str(folder.joinpath(*parts)), (str(folder),), bucket)
        _check_names(location)
        check_confined(location)
        return location

    def _resolve_local(self, uri: str, path: str) -> Location:
        location = Location(uri, os.path.abspath(path), self._roots)
        _check_names(location)
        real = os.path.realpath(location.path)
        if _inside(real, self._roots):
            return location
        for root in self._unseen.values():
            if _inside(location.path, (root,)):
                self._refuse_unseen(uri, root)
        allowed = ", ".join(self._roots) or "none"
        where = "resolves (through a symlink) outside" if _inside(location.path, self._roots) else "is outside"
        hint = ""
        for bucket, folder in sorted(self._folders.items()):
            if _inside(real, (str(folder),)):
                hint = f"; it is in bucket '{bucket}': name it gs://{bucket}/{os.path.relpath(real, folder)}"
                break
        raise StorageError(
            f"{uri} {where} the allowed local roots (allowed: {allowed}); SQL reads local files only from "
            f"folders you allow: {advice(**_HOW_TO_ALLOW)}{hint}"
        )

    def _refuse_unseen(self, uri: str, folder: str) -> NoReturn:
        raise StorageError(
            f"{uri} is read from folder {folder} (mapped on the driver), which node {self._node} of the Ray cluster "
            "cannot see: mount that folder at the same path on every node, or read the objects from their store "
            "(gs://, s3://), which every node can reach"
        )


def protocol_name(scheme: str) -> str:
    """A URI scheme as the policy names it: lower case, aliases folded (``gcs`` is ``gs``)."""
    scheme = scheme.lower()
    return _ALIASES.get(scheme, scheme)


def check_confined(location: Location, path: str | None = None) -> str:
    """The real path of ``path`` (default: the location's), refused when outside the location's roots."""
    real = os.path.realpath(path or location.path)
    if _inside(real, location.roots):
        return real
    if location.bucket is not None:
        raise StorageError(f"{location.uri} resolves outside bucket folder {location.roots[0]} (symlink?)")
    raise StorageError(f"{location.uri} resolves outside the allowed local roots; {advice(**_HOW_TO_ALLOW)}")


def _inside(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _check_names(location: Location) -> None:
    """Names the file system cannot hold are refused here, with the URI, not as an OS error later."""
    try:
        encoded = os.fsencode(location.path)
    except UnicodeError:
        raise StorageError(f"{location.uri} cannot be a local file name on this system") from None
    if len(encoded) >= PATH_MAX:
        raise StorageError(f"{location.uri} is too long for a local path ({len(encoded):,} bytes; the limit is 4,095)")
    for part in encoded.split(os.fsencode(os.sep)):
        if len(part) > NAME_MAX:
            shown = os.fsdecode(part)[:40]
            raise StorageError(
                f"{location.uri} cannot be a local file: its part '{shown}...' is {len(part):,} bytes long, and "
                f"file systems allow at most {NAME_MAX} bytes per file or folder name"
            )


def _real_folder(folder: str | os.PathLike, action: str) -> str:
    """An existing folder's real path; StorageError naming it otherwise."""
    try:
        path = Path(folder).expanduser().resolve()
        exists = path.is_dir()
    except (OSError, ValueError, RuntimeError):
        exists = False
    if not exists:
        raise StorageError(f"Cannot {action}: folder {str(folder)!r} does not exist")
    return str(path)
