"""ML.RESIZE_IMAGE against tf.image.resize(x, size, 'bilinear'): equal to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic.errors import ImageError, LimitError
from bqml_magic.images import Image, decode_image, resize, resize_image

# (target height, target width, preserve_aspect_ratio)
TARGETS = [(224, 224, False), (224, 280, False), (224, 280, True), (640, 900, False), (1000, 700, True), (7, 33, False)]


@pytest.fixture(scope="module")
def photo_bytes(sample_photos) -> np.ndarray:
    return decode_image(sample_photos["grace_hopper.jpg"]).pixels  # 600x512, 4:2:0


@pytest.mark.parametrize("height, width, keep", TARGETS)
@pytest.mark.parametrize("stored", ["uint8", "float64"])
def test_float_images_equal_tensorflow(photo_bytes, tf, height, width, keep, stored):
    values = photo_bytes / 255.0  # what BigQuery holds: FLOAT64 byte/255
    image = Image(photo_bytes if stored == "uint8" else values)
    ours = resize_image(image, height, width, keep)
    theirs = tf.image.resize(values, (height, width), method="bilinear", preserve_aspect_ratio=keep).numpy()
    assert ours.is_float and ours.pixels.dtype == np.float32
    assert ours.shape == theirs.shape
    assert np.abs(ours.values() - theirs).max() == 0.0  # measured: bit-exact, not just within 1e-6


def test_arbitrary_float_values_equal_tensorflow(tf):
    values = np.random.default_rng(1).random((37, 51, 3))  # not bytes/255: full float64 precision
    for size in [(224, 224), (20, 9)]:
        theirs = tf.image.resize(values, size, method="bilinear").numpy()
        np.testing.assert_array_equal(resize_image(Image(values), *size, False).pixels, theirs)


@pytest.mark.parametrize("size", [(224, 224), (301, 149)])
def test_int64_images_round_half_to_even(photo_bytes, tf, size):
    ints = photo_bytes.astype(np.int64)
    ours = resize_image(Image(ints, is_float=False), *size, False)
    theirs = tf.image.resize(ints.astype(np.float32), size, method="bilinear").numpy()
    assert not ours.is_float
    np.testing.assert_array_equal(ours.values(), np.rint(theirs).astype(np.int64))


def test_one_channel_image(tf):
    grey = np.random.default_rng(2).random((30, 40, 1))
    theirs = tf.image.resize(grey, (11, 13), method="bilinear").numpy()
    np.testing.assert_array_equal(resize_image(Image(grey), 11, 13, False).pixels, theirs)


@pytest.mark.parametrize(
    "source, box, expected",
    [
        ((20, 200), (10, 120), (10, 100)),
        ((4, 8), (3, 3), (2, 3)),
        ((100, 100), (300, 500), (300, 300)),  # enlarging is allowed
        ((3, 5), (3, 5), (3, 5)),
    ],
)
def test_preserve_aspect_ratio_sizes(source, box, expected, tf):
    image = Image(np.zeros((*source, 3), np.uint8))
    assert resize_image(image, *box, True).shape[:2] == expected
    assert tuple(tf.image.resize(np.zeros((*source, 3)), box, preserve_aspect_ratio=True).shape[:2]) == expected


def test_without_aspect_ratio_the_size_is_the_target():
    assert resize_image(Image(np.zeros((20, 200, 3))), 10, 120, False).shape == (10, 120, 3)


def test_same_size_keeps_values():
    values = np.random.default_rng(4).random((5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(resize_image(Image(values), 5, 6, False).pixels, values)


@pytest.mark.parametrize(
    "source, target, keep, message",
    [
        ((4, 8), (0, 3), False, "between 1 and 2147483647"),
        ((4, 8), (3, -1), True, "between 1 and 2147483647"),
        ((4, 8), (2**32, 2), False, "between 1 and 2147483647"),
        ((1, 1000), (5, 1), True, "rounds to 0"),
    ],
)
def test_bad_sizes_are_errors(source, target, keep, message):
    with pytest.raises(ImageError, match=message):
        resize_image(Image(np.zeros((*source, 3))), *target, keep)


@pytest.mark.parametrize("target, keep", [((5000, 5000), False), ((2**31 - 1, 2**31 - 1), True), ((1, 10**9), False)])
def test_targets_over_60_mb_of_values_are_refused_before_allocating(target, keep):
    with pytest.raises(LimitError, match="at most 62,914,560"):
        resize_image(Image(np.zeros((4, 8, 3), np.uint8)), *target, keep)


def test_banded_output_equals_one_band(monkeypatch):
    """Bands are an implementation detail: a band of one row gives the same bits."""
    image = Image(np.random.default_rng(7).integers(0, 256, (37, 53, 3), dtype=np.uint8))
    whole = resize_image(image, 61, 29, False).pixels
    monkeypatch.setattr(resize, "BAND_VALUES", 1)
    np.testing.assert_array_equal(resize_image(image, 61, 29, False).pixels, whole)
