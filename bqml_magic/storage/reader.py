"""Reading objects' bytes, the ``data`` pseudocolumn and model files."""

from __future__ import annotations

import os

from bqml_magic.errors import LimitError, StorageError
from bqml_magic.storage.uris import Location, check_confined

MAX_INFERENCE_FILE_BYTES = 20 * 1000 * 1000
"""BigQuery: each object an ML function reads for inference is under 20 MB."""
MAX_INFERENCE_TOTAL_BYTES = 10**12
"""BigQuery: all objects an inference query reads are under 1 TB together."""


def read_bytes(location: Location, limit: int | None = None) -> bytes:
    """All bytes of one object; ``limit`` refuses bigger files before reading them."""
    try:
        if location.is_local:
            check_confined(location)
            with open(location.path, "rb") as fh:
                if limit is not None:
                    size = os.fstat(fh.fileno()).st_size
                    if size >= limit:
                        raise LimitError(
                            f"{location.uri} is {size:,} bytes; objects for inference must be under {limit:,}"
                        )
                return fh.read()
        import fsspec

        with fsspec.open(location.path, "rb") as fh:
            return fh.read()
    except FileNotFoundError as exc:
        raise StorageError(f"Object {location.uri} does not exist (looked at {location.path})") from exc
    except IsADirectoryError as exc:
        raise StorageError(f"Object {location.uri} is a folder, not a file") from exc
    except PermissionError as exc:
        raise StorageError(f"Object {location.uri} cannot be read: permission denied") from exc
