"""ML.RESIZE_IMAGE: TensorFlow's bilinear resize, reproduced to the last bit in numpy.

BigQuery's results equal ``tf.image.resize(x, (h, w), method='bilinear')``: half-pixel
centres, no antialiasing, float32 arithmetic. We follow TensorFlow's kernel
(``resize_bilinear_op.cc``) operation by operation, because the order of the float32
roundings is what makes the result exact: per axis ``src = (dst + 0.5) * scale - 0.5``,
``lower = max(floor(src), 0)``, ``upper = min(ceil(src), size - 1)``, ``lerp = src - floor(src)``;
then interpolate along x (top and bottom rows) and finally along y.
"""

from __future__ import annotations

import numpy as np

from bqml_magic.errors import ImageError, LimitError
from bqml_magic.images.image import MAX_VALUE_BYTES, Image

MAX_SIDE = 2**31 - 1
"""TensorFlow takes the target size as int32."""
BAND_VALUES = 2**20
"""Output values computed per band: the kernel's temporaries stay a few MB whatever the size."""


def resize_image(img: Image, height: int, width: int, preserve_aspect_ratio: bool) -> Image:
    """Resize to ``height`` x ``width``, or to the largest same-aspect size inside that box.

    FLOAT64 images come back with float32 pixels (BigQuery's values have float32
    precision); INT64 images come back as INT64, rounded half to even.
    """
    out_h, out_w = target_size(img, height, width, preserve_aspect_ratio)
    resized = bilinear(img, out_h, out_w)
    if img.is_float:
        return Image(resized, is_float=True)
    return Image(np.rint(resized).astype(np.int64), is_float=False)


def target_size(img: Image, height: int, width: int, preserve_aspect_ratio: bool) -> tuple[int, int]:
    """The output size, checked: positive int32 sides, and at most 60 MB of FLOAT64 values
    (the size ML.DECODE_IMAGE downscales to) [ours], so no target can take the machine down."""
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise ImageError(f"Target size must be between 1 and {MAX_SIDE}, got height {height} and width {width}")
    in_h, in_w, channels = img.shape
    if in_h == 0 or in_w == 0:
        raise ImageError(f"Cannot resize an empty image of {in_h}x{in_w} pixels")
    out_h, out_w = fit_size(in_h, in_w, height, width) if preserve_aspect_ratio else (height, width)
    if out_h * out_w * channels * 8 > MAX_VALUE_BYTES:
        raise LimitError(
            f"Resizing to {out_h}x{out_w} with {channels} channel(s) gives {out_h * out_w * channels * 8:,} bytes "
            f"of FLOAT64 values; an image may hold at most {MAX_VALUE_BYTES:,} (60 MB)"
        )
    return out_h, out_w


def fit_size(in_h: int, in_w: int, box_h: int, box_w: int) -> tuple[int, int]:
    """The largest size inside the box with the image's aspect ratio, as TensorFlow computes it.

    ``scale = min(box_h / in_h, box_w / in_w)`` in float32, each side rounded half to even:
    (20, 200) into (10, 120) gives (10, 100); 4x8 into 3x3 gives 2x3.
    """
    f32 = np.float32
    scale = min(f32(box_h) / f32(in_h), f32(box_w) / f32(in_w))
    out_h, out_w = int(np.rint(scale * f32(in_h))), int(np.rint(scale * f32(in_w)))
    if out_h <= 0 or out_w <= 0:
        raise ImageError(
            f"Resizing a {in_h}x{in_w} image into {box_h}x{box_w} with preserve_aspect_ratio "
            f"gives {out_h}x{out_w}: a side rounds to 0 pixels"
        )
    return out_h, out_w


def bilinear(img: Image, out_h: int, out_w: int) -> np.ndarray:
    """The image's float32 values resized to ``out_h`` x ``out_w``, bit-exact with TensorFlow.

    The four corners are gathered from the stored pixels (often uint8) and only then converted
    to float32, which is exact per value: a downscale converts only what it reads. Output rows
    are independent, so they are computed in bands of about ``BAND_VALUES`` values: the
    temporaries stay small however large the output.
    """
    ylo, yhi, ylerp = _axis(img.shape[0], out_h)
    xlo, xhi, xlerp = _axis(img.shape[1], out_w)
    out = np.empty((out_h, out_w, img.shape[2]), dtype=np.float32)
    band = max(1, BAND_VALUES // (out_w * img.shape[2]))
    x_weight = xlerp[None, :, None]
    for start in range(0, out_h, band):
        rows = slice(start, min(start + band, out_h))
        count = rows.stop - start
        picked = img.pixels[np.concatenate([ylo[rows], yhi[rows]])]  # top rows, then bottom rows
        left = Image(np.take(picked, xlo, axis=1), img.is_float).as_float32()
        right = Image(np.take(picked, xhi, axis=1), img.is_float).as_float32()
        right -= left  # in place, on contiguous arrays: TF's operations in TF's order, no temporaries
        right *= x_weight
        right += left
        top, bottom = right[:count], right[count:]
        bottom -= top
        bottom *= ylerp[rows, None, None]
        np.add(top, bottom, out=out[rows])
    return out


def _axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights along one axis (TF's ``compute_interpolation_weights``)."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, src - floor
