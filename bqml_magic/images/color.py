"""ML.CONVERT_COLOR_SPACE: RGB to HSV, GRAYSCALE, YIQ or YUV, as TensorFlow computes them.

HSV follows ``tf.image.rgb_to_hsv`` (``colorspace_op.h``) step by step in float64, the
op's own arithmetic for FLOAT64 values. (TF 2.21 in eager mode sometimes hands a float64
*numpy* array to the op as float32 - a conversion-cache quirk, not the kernel - which is
where "rgb_to_hsv returns float32" came from; the two differ by < 1e-7.) YIQ and YUV are ``tf.image.rgb_to_yiq`` /
``rgb_to_yuv``, a 3x3 matrix in float64 (I, Q, U and V can be negative); GRAYSCALE uses
0.2989, 0.5870, 0.1140 in float64 and has 1 channel. INT64 images are divided by 255 first.

Target names are matched case-insensitively [ours]: BigQuery's docs write them in
upper case and say nothing about other spellings; accepting ``'hsv'`` can only make a
query work that might fail in BigQuery, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bqml_magic.errors import ImageError
from bqml_magic.images.image import Image

_RGB_TO_YIQ = np.array(
    [[0.299, 0.59590059, 0.2115], [0.587, -0.27455667, -0.52273617], [0.114, -0.32134392, 0.31119955]]
)
_RGB_TO_YUV = np.array(
    [[0.299, -0.14714119, 0.61497538], [0.587, -0.28886916, -0.51496512], [0.114, 0.43601035, -0.10001026]]
)
_RGB_TO_GRAY = np.array([[0.2989], [0.5870], [0.1140]])


def convert_color_space(img: Image, target: str) -> Image:
    """The image in another colour space, as a FLOAT64 image (NULL handled by callers)."""
    kernel = COLOR_SPACES.get(target.upper())
    if kernel is None:
        raise ImageError(f"Color space {target} is not supported")
    if img.shape[2] != 3:
        raise ImageError(f"ML.CONVERT_COLOR_SPACE needs an RGB image of 3 channels, got {img.shape[2]}")
    rgb = img.values() if img.is_float else img.values() / 255.0
    return Image(kernel(rgb), is_float=True)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """``tf.image.rgb_to_hsv`` operation by operation (hue in [0, 1))."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    span = v - rgb.min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, span / v, 0.0)
        norm = (1.0 / span) * (1.0 / 6.0)
        h = np.where(r == v, norm * (g - b), np.where(g == v, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0))
    h = np.where(span > 0, h, 0.0)
    h = np.where(h < 0, h + 1.0, h)
    return np.stack([h, s, v], axis=-1)


def _matrix(kernel: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: rgb @ kernel


COLOR_SPACES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "HSV": _rgb_to_hsv,
    "GRAYSCALE": _matrix(_RGB_TO_GRAY),
    "YIQ": _matrix(_RGB_TO_YIQ),
    "YUV": _matrix(_RGB_TO_YUV),
}
