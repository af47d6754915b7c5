"""ML.DECODE_IMAGE against tf.io.decode_image(data, channels=3): bit for bit."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from bqml_magic.errors import ImageError, LimitError
from bqml_magic.images import Image, decode_image, probe_image, resize_image
from bqml_magic.images.decode import MAX_DECODED_BYTES
from bqml_magic.images.probe import DECODE_ERROR

PHOTOS = [
    "rocket.jpg",
    "retina.jpg",
    "hubble_deep_field.jpg",
    "grace_hopper.jpg",
    "china.jpg",
    "flower.jpg",
    "chelsea.png",
    "coffee.png",
    "astronaut.png",
]


def png(
    pixels: np.ndarray, depth: int, color_type: int, idat: bytes | None = None, size: tuple[int, int] | None = None
) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB, nor lie about its size)."""
    height, width = size or pixels.shape[:2]
    if idat is None:
        dtype = ">u2" if depth == 16 else "u1"
        idat = zlib.compress(b"".join(b"\0" + row.astype(dtype).tobytes() for row in pixels))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def strip_adobe(jpeg: bytes) -> bytes:
    """The same JPEG without its APP14 'Adobe' segment (so CMYK is read as not inverted)."""
    start = jpeg.index(b"\xff\xee")
    (length,) = struct.unpack_from(">H", jpeg, start + 2)
    return jpeg[:start] + jpeg[start + 2 + length :]


def extraneous_bytes(jpeg: bytes) -> bytes:
    """Junk before the EOI marker: libjpeg warns ("Corrupt JPEG data"), TensorFlow decodes."""
    end = jpeg.rindex(b"\xff\xd9")
    return jpeg[:end] + b"\x00\x00" + jpeg[end:]


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.random.default_rng(3).integers(0, 256, rgb.shape[:2], dtype=np.uint8)])


def _palette(rgb: np.ndarray) -> PILImage.Image:
    image = PILImage.fromarray(rgb).convert("P", palette=PILImage.Palette.ADAPTIVE, colors=37)
    image.info["transparency"] = 5  # a tRNS chunk: dropped, not composited
    return image


