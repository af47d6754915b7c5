"""Registry (lazy imports, unknown types), shared helpers, TFLite without signatures, TF files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bqml_magic.errors import ModelError
from bqml_magic.runtimes.base import require, tensor_spec
from bqml_magic.runtimes.registry import inspect_model, load_model


def test_registry_import_loads_no_runtime_package():
    code = (
        "import sys, bqml_magic.runtimes.registry; "
        "print([m for m in ('tensorflow', 'onnxruntime', 'onnx', 'ai_edge_litert') if m in sys.modules])"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_unknown_model_type_lists_supported(tmp_path):
    with pytest.raises(
        ModelError,
        match="'KMEANS' is not supported here: only imported models of type TENSORFLOW, TENSORFLOW_LITE, ONNX",
    ):
        inspect_model("KMEANS", tmp_path)


def test_missing_package_names_the_extra():
    with pytest.raises(
        ModelError, match=r"needs the Python package 'no_such_runtime': pip install 'bqml_magic\[tflite\]'"
    ):
        require("no_such_runtime", "'bqml_magic[tflite]'")


@pytest.mark.parametrize(
    "dtype, shape, bq_type",
    [
        ("float32", (None, 224, 224, 3), "ARRAY<FLOAT64>"),
        ("float16", (None, 1), "FLOAT64"),
        ("uint8", (None,), "INT64"),
        ("int32", (1, 5), "ARRAY<INT64>"),
        ("bool", (None, 1, 1), "BOOL"),
        ("object", (None,), "STRING"),
        ("float64", None, "ARRAY<FLOAT64>"),  # unknown rank: cannot promise a scalar
        ("int64", (None, -1), "ARRAY<INT64>"),
    ],
)
def test_type_mapping(dtype, shape, bq_type):
    assert tensor_spec("t", dtype, shape).bq_type == bq_type


@pytest.fixture(scope="module")
def tflite_without_signature(tmp_path_factory):
    """x [None, 4] -> doubled, converted from a TF1 session: tensors only, no signature."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        doubled = tf.identity(x * 2.0, name="doubled")
        with tf.compat.v1.Session(graph=graph) as session:
            data = tf.compat.v1.lite.TFLiteConverter.from_session(session, [x], [doubled]).convert()
    path = tmp_path_factory.mktemp("lite") / "plain.tflite"
    path.write_bytes(data)
    return path


def test_tflite_without_signature_uses_tensor_names(tflite_without_signature):
    runtime = load_model("TENSORFLOW_LITE", tflite_without_signature.parent)
    assert [(f.name, f.shape, f.bq_type) for f in runtime.schema.features] == [("x", (None, 4), "ARRAY<FLOAT64>")]
    assert [s.name for s in runtime.schema.labels] == ["doubled"]
    assert runtime.schema.extra["signature"] == "(none: tensor names)"
    for rows in (3, 1, 2):  # each batch size resizes the input
        x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
        np.testing.assert_array_equal(runtime.run({"x": x})["doubled"], x * 2)


def test_tflite_corrupt_and_missing(tmp_path):
    (tmp_path / "bad.tflite").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match=r"bad.tflite is not a loadable TFLite model"):
        inspect_model("TENSORFLOW_LITE", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"TENSORFLOW_LITE model folder .* found none"):
        inspect_model("TENSORFLOW_LITE", tmp_path / "empty")


def test_tensorflow_folder_checks(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match=r"needs saved_model.pb .*found: model.onnx"):
        inspect_model("TENSORFLOW", tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage")
    with pytest.raises(ModelError, match=r"saved_model.pb is not a SavedModel"):
        inspect_model("TENSORFLOW", tmp_path)


def test_tensorflow_multi_input_string_and_bool(tmp_path, save_tagger):
    """A SavedModel with an image, a string feature, and INT64/BOOL labels."""
    save_tagger(tmp_path)
    runtime = load_model("TENSORFLOW", tmp_path)
    assert [(f.name, f.bq_type) for f in runtime.schema.features] == [("image", "ARRAY<FLOAT64>"), ("tag", "STRING")]
    assert [(s.name, s.bq_type) for s in runtime.schema.labels] == [("bright", "BOOL"), ("length", "INT64")]
    assert "signature_def['serving_default']" in runtime.schema.signature_text
    images = np.stack([np.zeros((8, 8, 3), np.float32), np.ones((8, 8, 3), np.float32)])
    out = runtime.run({"image": images, "tag": np.array(["ab", "abcd"], dtype=object)})
    assert out["length"].tolist() == [2, 4] and out["bright"].tolist() == [False, True]
