"""Fixtures for the display tests: small real images, a counting reader, a model's schema.

Display code takes plain DataFrames and a ``read(uri) -> bytes`` function, so these tests need
no engine: they check what a person sees.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from bqml_magic.display import thumbnails
from bqml_magic.model_info import ModelInfo
from bqml_magic.runtimes.base import ModelSchema, TensorSpec


def encoded(color: tuple[int, int, int], size: tuple[int, int] = (40, 20), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def fresh_thumbnail_cache():
    """Previews are cached per uri for the session; each test starts without them."""
    thumbnails.cache.clear()
    yield
    thumbnails.cache.clear()


class CountingReader:
    """``read(uri)`` over a dict of files, counting reads; unknown uris fail like the engine."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.reads: list[str] = []

    def __call__(self, uri: str) -> bytes:
        self.reads.append(uri)
        if uri not in self.files:
            from bqml_magic.errors import StorageError

            raise StorageError(f"Object {uri} does not exist")
        return self.files[uri]


@pytest.fixture
def reader() -> CountingReader:
    return CountingReader(
        {
            "gs://b/red.png": encoded((255, 0, 0)),
            "gs://b/blue.jpg": encoded((0, 0, 255), fmt="JPEG"),
            "gs://b/broken.png": b"not a png",
            "gs://b/notes.txt": b"hello",
            'gs://b/"><script>alert(1)</script>.png': encoded((0, 255, 0)),
        }
    )


@pytest.fixture
def sample_photos(sample_set) -> CountingReader:
    """The ten sample photos (real JPEGs and PNGs of a few hundred pixels) as ``gs://my_bucket/photos/<name>``."""
    folder = sample_set.bucket / "photos"
    return CountingReader({f"gs://my_bucket/photos/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())})


@pytest.fixture
def model_info() -> ModelInfo:
    schema = ModelSchema(
        model_type="TENSORFLOW",
        features=(TensorSpec("input_1", "float32", (None, 224, 224, 3), "ARRAY<FLOAT64>"),),
        labels=(TensorSpec("predictions", "float32", (None, 1001), "ARRAY<FLOAT64>"),),
        signature_text="signature_def['serving_default']:\n  inputs['input_1'] tensor_info: <float32>",
    )
    return ModelInfo(
        name="my_dataset.classifier",
        model_type="TENSORFLOW",
        source_path="gs://my_bucket/models/classifier/*",
        size_bytes=16_900_000,
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        schema=schema,
    )


def image_value(pixels: np.ndarray) -> dict:
    """An image as the engine returns it: STRUCT<dimensions, values>."""
    return {"dimensions": np.array(pixels.shape, dtype=np.int64), "values": pixels.reshape(-1)}


def decode_data_uri(uri: str) -> Image.Image:
    assert uri.startswith(("data:image/webp;base64,", "data:image/jpeg;base64,")), uri[:30]
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def data_uris(page: str) -> list[str]:
    """Every image embedded in a page, inline (``src``) or in a ``<style>`` rule, in order."""
    return re.findall(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", page)


def table_of(page: str) -> tuple[list[str], list[list[str]]]:
    """A result's headers as text (``preview uri``) and its body cells as HTML, row by row."""
    head, body = page.split("</thead>")
    headers = [" ".join(re.sub(r"<[^>]+>", " ", h).split()) for h in re.findall(r"<th[^>]*>(.*?)</th>", head)]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    return headers[1:], rows  # the first header is the index's


ReadFn = Callable[[str], bytes]
