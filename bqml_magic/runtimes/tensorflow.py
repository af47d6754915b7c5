"""TensorFlow SavedModels, served through their ``serving_default`` signature.

``inspect`` reads ``saved_model.pb`` and the checkpoint index without building the graph, so
CREATE MODEL stays quick; ``load`` restores the model once for inference.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bqml_magic.errors import ModelError
from bqml_magic.native_stderr import without_notices
from bqml_magic.runtimes.base import ModelSchema, TensorSpec, batch_limit, cast_feeds, require, tensor_spec
from bqml_magic.runtimes.devices import CPU, Device, tensorflow_device
from bqml_magic.runtimes.files import all_files
from bqml_magic.runtimes.limits import check_memory, check_serialized

MODEL_TYPE = "TENSORFLOW"
SIGNATURE = "serving_default"
_INSTALL = "'bqml_magic[tensorflow]'"

#: TensorFlow DataType name -> numpy dtype name fed and returned (bfloat16 travels as float32)
_DTYPES = {
    "DT_FLOAT": "float32",
    "DT_DOUBLE": "float64",
    "DT_HALF": "float16",
    "DT_BFLOAT16": "float32",
    "DT_INT8": "int8",
    "DT_INT16": "int16",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_UINT8": "uint8",
    "DT_UINT16": "uint16",
    "DT_UINT32": "uint32",
    "DT_UINT64": "uint64",
    "DT_BOOL": "bool",
    "DT_STRING": "object",
}


def inspect(path: Path) -> ModelSchema:
    schema, _ = _read(path)
    return schema


def load(path: Path, device: Device = CPU) -> TensorFlowRuntime:
    schema, dtypes = _read(path)
    tf = _tensorflow()
    placement = tensorflow_device(device, 0 if device.is_cpu else len(tf.config.list_physical_devices("GPU")))
    try:
        with tf.device(placement):
            model = tf.saved_model.load(str(path), tags=["serve"])
    except Exception as exc:
        raise ModelError(f"TensorFlow cannot load the SavedModel: {exc}") from exc
    return TensorFlowRuntime(schema, model, dtypes, placement)


class TensorFlowRuntime:
    """Keeps the loaded object alive: the signature function does not own its variables."""

    def __init__(self, schema: ModelSchema, model, dtypes: dict[str, int], placement: str):
        self.schema = schema
        self.max_batch = batch_limit(schema.features)
        self.batch_invariant = False
        self._model = model
        self._function = model.signatures[SIGNATURE]
        self._dtypes = dtypes
        self._tf = _tensorflow()
        self._placement = placement

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        tf = self._tf
        arrays = cast_feeds(self.schema, feeds)
        try:
            with tf.device(self._placement):
                tensors = {k: tf.cast(tf.constant(v), tf.dtypes.as_dtype(self._dtypes[k])) for k, v in arrays.items()}
                return {name: value.numpy() for name, value in self._function(**tensors).items()}
        except Exception as exc:
            raise ModelError(f"TensorFlow failed to run the model: {exc}") from exc


def _tensorflow():
    """TensorFlow, imported on first use only; its start-up notices are not for SQL users."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with without_notices():
        return require("tensorflow", _INSTALL)


