"""Objects by their reference: the bytes the ``data`` pseudocolumn and image functions read,
previews, and the ``md5_hash`` column, through one access policy, local or from a store.

A query reads an object table's objects by ``ObjectRef`` (uri, generation, size: what its
listing recorded). A local file is read when a worker needs it. An object in a store is first
looked up in the content cache by generation, and otherwise fetched; callers announce the
objects of a batch (and of the next one) with ``prefetch``, which starts their fetches at
once, many in flight, within the budget's share for reads, so the decoders find the bytes
waiting instead of each waiting for its own round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bqml_magic.storage import reader
from bqml_magic.storage.cache import ContentCache
from bqml_magic.storage.listing import Skipped, list_objects
from bqml_magic.storage.remote import RemoteStores
from bqml_magic.storage.uris import BucketMap, Location

_INFERENCE = "objects for inference"


@dataclass(frozen=True)
class ObjectRef:
    """An object as a listing recorded it; ``generation`` and ``size`` are None where unknown."""

    uri: str
    generation: int | None = None
    size: int | None = None


def object_ref(value: Mapping[str, Any] | None) -> ObjectRef | None:
    """The ``{uri, generation, size}`` struct the SQL passes for an object table's row; None for NULL."""
    if value is None or value.get("uri") is None:
        return None
    return ObjectRef(value["uri"], value.get("generation"), value.get("size"))


class ObjectStore:
    """Reads objects for an engine; md5 digests are computed once per object version."""

    def __init__(
        self, buckets: BucketMap, stores: RemoteStores, cache: ContentCache | None = None, read_ahead_bytes: int = 0
    ):
        self.buckets = buckets
        self.stores = stores
        self.cache = cache
        self.read_ahead_bytes = read_ahead_bytes
        self._digests: dict[tuple[str, int], str] = {}
        self._ahead: dict[ObjectRef, Future[bytes]] = {}
        self._ahead_bytes = 0
        self._lock = threading.Lock()

    def list(self, uris: list[str], skipped: list[Skipped] | None = None) -> Iterator[pa.RecordBatch]:
        """The objects an object table's ``uris`` patterns match, streamed (``listing.py``)."""
        return list_objects(self.buckets, self.stores, uris, skipped)

    def read(self, ref: ObjectRef) -> bytes:
        """An object's bytes for inference: BigQuery's per-object limit applies."""
        location = self.buckets.resolve(ref.uri)
        if isinstance(location, Location):
            return reader.read_bytes(location, reader.MAX_INFERENCE_FILE_BYTES)
        with self._lock:
            ahead = self._ahead.pop(ref, None)
            if ahead is not None:
                self._ahead_bytes -= ref.size or 0
        store = self.stores.store_id(location.protocol)
        if ahead is None and self.cache is not None and ref.generation is not None:
            cached = self.cache.get(store, ref.uri, ref.generation)
            if cached is not None:
                return cached
        data = (ahead or self.stores.submit(location, reader.MAX_INFERENCE_FILE_BYTES, _INFERENCE)).result()
        if self.cache is not None and ref.generation is not None:
            self.cache.put(store, ref.uri, ref.generation, data)
        return data

    def read_any(self, uri: str) -> bytes:
        """An object's bytes for a preview of what a query returned, up to ``MAX_PREVIEW_BYTES``."""
        location = self.buckets.resolve(uri)
        if isinstance(location, Location):
            return reader.read_bytes(location, reader.MAX_PREVIEW_BYTES, "previews")
        return self.stores.read(location, reader.MAX_PREVIEW_BYTES, "previews")

    def prefetch(self, refs: Iterable[ObjectRef | None]) -> None:
        """Start fetching these objects from their stores (those not in the content cache), while
        the read-ahead share of the memory budget has room; ``read`` then finds them waiting."""
        for ref in refs:
            if ref is None or ref.size is None or ref.generation is None:
                continue
            with self._lock:
                if ref in self._ahead:
                    continue
                if self._ahead_bytes + ref.size > self.read_ahead_bytes:
                    return
            location = self.buckets.resolve(ref.uri)
            if isinstance(location, Location):
                continue  # a local file is read by the worker that decodes it
            store = self.stores.store_id(location.protocol)
            if self.cache is not None and self.cache.has(store, ref.uri, ref.generation):
                continue
            future = self.stores.submit(location, reader.MAX_INFERENCE_FILE_BYTES, _INFERENCE)
            with self._lock:
                self._ahead[ref] = future
                self._ahead_bytes += ref.size

    def forget_prefetched(self) -> None:
        """Drop what was fetched ahead and never read (a query stopped early, by LIMIT or an error)."""
        with self._lock:
            ahead, self._ahead, self._ahead_bytes = self._ahead, {}, 0
        for future in ahead.values():
            future.cancel()

    def md5(self, uri: str, generation: int) -> str:
        """base64(MD5) as GCS reports it; an object version's digest never changes. Metadata, so no size limit."""
        key = (uri, generation)
        with self._lock:
            known = self._digests.get(key)
        if known is None:
            location = self.buckets.resolve(uri)
            if isinstance(location, Location):  # noqa: SIM108 - mypy narrows a statement, not a ternary
                known = reader.md5_base64(location)
            else:
                known = self.stores.md5_base64(location)
            with self._lock:
                self._digests[key] = known
        return known
