"""ML.DECODE_IMAGE: bytes to pixels, equal to ``tf.io.decode_image(data, channels=3)``.

JPEG goes through libjpeg-turbo (simplejpeg) with the fast integer DCT and fancy
upsampling, TensorFlow's settings: Pillow's accurate DCT differs from it by up to 22/255.
PNG goes through libpng (imagecodecs), as in TensorFlow, or Pillow; BMP through Pillow. Every
image comes out as 3 channels of uint8, read as ``byte / 255`` (see :class:`Image`); EXIF
orientation is not applied.

Where TensorFlow's rules are known we follow them, measured with TF 2.21:

- alpha is dropped without compositing; grey is copied to 3 channels; PNG palettes are
  expanded;
- CMYK / YCCK JPEGs are converted with TensorFlow's integer formula (``jpeg_mem.cc``),
  not libjpeg-turbo's, which rounds differently;
- 16-bit PNGs keep their high byte (``value >> 8``), as ``decode_image`` does with its
  default uint8 dtype;
- a truncated JPEG or PNG is an error; a JPEG that libjpeg only warns about (say,
  extraneous bytes before a marker) decodes, as in TensorFlow.

Where we differ on purpose [ours]: 8-bit palette BMPs are expanded through their palette
(TensorFlow reads the indices as grey) and 1-bit or RLE BMPs decode (TensorFlow refuses them).
GIF and WebP, which TensorFlow also reads, are refused: BigQuery takes PNG, JPEG and BMP only.
"""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import simplejpeg
from PIL import BmpImagePlugin, PngImagePlugin

from bqml_magic.errors import ImageError, LimitError
from bqml_magic.images.image import MAX_VALUE_BYTES, Image
from bqml_magic.images.probe import DECODE_ERROR, probe_image
from bqml_magic.images.resize import bilinear, fit_size

MAX_INPUT_BYTES = 10_000_000
"""BigQuery's documented limit for ML.DECODE_IMAGE input."""

MAX_PIXEL_BYTES = 2**29
"""Decompression-bomb guard on height * width * 3: TensorFlow's own JPEG limit [ours for PNG/BMP]."""

MAX_DECODED_BYTES = MAX_VALUE_BYTES
"""BigQuery downscales a decoded image whose FLOAT64 values exceed 60 MB [doc]."""


