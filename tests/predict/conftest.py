"""Tiny ONNX models whose outputs are known exactly, for ML.PREDICT's contract tests."""
from __future__ import annotations

from pathlib import Path

import pytest


def _save(model, path: Path) -> Path:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def scorer_model(photos: Path) -> Path:
    """Two features: ``image`` float [N,8,8,3] and ``bias`` float [N].

    Labels: ``score`` = mean(image) + bias, ``doubled`` = image * 2 (an ARRAY output).
    """
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Add", ["mean", "bias"], ["score"]),
            helper.make_node("Add", ["image", "image"], ["doubled"]),
        ],
        "scorer",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 8, 8, 3]),
         helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["N", 8, 8, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    (photos / "models").mkdir(exist_ok=True)
    return _save(model, photos / "models" / "scorer.onnx")


@pytest.fixture
def uint8_model(photos: Path) -> Path:
    """``pixels`` uint8 [N,4,4,3] -> ``total`` int64 [N] (sum of all bytes)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["wide"], to=TensorProto.INT64),
            helper.make_node("ReduceSum", ["wide"], ["total"], axes=[1, 2, 3], keepdims=0),
        ],
        "summer",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["N", 4, 4, 3])],
        [helper.make_tensor_value_info("total", TensorProto.INT64, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=8)
    (photos / "models").mkdir(exist_ok=True)
    return _save(model, photos / "models" / "summer.onnx")
