"""Objects by their uri: the bytes the ``data`` pseudocolumn and image functions read, previews, and
the ``md5_hash`` column, through one bucket mapping and its access policy."""

from __future__ import annotations

import threading

from bqml_magic.storage import reader
from bqml_magic.storage.uris import BucketMap


class ObjectStore:
    """Reads objects for an engine; md5 digests are computed once per object version."""

    def __init__(self, buckets: BucketMap):
        self.buckets = buckets
        self._digests: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def read(self, uri: str) -> bytes:
        """An object's bytes for inference: BigQuery's per-object limit applies."""
        return reader.read_bytes(self.buckets.resolve(uri), reader.MAX_INFERENCE_FILE_BYTES)

    def read_any(self, uri: str) -> bytes:
        """An object's bytes for a preview of what a query returned, up to ``MAX_PREVIEW_BYTES``."""
        return reader.read_bytes(self.buckets.resolve(uri), reader.MAX_PREVIEW_BYTES, "previews")

    def md5(self, uri: str, generation: int) -> str:
        """base64(MD5) as GCS reports it; an object version's digest never changes. Metadata, so no size limit."""
        key = (uri, generation)
        with self._lock:
            known = self._digests.get(key)
        if known is None:
            known = reader.md5_base64(self.buckets.resolve(uri))
            with self._lock:
                self._digests[key] = known
        return known
