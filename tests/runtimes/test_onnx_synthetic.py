"""Tiny ONNX graphs made with onnx.helper: types, several inputs, errors, limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bqml_magic.errors import LimitError, ModelError
from bqml_magic.runtimes import limits
from bqml_magic.runtimes.registry import inspect_model, load_model

N = "N"  # a symbolic (dynamic) batch dimension


def save(folder: Path, name: str, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tests")
    model.ir_version = 8
    path = folder / name
    onnx.save(model, str(path))
    return path


def multi_input(folder: Path) -> Path:
    """score = mean(image) * scale; tag echoed back."""
    return save(
        folder,
        "multi.onnx",
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Mul", ["mean", "scale"], ["score"]),
            helper.make_node("Identity", ["tag"], ["echo"]),
        ],
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [N, 8, 8, 3]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, [N]),
            helper.make_tensor_value_info("tag", TensorProto.STRING, [N]),
        ],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, [N]),
            helper.make_tensor_value_info("echo", TensorProto.STRING, [N]),
        ],
    )


def test_multi_input_schema_and_run(tmp_path):
    path = multi_input(tmp_path)
    schema = inspect_model("ONNX", path)
    assert [(f.name, f.dtype, f.shape, f.bq_type) for f in schema.features] == [
        ("image", "float32", (None, 8, 8, 3), "ARRAY<FLOAT64>"),
        ("scale", "float32", (None,), "FLOAT64"),
        ("tag", "object", (None,), "STRING"),
    ]
    assert [(s.name, s.bq_type) for s in schema.labels] == [("score", "FLOAT64"), ("echo", "STRING")]
    assert "opset ai.onnx 13" in schema.signature_text and "producer: tests" in schema.signature_text
    runtime = load_model("ONNX", path)
    images = np.stack([np.full((8, 8, 3), 0.5, np.float32), np.full((8, 8, 3), 0.25, np.float32)])
    # scale arrives as FLOAT64 from SQL and is cast to float32; names match case-insensitively
    out = runtime.run({"IMAGE": images, "scale": np.array([2.0, 4.0]), "tag": np.array(["a", "b"], dtype=object)})
    np.testing.assert_allclose(out["score"], [1.0, 1.0])
    assert list(out["echo"]) == ["a", "b"]


def test_missing_and_uncastable_feeds(tmp_path):
    runtime = load_model("ONNX", multi_input(tmp_path))
    images = np.zeros((1, 8, 8, 3), np.float32)
    with pytest.raises(ModelError, match="'tag'"):
        runtime.run({"image": images, "scale": np.ones(1)})
    with pytest.raises(ModelError, match="'scale' needs float32 values, got <U1"):
        runtime.run({"image": images, "scale": np.array(["x"]), "tag": np.array(["a"], dtype=object)})


def test_uint8_image_input(tmp_path):
    path = save(
        tmp_path,
        "u8.onnx",
        [
            helper.make_node("Cast", ["image"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMax", ["as_float"], ["brightest"], axes=[1, 2, 3], keepdims=0),
        ],
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [N, 8, 8, 3])],
        [helper.make_tensor_value_info("brightest", TensorProto.FLOAT, [N])],
    )
    runtime = load_model("ONNX", path)
    assert runtime.schema.features[0].dtype == "uint8"
    images = np.zeros((2, 8, 8, 3), np.uint8)
    images[1, 3, 4, 2] = 200
    np.testing.assert_array_equal(runtime.run({"image": images})["brightest"], [0.0, 200.0])


def test_int64_and_bool_outputs(tmp_path):
    path = save(
        tmp_path,
        "types.onnx",
        [
            helper.make_node("ArgMax", ["x"], ["best"], axis=1, keepdims=0),
            helper.make_node("Greater", ["x", "zero"], ["positive"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, 4])],
        [
            helper.make_tensor_value_info("best", TensorProto.INT64, [N]),
            helper.make_tensor_value_info("positive", TensorProto.BOOL, [N, 4]),
        ],
        [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    runtime = load_model("ONNX", path)
    assert [(s.name, s.bq_type) for s in runtime.schema.labels] == [("best", "INT64"), ("positive", "ARRAY<BOOL>")]
    out = runtime.run({"x": np.array([[1, -2, 3, 0], [5, 0, 0, -1]], np.float32)})
    assert out["best"].tolist() == [2, 0]
    assert out["positive"].tolist() == [[True, False, True, False], [True, False, False, False]]


def test_initializer_listed_as_input_is_not_a_feature(tmp_path):
    path = save(
        tmp_path,
        "init.onnx",
        [helper.make_node("Add", ["x", "bias"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("bias", TensorProto.FLOAT, [2], [1.0, 2.0])],
    )
    runtime = load_model("ONNX", path)
    assert [f.name for f in runtime.schema.features] == ["x"]
    assert runtime.max_batch == 1
    np.testing.assert_array_equal(runtime.run({"x": np.zeros((1, 2), np.float32)})["y"], [[1.0, 2.0]])


@pytest.mark.parametrize("role", ["input", "output"])
def test_sequence_is_unsupported_with_bigquery_text(tmp_path, role):
    name = "output_probability"
    tensor = helper.make_tensor_value_info("x", TensorProto.FLOAT, [N])
    sequence = helper.make_tensor_sequence_value_info(name, TensorProto.FLOAT, None)
    if role == "output":
        path = save(tmp_path, "seq.onnx", [helper.make_node("SequenceConstruct", ["x"], [name])], [tensor], [sequence])
    else:
        path = save(
            tmp_path,
            "seq.onnx",
            [helper.make_node("SequenceAt", [name, "zero"], ["x"])],
            [sequence],
            [tensor],
            [helper.make_tensor("zero", TensorProto.INT64, [], [0])],
        )
    with pytest.raises(ModelError) as error:
        inspect_model("ONNX", path)
    assert str(error.value) == f"ONNX model {role} '{name}' has unsupported ONNX type: ONNX_TYPE_SEQUENCE."


def test_complex_input_is_unsupported(tmp_path):
    path = save(
        tmp_path,
        "complex.onnx",
        [helper.make_node("Identity", ["z"], ["w"])],
        [helper.make_tensor_value_info("z", TensorProto.COMPLEX64, [N, 2])],
        [helper.make_tensor_value_info("w", TensorProto.COMPLEX64, [N, 2])],
    )
    with pytest.raises(ModelError, match="input 'z' has unsupported element type: COMPLEX64"):
        inspect_model("ONNX", path)


def test_corrupt_missing_and_ambiguous_files(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"this is not a protobuf \xff\xfe")
    with pytest.raises(ModelError, match=r"bad.onnx"):
        inspect_model("ONNX", tmp_path / "bad.onnx")
    with pytest.raises(ModelError, match=r"absent.onnx does not exist"):
        inspect_model("ONNX", tmp_path / "absent.onnx")
    multi_input(tmp_path)
    with pytest.raises(ModelError, match=r"exactly one .onnx file; found bad.onnx, multi.onnx"):
        inspect_model("ONNX", tmp_path)
    (tmp_path / "bad.onnx").unlink()
    assert inspect_model("ONNX", tmp_path).features[0].name == "image"  # a folder holding one .onnx


def test_size_limits(tmp_path, monkeypatch):
    path = save(
        tmp_path,
        "weights.onnx",
        [helper.make_node("Add", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, 1000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, 1000])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1000], np.ones(1000, np.float32))],
    )
    monkeypatch.setattr(limits, "MAX_MEMORY_BYTES", 4000)  # the weights are exactly 4000 bytes
    with pytest.raises(LimitError, match=r"about 0.0 MB \(4,000 bytes\) in memory"):
        inspect_model("ONNX", path)
    monkeypatch.setattr(limits, "MAX_MEMORY_BYTES", 4001)
    inspect_model("ONNX", path)
    monkeypatch.setattr(limits, "MAX_SERIALIZED_BYTES", path.stat().st_size)
    with pytest.raises(LimitError, match=rf"files are 0.0 MB \({path.stat().st_size:,} bytes\)"):
        inspect_model("ONNX", path)
