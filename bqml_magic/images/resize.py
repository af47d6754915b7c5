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

from bqml_magic.errors import ImageError
from bqml_magic.images.image import Image


def resize_image(img: Image, height: int, width: int, preserve_aspect_ratio: bool) -> Image:
    """Resize to ``height`` x ``width``, or to the largest same-aspect size inside that box.

    FLOAT64 images come back with float32 pixels (BigQuery's values have float32
    precision); INT64 images come back as INT64, rounded half to even.
    """
    if height <= 0 or width <= 0:
        raise ImageError(f"Target size must be positive, got height {height} and width {width}")
    in_h, in_w, _ = img.shape
    if in_h == 0 or in_w == 0:
        raise ImageError(f"Cannot resize an empty image of {in_h}x{in_w} pixels")
    out_h, out_w = fit_size(in_h, in_w, height, width) if preserve_aspect_ratio else (height, width)
    resized = bilinear(img, out_h, out_w)
    if img.is_float:
        return Image(resized, is_float=True)
    return Image(np.rint(resized).astype(np.int64), is_float=False)


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

    The four corner arrays are gathered in one go from the stored pixels (often uint8) and
    only then converted to float32, which is exact per value: a downscale converts only
    what it reads.
    """
    ylo, yhi, ylerp = _axis(img.shape[0], out_h)
    xlo, xhi, xlerp = _axis(img.shape[1], out_w)
    rows = img.pixels[np.concatenate([ylo, yhi])]
    corners = Image(np.take(rows, np.concatenate([xlo, xhi]), axis=1), img.is_float).as_float32()
    top_left, top_right = corners[:out_h, :out_w], corners[:out_h, out_w:]
    bottom_left, bottom_right = corners[out_h:, :out_w], corners[out_h:, out_w:]
    xlerp = xlerp[None, :, None]
    top = top_left + (top_right - top_left) * xlerp
    bottom = bottom_left + (bottom_right - bottom_left) * xlerp
    return top + (bottom - top) * ylerp[:, None, None]


def _axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights along one axis (TF's ``compute_interpolation_weights``)."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, src - floor
