"""ML.CONVERT_IMAGE_TYPE against tf.image.convert_image_dtype(x, tf.uint8, saturate=True)."""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic.errors import ImageError
from bqml_magic.images import Image, convert_image_type, decode_image, resize_image


def test_decode_then_convert_gives_back_the_bytes(sample_photos, tf_decode):
    data = sample_photos["china.jpg"]
    converted = convert_image_type(decode_image(data))
    assert not converted.is_float
    assert converted.values().dtype == np.int64
    np.testing.assert_array_equal(converted.values(), tf_decode(data))


def test_float64_path_equals_tensorflow(tf):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(4998), np.arange(256) / 255.0, [-0.3, 0.0, 1.0, 1.7, 254.5 / 255.5]])
    values = values.reshape(1, -1, 3)
    theirs = tf.image.convert_image_dtype(tf.constant(values, tf.float64), tf.uint8, saturate=True).numpy()
    np.testing.assert_array_equal(convert_image_type(Image(values)).values(), theirs)


def test_float32_pixels_of_a_resize(sample_photos, tf):
    resized = resize_image(decode_image(sample_photos["flower.jpg"]), 224, 224, False)
    theirs = tf.image.convert_image_dtype(tf.constant(resized.values(), tf.float64), tf.uint8, saturate=True).numpy()
    np.testing.assert_array_equal(convert_image_type(resized).values(), theirs)


def test_int64_input_has_no_matching_signature():
    with pytest.raises(ImageError, match=r"^No matching signature for function ML.CONVERT_IMAGE_TYPE .*ARRAY<INT64>>$"):
        convert_image_type(Image(np.zeros((1, 1, 3), np.int64), is_float=False))
