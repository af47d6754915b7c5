"""Objects by their uri: the bytes the ``data`` pseudocolumn and image functions read, and the
``md5_hash`` column, through one bucket mapping."""

from __future__ import annotations

import base64
import hashlib
import threading

from bqml_magic.storage.reader import MAX_INFERENCE_FILE_BYTES, read_bytes
from bqml_magic.storage.uris import BucketMap


class ObjectStore:
    """Reads objects for an engine; md5 digests are computed once per object version."""

    def __init__(self, buckets: BucketMap):
        self.buckets = buckets
        self._digests: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def read(self, uri: str) -> bytes:
        """An object's bytes for inference: BigQuery's per-object limit applies."""
        return read_bytes(self.buckets.resolve(uri), limit=MAX_INFERENCE_FILE_BYTES)

    def read_any(self, uri: str) -> bytes:
        """An object's bytes whatever its size (previews of what a query returned)."""
        return read_bytes(self.buckets.resolve(uri))

    def md5(self, uri: str, generation: int) -> str:
        """base64(MD5) as GCS reports it; an object version's digest never changes."""
        key = (uri, generation)
        with self._lock:
            known = self._digests.get(key)
        if known is None:
            known = base64.b64encode(hashlib.md5(self.read_any(uri)).digest()).decode("ascii")
            with self._lock:
                self._digests[key] = known
        return known
