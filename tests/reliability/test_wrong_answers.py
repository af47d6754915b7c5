"""No silent wrong answer: features are never truncated, views see today's objects, BigQuery's
column names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bqml_magic import Engine
from bqml_magic.errors import ModelError


@pytest.fixture
def counter(engine: Engine, photos: Path) -> Engine:
    """``my_dataset.counter``: ``n`` INT64 and ``name`` STRING -> ``twice`` = 2 * n."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["n", "n"], ["twice"]), helper.make_node("Identity", ["name"], ["same"])],
        "counter",
        [
            helper.make_tensor_value_info("n", TensorProto.INT32, ["N"]),
            helper.make_tensor_value_info("name", TensorProto.STRING, ["N"]),
        ],
        [
            helper.make_tensor_value_info("twice", TensorProto.INT32, ["N"]),
            helper.make_tensor_value_info("same", TensorProto.STRING, ["N"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    (photos / "models").mkdir(exist_ok=True)
    onnx.save(model, photos / "models" / "counter.onnx")
    engine.query(
        "CREATE MODEL my_dataset.counter OPTIONS(model_type = 'ONNX', model_path = 'gs://my_bucket/models/counter.onnx')"
    )
    return engine


def predict(engine: Engine, n: str, name: str = "'a'"):
    return engine.query(
        f"SELECT twice, same FROM ML.PREDICT(MODEL my_dataset.counter, (SELECT {n} AS n, {name} AS name))"
    )


def test_integers_go_through(counter):
    assert predict(counter, "21").to_dict("records") == [{"twice": 42, "same": "a"}]


@pytest.mark.parametrize(
    ("n", "name", "message"),
    [
        ("1.5", "'a'", r"feature 'n' of model my_dataset.counter is INT64; the input column is FLOAT64: CAST it"),
        ("CAST(1.0 AS FLOAT64)", "'a'", r"is INT64; the input column is FLOAT64"),
        ("'7'", "'a'", r"is INT64; the input column is STRING"),
        ("1", "3", r"feature 'name' of model my_dataset.counter is STRING; the input column is INT64"),
        ("3000000000", "'a'", r"holds int32 values; got values in \[3000000000, 3000000000\]"),
    ],
)
def test_feature_type_mismatches_are_errors_not_truncations(counter, n, name, message):
    with pytest.raises(ModelError, match=message):
        predict(counter, n, name)


def test_a_view_over_an_object_table_sees_the_bucket_as_it_is_now(engine, photos):
    engine.query(
        """CREATE VIEW my_dataset.jpegs AS SELECT uri FROM my_dataset.object_table WHERE content_type = 'image/jpeg';
           CREATE VIEW my_dataset.jpeg_count AS SELECT COUNT(*) AS n FROM my_dataset.jpegs"""
    )
    assert engine.query("SELECT n FROM my_dataset.jpeg_count")["n"].tolist() == [1]
    shutil.copy(photos / "photos" / "grace_hopper.jpg", photos / "photos" / "second.jpg")
    assert engine.query("SELECT n FROM my_dataset.jpeg_count")["n"].tolist() == [2]
    (photos / "photos" / "grace_hopper.jpg").unlink()
    rows = engine.query(
        "SELECT j.uri, ML.DECODE_IMAGE(o.data).dimensions AS dims FROM my_dataset.jpegs AS j "
        "JOIN my_dataset.object_table AS o ON o.uri = j.uri"
    )
    assert rows["uri"].tolist() == ["gs://my_bucket/photos/second.jpg"]  # the deleted photo is not read


def test_unnamed_aggregates_get_bigquery_s_names(engine):
    frame = engine.query("SELECT COUNT(*), MAX(size) FROM my_dataset.object_table")
    assert list(frame.columns) == ["f0_", "f1_"]


@pytest.mark.parametrize(
    "call",
    [
        "ML.RESIZE_IMAGE(NULL, 1, 1, FALSE)",
        "ML.CONVERT_COLOR_SPACE(NULL, 'HSV')",
        "ML.CONVERT_IMAGE_TYPE(NULL)",
        "ML.DECODE_IMAGE(NULL)",
        "ML.DISTANCE(NULL, [1.0])",
    ],
)
def test_null_in_gives_null_out(engine, call):
    assert engine.query(f"SELECT {call} AS x")["x"].isna().all()
    assert engine.query(f"SELECT 1 AS one FROM my_dataset.object_table WHERE {call} IS NULL LIMIT 1").shape == (1, 1)


def test_a_literal_with_a_decimal_point_is_float64():
    """BigQuery types ``0.33`` FLOAT64; DuckDB's exact DECIMAL would give other sums, and Decimal objects."""
    frame = Engine().query("SELECT 0.33 AS x, 1.1 + 2.2 AS total, 10 / 4 AS ratio, CAST('1.5' AS FLOAT64) AS cast")
    assert frame.dtypes.tolist() == ["float64"] * 4
    assert frame.iloc[0].tolist() == [0.33, 1.1 + 2.2, 2.5, 1.5]  # 3.3000000000000003, as in BigQuery