def decode_image(data: bytes) -> Image:
    """Decode JPEG, PNG or BMP bytes to a 3-channel FLOAT64 image (NULL handled by callers).

    An image whose FLOAT64 values would pass 60 MB is downscaled, keeping its aspect ratio,
    to the largest size that fits. BigQuery does not document how; we use the bilinear resize
    of ML.RESIZE_IMAGE (TensorFlow's), so the result equals decode followed by
    ``ML.RESIZE_IMAGE(image, h, w, TRUE)`` with that size.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise LimitError(f"Input image is {len(data):,} bytes; ML.DECODE_IMAGE accepts at most {MAX_INPUT_BYTES:,}")
    fmt, height, width = probe_image(data)
    if height * width * 3 > MAX_PIXEL_BYTES:
        raise ImageError(
            f"Image of {height}x{width} pixels is too large to decode "
            f"({height * width * 3:,} bytes of pixels; the limit is {MAX_PIXEL_BYTES:,})"
        )
    image = Image(_DECODERS[fmt](data))
    return _fit_budget(image)


def _fit_budget(image: Image) -> Image:
    height, width, channels = image.shape
    if height * width * channels * 8 <= MAX_DECODED_BYTES:
        return image
    scale = math.sqrt(MAX_DECODED_BYTES / (height * width * channels * 8))
    box_h, box_w = max(1, int(height * scale)), max(1, int(width * scale))
    return Image(bilinear(image, *fit_size(height, width, box_h, box_w)))


def _decode_jpeg(data: bytes) -> np.ndarray:
    try:
        return _jpeg_pixels(data, strict=True)
    except ValueError as exc:
        # strict mode also raises on libjpeg warnings, which TensorFlow ignores; the one
        # warning TensorFlow treats as fatal is running out of data.
        if "Premature end of JPEG file" in str(exc):
            raise ImageError(DECODE_ERROR) from exc
    try:
        return _jpeg_pixels(data, strict=False)
    except ValueError as exc:
        raise ImageError(DECODE_ERROR) from exc


def _jpeg_pixels(data: bytes, strict: bool) -> np.ndarray:
    _, _, colorspace, _ = simplejpeg.decode_jpeg_header(data, strict=False)  # probe_image read it already
    options = {"fastdct": True, "fastupsample": False, "strict": strict}
    if colorspace not in ("CMYK", "YCCK"):
        return simplejpeg.decode_jpeg(data, colorspace="RGB", **options)
    cmyk = simplejpeg.decode_jpeg(data, colorspace="CMYK", **options)
    return _cmyk_to_rgb(cmyk, inverted=_has_adobe_marker(data))


def _cmyk_to_rgb(cmyk: np.ndarray, inverted: bool) -> np.ndarray:
    """TensorFlow's integer CMYK -> RGB; Adobe files store CMYK inverted."""
    c, k = cmyk[..., :3].astype(np.uint16), cmyk[..., 3:].astype(np.uint16)
    if not inverted:
        c, k = 255 - c, 255 - k
    return (c * k // 255).astype(np.uint8)


def _has_adobe_marker(data: bytes) -> bool:
    """Whether an APP14 'Adobe' segment precedes the scan (libjpeg's ``saw_Adobe_marker``)."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: no more header segments
            return False
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker == 0xEE and data[pos + 4 : pos + 9] == b"Adobe" and length >= 14:
            return True
        pos += 2 + length
    return False


def _decode_png(data: bytes) -> np.ndarray:
    """PNG: every chunk's CRC and the final IEND checked first, as libpng (TF) checks them; then
    8-bit grey, RGB and their alpha forms, the usual photos, through libpng itself (imagecodecs),
    1.3 to 2.5x faster than Pillow, the same bytes, and without holding the GIL; palettes and other
    bit depths through Pillow."""
    try:
        with PngImagePlugin.PngImageFile(io.BytesIO(data)) as im:
            im.verify()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageError(DECODE_ERROR) from exc
    depth, colour = data[24:26]  # IHDR, which probe_image has read
    if depth != 8 or colour not in _LIBPNG_COLOURS:
        return _decode_pillow(data, PngImagePlugin.PngImageFile)
    from imagecodecs import png_decode  # ~40 ms to import: at the first PNG, not at %load_ext

    try:
        pixels = png_decode(data)
    except Exception as exc:  # imagecodecs raises its own error class, with libpng's message
        raise ImageError(DECODE_ERROR) from exc
    if pixels.ndim == 2 or pixels.shape[2] == 2:  # grey (with alpha): copied to 3 channels
        return np.repeat(pixels[..., :1] if pixels.ndim == 3 else pixels[..., None], 3, axis=2)
    return pixels if pixels.shape[2] == 3 else np.ascontiguousarray(pixels[..., :3])  # alpha dropped, not composited


def _decode_pillow(data: bytes, plugin: type) -> np.ndarray:
    """PNG or BMP through Pillow's format plugin (Image.open would also try other formats).

    The plugin is constructed directly, skipping Pillow's own decompression-bomb check:
    :func:`decode_image` has already checked the header against ``MAX_PIXEL_BYTES``.
    """
    try:
        with plugin(io.BytesIO(data)) as im:
            im.load()
            if im.mode.startswith("I"):  # 16-bit grey PNG: keep the high byte, like TF
                grey = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2)
            return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageError(DECODE_ERROR) from exc


_LIBPNG_COLOURS = (0, 2, 4, 6)
"""PNG colour types (IHDR) decoded by libpng here: grey, RGB, grey with alpha, RGB with alpha."""


_DECODERS = {
    "JPEG": _decode_jpeg,
    "PNG": _decode_png,
    "BMP": lambda data: _decode_pillow(data, BmpImagePlugin.BmpImageFile),
}
