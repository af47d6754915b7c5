"""Recognise JPEG, PNG and BMP bytes and read their size from the header alone.

Used twice: by dry runs, to validate files without decoding them, and by the decoder,
to refuse a decompression bomb before any pixel buffer is allocated.
"""

from __future__ import annotations

import struct

import simplejpeg

from bqml_magic.errors import ImageError

# BigQuery's own text; callers append "; error in ML.DECODE_IMAGE expression" and the uri.
DECODE_ERROR = "Input image bytes could not be decoded. Expected valid image of type PNG, JPEG, or BMP"

_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP"}


def sniff_format(data: bytes) -> str:
    """'JPEG', 'PNG' or 'BMP' from the magic bytes (as TensorFlow tells them apart)."""
    for signature, fmt in _SIGNATURES.items():
        if data.startswith(signature):
            return fmt
    raise ImageError(DECODE_ERROR)


def probe_image(data: bytes) -> tuple[str, int, int]:
    """(format, height, width) from the header only; ImageError if it is not a valid header."""
    fmt = sniff_format(data)
    try:
        height, width = _HEADER_READERS[fmt](data)
    except (ValueError, KeyError, struct.error) as exc:  # simplejpeg: KeyError on an unknown subsampling
        raise ImageError(DECODE_ERROR) from exc
    if height <= 0 or width <= 0:
        raise ImageError(DECODE_ERROR)
    return fmt, height, width


def _jpeg_size(data: bytes) -> tuple[int, int]:
    height, width, _, _ = simplejpeg.decode_jpeg_header(data, strict=False)  # warnings are for the decoder
    return height, width


def _png_size(data: bytes) -> tuple[int, int]:
    length, chunk, width, height = struct.unpack_from(">I4sII", data, 8)
    if chunk != b"IHDR" or length != 13:
        raise ValueError("PNG does not start with IHDR")
    return height, width


def _bmp_size(data: bytes) -> tuple[int, int]:
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sides
        width, height = struct.unpack_from("<HH", data, 18)
    else:  # BITMAPINFOHEADER and later: signed, a negative height means top-down rows
        width, height = struct.unpack_from("<ii", data, 18)
    return abs(height), width


_HEADER_READERS = {"JPEG": _jpeg_size, "PNG": _png_size, "BMP": _bmp_size}