def _read(path: Path) -> tuple[ModelSchema, dict[str, int]]:
    """Schema plus each feature's TensorFlow dtype enum, from the protos and checkpoint index."""
    tf = _tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    if not path.is_dir():
        raise ModelError(
            f"TENSORFLOW models are SavedModel folders: write model_path as 'gs://bucket/folder/*', "
            f"not the file {path.name}"
        )
    graph_file = path / "saved_model.pb"
    if not graph_file.is_file():
        found = ", ".join(sorted(p.name for p in path.iterdir()))
        raise ModelError(f"TENSORFLOW model folder needs saved_model.pb (and variables/); found: {found or 'nothing'}")
    serialized = check_serialized(all_files(path), MODEL_TYPE)
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(graph_file.read_bytes())
    except Exception as exc:
        raise ModelError(f"saved_model.pb is not a SavedModel: {exc}") from exc
    meta_graph = next((m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags), None)
    if meta_graph is None or SIGNATURE not in meta_graph.signature_def:
        signatures = sorted(meta_graph.signature_def) if meta_graph is not None else "no 'serve' tag-set"
        raise ModelError(f"The SavedModel has no '{SIGNATURE}' signature for the 'serve' tag (found: {signatures})")
    check_memory(graph_file.stat().st_size + _variable_bytes(tf, path), MODEL_TYPE)
    signature = meta_graph.signature_def[SIGNATURE]
    features = tuple(_spec(name, info, "input") for name, info in sorted(signature.inputs.items()))
    labels = tuple(_spec(name, info, "output") for name, info in sorted(signature.outputs.items()))
    schema = ModelSchema(
        MODEL_TYPE,
        features,
        labels,
        _signature_text(saved_model),
        {
            "signature": SIGNATURE,
            "method": signature.method_name,
            "tensorflow_version": meta_graph.meta_info_def.tensorflow_version,
            "serialized_bytes": str(serialized),
        },
    )
    return schema, {name: info.dtype for name, info in signature.inputs.items()}


def _variable_bytes(tf, path: Path) -> int:
    """Bytes of the checkpoint's numeric variables, from its index (the data is not read)."""
    index = path / "variables" / "variables.index"
    if not index.is_file():
        return 0
    try:
        reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    except Exception as exc:
        raise ModelError(f"The SavedModel's variables cannot be read ({index.name}): {exc}") from exc
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    return sum(int(np.prod(shapes[n])) * dtypes[n].size for n in shapes if dtypes[n] != tf.string)


def _spec(name: str, info, role: str) -> TensorSpec:
    if info.WhichOneof("encoding") == "composite_tensor":
        raise ModelError(
            f"TensorFlow model {role} '{name}' is a composite (ragged or sparse) tensor, "
            "which imported models do not support"
        )
    enum_name = _enum_name(info.dtype)
    if enum_name not in _DTYPES:
        kind = (
            "quantized"
            if "DT_Q" in enum_name
            else "complex"
            if "COMPLEX" in enum_name
            else "resource/variant"
            if enum_name in ("DT_RESOURCE", "DT_VARIANT")
            else "unsupported"
        )
        raise ModelError(
            f"TensorFlow model {role} '{name}' has {kind} type {enum_name}, which imported models do not support"
        )
    shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
    return tensor_spec(name, _DTYPES[enum_name], shape)


def _enum_name(value: int) -> str:
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(value)


def _signature_text(saved_model) -> str:
    """What ``saved_model_cli show --all`` prints, for every tag-set and signature."""
    lines = []
    for meta_graph in saved_model.meta_graphs:
        tags = ", ".join(f"'{t}'" for t in meta_graph.meta_info_def.tags)
        lines.append(f"MetaGraphDef with tag-set: {tags} contains the following SignatureDefs:")
        for key, signature in sorted(meta_graph.signature_def.items()):
            lines += ["", f"signature_def['{key}']:"]
            for title, tensors in (("input", signature.inputs), ("output", signature.outputs)):
                lines.append(f"  The given SavedModel SignatureDef contains the following {title}(s):")
                for name, info in sorted(tensors.items()):
                    dims = (
                        "unknown_rank"
                        if info.tensor_shape.unknown_rank
                        else "(" + ", ".join(str(d.size) for d in info.tensor_shape.dim) + ")"
                    )
                    lines += [
                        f"    {title}s['{name}'] tensor_info:",
                        f"        dtype: {_enum_name(info.dtype)}",
                        f"        shape: {dims}",
                        f"        name: {info.name}",
                    ]
            lines.append(f"  Method name is: {signature.method_name}")
    return "\n".join(lines)
