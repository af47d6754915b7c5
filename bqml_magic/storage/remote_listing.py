"""Listing an object store's objects under a ``uris`` pattern, page by page, with the store's metadata.

Each page of the store's listing API (1,000 objects) becomes rows as it arrives, so a bucket of
millions of objects is never held whole. GCS's listing carries everything BigQuery shows:
``generation``, ``size``, ``contentType``, ``md5Hash``, ``updated`` and custom ``metadata``. S3's
(ListObjectsV2) carries the key, size, ETag and LastModified: the content type is then the one
the name implies, ``md5_hash`` the ETag when it is an MD5 (not for multipart uploads, whose
digest is computed when read), the generation the modification time in microseconds (its
sub-second digits from the ETag: S3 keeps whole seconds), and custom metadata (only a HEAD
per object would give it) is empty.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

from bqml_magic.storage.remote import RemoteStores
from bqml_magic.storage.rows import ObjectRow, Pattern, content_type
from bqml_magic.storage.uris import RemoteLocation

PAGE_OBJECTS = 1000
"""Objects per listing request: the most GCS and S3 return at once."""


def remote_rows(stores: RemoteStores, pattern: Pattern, location: RemoteLocation) -> Iterator[ObjectRow]:
    """The objects a pattern matches: one ``info`` for a name, a prefix listing for a wildcard."""
    if not pattern.wildcard:
        info = stores.info(location)
        if info is not None:  # GCS: no such object matches nothing
            yield _info_row(location, info)
        return
    bucket, _, key_prefix = location.path.partition("/")
    key_prefix = key_prefix.partition("*")[0]
    scheme_bucket = f"{location.uri.partition('://')[0]}://{bucket}/"
    fs = stores.filesystem(location.protocol)
    if location.protocol == "gs":
        pages, to_row = _gcs_pages(fs, bucket, key_prefix), _gcs_row
    elif location.protocol == "s3":
        pages, to_row = _s3_pages(fs, bucket, key_prefix), _s3_row
    else:
        pages, to_row = _find_pages(fs, f"{bucket}/{key_prefix}"), _fsspec_row
    for page in stores.pages(location, pages):
        for item in page:
            row = to_row(scheme_bucket, item)
            if row is not None and pattern.wants(row.uri):
                yield row


async def _gcs_pages(fs: Any, bucket: str, prefix: str) -> AsyncIterator[list[dict[str, Any]]]:
    token = None
    while True:
        page = await fs._call_list_objects(bucket, prefix=prefix or None, maxResults=PAGE_OBJECTS, pageToken=token)
        yield page.get("items", [])
        token = page.get("nextPageToken")
        if not token:
            return


async def _s3_pages(fs: Any, bucket: str, prefix: str) -> AsyncIterator[list[dict[str, Any]]]:
    request = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE_OBJECTS, **fs.req_kw}
    async for page in fs._list_pages("list_objects_v2", **request):  # each page retried by s3fs
        yield page.get("Contents", [])


async def _find_pages(fs: Any, prefix: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Another fsspec store: its ``find`` (one call; such stores rarely page their own way)."""
    if fs.async_impl:
        found = await fs._find(prefix, detail=True)
    else:
        found = await asyncio.to_thread(fs.find, prefix, detail=True)
    yield [{**entry, "name": name} for name, entry in sorted(found.items())]


def _gcs_row(scheme_bucket: str, item: dict[str, Any]) -> ObjectRow | None:
    name = item["name"]
    if name.endswith("/"):
        return None  # a "folder" placeholder the console made, not an object BigQuery lists
    return ObjectRow(
        scheme_bucket + name,
        int(item["generation"]),
        item.get("contentType") or content_type(name),
        int(item.get("size") or 0),
        item.get("md5Hash"),
        _micros(datetime.fromisoformat(item["updated"].replace("Z", "+00:00"))),
        [(str(k), str(v)) for k, v in (item.get("metadata") or {}).items()],
    )


def _s3_row(scheme_bucket: str, item: dict[str, Any]) -> ObjectRow | None:
    key = item["Key"]
    if key.endswith("/"):
        return None
    updated = _micros(item["LastModified"])
    return ObjectRow(
        scheme_bucket + key,
        _s3_generation(updated, item.get("ETag")),
        content_type(key),
        int(item["Size"]),
        _etag_md5(item.get("ETag")),
        updated,
    )


def _fsspec_row(scheme_bucket: str, item: dict[str, Any]) -> ObjectRow | None:
    if item.get("type") != "file":
        return None
    name = item["name"].lstrip("/").partition("/")[2]  # without the bucket (some stores name "/bucket/key")
    when = item.get("mtime") or item.get("LastModified") or item.get("last_modified") or item.get("updated")
    updated = _micros(when) if isinstance(when, datetime) else int(float(when or 0) * 1e6)
    generation = int(item.get("generation") or updated)
    return ObjectRow(scheme_bucket + name, generation, content_type(name), int(item.get("size") or 0), None, updated)


def _info_row(location: RemoteLocation, info: dict[str, Any]) -> ObjectRow:
    """One named object from ``info``: gcsfs and s3fs give the listing's fields under the same names."""
    key = location.path.partition("/")[2]
    scheme_bucket = location.uri[: len(location.uri) - len(key)]
    item = {**info, "name": key}
    if location.protocol == "gs":
        return _gcs_row(scheme_bucket, item) or _fsspec_row(scheme_bucket, {**item, "type": "file"})  # type: ignore[return-value]
    if location.protocol == "s3":
        return _s3_row(scheme_bucket, {**item, "Key": item["name"], "Size": info["size"]})  # type: ignore[return-value]
    return _fsspec_row(scheme_bucket, item)  # type: ignore[return-value]


def _s3_generation(updated_us: int, etag: str | None) -> int:
    """S3 has no generation: the modification time in microseconds stands in, its sub-second digits
    (always zero: S3 keeps whole seconds) taken from the ETag, so an object rewritten within the
    same second is still a new version to the content cache."""
    if updated_us % 1_000_000 or not etag:
        return updated_us
    return updated_us + int(hashlib.sha256(etag.encode()).hexdigest(), 16) % 1_000_000


def _etag_md5(etag: str | None) -> str | None:
    """base64(MD5) as GCS shows it, from an S3 ETag that is one (hex; a multipart upload's is not)."""
    value = (etag or "").strip('"')
    try:
        return base64.b64encode(binascii.unhexlify(value)).decode("ascii") if len(value) == 32 else None
    except binascii.Error:
        return None


def _micros(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1_000_000)
