"""ML.* image functions through SQL: every position, same numbers, errors naming the uri.

Fidelity against TensorFlow is tested on the kernels (tests/images); here the SQL paths are
checked against the kernels, so the streamed path and the DuckDB UDFs cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import pytest

from bqml_magic import Engine
from bqml_magic.errors import ImageError, LimitError, SQLError
from bqml_magic.images import decode_image, resize_image

JPEG = "gs://my_bucket/photos/grace_hopper.jpg"


def values(image: dict) -> np.ndarray:
    return np.asarray(image["values"]).reshape(tuple(image["dimensions"]))


def test_decode_resize_matches_the_kernels(engine: Engine, photos):
    df = engine.query(
        "SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 280, TRUE) AS img "
        "FROM my_dataset.object_table WHERE content_type = 'image/jpeg'"
    )
    expected = resize_image(decode_image((photos / "photos" / "grace_hopper.jpg").read_bytes()), 224, 280, True)
    assert list(df.columns) == ["uri", "img"] and df.uri[0] == JPEG
    assert list(df.img[0]["dimensions"]) == list(expected.shape)
    np.testing.assert_array_equal(values(df.img[0]), expected.values())


def test_streamed_and_udf_paths_agree(engine: Engine):
    lifted = engine.query(
        "SELECT ML.CONVERT_COLOR_SPACE(ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 32, 32, FALSE), 'YIQ') AS img "
        "FROM my_dataset.object_table WHERE uri = @u",
        params={"u": JPEG},
    )
    nested = engine.query(  # inside a struct field access: evaluated by the DuckDB UDFs
        "SELECT ML.CONVERT_COLOR_SPACE(ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 32, 32, FALSE), 'YIQ').values AS v "
        "FROM my_dataset.object_table WHERE uri = @u",
        params={"u": JPEG},
    )
    np.testing.assert_array_equal(np.asarray(lifted.img[0]["values"]), np.asarray(nested.v[0]))


def test_stored_images_are_processed_later(engine: Engine):
    engine.query(
        """CREATE OR REPLACE TABLE my_dataset.decoded AS (
             SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 24, 30, TRUE) AS img
             FROM my_dataset.object_table WHERE content_type LIKE 'image/%');
           """
    )
    df = engine.query(
        "SELECT uri, ML.CONVERT_COLOR_SPACE(img, 'GRAYSCALE') AS grey, ML.CONVERT_IMAGE_TYPE(img) AS img_u8 "
        "FROM my_dataset.decoded ORDER BY uri"
    )
    assert len(df) == 2
    assert df.grey[0]["dimensions"][2] == 1
    u8 = df.img_u8[0]
    assert np.asarray(u8["values"]).dtype == np.int64 and np.asarray(u8["values"]).max() <= 255


def test_the_1x2_layout_and_null_in_null_out(engine: Engine):
    df = engine.query(
        """SELECT ML.CONVERT_COLOR_SPACE(STRUCT([1, 2, 3] AS dimensions, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] AS `values`),
                                         'GRAYSCALE') AS grey,
                  ML.DECODE_IMAGE(CAST(NULL AS BYTES)) AS nothing"""
    )
    assert list(df.grey[0]["dimensions"]) == [1, 2, 1]
    np.testing.assert_allclose(
        df.grey[0]["values"], [0.2989 * 0.1 + 0.587 * 0.2 + 0.114 * 0.3, 0.2989 * 0.4 + 0.587 * 0.5 + 0.114 * 0.6]
    )
    assert df.nothing[0] is None


def test_distance(engine: Engine):
    df = engine.query(
        "SELECT ML.DISTANCE([4.1, 0.5, 1.0], [3.0, 0.0, 2.5], 'EUCLIDEAN') AS d, "
        "ML.DISTANCE([4.1, 0.5, 1.0], [3.0, 0.0, 2.5]) AS default_metric"
    )
    assert df.d[0] == pytest.approx(1.926136028425822, abs=1e-15) and df.default_metric[0] == df.d[0]


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        (
            "SELECT ML.DECODE_IMAGE(data) AS img FROM my_dataset.object_table WHERE uri LIKE '%notes.txt'",
            ImageError,
            r"could not be decoded.*ML.DECODE_IMAGE.*uri: gs://my_bucket/notes.txt",
        ),
        (
            "SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 0, 10, FALSE) AS img FROM my_dataset.object_table "
            "WHERE content_type = 'image/png'",
            ImageError,
            r"ML.RESIZE_IMAGE.*coffee.png",
        ),
        (
            "SELECT ML.CONVERT_COLOR_SPACE(ML.DECODE_IMAGE(data), 'LAB') AS img FROM my_dataset.object_table "
            "WHERE content_type = 'image/png'",
            ImageError,
            "Color space LAB is not supported",
        ),
        (
            "SELECT ML.CONVERT_IMAGE_TYPE(ML.CONVERT_IMAGE_TYPE(ML.DECODE_IMAGE(data))) AS img "
            "FROM my_dataset.object_table WHERE content_type = 'image/png'",
            ImageError,
            "ML.CONVERT_IMAGE_TYPE",
        ),
        ("SELECT ML.DISTANCE([1.0, 2.0], [1.0]) AS d", SQLError, "ML.DISTANCE"),
    ],
)
def test_errors_name_function_and_uri(engine: Engine, sql, error, message):
    with pytest.raises(error, match=message):
        engine.query(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT uri FROM my_dataset.object_table WHERE ML.DECODE_IMAGE(data) IS NOT NULL",  # a DuckDB UDF
        "SELECT ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) AS n FROM my_dataset.object_table",
    ],
)
def test_errors_inside_duckdb_functions_keep_their_class_and_words(engine: Engine, sql):
    with pytest.raises(ImageError, match=r"^Input image bytes could not be decoded.*ML.DECODE_IMAGE") as raised:
        engine.query(sql)  # the bucket holds notes.txt
    assert "Python exception" not in str(raised.value)


def test_files_over_20_mb_are_refused(engine: Engine, photos):
    (photos / "huge.png").write_bytes(b"\x89PNG" + bytes(20_000_001))
    with pytest.raises(LimitError, match=r"huge.png"):
        engine.query("SELECT ML.DECODE_IMAGE(data) AS img FROM my_dataset.object_table WHERE uri LIKE '%huge.png'")
