"""ML.CONVERT_COLOR_SPACE against tf.image.rgb_to_hsv / rgb_to_yiq / rgb_to_yuv."""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic.errors import ImageError
from bqml_magic.images import Image, convert_color_space, decode_image


@pytest.fixture(scope="module")
def photo(sample_photos) -> Image:
    return decode_image(sample_photos["coffee.png"])


@pytest.fixture(scope="module")
def edge_cases() -> Image:
    """Greys (zero range), black, pure and mixed primaries: every branch of the HSV kernel."""
    pixels = [
        [0, 0, 0],
        [1, 1, 1],
        [0.5, 0.5, 0.5],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 0, 0.2],
        [0.2, 1, 1],
        [1, 1, 0],
        [0.3, 0.2, 0.9],
        [0.9, 0.9, 0.1],
        [0.6, 0.1, 0.6],
    ]
    return Image(np.array(pixels, dtype=np.float64)[None])


@pytest.mark.parametrize("target, tf_op", [("HSV", "rgb_to_hsv"), ("YIQ", "rgb_to_yiq"), ("YUV", "rgb_to_yuv")])
@pytest.mark.parametrize("which", ["photo", "edge_cases"])
def test_equal_to_tensorflow(request, tf, which, target, tf_op):
    image = request.getfixturevalue(which)
    ours = convert_color_space(image, target).values()
    theirs = getattr(tf.image, tf_op)(tf.constant(image.values(), tf.float64)).numpy()
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= (0.0 if target == "HSV" else 1e-15)


def test_hsv_within_1e_7_of_tensorflow_float32(photo, tf):
    """Whoever computes HSV in float32 (TF eager fed numpy, sometimes) lands within 1e-7 of us."""
    theirs = tf.image.rgb_to_hsv(tf.constant(photo.values(), tf.float32)).numpy()
    assert np.abs(convert_color_space(photo, "HSV").values() - theirs).max() < 1e-7


def test_grayscale_weights_and_one_channel(photo):
    grey = convert_color_space(photo, "GRAYSCALE")
    assert grey.shape == (*photo.shape[:2], 1)
    expected = photo.values() @ np.array([0.2989, 0.5870, 0.1140])
    np.testing.assert_allclose(grey.values()[..., 0], expected, rtol=0, atol=1e-15)


def test_int64_input_is_divided_by_255(photo):
    as_int = Image(photo.pixels.astype(np.int64), is_float=False)
    for target in ["HSV", "YUV", "GRAYSCALE"]:
        np.testing.assert_array_equal(
            convert_color_space(as_int, target).values(), convert_color_space(photo, target).values()
        )


def test_lower_case_is_accepted(edge_cases):
    np.testing.assert_array_equal(
        convert_color_space(edge_cases, "yiq").values(), convert_color_space(edge_cases, "YIQ").values()
    )


@pytest.mark.parametrize("target", ["LAB", "RGB", "CMYK", ""])
def test_unknown_colour_space(edge_cases, target):
    with pytest.raises(ImageError) as info:
        convert_color_space(edge_cases, target)
    assert str(info.value) == f"Color space {target} is not supported"


def test_grey_image_has_no_colour_space():
    with pytest.raises(ImageError, match="3 channels"):
        convert_color_space(Image(np.zeros((2, 2, 1))), "HSV")
