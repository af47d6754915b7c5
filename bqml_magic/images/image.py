"""The image value of BigQuery ML, and its Arrow form.

BigQuery sees an image as ``STRUCT<dimensions ARRAY<INT64>, values ARRAY<FLOAT64|INT64>>``
with HWC row-major values. Internally we keep the pixels as a numpy array and defer the
conversion to float64: a freshly decoded image stays ``uint8`` (its FLOAT64 values are
``byte / 255``), which is 8x smaller and lets resize start from bytes exactly as TensorFlow
does. ``values()`` gives what BigQuery would show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bqml_magic.errors import ImageError

MAX_VALUE_BYTES = 60 * 2**20
"""An image's FLOAT64 values are at most 60 MB: BigQuery downscales a decoded image to fit [doc]
(MB = 2**20 [ours]); we hold every image a function makes to the same bound [ours]."""

FLOAT_IMAGE_TYPE = pa.struct([("dimensions", pa.list_(pa.int64())), ("values", pa.list_(pa.float64()))])
INT_IMAGE_TYPE = pa.struct([("dimensions", pa.list_(pa.int64())), ("values", pa.list_(pa.int64()))])


@dataclass(frozen=True, eq=False)
class Image:
    """HWC pixels plus the SQL element type they stand for.

    ``is_float`` True: a FLOAT64 image; ``pixels`` is uint8 (value = byte/255), float32 or
    float64. ``is_float`` False: an INT64 image (after ML.CONVERT_IMAGE_TYPE); ``pixels`` is
    an integer array.
    """

    pixels: np.ndarray
    is_float: bool = True

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w, c = self.pixels.shape
        return int(h), int(w), int(c)

    def values(self) -> np.ndarray:
        """The values BigQuery would return, as float64 or int64, still HWC-shaped."""
        if not self.is_float:
            return self.pixels.astype(np.int64, copy=False)
        if self.pixels.dtype == np.uint8:
            return self.pixels.astype(np.float64) / 255.0
        return self.pixels.astype(np.float64, copy=False)

    def as_float32(self) -> np.ndarray:
        """Values as float32 (model inputs, resize); float32(k)/255 equals float32(k/255.0) exactly.

        INT64 images keep their 0..255 scale: only FLOAT64 images stored as bytes are divided.
        """
        if self.is_float and self.pixels.dtype == np.uint8:
            return np.divide(self.pixels, np.float32(255.0), dtype=np.float32)  # one pass, no uint8 copy
        return self.pixels.astype(np.float32, copy=False)


def to_arrow(images: Sequence[Image | None]) -> pa.Array:
    """Pack images (None for NULL) into one Arrow struct array, without per-pixel Python."""
    present = [im for im in images if im is not None]
    is_float = all(im.is_float for im in present) if present else True
    if present and any(im.is_float != is_float for im in present):
        raise TypeError("cannot mix FLOAT64 and INT64 images in one column")
    value_type = pa.float64() if is_float else pa.int64()
    valid = np.array([im is not None for im in images], dtype=bool)
    dims = [list(im.shape) if im is not None else [] for im in images]
    flat = [im.values().reshape(-1) for im in present]
    sizes = np.array([im.pixels.size if im is not None else 0 for im in images], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32 if sizes.sum() < 2**31 else np.int64)
    values = np.concatenate(flat) if flat else np.empty(0, dtype=value_type.to_pandas_dtype())
    list_cls = pa.ListArray if offsets.dtype == np.int32 else pa.LargeListArray
    values_arr = list_cls.from_arrays(pa.array(offsets), pa.array(values, type=value_type))
    if list_cls is pa.LargeListArray:
        values_arr = values_arr.cast(pa.list_(value_type))
    dims_arr = pa.array(dims, type=pa.list_(pa.int64()))
    mask = pa.array(~valid)
    return pa.StructArray.from_arrays([dims_arr, values_arr], names=["dimensions", "values"], mask=mask)


def from_arrow(array: pa.Array | pa.ChunkedArray) -> list[Image | None]:
    """Unpack an image struct column (as stored in a table) back into Images.

    Values written by SQL are checked: 3 dimensions ``[height, width, channels]`` with 1 or 3
    channels, as many values as their product, and no NULL value inside.
    """
    if isinstance(array, pa.ChunkedArray):
        array = pa.concat_arrays(array.chunks) if array.num_chunks != 1 else array.chunk(0)
    if not pa.types.is_struct(array.type) or {f.name for f in array.type} != {"dimensions", "values"}:
        raise ImageError(f"Expected an image STRUCT<dimensions ARRAY<INT64>, values ARRAY<...>>, got {array.type}")
    values_col = array.field("values")
    is_float = pa.types.is_floating(values_col.type.value_type)
    child = values_col.values
    flat = child.to_numpy(zero_copy_only=False).astype(np.float64 if is_float else np.int64, copy=False)
    child_nulls = None if child.null_count == 0 else child.is_null().to_numpy(zero_copy_only=False)
    offsets = values_col.offsets.to_numpy()
    valid = array.is_valid().to_numpy(zero_copy_only=False) & values_col.is_valid().to_numpy(zero_copy_only=False)
    out: list[Image | None] = []
    for i, dims in enumerate(array.field("dimensions").to_pylist()):
        if not valid[i]:
            out.append(None)
            continue
        start, stop = offsets[i], offsets[i + 1]
        if child_nulls is not None and child_nulls[start:stop].any():
            raise ImageError("Image values must not contain NULL")
        out.append(Image(flat[start:stop].reshape(_checked_shape(dims, stop - start)), is_float=is_float))
    return out


def _checked_shape(dims: list[int | None] | None, count: int) -> tuple[int, int, int]:
    sides = [d for d in dims or () if d is not None and d >= 0]
    if dims is None or len(dims) != 3 or len(sides) != 3:
        raise ImageError(f"Image dimensions must be [height, width, channels], got {dims}")
    height, width, channels = sides
    if channels not in (1, 3):
        raise ImageError(f"Image must have 1 or 3 channels, got dimensions {dims}")
    if height * width * channels != count:
        raise ImageError(f"Image dimensions {dims} need {height * width * channels} values, got {count}")
    return height, width, channels
