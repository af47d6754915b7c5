"""What a listing records per object, and the ``uris`` patterns it matches: shared by local and store listings."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

from bqml_magic.errors import SQLError

METADATA_TYPE = pa.list_(pa.struct([("name", pa.string()), ("value", pa.string())]))
OBJECT_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("generation", pa.int64()),
        ("content_type", pa.string()),
        ("size", pa.int64()),
        ("md5_hash", pa.string()),
        ("updated", pa.timestamp("us", tz="UTC")),
        ("metadata", METADATA_TYPE),
    ]
)
"""A listing's columns. ``md5_hash`` is the store's (NULL for a local file or an object the store
gives none: the view computes those when read); ``ref`` derives from the rest in the view."""
# Formats mimetypes may not know on every platform; GCS sets these on upload.
_EXTRA_TYPES = {".webp": "image/webp", ".bmp": "image/bmp", ".jfif": "image/jpeg"}


class ObjectRow(NamedTuple):
    uri: str
    generation: int
    content_type: str
    size: int
    md5_hash: str | None
    updated_us: int
    """Microseconds since the epoch, UTC."""
    metadata: Sequence[tuple[str, str]] = ()
    """The object's custom metadata, as BigQuery shows it: name and value pairs."""


@dataclass(frozen=True)
class Pattern:
    """One ``uris`` entry split at its ``*``: objects whose name is prefix + anything + suffix.

    BigQuery's rule: each pattern holds at most one ``*``, after the bucket name, and ``*``
    also matches ``/`` (a prefix/suffix match, not a glob).
    """

    written: str
    prefix: str
    suffix: str
    wildcard: bool

    @classmethod
    def parse(cls, uri: str) -> Pattern:
        scheme, sep, rest = uri.partition("://")
        if uri.count("*") > 1:
            raise SQLError(f"Invalid uris entry {uri!r}: only one '*' wildcard is allowed per URI")
        if sep and "*" in rest.split("/", 1)[0]:
            raise SQLError(f"Invalid uris entry {uri!r}: the bucket name cannot contain '*'")
        if sep and scheme.lower() != "file" and "/" not in rest:
            raise SQLError(f"Invalid uris entry {uri!r}: expected {scheme}://bucket/object_name")
        prefix, star, suffix = uri.partition("*")
        return cls(uri, prefix, suffix, bool(star))

    def wants(self, uri: str) -> bool:
        """Whether an object named ``uri`` matches, or a folder ``uri`` (ending in ``/``) may hold one that does."""
        if uri.endswith("/"):
            return uri.startswith(self.prefix) or self.prefix.startswith(uri)
        return (
            len(uri) >= len(self.prefix) + len(self.suffix)
            and uri.startswith(self.prefix)
            and uri.endswith(self.suffix)
        )

    @property
    def folder_uri(self) -> str:
        """The folder a wildcard pattern walks: its prefix up to the last ``/``."""
        return self.prefix[: self.prefix.rfind("/") + 1]


def content_type(name: str) -> str:
    """The MIME type GCS would have recorded at upload, from the object name."""
    ext = os.path.splitext(name)[1].lower()
    return _EXTRA_TYPES.get(ext) or mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def to_batch(rows: list[ObjectRow]) -> pa.RecordBatch:
    columns = list(zip(*rows)) if rows else [()] * len(OBJECT_SCHEMA)
    metadata = [[{"name": n, "value": v} for n, v in pairs] for pairs in columns[6]]
    return pa.record_batch(
        [pa.array(values, f.type) for values, f in zip([*columns[:6], metadata], OBJECT_SCHEMA)],
        schema=OBJECT_SCHEMA,
    )
