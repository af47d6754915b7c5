"""How ML.PREDICT runs (docs/behaviour.md#ml-predict-throughput): images reach the model as their
pixels, the FLOAT64 column is built only where the statement reads it, the model sees the input's
batches unchanged, and rows keep their order across the concurrent lanes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import sqlglot

from bqml_magic import Engine
from bqml_magic.execution import rows as rows_module
from bqml_magic.runtimes.onnx import OnnxRuntime
from bqml_magic.sql.reads import columns_read

IMAGES = """(SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image, 0.5 AS bias
             FROM my_dataset.object_table WHERE content_type LIKE 'image/%')"""
PREDICT = f"ML.PREDICT(MODEL my_dataset.scorer, {IMAGES})"


def _image_columns_built(monkeypatch) -> list[pa.DataType]:
    """Records every image STRUCT column converted to Arrow from computed values."""
    built: list[pa.DataType] = []
    convert = rows_module.result_array

    def recording(values, arrow_type):
        if pa.types.is_struct(arrow_type):
            built.append(arrow_type)
        return convert(values, arrow_type)

    monkeypatch.setattr(rows_module, "result_array", recording)
    return built


def test_predictions_alone_build_no_float64_image(scorer_batches: Engine, monkeypatch):
    built = _image_columns_built(monkeypatch)
    scores = scorer_batches.query(f"SELECT uri, score FROM {PREDICT} ORDER BY uri")
    assert len(scores) == 11 and built == []
    everything = scorer_batches.query(f"SELECT * FROM {PREDICT} ORDER BY uri")
    assert len(built) == 4  # one image column a batch, now that the statement reads it
    assert everything.score.tolist() == scores.score.tolist()


def test_scores_from_pixels_equal_scores_from_the_float64_column(scorer_batches: Engine, scorer_model):
    """The model's input straight from the pixels is the FLOAT64 column's values, as float32."""
    import onnxruntime as ort

    predicted = scorer_batches.query(f"SELECT uri, score FROM {PREDICT} ORDER BY uri")
    images = scorer_batches.query(f"SELECT uri, image FROM {IMAGES} ORDER BY uri")
    values = np.stack([np.asarray(image["values"]).reshape(8, 8, 3) for image in images.image]).astype(np.float32)
    session = ort.InferenceSession(str(scorer_model), providers=["CPUExecutionProvider"])
    scores = session.run(["score"], {"image": values, "bias": np.full(len(values), 0.5, np.float32)})[0]
    assert predicted.score.tolist() == scores.astype(np.float64).tolist()


def test_the_model_sees_the_input_batches_unchanged_and_rows_keep_their_order(scorer_batches: Engine, monkeypatch):
    sizes: list[int] = []
    run = OnnxRuntime.run
    monkeypatch.setattr(OnnxRuntime, "run", lambda self, feeds: sizes.append(len(feeds["image"])) or run(self, feeds))
    inputs = scorer_batches.query(f"SELECT uri FROM {IMAGES}").uri.tolist()
    predicted = scorer_batches.query(f"SELECT uri FROM {PREDICT}").uri.tolist()
    assert predicted == inputs
    assert sorted(sizes) == [2, 3, 3, 3]


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT uri FROM (SELECT * FROM {PREDICT}) WHERE ARRAY_LENGTH(image.dimensions) = 3",
        f"SELECT p.uri FROM {PREDICT} AS p JOIN (SELECT uri, image FROM {IMAGES}) USING (uri, image)",
        f"SELECT TO_JSON_STRING(p) AS row FROM {PREDICT} AS p WHERE TO_JSON_STRING(p) LIKE '%image%'",
        f"SELECT uri FROM {PREDICT} WHERE ARRAY_LENGTH(image.values) = 192",
    ],
)
def test_a_statement_that_reads_the_image_gets_it(scorer_batches: Engine, sql):
    assert len(scorer_batches.query(sql)) == 11


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT uri, predictions FROM p", {"uri", "predictions", "p"}),
        ("SELECT COUNT(*) AS n FROM p", {"n", "p"}),
        ("SELECT x.uri FROM p AS x JOIN q USING (input_1)", {"x", "uri", "p", "q", "input_1"}),
        ("SELECT * FROM p", None),
        ("SELECT p.* FROM p", None),
        ("SELECT * EXCEPT (input_1) FROM p", None),
        ("SELECT TO_JSON(x) FROM p AS x", None),
        ("SELECT uri FROM p NATURAL JOIN q", None),
    ],
)
def test_columns_read(sql, expected):
    assert columns_read(sqlglot.parse_one(sql, read="duckdb"), "p") == expected
