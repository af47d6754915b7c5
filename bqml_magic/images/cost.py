"""The peak bytes a kernel call holds, known before it allocates a pixel.

The engine's memory budget reserves this much around each call (``bqml_magic/memory.py``),
so the estimates are upper bounds measured on the kernels, not exact figures.
"""

from __future__ import annotations

from bqml_magic.images.image import MAX_VALUE_BYTES, Image
from bqml_magic.images.probe import probe_image
from bqml_magic.images.resize import BAND_VALUES, target_size

_BAND_BYTES = BAND_VALUES * 4 * 10
"""float32 temporaries of one resize band (corners, interpolations)."""
_DECODE_BYTES_PER_PIXEL = {"JPEG": 6, "PNG": 13, "BMP": 13}
"""Peak bytes a pixel while decoding, measured (bench/bench_memory.py): libjpeg-turbo writes into one
numpy array; Pillow keeps 4 bytes a pixel, hands numpy a copy, and converts palettes and 16-bit."""


def decode_cost(data: bytes) -> int:
    """Decoding, plus the downscale to 60 MB of values when the image is bigger."""
    fmt, height, width = probe_image(data)
    pixels = height * width
    downscale = MAX_VALUE_BYTES // 2 + _BAND_BYTES if pixels * 3 * 8 > MAX_VALUE_BYTES else 0
    return pixels * _DECODE_BYTES_PER_PIXEL[fmt] + downscale


def resize_cost(img: Image, height: int, width: int, preserve_aspect_ratio: bool) -> int:
    """The float32 output and one band of temporaries (INT64 images: the int64 copy too)."""
    out_h, out_w = target_size(img, height, width, preserve_aspect_ratio)
    values = out_h * out_w * img.shape[2]
    return values * (4 if img.is_float else 12) + _BAND_BYTES


def per_pixel_cost(img: Image, *_: object) -> int:
    """Kernels that map pixels to pixels: a float64 copy of the input and one of the output."""
    return img.pixels.size * 16
