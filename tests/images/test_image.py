"""The image value: Arrow layout, validation of SQL-made images, the threaded map."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest

from bqml_magic.errors import ImageError
from bqml_magic.images import Image, from_arrow, map_images, to_arrow
from bqml_magic.images.image import FLOAT_IMAGE_TYPE, INT_IMAGE_TYPE


def test_spec_layout_1x2_rgb():
    image = Image(np.array([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]]))
    column = to_arrow([image, None])
    assert column.type == FLOAT_IMAGE_TYPE
    assert column.to_pylist() == [{"dimensions": [1, 2, 3], "values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, None]
    back = from_arrow(column)
    assert back[1] is None
    np.testing.assert_array_equal(back[0].values(), image.values())


def test_round_trip_of_bytes_and_ints_through_a_sliced_chunked_column():
    images = [Image(np.arange(12, dtype=np.uint8).reshape(2, 2, 3)), None, Image(np.full((1, 3, 1), 7, np.uint8))]
    column = to_arrow(images)
    back = from_arrow(pa.chunked_array([column.slice(1)]))
    assert back[0] is None and back[1].shape == (1, 3, 1)
    np.testing.assert_array_equal(back[1].values(), np.full((1, 3, 1), 7 / 255))
    ints = to_arrow([Image(np.arange(6, dtype=np.uint8).reshape(1, 2, 3), is_float=False)])
    assert ints.type == INT_IMAGE_TYPE
    assert not from_arrow(ints)[0].is_float


@pytest.mark.parametrize(
    "dims, values, message",
    [
        ([1, 2], [0.1, 0.2], "must be \\[height, width, channels\\]"),
        ([1, 1, 2], [0.1, 0.2], "1 or 3 channels"),
        ([1, 2, 3], [0.1, 0.2], "need 6 values, got 2"),
        ([1, -1, 3], [], "must be \\[height, width, channels\\]"),
        ([1, 1, 3], [0.1, None, 0.3], "must not contain NULL"),
    ],
)
def test_from_arrow_rejects_malformed_images(dims, values, message):
    column = pa.array([{"dimensions": dims, "values": values}], type=FLOAT_IMAGE_TYPE)
    with pytest.raises(ImageError, match=message):
        from_arrow(column)


def test_from_arrow_rejects_other_structs():
    with pytest.raises(ImageError, match="Expected an image STRUCT"):
        from_arrow(pa.array([{"a": 1}]))


def test_map_images_keeps_order_on_worker_threads():
    main = threading.get_ident()

    def work(x: int) -> tuple[int, bool]:
        return x * x, threading.get_ident() != main

    results = map_images(work, range(100), max_workers=4)
    assert [square for square, _ in results] == [x * x for x in range(100)]
    assert all(on_worker for _, on_worker in results)
    assert map_images(work, [], max_workers=4) == []


def test_map_images_raises_the_first_error_in_order():
    def work(x: int) -> int:
        if x in (3, 7):
            raise ImageError(f"bad {x}")
        return x

    with pytest.raises(ImageError, match="bad 3"):
        map_images(work, range(10), max_workers=3)