def _smooth() -> np.ndarray:
    y, x = np.mgrid[0:301, 0:419]
    return np.stack([x % 256, y % 256, (x + 2 * y) // 3 % 256], axis=-1).astype(np.uint8)


def _cmyk(rgb: np.ndarray, encode) -> bytes:
    return encode(PILImage.fromarray(rgb).convert("CMYK"), "JPEG", quality=92)


def _random16(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 65536, shape)


# name -> (rgb test card, encode) -> file bytes
VARIANTS = {
    "png_rgb": lambda rgb, encode: encode(rgb, "PNG"),
    "png_rgba": lambda rgb, encode: encode(_rgba(rgb), "PNG"),
    "png_grey": lambda rgb, encode: encode(rgb[..., 1], "PNG"),
    "png_grey_alpha": lambda rgb, encode: encode(PILImage.fromarray(rgb[..., 1]).convert("LA"), "PNG"),
    "png_palette_transparency": lambda rgb, encode: encode(_palette(rgb), "PNG"),
    "png_1bit": lambda rgb, encode: encode(PILImage.fromarray(rgb[..., 1] > 100), "PNG"),
    "png_interlaced": lambda rgb, encode: encode(rgb, "PNG", interlace=1),
    "png_16bit_grey": lambda rgb, encode: png(_random16((9, 14)), 16, 0),
    "png_16bit_rgb": lambda rgb, encode: png(_random16((9, 14, 3)), 16, 2),
    "png_16bit_rgba": lambda rgb, encode: png(_random16((9, 14, 4)), 16, 6),
    "bmp_rgb": lambda rgb, encode: encode(rgb, "BMP"),
    "bmp_rgba": lambda rgb, encode: encode(_rgba(rgb), "BMP"),
    "bmp_grey": lambda rgb, encode: encode(rgb[..., 1], "BMP"),
    "jpeg_444": lambda rgb, encode: encode(rgb, "JPEG", quality=90, subsampling=0),
    "jpeg_420": lambda rgb, encode: encode(rgb, "JPEG", quality=75, subsampling=2),
    "jpeg_422": lambda rgb, encode: encode(_smooth(), "JPEG", quality=85, subsampling=1),
    "jpeg_grey": lambda rgb, encode: encode(rgb[..., 1], "JPEG", quality=90),
    "jpeg_progressive": lambda rgb, encode: encode(_smooth(), "JPEG", quality=80, progressive=True),
    "jpeg_1x1": lambda rgb, encode: encode(rgb[:1, :1], "JPEG"),
    "jpeg_odd_33x17": lambda rgb, encode: encode(np.ascontiguousarray(rgb.transpose(1, 0, 2)), "JPEG", quality=95),
    "jpeg_cmyk_adobe": _cmyk,
    "jpeg_cmyk_plain": lambda rgb, encode: strip_adobe(_cmyk(rgb, encode)),
    "jpeg_extraneous_bytes": lambda rgb, encode: extraneous_bytes(encode(_smooth(), "JPEG")),
    "jpeg_trailing_garbage": lambda rgb, encode: encode(_smooth(), "JPEG") + b"garbage",
}


@pytest.fixture(scope="module")
def variants(rgb, encode) -> dict[str, bytes]:
    return {name: make(rgb, encode) for name, make in VARIANTS.items()}


@pytest.mark.parametrize("name", PHOTOS)
def test_photos_bit_exact_with_tensorflow(name, sample_photos, tf_decode):
    if name not in sample_photos:
        pytest.skip(f"{name} is not installed")
    data = sample_photos[name]
    ours = decode_image(data)
    assert ours.is_float and ours.pixels.dtype == np.uint8
    np.testing.assert_array_equal(ours.pixels, tf_decode(data))


@pytest.mark.parametrize("name", VARIANTS)
def test_generated_files_bit_exact_with_tensorflow(name, variants, tf_decode):
    ours = decode_image(variants[name])
    assert ours.shape[2] == 3
    np.testing.assert_array_equal(ours.pixels, tf_decode(variants[name]))


def test_larger_reencoded_photo_bit_exact(sample_photos, tf_decode, encode):
    photo = decode_image(sample_photos["retina.jpg"]).pixels
    big = np.concatenate([photo, photo[::-1]], axis=1)[:1101, :2229]  # odd sizes, just under 60 MiB
    data = encode(big, "JPEG", quality=88)
    np.testing.assert_array_equal(decode_image(data).pixels, tf_decode(data))


def test_values_are_bytes_over_255(variants):
    image = decode_image(variants["png_rgb"])
    values = image.values()
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, image.pixels / 255.0)
    assert values.max() <= 1.0


@pytest.mark.parametrize("mode", ["P", "1"])
def test_bmp_palettes_are_expanded(rgb, encode, mode):
    """Ours on purpose: TF reads 8-bit BMP palette indices as grey and refuses 1-bit BMPs."""
    source = PILImage.fromarray(rgb).convert(mode)
    decoded = decode_image(encode(source, "BMP")).pixels
    np.testing.assert_array_equal(decoded, np.asarray(source.convert("RGB")))


def test_exif_orientation_is_not_applied(rgb, encode):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90 CW" - TF ignores it, and so does BigQuery
    data = encode(rgb, "JPEG", quality=95, exif=exif.tobytes())
    assert decode_image(data).shape == (17, 33, 3)


def _bomb_png() -> bytes:
    return png(np.zeros((1, 1)), 8, 2, idat=zlib.compress(b"\0" * 1000), size=(100_000, 100_000))


def _bomb_bmp(rgb, encode) -> bytes:
    data = bytearray(encode(rgb, "BMP"))
    struct.pack_into("<ii", data, 18, 60_000, 60_000)
    return bytes(data)


# name -> (make bytes, TensorFlow fails too); GIF and WebP decode in TF but not in BigQuery
BAD_BYTES = {
    "empty": (lambda rgb, encode: b"", True),
    "text": (lambda rgb, encode: b"plain text, not an image", True),
    "gif": (lambda rgb, encode: encode(rgb, "GIF"), False),
    "webp": (lambda rgb, encode: encode(rgb, "WEBP"), False),
    "tiff": (lambda rgb, encode: encode(rgb, "TIFF"), True),
    "jpeg_garbage": (lambda rgb, encode: b"\xff\xd8\xff" + bytes(range(256)) * 4, True),
    "png_garbage": (lambda rgb, encode: b"\x89PNG\r\n\x1a\n" + b"\0" * 40, True),
    "bmp_garbage": (lambda rgb, encode: b"BM" + b"\xff" * 60, True),
    "jpeg_truncated": (lambda rgb, encode: encode(rgb, "JPEG")[:300], True),
    "jpeg_no_eoi": (lambda rgb, encode: encode(rgb, "JPEG")[:-2], True),
    "png_truncated": (lambda rgb, encode: encode(rgb, "PNG")[:700], True),
    "png_no_iend": (lambda rgb, encode: encode(rgb, "PNG")[:-12], True),
    "png_bad_crc": (lambda rgb, encode: _break_idat_crc(encode(rgb, "PNG")), True),
    "bmp_truncated": (lambda rgb, encode: encode(rgb, "BMP")[:-100], True),
}


def _break_idat_crc(data: bytes) -> bytes:
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", data, start)
    crc_at = start + 8 + length
    return data[:crc_at] + bytes([data[crc_at] ^ 0xFF]) + data[crc_at + 1 :]


@pytest.mark.parametrize("name", BAD_BYTES)
def test_bad_bytes_fail_with_bigquery_message(name, rgb, encode, tf, tf_decode):
    make, tf_fails = BAD_BYTES[name]
    data = make(rgb, encode)
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert str(info.value) == DECODE_ERROR
    if tf_fails:
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
            tf_decode(data)


@pytest.mark.parametrize("make", [lambda rgb, encode: _bomb_png(), _bomb_bmp], ids=["png", "bmp"])
def test_decompression_bomb_is_refused_before_decoding(make, rgb, encode):
    with pytest.raises(ImageError, match="too large to decode"):
        decode_image(make(rgb, encode))


def test_input_over_10_million_bytes_is_a_limit_error():
    with pytest.raises(LimitError, match="10,000,000"):
        decode_image(b"\xff\xd8\xff" + bytes(10_000_000))


def test_huge_image_is_downscaled_to_60_mb_keeping_aspect(encode):
    y, x = np.mgrid[0:3000, 0:2000]
    pixels = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    data = encode(pixels, "PNG", compress_level=1)
    image = decode_image(data)
    height, width, channels = image.shape
    assert height * width * channels * 8 <= MAX_DECODED_BYTES
    assert (height, width) == (1982, 1321)  # 1983x1322 would pass 60 MiB by 86 pixels
    np.testing.assert_array_equal(image.pixels, resize_image(Image(pixels), 1982, 1321, False).pixels)


@pytest.mark.parametrize("size, downscaled", [((1024, 2560), False), ((1024, 2561), True)])
def test_60_mb_boundary_is_60_mib(size, downscaled, encode):
    data = encode(np.zeros((*size, 3), np.uint8), "PNG")
    image = decode_image(data)
    assert (image.shape[:2] != size) == downscaled


def test_probe_reads_headers_only(variants, sample_photos):
    assert probe_image(variants["jpeg_odd_33x17"]) == ("JPEG", 33, 17)
    assert probe_image(variants["png_16bit_rgb"]) == ("PNG", 9, 14)
    assert probe_image(variants["bmp_rgb"]) == ("BMP", 17, 33)
    assert probe_image(_bomb_png()) == ("PNG", 100_000, 100_000)
    with pytest.raises(ImageError):
        probe_image(b"GIF89a")


def test_probe_top_down_bmp(variants):
    data = bytearray(variants["bmp_rgb"])
    struct.pack_into("<i", data, 22, -17)
    assert probe_image(bytes(data)) == ("BMP", 17, 33)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_mangled_files_decode_or_fail_with_image_error_only(fmt, rgb, encode):
    """Bit flips and cuts anywhere: the decoder returns an image or raises ImageError, nothing else."""
    data = encode(rgb, fmt)
    rng = np.random.default_rng(11)
    for _ in range(150):
        mangled = bytearray(data[: rng.integers(2, len(data) + 1)])
        for at in rng.integers(0, len(mangled), rng.integers(0, 4)):
            mangled[at] ^= 1 << int(rng.integers(0, 8))
        try:
            image = decode_image(bytes(mangled))
        except ImageError:
            continue
        assert image.shape[2] == 3
