"""Mutations of real JPEG, PNG and BMP files: every outcome is an image or a BQMLError.

Kernels first (many examples, fast), then a few through SQL on both paths (the streamed SELECT
list and DuckDB's WHERE), where the error must also name the object. Derandomized, so CI sees
the same examples every run.
"""

from __future__ import annotations

import importlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from bqml_magic import Engine
from bqml_magic.errors import BQMLError
from bqml_magic.functions import REGISTRY
from bqml_magic.images import Image
from bqml_magic.memory import PixelPool

DECODE, RESIZE = REGISTRY["ML.DECODE_IMAGE"], REGISTRY["ML.RESIZE_IMAGE"]
PIXELS = PixelPool(256 * 2**20)


def _encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, (size[1], size[0], len(mode) if mode != "P" else 1), np.uint8)
    image = PILImage.fromarray(pixels.squeeze() if mode in ("L", "P") else pixels, mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(package: str, *parts: str) -> bytes:
    """A real photo shipped inside an installed package (the suite downloads nothing)."""
    return Path(importlib.import_module(package).__file__).parent.joinpath(*parts).read_bytes()


SEEDS = {
    "photo.jpg": _photo("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"),
    "photo.png": _photo("skimage", "data", "coffee.png"),
    "small.jpg": _encoded("JPEG", (24, 17)),
    "progressive.jpg": _encoded("JPEG", (33, 20), progressive=True),
    "small.png": _encoded("PNG", (19, 23)),
    "rgba.png": _encoded("PNG", (9, 7), "RGBA"),
    "palette.png": _encoded("PNG", (12, 5), "P"),
    "small.bmp": _encoded("BMP", (13, 11)),
    "grey.bmp": _encoded("BMP", (8, 9), "L"),
}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed file with a few edits: flipped bytes, cuts, insertions, and huge header numbers."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "big_number"]))
        if edit == "flip" and data:
            data[where] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[where : where + draw(st.integers(1, 64))]
        elif edit == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "truncate":
            del data[where:]
        elif edit == "big_number" and len(data) >= 30:
            # header fields (sizes, lengths) live in the first bytes of all three formats
            spot = draw(st.integers(0, min(len(data), 64) - 4))
            data[spot : spot + 4] = struct.pack(">I", draw(st.sampled_from([0, 2**16 - 1, 2**31 - 1, 2**32 - 1])))
    return bytes(data)


def _outcome(data: bytes) -> Image | BQMLError:
    try:
        image = DECODE.call([data], "gs://fuzz/object", PIXELS)
        RESIZE.call([image, 8, 8, False], "gs://fuzz/object", PIXELS)
        return image
    except BQMLError as exc:
        assert exc.function in ("ML.DECODE_IMAGE", "ML.RESIZE_IMAGE") and exc.uri == "gs://fuzz/object"
        assert "<class" not in str(exc) and "Traceback" not in str(exc)
        return exc


def test_seeds_decode():
    for name, data in SEEDS.items():
        assert isinstance(_outcome(data), Image), name


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_kernels_give_an_image_or_a_bqml_error(data):
    outcome = _outcome(data)
    if isinstance(outcome, Image):
        height, width, channels = outcome.shape
        assert height > 0 and width > 0 and channels == 3


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory) -> tuple[Engine, Path]:
    bucket = tmp_path_factory.mktemp("fuzz_bucket")
    engine = Engine(buckets={"b": bucket}, memory_budget="1GB")
    (bucket / "x.img").write_bytes(SEEDS["small.png"])
    engine.query("CREATE SCHEMA d; CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://b/*'])")
    yield engine, bucket
    engine.close()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=mutated())
def test_sql_gives_rows_or_a_bqml_error_naming_the_object(fuzz_engine, data):
    engine, bucket = fuzz_engine
    (bucket / "x.img").write_bytes(data)
    for sql in (
        "SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image FROM d.t",
        "SELECT uri FROM d.t WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3",
    ):
        try:
            assert len(engine.query(sql)) == 1
        except BQMLError as exc:
            assert exc.uri == "gs://b/x.img", (sql, str(exc))
